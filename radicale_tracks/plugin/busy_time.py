"""Busy time from the index: one calendar (the free-busy REPORT, the rooms, the outbox)
or many at once (people's busy time for the slot finder), with a cache.

The index holds the occurrences of covered VEVENTs; an object it did not expand over the
window is expanded as Radicale's free-busy report does (``busy_expansion.py``). An
object that cannot be expanded within the limits raises Radicale's ValueError, or,
when the caller collects estimates, counts as busy where it spans. The storage holds one
:class:`BusyTime` and hands it collections, so this module never imports it back.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from radicale import item as radicale_item
from radicale.app.report import FreeBusyPeriod
from radicale.storage import multifilesystem

from radicale_tracks.core.freebusy import BusyPeriod, Estimate, merge_busy
from radicale_tracks.index.store import CollectionState, FileState, IndexStore
from radicale_tracks.plugin import radicale_internals as internals
from radicale_tracks.plugin.busy_expansion import LIMIT_HIT, Unexpandable, object_busy
from radicale_tracks.settings import Settings

logger = logging.getLogger("radicale.tracks.storage")

#: a calendar's merged busy time, and what of it is estimated
CachedBusy = tuple[list[BusyPeriod], list[Estimate]]


class IndexedCalendar(Protocol):
    """A calendar as busy time reads it, whichever backend holds it: the files backend
    checks its folder and stats files, the database backend's rows are the truth."""

    @property
    def path(self) -> str: ...

    #: the index rows are the stored objects (database item store): their states need
    #: no comparison with anything
    @property
    def rows_are_truth(self) -> bool: ...

    def index_refreshed(self) -> dict[str, FileState] | None:
        """The index brought in line where the backend needs it; the states it read
        then, if any."""
        ...

    def index_refreshed_from(self, state: CollectionState | None
                             ) -> dict[str, FileState] | None: ...

    def sync_index(self) -> dict[str, FileState]: ...

    def file_states(self, hrefs: Iterable[str]) -> dict[str, FileState]: ...

    def item(self, href: str, verify_href: bool = False) -> radicale_item.Item | None: ...


class BusyTimeCache:
    """Recent busy-time answers per (calendar, index fingerprint, window): an agent's
    searches ask about the same team and weeks again and again, and a calendar that has
    not changed since gives the same answer. The fingerprint changes with every write
    the index sees, so an entry is never stale; the oldest go beyond ``size`` entries."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._entries: dict[tuple[Any, ...], CachedBusy] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> CachedBusy | None:
        with self._lock:
            found = self._entries.pop(key, None)
            if found is not None:
                self._entries[key] = found    # most recently used last
            return found

    def put(self, key: tuple[Any, ...], periods: CachedBusy) -> None:
        with self._lock:
            self._entries.pop(key, None)
            self._entries[key] = periods
            while len(self._entries) > self.size:
                del self._entries[next(iter(self._entries))]


def _utc(timestamp: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC)


def _note(estimate: Estimate) -> None:
    """The admin learns which object it was (the answer only says that one was)."""
    logger.warning("Busy time of %s/%s%s estimated (%s .. %s): %s", estimate.calendar,
                   estimate.href, " (UID %s)" % estimate.uid if estimate.uid else "",
                   _utc(estimate.start).isoformat(), _utc(estimate.end).isoformat(),
                   estimate.reason)


def counted(calendar: str, href: str, periods: list[BusyPeriod], max_occurrence: int,
            estimates: list[Estimate] | None) -> list[BusyPeriod]:
    """One object's occurrences from the index; ``max_occurrence`` or more: Radicale's
    ValueError, or with ``estimates`` busy from its first to its last one."""
    if max_occurrence <= 0 or len(periods) < max_occurrence:
        return periods
    if estimates is None:
        raise ValueError(LIMIT_HIT % max_occurrence)
    fbtypes = {fbtype for _, _, fbtype in periods if fbtype != "FREE"}
    if not fbtypes:
        return []
    estimate = Estimate(
        calendar=calendar, href=href, uid="", start=min(p[0] for p in periods),
        end=max(p[1] for p in periods),
        fbtype="BUSY" if "BUSY" in fbtypes else min(fbtypes),
        reason="it has %d or more occurrences in the window ([reporting] "
               "max_freebusy_occurrence)" % max_occurrence)
    _note(estimate)
    estimates.append(estimate)
    return [estimate.period]


class BusyTime:
    """Busy time of the storage's calendars, read from its index."""

    def __init__(self, storage: multifilesystem.Storage, index: IndexStore,
                 settings: Settings) -> None:
        self.storage = storage
        self.index = index
        self.settings = settings
        self.cache = BusyTimeCache()

    def of_calendar(self, collection: IndexedCalendar,
                    start: datetime.datetime, end: datetime.datetime,
                    max_occurrence: int, exclude: frozenset[str] = frozenset(),
                    estimates: list[Estimate] | None = None) -> list[FreeBusyPeriod]:
        """The periods Radicale's free-busy-query would find, mostly without parsing.

        Same rules as ``radicale.app.report.freebusy_periods``: only VEVENT objects,
        occurrences clipped to the window, and a ValueError when one object has
        ``max_occurrence`` occurrences in it (Radicale answers 400 then) or more than
        ``freebusy_max_expansion`` to walk — unless ``estimates`` is given: then such
        an object counts as busy over the part of the window it spans, and is listed
        there. ``exclude``: hrefs left out (a meeting checked against a room's other
        bookings).
        """
        scanned = collection.index_refreshed()
        start_ts, end_ts = int(start.timestamp()), int(end.timestamp())
        busy = self.index.busy_time(collection.path, start_ts, end_ts)
        if collection.rows_are_truth:
            files = dict(busy.states)
            if busy.fallback_hrefs:
                files.update(collection.file_states(busy.fallback_hrefs))
        else:
            files = scanned if scanned is not None else collection.file_states(
                list(busy.states) + busy.fallback_hrefs)
        if any(files.get(href) != state for href, state in busy.states.items()):
            files = collection.sync_index()
            busy = self.index.busy_time(collection.path, start_ts, end_ts)
        limit = internals.max_resource_size(self.storage)
        per_object: dict[str, list[BusyPeriod]] = {}
        for href, occurrence_start, occurrence_end, fbtype in busy.periods:
            if href in exclude:
                continue
            state = files.get(href)
            if state is None or state.size > limit:
                continue
            per_object.setdefault(href, []).append((
                max(occurrence_start, start_ts), min(occurrence_end, end_ts), fbtype))
        periods: list[FreeBusyPeriod] = []
        for href, found in per_object.items():
            for begin, finish, fbtype in counted(
                    collection.path, href, found, max_occurrence, estimates):
                if finish > begin:
                    periods.append((_utc(begin), _utc(finish), fbtype))
        periods.extend(self.expanded(
            collection, [href for href in busy.fallback_hrefs if href not in exclude],
            files, start, end, max_occurrence, estimates))
        return periods

    def expanded(self, collection: IndexedCalendar, hrefs: list[str],
                 files: Mapping[str, FileState], start: datetime.datetime,
                 end: datetime.datetime, max_occurrence: int,
                 estimates: list[Estimate] | None = None) -> list[FreeBusyPeriod]:
        """Radicale's own free-busy periods of objects the index did not expand over the
        window; files gone or above ``max_resource_size`` are skipped, as Radicale does.
        An object that cannot be expanded within the limits (``busy_expansion.py``)
        raises ValueError, or with ``estimates`` counts as busy where it spans."""
        limit = internals.max_resource_size(self.storage)
        max_walk = self.settings.freebusy_max_expansion
        periods: list[FreeBusyPeriod] = []
        for href in hrefs:
            state = files.get(href)
            if state is None or state.size > limit:
                continue
            item = collection.item(href)
            if item is None:
                continue
            try:
                periods.extend(object_busy(item, start, end, max_occurrence, max_walk,
                                           collection.path))
            except Unexpandable as e:
                if estimates is None:
                    raise
                if e.estimate is not None:
                    _note(e.estimate)
                    estimates.append(e.estimate)
                    if e.estimate.end > e.estimate.start:
                        periods.append((_utc(e.estimate.start), _utc(e.estimate.end),
                                        e.estimate.fbtype))
        return periods

    def of_calendars(self, calendars: Sequence[IndexedCalendar], start: int,
                     end: int, max_occurrence: int,
                     estimates: dict[str, list[Estimate]] | None = None
                     ) -> dict[str, list[BusyPeriod]]:
        """Per calendar path, the busy time :meth:`of_calendar` finds in [start, end),
        in POSIX seconds, merged per FBTYPE — for many calendars at once. An object
        that cannot be expanded within the limits never fails the answer: it counts as
        busy over the part of the window it spans, listed per calendar path in
        ``estimates`` (one bad event in one calendar must not fail everyone's search).

        People's busy time (the outbox, the slot finder) spans all their calendars, and
        one query per calendar made SQL round trips most of a team search: this reads
        them all in three queries. An unchanged calendar (same index fingerprint) asked
        about the same window again is answered from memory (:class:`BusyTimeCache`).
        Files added or removed behind Radicale's back are caught by the folder check as
        always; a file edited in place without either is seen after
        ``index_rescan_interval``, because the files are not stat'ed one by one as the
        single-calendar REPORT does (a team's two weeks are thousands of files).
        """
        states = self.index.collection_states(c.path for c in calendars)
        rescanned = [c.path for c in calendars
                     if c.index_refreshed_from(states.get(c.path)) is not None]
        if rescanned:   # a scan may have repaired the index: its fingerprint moved
            states.update(self.index.collection_states(rescanned))
        answer: dict[str, list[BusyPeriod]] = {}
        noted: dict[str, list[Estimate]] = {}
        keys: dict[str, tuple[Any, ...]] = {}
        for collection in calendars:
            state = states.get(collection.path)
            key = (collection.path, state.files_digest if state else None, start, end,
                   max_occurrence, self.settings.freebusy_max_expansion)
            cached = self.cache.get(key) if state else None
            if cached is not None:
                answer[collection.path], noted[collection.path] = cached
            else:
                keys[collection.path] = key
        if estimates is not None:
            estimates.update({path: found for path, found in noted.items() if found})
        if not keys:
            return answer
        found = self.index.busy_time_of(list(keys), start, end,
                                        internals.max_resource_size(self.storage))
        window = (_utc(start), _utc(end))
        for collection in calendars:
            if collection.path not in keys:
                continue
            busy = found.get(collection.path)
            per_object: dict[int, list[BusyPeriod]] = {}
            for item_id, occurrence_start, occurrence_end, fbtype in (
                    busy.periods if busy else ()):
                per_object.setdefault(item_id, []).append((
                    max(occurrence_start, start), min(occurrence_end, end), fbtype))
            found_here: list[Estimate] = []
            periods = [period for item_id, occurring in per_object.items()
                       for period in counted(collection.path, "#%d" % item_id,
                                             occurring, max_occurrence, found_here)]
            fallback = busy.fallback_hrefs if busy else []
            periods.extend((int(b.timestamp()), int(f.timestamp()), fbtype)
                           for b, f, fbtype in self.expanded(
                               collection, fallback, collection.file_states(fallback),
                               *window, max_occurrence, found_here))
            merged = merge_busy(periods)
            answer[collection.path] = merged
            if found_here and estimates is not None:
                estimates[collection.path] = found_here
            if not fallback:   # a fallback object's file may change without the index
                self.cache.put(keys[collection.path], (merged, found_here))
        return answer
