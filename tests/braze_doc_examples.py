"""Data from Braze's documented request examples (braze-api.md §9), shared by the tests that use them as
test vectors: the core's rules (tests/core) and the fake Braze's (tests/testing)."""

from __future__ import annotations

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
