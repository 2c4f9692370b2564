"""Reads and writes of the index: one short transaction per operation.

The storage plugin calls these inside Radicale's storage lock, so writers never race each
other; a write joins the transaction the thread has open (``db/session.py``), so that an
invitation's index rows commit with its tracks and outbox rows; readers that repair drift
may race, and :meth:`IndexStore.write_entries` is an idempotent replace to make that
harmless.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import xor
from typing import Any, NamedTuple

from sqlalchemy import (
    Connection,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    union,
    union_all,
    update,
)

from radicale_tracks.db.session import Database
from radicale_tracks.index.extract import IndexEntry
from radicale_tracks.index.schema import (
    LONG_OCCURRENCE,
    attendees,
    collections,
    item_changes,
    items,
    occurrences,
)

logger = logging.getLogger("radicale.tracks.index")


class FileState(NamedTuple):
    """What the file system says about a stored object, to detect edits behind our back.

    A named tuple, not a dataclass: one is built per file per query.
    """

    mtime_ns: int
    size: int


_MASK63 = (1 << 63) - 1


def file_digest(href: str, state: FileState) -> int:
    """A 63-bit fingerprint of one file's name and state (fits a signed BIGINT).

    Cheap on purpose — it runs for every file of a collection on every query: any edit
    changes the nanosecond mtime, which the odd multiplier spreads over all bits.
    """
    mixed = state.mtime_ns * 0x9E3779B97F4A7C15 + state.size * 0xC2B2AE3D27D4EB4F
    return ((zlib.crc32(href.encode()) << 31) ^ mixed) & _MASK63


def folder_digest(files: Mapping[str, FileState]) -> int:
    """XOR of the file fingerprints: order-free, and updated per write in O(1)."""
    return reduce(xor, (file_digest(href, state) for href, state in files.items()), 0)


@dataclass(frozen=True)
class CollectionState:
    dir_mtime_ns: int | None
    files_digest: int


@dataclass(frozen=True)
class IndexedFile:
    href: str
    state: FileState
    etag: str


@dataclass(frozen=True)
class BusyTime:
    """Occurrences with a free-busy type in a window, from the objects the index covers."""

    periods: list[tuple[str, int, int, str]]  # href, start, end, fbtype
    fallback_hrefs: list[str]  # objects partly outside their expansion: read them
    states: dict[str, FileState]  # file state the periods were indexed from, per href


@dataclass(frozen=True)
class CalendarBusyTime:
    """:class:`BusyTime` of one collection when many are asked at once, without file
    states (see :meth:`IndexStore.busy_time_of`)."""

    periods: list[tuple[int, int, int, str]]  # object id, start, end, fbtype
    fallback_hrefs: list[str]


@dataclass(frozen=True)
class Candidate:
    """An object that may match a time-range query; ``exact`` when the index is sure.

    It carries what Radicale needs to build its ``Item`` without reading the file.
    """

    href: str
    exact: bool
    uid: str
    etag: str
    text: str
    component: str
    range_start: int
    range_end: int
    state: FileState


class IndexStore:
    """The index of every collection of one Radicale storage."""

    def __init__(self, database: Database) -> None:
        self.database = database

    # -- writes ---------------------------------------------------------------

    def write_entries(self, path: str, tag: str,
                      entries: Iterable[tuple[str, IndexEntry, FileState]],
                      dir_mtime_ns: int | None, removed: Iterable[str] = ()) -> None:
        """Replace the rows of the given hrefs (and drop ``removed``) in one transaction."""
        with self.database.begin() as connection:
            collection_id = self._collection_id(connection, path, tag)
            digest = self._digest(connection, collection_id)
            for href in removed:
                digest ^= self._delete_item(connection, collection_id, href)
            for href, entry, state in entries:
                digest ^= self._delete_item(connection, collection_id, href)
                self.insert_item(connection, collection_id, href, entry, state)
                digest ^= file_digest(href, state)
            connection.execute(update(collections)
                               .where(collections.c.id == collection_id)
                               .values(dir_mtime_ns=dir_mtime_ns, tag=tag,
                                       files_digest=digest))

    def replace_collection(self, path: str, tag: str,
                           entries: Sequence[tuple[str, IndexEntry, FileState]],
                           dir_mtime_ns: int | None) -> None:
        """Make ``entries`` the whole of a collection's rows, in bulk (``reindex``).

        A few set-based deletes and multi-row inserts instead of :meth:`write_entries`'
        seven statements per object: rebuilding a big install's index was dominated by
        statement round trips once parsing ran in parallel.
        """
        with self.database.begin() as connection:
            collection_id = self._collection_id(connection, path, tag)
            self.clear_collection(connection, collection_id)
            digest = 0
            for first in range(0, len(entries), _BULK_ROWS):
                chunk = entries[first:first + _BULK_ROWS]
                ids = connection.execute(
                    items.insert().returning(items.c.id, sort_by_parameter_order=True),
                    [_item_row(collection_id, href, entry, state)
                     for href, entry, state in chunk]).scalars().all()
                occurrence_rows = [row for item_id, (_, entry, _) in zip(ids, chunk, strict=True)
                                   for row in _occurrence_rows(item_id, collection_id, entry)]
                attendee_rows = [row for item_id, (_, entry, _) in zip(ids, chunk, strict=True)
                                 for row in _attendee_rows(item_id, entry)]
                if occurrence_rows:
                    connection.execute(occurrences.insert(), occurrence_rows)
                if attendee_rows:
                    connection.execute(attendees.insert(), attendee_rows)
                for href, _, state in chunk:
                    digest ^= file_digest(href, state)
            connection.execute(update(collections)
                               .where(collections.c.id == collection_id)
                               .values(dir_mtime_ns=dir_mtime_ns, tag=tag,
                                       files_digest=digest))

    def delete_entry(self, path: str, href: str, dir_mtime_ns: int | None) -> None:
        with self.database.begin() as connection:
            collection_id = self._existing_collection_id(connection, path)
            if collection_id is None:
                return
            digest = self._digest(connection, collection_id) ^ self._delete_item(
                connection, collection_id, href)
            connection.execute(update(collections)
                               .where(collections.c.id == collection_id)
                               .values(dir_mtime_ns=dir_mtime_ns, files_digest=digest))

    @staticmethod
    def clear_collection(connection: Connection, collection_id: int) -> None:
        """Every object's rows of one collection gone, the collection's row kept."""
        connection.execute(delete(occurrences).where(
            occurrences.c.collection_id == collection_id))
        connection.execute(delete(attendees).where(attendees.c.item_id.in_(
            select(items.c.id).where(items.c.collection_id == collection_id))))
        connection.execute(delete(items).where(items.c.collection_id == collection_id))

    def delete_collection(self, path: str) -> None:
        """Forget a collection and every collection below it."""
        with self.database.begin() as connection:
            ids = [row[0] for row in connection.execute(
                select(collections.c.id).where(or_(
                    collections.c.path == path,
                    collections.c.path.startswith(path + "/", autoescape=True))))]
            if not ids:
                return
            item_ids = select(items.c.id).where(items.c.collection_id.in_(ids))
            connection.execute(delete(occurrences).where(occurrences.c.item_id.in_(item_ids)))
            connection.execute(delete(attendees).where(attendees.c.item_id.in_(item_ids)))
            connection.execute(delete(items).where(items.c.collection_id.in_(ids)))
            connection.execute(delete(item_changes).where(
                item_changes.c.collection_id.in_(ids)))
            connection.execute(delete(collections).where(collections.c.id.in_(ids)))

    def move_entry(self, from_path: str, from_href: str, from_dir_mtime_ns: int | None,
                   to_path: str, to_tag: str, to_href: str, to_dir_mtime_ns: int | None
                   ) -> bool:
        """Re-home an object's rows; False when the source was not indexed."""
        with self.database.begin() as connection:
            source_id = self._existing_collection_id(connection, from_path)
            target_id = self._collection_id(connection, to_path, to_tag)
            if source_id is None:
                return False
            row = connection.execute(
                select(items.c.id, items.c.file_mtime_ns, items.c.file_size).where(
                    items.c.collection_id == source_id, items.c.href == from_href)).first()
            if row is None:
                return False
            item_id, state = row[0], FileState(row[1], row[2])
            self._xor_digest(connection, target_id,
                             self._delete_item(connection, target_id, to_href))
            self._xor_digest(connection, source_id, file_digest(from_href, state))
            connection.execute(update(items).where(items.c.id == item_id).values(
                collection_id=target_id, href=to_href))
            connection.execute(update(occurrences).where(occurrences.c.item_id == item_id)
                               .values(collection_id=target_id))
            self._xor_digest(connection, target_id, file_digest(to_href, state))
            connection.execute(update(collections).where(collections.c.id == source_id)
                               .values(dir_mtime_ns=from_dir_mtime_ns))
            connection.execute(update(collections).where(collections.c.id == target_id)
                               .values(dir_mtime_ns=to_dir_mtime_ns))
            return True

    # -- reads ----------------------------------------------------------------

    def collection_state(self, path: str) -> CollectionState | None:
        with self.database.connect() as connection:
            row = connection.execute(
                select(collections.c.dir_mtime_ns, collections.c.files_digest).where(
                    collections.c.path == path)).first()
        return None if row is None else CollectionState(row[0], row[1])

    def set_dir_mtime_ns(self, path: str, dir_mtime_ns: int | None) -> None:
        with self.database.begin() as connection:
            connection.execute(update(collections).where(collections.c.path == path)
                               .values(dir_mtime_ns=dir_mtime_ns))

    def is_indexed(self, path: str) -> bool:
        with self.database.connect() as connection:
            return self._existing_collection_id(connection, path) is not None

    def files(self, path: str) -> dict[str, IndexedFile]:
        """Per href, the file state and etag the index was built from."""
        with self.database.connect() as connection:
            rows = connection.execute(
                select(items.c.href, items.c.file_mtime_ns, items.c.file_size, items.c.etag)
                .join(collections, collections.c.id == items.c.collection_id)
                .where(collections.c.path == path))
            return {href: IndexedFile(href, FileState(mtime, size), etag)
                    for href, mtime, size, etag in rows}

    def has_uid(self, path: str, uid: str) -> bool:
        with self.database.connect() as connection:
            return connection.execute(_HAS_UID, {"path": path, "uid": uid}
                                      ).first() is not None

    def organizer_etags(self, path: str) -> dict[str, str]:
        """href → ETag of the objects of ``path`` that have an ORGANIZER."""
        with self.database.connect() as connection:
            return {row[0]: row[1] for row in connection.execute(
                select(items.c.href, items.c.etag)
                .join(collections, collections.c.id == items.c.collection_id)
                .where(collections.c.path == path, items.c.organizer.is_not(None)))}

    def latest_changes(self, paths: Iterable[str]) -> dict[str, int]:
        """Per collection path, the newest file mtime (ns) among its indexed objects."""
        wanted = list(paths)
        if not wanted:
            return {}
        with self.database.connect() as connection:
            return {row[0]: int(row[1]) for row in connection.execute(
                select(collections.c.path, func.max(items.c.file_mtime_ns))
                .join(collections, collections.c.id == items.c.collection_id)
                .where(collections.c.path.in_(wanted)).group_by(collections.c.path))
                if row[1] is not None}

    def find_uid_of_user(self, user: str, uid: str) -> list[tuple[str, str]]:
        """(collection path, href) of the objects with ``uid`` in the user's calendars
        (``<user>/<calendar>``; their schedule boxes too, for the caller to leave out),
        by index alone: no collection is opened (in a write hold that would lock it)."""
        with self.database.connect() as connection:
            return [(row[0], row[1]) for row in connection.execute(
                select(collections.c.path, items.c.href)
                .join(collections, collections.c.id == items.c.collection_id)
                .where(items.c.uid == uid,
                       collections.c.path.startswith(user + "/", autoescape=True))
                .order_by(collections.c.path, items.c.href))
                if row[0].count("/") == 1]

    def find_uid(self, paths: Iterable[str], uid: str) -> list[tuple[str, str]]:
        """(collection path, href) of the objects with ``uid`` in any of ``paths``."""
        wanted = list(paths)
        if not wanted:
            return []
        with self.database.connect() as connection:
            return [(row[0], row[1]) for row in connection.execute(
                select(collections.c.path, items.c.href)
                .join(collections, collections.c.id == items.c.collection_id)
                .where(items.c.uid == uid, collections.c.path.in_(wanted))
                .order_by(collections.c.path, items.c.href))]

    def candidates(self, path: str, component: str | None, start: int, end: int
                   ) -> Iterator[Candidate]:
        """Objects of ``path`` that may overlap ``[start, end)``, streamed.

        ``exact`` objects have an indexed occurrence in the window; the others lie
        partly outside their expansion and only their overall bounds overlap. Rows carry
        the object's text, so they are streamed, not collected: a whole-year query of a
        big calendar must not hold every text at once.
        """
        collection_id = _collection_of(path)
        with self.database.connect() as connection:
            window = and_(occurrences.c.collection_id == collection_id,
                          occurrences.c.end > start)
            short = select(occurrences.c.item_id).where(
                window, occurrences.c.long.is_(False),
                occurrences.c.start > start - LONG_OCCURRENCE,
                occurrences.c.start < end)
            long_ = select(occurrences.c.item_id).where(
                window, occurrences.c.long.is_(True), occurrences.c.start < end)
            hits = union(short, long_).subquery()
            columns = (items.c.href, items.c.uid, items.c.etag, items.c.text,
                       items.c.component, items.c.range_start, items.c.range_end,
                       items.c.file_mtime_ns, items.c.file_size)
            exact_query = select(*columns).where(
                items.c.id.in_(select(hits.c.item_id))).order_by(items.c.href)
            partial_query = select(*columns).where(
                items.c.id.in_(_partly_covered(collection_id, start, end)),
                items.c.range_start < end, items.c.range_end > start)
            if component is not None:
                exact_query = exact_query.where(items.c.component == component)
                partial_query = partial_query.where(items.c.component == component)
            # partial objects are few (series beyond the horizon): keep them, stream the rest
            partial = {row.href: _candidate(row, False)
                       for row in connection.execute(partial_query)}
            # streamed in batches of a fixed size, and only this statement (a
            # connection's execution options would stay on the hold's reader): a growing
            # buffer fetches 5, 25, 125 … rows, a round trip each on PostgreSQL
            for row in connection.execute(exact_query.execution_options(
                    yield_per=STREAM_BATCH)):
                partial.pop(row.href, None)
                yield _candidate(row, True)
            yield from partial.values()

    def busy_time(self, path: str, start: int, end: int) -> BusyTime:
        """Everything a free-busy answer over ``[start, end)`` needs from ``path``.

        Events whose expansion covers the window contribute their indexed occurrences;
        the others (series beyond the horizon or the cap) are named for the caller to
        expand, exactly as Radicale would.
        """
        collection_id = _collection_of(path)
        with self.database.connect() as connection:
            covered = and_(items.c.covered_from <= start, items.c.covered_until >= end)
            window = _window_occurrences(collection_id, start, end).subquery()
            rows = connection.execute(
                select(items.c.href, window.c.start, window.c.end, window.c.fbtype,
                       items.c.file_mtime_ns, items.c.file_size)
                .join(items, items.c.id == window.c.item_id)
                .where(items.c.component == "VEVENT", covered))
            periods = []
            states = {}
            for href, s, e, fbtype, mtime_ns, size in rows:
                periods.append((href, s, e, fbtype))
                states[href] = FileState(mtime_ns, size)
            fallback = [row[0] for row in connection.execute(
                select(items.c.href).where(
                    items.c.id.in_(_partly_covered(collection_id, start, end)),
                    items.c.component == "VEVENT",
                    items.c.range_start < end, items.c.range_end > start)
                .order_by(items.c.href))]
        return BusyTime(periods, fallback, states)

    def collection_states(self, paths: Iterable[str]) -> dict[str, CollectionState]:
        """:meth:`collection_state` of many collections in one query."""
        wanted = list(paths)
        if not wanted:
            return {}
        with self.database.connect() as connection:
            return {row[0]: CollectionState(row[1], row[2]) for row in connection.execute(
                select(collections.c.path, collections.c.dir_mtime_ns,
                       collections.c.files_digest).where(collections.c.path.in_(wanted)))}

    def busy_time_of(self, paths: Iterable[str], start: int, end: int, size_limit: int
                     ) -> dict[str, CalendarBusyTime]:
        """:meth:`busy_time` of many collections at once, in three queries whatever their
        number: a slot search asks about thirty calendars, and per-calendar queries made
        their round trips most of its time.

        Occurrences come off the covering window index alone, with no row of the object
        read; objects left out — not expanded over the whole window (named for the caller
        to expand), or larger than ``size_limit`` as Radicale skips them — are found
        apart, and are few. Only collections the index knows appear. No file state is
        returned: the caller relies on the folder check.
        """
        wanted = list(paths)
        if not wanted:
            return {}
        with self.database.connect() as connection:
            ids = {row[0]: row[1] for row in connection.execute(
                select(collections.c.id, collections.c.path)
                .where(collections.c.path.in_(wanted)))}
            if not ids:
                return {}
            found = {path: CalendarBusyTime([], []) for path in ids.values()}
            in_collections = items.c.collection_id.in_(list(ids))
            left_out: set[int] = set()
            for collection_id, item_id, href in connection.execute(
                    select(items.c.collection_id, items.c.id, items.c.href).where(
                        items.c.id.in_(_partly_covered(list(ids), start, end)),
                        items.c.component == "VEVENT",
                        items.c.range_start < end, items.c.range_end > start)
                    .order_by(items.c.collection_id, items.c.href)):
                left_out.add(item_id)
                found[ids[collection_id]].fallback_hrefs.append(href)
            left_out.update(row[0] for row in connection.execute(
                select(items.c.id).where(in_collections, items.c.file_size > size_limit)))
            for collection_id, item_id, s, e, fbtype in connection.execute(
                    _window_occurrences(list(ids), start, end)):
                if item_id not in left_out:
                    found[ids[collection_id]].periods.append((item_id, s, e, fbtype))
        return found

    def collection_paths(self) -> list[str]:
        with self.database.connect() as connection:
            return [row[0] for row in connection.execute(
                select(collections.c.path).order_by(collections.c.path))]

    # -- helpers --------------------------------------------------------------

    @staticmethod
    def _existing_collection_id(connection: Connection, path: str) -> int | None:
        return connection.execute(
            select(collections.c.id).where(collections.c.path == path)).scalar()

    def _collection_id(self, connection: Connection, path: str, tag: str) -> int:
        found = self._existing_collection_id(connection, path)
        if found is not None:
            return found
        result = connection.execute(collections.insert().values(path=path, tag=tag,
                                                                files_digest=0))
        primary_key: Sequence[int] = result.inserted_primary_key or ()
        return int(primary_key[0])

    @staticmethod
    def _digest(connection: Connection, collection_id: int) -> int:
        return int(connection.execute(select(collections.c.files_digest).where(
            collections.c.id == collection_id)).scalar() or 0)

    def _xor_digest(self, connection: Connection, collection_id: int, value: int) -> None:
        if value:
            connection.execute(update(collections).where(collections.c.id == collection_id)
                               .values(files_digest=self._digest(connection, collection_id)
                                       ^ value))

    @staticmethod
    def _delete_item(connection: Connection, collection_id: int, href: str) -> int:
        """Drop an object's rows; returns its file fingerprint (0 if it was not there)."""
        row = connection.execute(
            select(items.c.id, items.c.file_mtime_ns, items.c.file_size).where(
                items.c.collection_id == collection_id, items.c.href == href)).first()
        if row is None:
            return 0
        item_id = row[0]
        connection.execute(delete(occurrences).where(occurrences.c.item_id == item_id))
        connection.execute(delete(attendees).where(attendees.c.item_id == item_id))
        connection.execute(delete(items).where(items.c.id == item_id))
        return file_digest(href, FileState(row[1], row[2]))

    @staticmethod
    def insert_item(connection: Connection, collection_id: int, href: str,
                     entry: IndexEntry, state: FileState) -> None:
        result = connection.execute(items.insert(),   # one statement, built once
                                    _item_row(collection_id, href, entry, state))
        primary_key: Sequence[int] = result.inserted_primary_key or ()
        item_id = int(primary_key[0])
        if entry.occurrences:
            connection.execute(occurrences.insert(),
                               _occurrence_rows(item_id, collection_id, entry))
        if entry.attendees:
            connection.execute(attendees.insert(), _attendee_rows(item_id, entry))


#: whether a collection holds an object with a UID (every new object's PUT asks)
_HAS_UID = (select(items.c.id).join(collections, collections.c.id == items.c.collection_id)
            .where(collections.c.path == bindparam("path"), items.c.uid == bindparam("uid"))
            .limit(1))

#: objects per multi-row insert of :meth:`IndexStore.replace_collection`
_BULK_ROWS = 500

#: objects (with their text) fetched per round trip when a query's rows are streamed
STREAM_BATCH = 200


def _item_row(collection_id: int, href: str, entry: IndexEntry, state: FileState
              ) -> dict[str, Any]:
    return dict(collection_id=collection_id, href=href, uid=entry.uid,
                component=entry.component, etag=entry.etag, organizer=entry.organizer,
                recurring=entry.recurring, range_start=entry.range_start,
                range_end=entry.range_end, covered_from=entry.covered_from,
                covered_until=entry.covered_until, file_mtime_ns=state.mtime_ns,
                file_size=state.size, text=entry.text)


def _occurrence_rows(item_id: int, collection_id: int, entry: IndexEntry
                     ) -> list[dict[str, Any]]:
    return [{"item_id": item_id, "collection_id": collection_id, "start": o.start,
             "end": o.end, "fbtype": o.fbtype, "long": o.end - o.start > LONG_OCCURRENCE}
            for o in entry.occurrences]


def _attendee_rows(item_id: int, entry: IndexEntry) -> list[dict[str, Any]]:
    return [{"item_id": item_id, "address": a.address, "partstat": a.partstat,
             "role": a.role, "recurrence_id": a.recurrence_id} for a in entry.attendees]


def _collection_of(path: str) -> Any:
    """The id of the collection at ``path``, as a scalar subquery: the database looks it
    up inside the query that needs it (once, before the scans), instead of in a round
    trip of its own; no collection there makes it NULL, and the query finds nothing."""
    return select(collections.c.id).where(collections.c.path == path).scalar_subquery()


def _in_collections(column: Any, collection_ids: list[int] | Any) -> Any:
    """``column`` in a list of ids, or equal to one id's subquery (:func:`_collection_of`)."""
    if isinstance(collection_ids, list):
        return column.in_(collection_ids)
    return column == collection_ids


def _partly_covered(collection_ids: list[int] | Any, start: int, end: int) -> Any:
    """Ids of the objects whose indexed expansion does not cover [start, end).

    Two range scans of the coverage indexes: one condition with OR made the database
    read every object of the collections.
    """
    in_collections = _in_collections(items.c.collection_id, collection_ids)
    return union(select(items.c.id).where(in_collections, items.c.covered_from > start),
                 select(items.c.id).where(in_collections, items.c.covered_until < end))


def _window_occurrences(collection_ids: list[int] | Any, start: int, end: int) -> Any:
    """Busy-time occurrences (FBTYPE set) of the collections overlapping [start, end).

    Short and long occurrences are asked apart, so that each part is a range scan of
    the window index: one condition with OR made the database read every occurrence of
    the collection.
    """
    columns = (occurrences.c.collection_id, occurrences.c.item_id, occurrences.c.start,
               occurrences.c.end, occurrences.c.fbtype)
    common = (_in_collections(occurrences.c.collection_id, collection_ids),
              occurrences.c.end > start,
              occurrences.c.start < end, occurrences.c.fbtype.is_not(None))
    short = select(*columns).where(*common, occurrences.c.long.is_(False),
                                   occurrences.c.start > start - LONG_OCCURRENCE)
    long_ = select(*columns).where(*common, occurrences.c.long.is_(True))
    return union_all(short, long_)


def _candidate(row: Any, exact: bool) -> Candidate:
    return Candidate(row.href, exact, row.uid, row.etag, row.text, row.component,
                     row.range_start, row.range_end,
                     FileState(row.file_mtime_ns, row.file_size))
