"""Busy time of one object the index did not expand over a window, within limits.

The index expands each object up to ``index_max_occurrences``; a query beyond that asks
Radicale's ``freebusy_periods``, which walks every occurrence from DTSTART to the window
(an endless ``FREQ=SECONDLY`` since last year: thirty million) and raises "FREEBUSY
occurrences limit … hit" past ``[reporting] max_freebusy_occurrence`` in the window. One
such event in one calendar made every slot search and free-busy answer that included its
owner fail.

:func:`object_busy` gives Radicale's answer — same visitor, same clipping, same limit in
the window — but also stops after ``freebusy_max_expansion`` occurrences walked in all,
and then raises :class:`Unexpandable` with an :class:`~radicale_tracks.core.freebusy.Estimate`:
busy over the part of the window the object spans. The free-busy-query REPORT lets it
be a ``ValueError`` (400, as Radicale answers); people's busy time counts the estimate
and says so.
"""

from __future__ import annotations

import datetime
from typing import Any

from radicale import item as radicale_item
from radicale.item import filter as radicale_filter

from radicale_tracks.core.freebusy import Estimate
from radicale_tracks.plugin import radicale_internals as internals

FreeBusyPeriod = tuple[datetime.datetime, datetime.datetime, str]

#: what Radicale raises for too many occurrences in the window (its REPORT answers 400)
LIMIT_HIT = "FREEBUSY occurrences limit of %d hit"


class Unexpandable(ValueError):
    """An object whose busy time cannot be worked out within the limits; ``estimate`` is
    what it is counted as (None when it makes nobody busy)."""

    def __init__(self, message: str, estimate: Estimate | None) -> None:
        super().__init__(message)
        self.estimate = estimate


def object_busy(item: radicale_item.Item, start: datetime.datetime,
                end: datetime.datetime, max_occurrence: int, max_walk: int,
                calendar: str = "") -> list[FreeBusyPeriod]:
    """Radicale's ``freebusy_periods`` of ``item`` in [start, end), or
    :class:`Unexpandable` after ``max_occurrence`` occurrences in the window (0: no
    limit there) or ``max_walk`` occurrences visited in all."""
    if item.component_name != "VEVENT":
        return []
    to_utc = internals.to_utc
    fbtype_of = internals.fbtype_of
    range_start, range_end = to_utc(start), to_utc(end)
    holder: list[Any] = [None]
    periods: list[FreeBusyPeriod] = []
    examined = walked = 0

    def component_fn(component: Any) -> bool:
        holder[0] = component
        return fbtype_of(component) is not None

    def range_fn(occurrence_start: datetime.datetime, occurrence_end: datetime.datetime,
                 is_recurrence: bool) -> bool:
        nonlocal examined, walked
        walked += 1
        if walked > max_walk:
            return True
        occurrence_start, occurrence_end = to_utc(occurrence_start), to_utc(occurrence_end)
        if range_end < occurrence_start and not is_recurrence:
            return True
        if not (range_start < occurrence_end and occurrence_start < range_end):
            return False
        examined += 1
        if max_occurrence > 0 and examined >= max_occurrence:
            return True
        fbtype = fbtype_of(holder[0]) if holder[0] is not None else None
        if fbtype is None:
            return False
        clipped = (max(occurrence_start, range_start), min(occurrence_end, range_end))
        if clipped[1] > clipped[0]:
            periods.append((clipped[0], clipped[1], fbtype))
        return False

    try:
        radicale_filter.visit_time_ranges(item.vobject_item, "VEVENT", range_fn,
                                          lambda _start: False, component_fn)
    except (ValueError, TypeError, AttributeError, OverflowError, KeyError) as e:
        raise Unexpandable("its occurrences cannot be read (%s)" % e,
                           _estimate(item, start, end, calendar,
                                     "its occurrences cannot be read")) from e
    if max_occurrence > 0 and examined >= max_occurrence:
        raise Unexpandable(LIMIT_HIT % max_occurrence, _estimate(
            item, start, end, calendar, "it has %d or more occurrences in the window "
            "([reporting] max_freebusy_occurrence)" % max_occurrence))
    if walked > max_walk:
        raise Unexpandable(
            "more than %d occurrences to walk (freebusy_max_expansion)" % max_walk,
            _estimate(item, start, end, calendar, "it repeats too often to expand "
                      "(more than %d occurrences from its start, "
                      "freebusy_max_expansion)" % max_walk))
    return periods


def _estimate(item: radicale_item.Item, start: datetime.datetime, end: datetime.datetime,
              calendar: str, why: str) -> Estimate | None:
    """Busy over the part of [start, end) the object spans, with the FBTYPE of its first
    event (None when that makes nobody busy: transparent or cancelled)."""
    try:
        first = next(iter(getattr(item.vobject_item, "vevent_list", [])), None)
        fbtype = internals.fbtype_of(first) if first is not None else None
    except (ValueError, TypeError, AttributeError):
        fbtype = "BUSY"
    if fbtype in (None, "FREE"):
        return None
    window = (int(start.timestamp()), int(end.timestamp()))
    try:
        spans = item.time_range
    except (ValueError, TypeError, AttributeError, OverflowError):
        spans = window
    return Estimate(calendar=calendar, href=item.href or "", uid=item.uid or "",
                    start=max(window[0], spans[0]), end=min(window[1], spans[1]),
                    fbtype=fbtype, reason=why)
