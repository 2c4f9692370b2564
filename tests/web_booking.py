"""What an agent books on the pages in the web tests: the customer, a slot by Berlin
wall-clock time, a booking request."""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo

BERLIN = ZoneInfo("Europe/Berlin")
UTC = datetime.UTC
TODAY = datetime.datetime.now(BERLIN).date()
MONDAY = TODAY + datetime.timedelta(days=7 - TODAY.weekday())
CUSTOMER = {"name": "Olivia Customer", "email": "olivia@customer.test"}


def slot(week: int, day: int, hour: int, minute: int = 0) -> str:
    """A start in UTC, from a Berlin wall-clock time ``week`` weeks after next Monday."""
    date = MONDAY + datetime.timedelta(days=7 * week + day)
    local = datetime.datetime(date.year, date.month, date.day, hour, minute, tzinfo=BERLIN)
    return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def booking(start: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer": dict(CUSTOMER), "start": start, "zone": "Europe/Berlin",
        "details": {"subject": "Onboarding call", "duration": 30,
                    "members": ["alice", "bob"], "pools": ["3rd-floor"],
                    "description": "Bring the contract draft.",
                    "conference": "https://meet.example.org/onboarding",
                    "meeting_type": "video", "location": "3rd floor"}}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = dict(body[key], **value)
        else:
            body[key] = value
    return body
