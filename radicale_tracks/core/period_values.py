"""PERIOD values (RFC 5545 §3.3.9) as the parsers hand them back.

icalendar and vobject both read ``start/end`` and ``start/duration`` into a tuple
``(start, end)`` or ``(start, timedelta)``: in RDATE (``VALUE=PERIOD``), FREEBUSY and
VAVAILABILITY's RDATEs. Every reader turns such a tuple into its two instants here, so
nobody meets a tuple where a date was expected. No icalendar import: the index uses it
on Radicale's vobject objects.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def period_bounds(value: Any) -> tuple[datetime, datetime] | None:
    """A PERIOD value (a ``(start, end)`` or ``(start, duration)`` tuple) as its start
    and end, or None when ``value`` is not one (or not a usable one: a DATE start, an
    end that mixes floating and zoned time)."""
    if not isinstance(value, tuple) or len(value) != 2:
        return None
    begin, finish = value
    if not isinstance(begin, datetime):
        return None
    if isinstance(finish, timedelta):
        return begin, begin + finish
    if isinstance(finish, datetime) and (finish.tzinfo is None) == (begin.tzinfo is None):
        return begin, finish
    return None


__all__ = ["period_bounds"]
