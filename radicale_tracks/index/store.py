"""Reads and writes of the index: one short transaction per operation.

The storage plugin calls these inside Radicale's storage lock, so writers never race each
other; a write joins the transaction the thread has open (``db/session.py``), so that an
invitation's index rows commit with its tracks and outbox rows; readers that repair drift may race, and :meth:`IndexStore.write_entries` is an
idempotent replace to make that harmless.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass
from functools import reduce
from operator import xor
from typing import Any, Iterable, Iterator, Mapping, NamedTuple, Sequence

from sqlalchemy import Connection, and_, delete, func, or_, select, union, update

from radicale_tracks.db.session import Database
from radicale_tracks.index.extract import IndexEntry
from radicale_tracks.index.schema import (LONG_OCCURRENCE, attendees, collections, items,
                                          occurrences)

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
                self._insert_item(connection, collection_id, href, entry, state)
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
            return connection.execute(
                select(items.c.id)
                .join(collections, collections.c.id == items.c.collection_id)
                .where(collections.c.path == path, items.c.uid == uid).limit(1)
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
        with self.database.connect() as connection:
            collection_id = self._existing_collection_id(connection, path)
            if collection_id is None:
                return
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
                items.c.collection_id == collection_id,
                or_(items.c.covered_from > start, items.c.covered_until < end),
                items.c.range_start < end, items.c.range_end > start)
            if component is not None:
                exact_query = exact_query.where(items.c.component == component)
                partial_query = partial_query.where(items.c.component == component)
            # partial objects are few (series beyond the horizon): keep them, stream the rest
            partial = {row.href: _candidate(row, False)
                       for row in connection.execute(partial_query)}
            for row in connection.execution_options(stream_results=True).execute(
                    exact_query):
                partial.pop(row.href, None)
                yield _candidate(row, True)
            yield from partial.values()

    def busy_time(self, path: str, start: int, end: int) -> BusyTime:
        """Everything a free-busy answer over ``[start, end)`` needs from ``path``.

        Events whose expansion covers the window contribute their indexed occurrences;
        the others (series beyond the horizon or the cap) are named for the caller to
        expand, exactly as Radicale would.
        """
        with self.database.connect() as connection:
            collection_id = self._existing_collection_id(connection, path)
            if collection_id is None:
                return BusyTime([], [], {})
            covered = and_(items.c.covered_from <= start, items.c.covered_until >= end)
            window = and_(occurrences.c.collection_id == collection_id,
                          occurrences.c.end > start, occurrences.c.start < end,
                          occurrences.c.fbtype.is_not(None),
                          or_(occurrences.c.long.is_(True),
                              occurrences.c.start > start - LONG_OCCURRENCE))
            rows = connection.execute(
                select(items.c.href, occurrences.c.start, occurrences.c.end,
                       occurrences.c.fbtype, items.c.file_mtime_ns, items.c.file_size)
                .join(items, items.c.id == occurrences.c.item_id)
                .where(window, items.c.component == "VEVENT", covered))
            periods = []
            states = {}
            for href, s, e, fbtype, mtime_ns, size in rows:
                periods.append((href, s, e, fbtype))
                states[href] = FileState(mtime_ns, size)
            fallback = [row[0] for row in connection.execute(
                select(items.c.href).where(
                    items.c.collection_id == collection_id, items.c.component == "VEVENT",
                    or_(items.c.covered_from > start, items.c.covered_until < end),
                    items.c.range_start < end, items.c.range_end > start)
                .order_by(items.c.href))]
        return BusyTime(periods, fallback, states)

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
    def _insert_item(connection: Connection, collection_id: int, href: str,
                     entry: IndexEntry, state: FileState) -> None:
        result = connection.execute(items.insert().values(
            collection_id=collection_id, href=href, uid=entry.uid,
            component=entry.component, etag=entry.etag, organizer=entry.organizer,
            recurring=entry.recurring, range_start=entry.range_start,
            range_end=entry.range_end, covered_from=entry.covered_from,
            covered_until=entry.covered_until, file_mtime_ns=state.mtime_ns,
            file_size=state.size, text=entry.text))
        primary_key: Sequence[int] = result.inserted_primary_key or ()
        item_id = int(primary_key[0])
        if entry.occurrences:
            connection.execute(occurrences.insert(), [
                {"item_id": item_id, "collection_id": collection_id, "start": o.start,
                 "end": o.end, "fbtype": o.fbtype,
                 "long": o.end - o.start > LONG_OCCURRENCE}
                for o in entry.occurrences])
        if entry.attendees:
            connection.execute(attendees.insert(), [
                {"item_id": item_id, "address": a.address, "partstat": a.partstat,
                 "role": a.role, "recurrence_id": a.recurrence_id}
                for a in entry.attendees])


def _candidate(row: Any, exact: bool) -> Candidate:
    return Candidate(row.href, exact, row.uid, row.etag, row.text, row.component,
                     row.range_start, row.range_end,
                     FileState(row.file_mtime_ns, row.file_size))
