"""Reads and writes of the index: one short transaction per operation.

The storage plugin calls these inside Radicale's storage lock, so writers never race each
other; readers that repair drift may race, and :meth:`IndexStore.write_entries` is an
idempotent replace to make that harmless.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Sequence

from sqlalchemy import Connection, Engine, and_, delete, func, or_, select, union, update

from radicale_tracks.index.extract import IndexEntry
from radicale_tracks.index.schema import (LONG_OCCURRENCE, attendees, collections, items,
                                          occurrences)

logger = logging.getLogger("radicale.tracks.index")


@dataclass(frozen=True)
class FileState:
    """What the file system says about a stored object, to detect edits behind our back."""

    mtime_ns: int
    size: int


@dataclass(frozen=True)
class IndexedFile:
    href: str
    state: FileState
    etag: str


@dataclass(frozen=True)
class Candidate:
    """An object that may match a time-range query; ``exact`` when the index is sure."""

    href: str
    exact: bool


class IndexStore:
    """The index of every collection of one Radicale storage."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- writes ---------------------------------------------------------------

    def write_entries(self, path: str, tag: str,
                      entries: Iterable[tuple[str, IndexEntry, FileState]],
                      dir_mtime_ns: int | None, removed: Iterable[str] = ()) -> None:
        """Replace the rows of the given hrefs (and drop ``removed``) in one transaction."""
        with self.engine.begin() as connection:
            collection_id = self._collection_id(connection, path, tag)
            for href in removed:
                self._delete_item(connection, collection_id, href)
            for href, entry, state in entries:
                self._delete_item(connection, collection_id, href)
                self._insert_item(connection, collection_id, href, entry, state)
            connection.execute(update(collections)
                               .where(collections.c.id == collection_id)
                               .values(dir_mtime_ns=dir_mtime_ns, tag=tag))

    def delete_entry(self, path: str, href: str, dir_mtime_ns: int | None) -> None:
        with self.engine.begin() as connection:
            collection_id = self._existing_collection_id(connection, path)
            if collection_id is None:
                return
            self._delete_item(connection, collection_id, href)
            connection.execute(update(collections)
                               .where(collections.c.id == collection_id)
                               .values(dir_mtime_ns=dir_mtime_ns))

    def delete_collection(self, path: str) -> None:
        """Forget a collection and every collection below it."""
        with self.engine.begin() as connection:
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
        with self.engine.begin() as connection:
            source_id = self._existing_collection_id(connection, from_path)
            target_id = self._collection_id(connection, to_path, to_tag)
            if source_id is None:
                return False
            item_id = connection.execute(select(items.c.id).where(
                items.c.collection_id == source_id, items.c.href == from_href)).scalar()
            if item_id is None:
                return False
            self._delete_item(connection, target_id, to_href)
            connection.execute(update(items).where(items.c.id == item_id).values(
                collection_id=target_id, href=to_href))
            connection.execute(update(occurrences).where(occurrences.c.item_id == item_id)
                               .values(collection_id=target_id))
            connection.execute(update(collections).where(collections.c.id == source_id)
                               .values(dir_mtime_ns=from_dir_mtime_ns))
            connection.execute(update(collections).where(collections.c.id == target_id)
                               .values(dir_mtime_ns=to_dir_mtime_ns))
            return True

    # -- reads ----------------------------------------------------------------

    def dir_mtime_ns(self, path: str) -> int | None:
        """The folder mtime recorded when the index last matched; None if never indexed."""
        with self.engine.connect() as connection:
            return connection.execute(select(collections.c.dir_mtime_ns).where(
                collections.c.path == path)).scalar()

    def is_indexed(self, path: str) -> bool:
        with self.engine.connect() as connection:
            return self._existing_collection_id(connection, path) is not None

    def files(self, path: str) -> dict[str, IndexedFile]:
        """Per href, the file state and etag the index was built from."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(items.c.href, items.c.file_mtime_ns, items.c.file_size, items.c.etag)
                .join(collections, collections.c.id == items.c.collection_id)
                .where(collections.c.path == path))
            return {href: IndexedFile(href, FileState(mtime, size), etag)
                    for href, mtime, size, etag in rows}

    def has_uid(self, path: str, uid: str) -> bool:
        with self.engine.connect() as connection:
            return connection.execute(
                select(items.c.id)
                .join(collections, collections.c.id == items.c.collection_id)
                .where(collections.c.path == path, items.c.uid == uid).limit(1)
            ).first() is not None

    def candidates(self, path: str, component: str | None, start: int, end: int
                   ) -> list[Candidate]:
        """Objects of ``path`` that may overlap ``[start, end)``, sorted by href.

        ``exact`` objects have an indexed occurrence in the window; the others lie
        partly outside their expansion and only their overall bounds overlap.
        """
        with self.engine.connect() as connection:
            collection_id = self._existing_collection_id(connection, path)
            if collection_id is None:
                return []
            window = and_(occurrences.c.collection_id == collection_id,
                          occurrences.c.end > start)
            short = select(occurrences.c.item_id).where(
                window, occurrences.c.long.is_(False),
                occurrences.c.start > start - LONG_OCCURRENCE,
                occurrences.c.start < end)
            long_ = select(occurrences.c.item_id).where(
                window, occurrences.c.long.is_(True), occurrences.c.start < end)
            hits = union(short, long_).subquery()
            exact_query = select(items.c.href, items.c.component).where(
                items.c.id.in_(select(hits.c.item_id)))
            partial_query = select(items.c.href, items.c.component).where(
                items.c.collection_id == collection_id,
                or_(items.c.covered_from > start, items.c.covered_until < end),
                items.c.range_start < end, items.c.range_end > start)
            exact = {href for href, kind in connection.execute(exact_query)
                     if component is None or kind == component}
            partial = {href for href, kind in connection.execute(partial_query)
                       if component is None or kind == component}
        found = [Candidate(href, True) for href in exact]
        found.extend(Candidate(href, False) for href in partial - exact)
        found.sort(key=lambda c: c.href)
        return found

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as connection:
            return {
                name: connection.execute(select(func.count()).select_from(table)).scalar_one()
                for name, table in (("collections", collections), ("items", items),
                                    ("occurrences", occurrences), ("attendees", attendees))}

    def collection_paths(self) -> list[str]:
        with self.engine.connect() as connection:
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
        result = connection.execute(collections.insert().values(path=path, tag=tag))
        primary_key: Sequence[int] = result.inserted_primary_key or ()
        return int(primary_key[0])

    @staticmethod
    def _delete_item(connection: Connection, collection_id: int, href: str) -> None:
        item_id = connection.execute(select(items.c.id).where(
            items.c.collection_id == collection_id, items.c.href == href)).scalar()
        if item_id is None:
            return
        connection.execute(delete(occurrences).where(occurrences.c.item_id == item_id))
        connection.execute(delete(attendees).where(attendees.c.item_id == item_id))
        connection.execute(delete(items).where(items.c.id == item_id))

    @staticmethod
    def _insert_item(connection: Connection, collection_id: int, href: str,
                     entry: IndexEntry, state: FileState) -> None:
        result = connection.execute(items.insert().values(
            collection_id=collection_id, href=href, uid=entry.uid,
            component=entry.component, etag=entry.etag, organizer=entry.organizer,
            recurring=entry.recurring, range_start=entry.range_start,
            range_end=entry.range_end, covered_from=entry.covered_from,
            covered_until=entry.covered_until, file_mtime_ns=state.mtime_ns,
            file_size=state.size))
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
