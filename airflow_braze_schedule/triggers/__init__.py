"""The trigger behind the deferrable sensor."""
