"""Data from Braze's documented request examples (braze-api.md §9), shared by the tests that use them as
test vectors: the core's rules (tests/core) and the fake Braze's (tests/testing)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# The connected audience shared by §9.1, §9.4 and §9.7, verbatim.
AUDIENCE: dict[str, Any] = {
    "AND": [
        {"custom_attribute": {"custom_attribute_name": "eye_color", "comparison": "equals", "value": "blue"}},
        {
            "custom_attribute": {
                "custom_attribute_name": "favorite_foods",
                "comparison": "includes_value",
                "value": "pizza",
            }
        },
        {
            "OR": [
                {
                    "custom_attribute": {
                        "custom_attribute_name": "last_purchase_time",
                        "comparison": "less_than_x_days_ago",
                        "value": 2,
                    }
                },
                {"push_subscription_status": {"comparison": "is", "value": "opted_in"}},
            ]
        },
        {"email_subscription_status": {"comparison": "is_not", "value": "subscribed"}},
        {"last_used_app": {"comparison": "after", "value": "2019-07-22T13:17:55+0000"}},
    ]
}

# The examples below are corrected (§9 lists each one's flaws): real booleans and arrays, one identifier
# per recipient, message objects with content, and a time in the future of EXAMPLES_NOW.
EXAMPLES_NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
FUTURE = "2026-06-10T09:00:00"

# §9.1: both delivery flags true, as printed (§12.1); with its campaign_id, every message names its
# variation (§12.3). Targets users and a segment and an audience, so broadcast stays false.
MESSAGE_CREATE: dict[str, Any] = {
    "broadcast": False,
    "external_user_ids": ["external_user_identifiers"],
    "user_aliases": [{"alias_name": "example_name", "alias_label": "example_label"}],
    "segment_id": "segment_identifiers",
    "audience": AUDIENCE,
    "campaign_id": "campaign_identifier",
    "send_id": "send_identifier",
    "override_messaging_limits": False,
    "recipient_subscription_state": "subscribed",
    "schedule": {"time": FUTURE, "in_local_time": True, "at_optimal_time": True},
    "messages": {
        "apple_push": {"alert": "Hello!", "badge": 1, "message_variation_id": "apple_variation"},
        "android_push": {"title": "Hello", "alert": "Hello!", "message_variation_id": "android_variation"},
        "kindle_push": {"alert": "Hello!", "message_variation_id": "kindle_variation"},
        "web_push": {"alert": "Hello!", "title": "Hello", "message_variation_id": "web_variation"},
        "email": {
            "app_id": "app_identifier",
            "subject": "Hello",
            "from": "Co <co@example.com>",
            "body": "Hi",
            "message_variation_id": "email_variation",
        },
        "webhook": {
            "url": "https://example.com/hook",
            "request_method": "POST",
            "message_variation_id": "webhook_variation",
        },
        "content_card": {
            "type": "CLASSIC",
            "title": "Hello",
            "description": "Hi",
            "message_variation_id": "content_card_variation",
        },
    },
}

# §9.2, with a future time.
MESSAGE_UPDATE_MESSAGES: dict[str, Any] = {
    "apple_push": {"alert": "Updated Message!", "badge": 1},
    "android_push": {"title": "Updated title!", "alert": "Updated message!"},
    "sms": {
        "subscription_group_id": "subscription_group_identifier",
        "message_variation_id": "message_variation_identifier",
        "body": "This is my SMS body.",
        "app_id": "app_identifier",
    },
}

# §9.4: the recipient names one user, by an external id.
CAMPAIGN_CREATE: dict[str, Any] = {
    "campaign_id": "campaign_identifier",
    "send_id": "send_identifier",
    "recipients": [{"external_user_id": "external_user_identifier", "trigger_properties": {}}],
    "audience": AUDIENCE,
    "broadcast": False,
    "trigger_properties": {},
    "schedule": {"time": FUTURE + "Z", "in_local_time": False, "at_optimal_time": False},
}


def canvas_create(properties: str) -> dict[str, Any]:
    """§9.7, with the newest ``context`` or the older ``canvas_entry_properties``."""
    return {
        "canvas_id": "canvas_identifier",
        "recipients": [{"external_user_id": "external_user_identifier", properties: {}}],
        "audience": AUDIENCE,
        "broadcast": False,
        properties: {},
        "schedule": {"time": FUTURE + "Z", "in_local_time": False, "at_optimal_time": False},
    }


# §9.5 and §9.8 as printed but for the date: local time with a "Z" designator.
TRIGGER_UPDATE_SCHEDULE: dict[str, Any] = {"time": "2026-06-10T21:30:00Z", "in_local_time": True}
