"""``item_store = database``: the index's rows are the collections, not a copy of them.

In files mode the index is derived from ``.ics`` files. In database mode the same rows
(``tracks_collection``, ``tracks_item`` with its occurrences and attendees) are the
truth, plus what Radicale keeps beside its files: a collection's properties, and the
sync-collection change log — a revision per collection bumped by every write (its row
lock also orders writers of one collection), and per href the revision of its last
change (``tracks_item_change``). Every write here joins the thread's transaction
(``Database.begin``), so an item, its index rows, its change-log row and whatever the
write caused (track rows, outbox rows) commit together or not at all.

A sync token is ``http://radicale.org/ns/sync/`` and 64 hex digits, as Radicale's: the
collection's ``sync_id`` (new whenever the collection is created, so a token of a
deleted and recreated collection is refused) and the revision. Deletions are kept
``max_sync_token_age`` seconds; a token older than the purged revision is refused (RFC
6578 §3.2: the client starts over).
"""

from __future__ import annotations

import functools
import json
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    Select,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from radicale_tracks.db.session import Database
from radicale_tracks.index.extract import IndexEntry
from radicale_tracks.index.schema import collections, item_changes, items
from radicale_tracks.index.store import FileState, IndexStore

SYNC_PREFIX = "http://radicale.org/ns/sync/"


class InvalidSyncToken(ValueError):
    """A token this collection never gave, or one older than its kept history
    (Radicale answers 403 ``valid-sync-token`` to a ValueError from ``sync``)."""


@dataclass(frozen=True)
class StoredCollection:
    """One collection as the database holds it."""

    id: int
    path: str
    tag: str
    props: dict[str, str]
    revision: int
    sync_id: str
    purged_revision: int
    modified_ns: int


@dataclass(frozen=True)
class StoredItem:
    """One object as the database holds it: what Radicale's ``Item`` is built from."""

    href: str
    uid: str
    component: str
    etag: str
    text: str
    range_start: int
    range_end: int
    modified_ns: int
    size: int


def sync_token(collection: StoredCollection) -> str:
    return "%s%s%032x" % (SYNC_PREFIX, collection.sync_id, collection.revision)


def token_revision(collection: StoredCollection, token: str) -> int:
    """The revision a token of this collection names; InvalidSyncToken otherwise."""
    name = token[len(SYNC_PREFIX):] if token.startswith(SYNC_PREFIX) else ""
    if len(name) != 64 or name[:32] != collection.sync_id:
        raise InvalidSyncToken("Token not found: %r" % token)
    try:
        revision = int(name[32:], 16)
    except ValueError:
        raise InvalidSyncToken("Malformed token: %r" % token) from None
    if revision > collection.revision or revision < collection.purged_revision:
        raise InvalidSyncToken("Token not found: %r" % token)
    return revision


def item_state(text: str, modified_ns: int) -> FileState:
    """The (time, size) an item's row records: its write time and its UTF-8 size, which
    ``max_resource_size`` is compared with, as a file's size is."""
    return FileState(modified_ns, len(text.encode("utf-8")))


class ItemStore:
    """Collections and items of ``item_store = database``."""

    def __init__(self, database: Database, index: IndexStore) -> None:
        self.database = database
        self.index = index

    # -- collections ------------------------------------------------------------------

    def collection(self, path: str) -> StoredCollection | None:
        cache = self.database.hold_cache()
        if cache is not None and ("collection", path) in cache:
            found: StoredCollection | None = cache["collection", path]
            return found
        with self.database.connect() as connection:
            row = connection.execute(_statements().collection, {"path": path}).first()
        found = None if row is None else _stored_collection(row)
        if cache is not None:
            cache["collection", path] = found
        return found

    def collection_or_parent(self, path: str, parent: str
                             ) -> tuple[StoredCollection | None, StoredCollection | None]:
        """The collection at ``path`` and, when there is none, the one at ``parent`` (None
        when ``path`` is one), in one query: an object's path (``alice/work/x.ics``) is
        no collection, and its parent is looked up next."""
        cache = self.database.hold_cache()
        if cache is not None and ("collection", path) in cache:
            found: StoredCollection | None = cache["collection", path]
            if found is not None:
                return found, None
            if ("collection", parent) in cache:
                return None, cache["collection", parent]
        with self.database.connect() as connection:
            rows = {row.path: _stored_collection(row) for row in connection.execute(
                _statements().two_collections, {"path": path, "parent": parent})}
        if cache is not None:
            cache["collection", path] = rows.get(path)
            cache["collection", parent] = rows.get(parent)
        return rows.get(path), rows.get(parent) if path not in rows else None

    def children(self, path: str) -> list[StoredCollection]:
        """The collections directly below ``path`` ("" is the root), by path."""
        prefix = path + "/" if path else ""
        depth = prefix.count("/")
        with self.database.connect() as connection:
            rows = connection.execute(_collection_query().where(
                collections.c.path.startswith(prefix, autoescape=True),
                collections.c.path != "").order_by(collections.c.path)).all()
        return [_stored_collection(row) for row in rows
                if row.path.count("/") == depth]

    def paths_below(self, path: str) -> list[str]:
        """``path`` and every collection below it (all of them for the root)."""
        with self.database.connect() as connection:
            query = select(collections.c.path).order_by(collections.c.path)
            if path:
                query = query.where(or_(
                    collections.c.path == path,
                    collections.c.path.startswith(path + "/", autoescape=True)))
            return list(connection.execute(query).scalars())

    def create(self, path: str, props: Mapping[str, str]) -> StoredCollection:
        """A new collection (or the one at ``path`` emptied and given ``props``): a new
        ``sync_id``, so tokens of what was there before are refused."""
        self.database.forget_reads()
        now = time.time_ns()
        with self.database.begin() as connection:
            existing = connection.execute(select(collections.c.id).where(
                collections.c.path == path)).scalar()
            values = dict(tag=props.get("tag", ""), props=_props_text(props), revision=0,
                          sync_id=secrets.token_hex(16), purged_revision=0,
                          modified_ns=now, files_digest=0, dir_mtime_ns=None)
            if existing is None:
                connection.execute(collections.insert().values(path=path, **values))
            else:
                self.index.clear_collection(connection, existing)
                connection.execute(delete(item_changes).where(
                    item_changes.c.collection_id == existing))
                connection.execute(update(collections).where(
                    collections.c.id == existing).values(**values))
        created = self.collection(path)
        assert created is not None
        return created

    def set_props(self, path: str, props: Mapping[str, str]) -> None:
        """Radicale's ``set_meta``: the properties replaced (a change, not a member's:
        the revision moves, so the collection's token does too)."""
        self.database.forget_reads()
        with self.database.begin() as connection:
            connection.execute(update(collections).where(collections.c.path == path)
                               .values(props=_props_text(props),
                                       tag=props.get("tag", ""),
                                       revision=collections.c.revision + 1,
                                       modified_ns=time.time_ns()))

    def delete_tree(self, path: str) -> None:
        """The collection at ``path`` and everything below it, items and change logs;
        for the root (``DELETE /``, never a row itself) every collection."""
        self.database.forget_reads()
        with self.database.begin():
            for top in [path] if path else [child.path for child in self.children("")]:
                self.index.delete_collection(top)

    # -- items ------------------------------------------------------------------------

    def items(self, path: str, hrefs: Iterable[str] | None = None) -> list[StoredItem]:
        """The collection's objects (those named, when ``hrefs`` is given), by href."""
        wanted = None if hrefs is None else sorted(set(hrefs))
        cache = self.database.hold_cache() if wanted and len(wanted) == 1 else None
        if cache is not None and wanted and ("item", path, wanted[0]) in cache:
            cached: list[StoredItem] = cache["item", path, wanted[0]]
            return list(cached)
        found: list[StoredItem] = []
        with self.database.connect() as connection:
            if wanted is not None and len(wanted) == 1:   # a PUT's, a GET's: built once
                found.extend(StoredItem(*row) for row in connection.execute(
                    _statements().one_item, {"path": path, "href": wanted[0]}))
                if cache is not None:
                    cache["item", path, wanted[0]] = list(found)
                return found
            query = _items_query().where(collections.c.path == path).order_by(items.c.href)
            if wanted is None:
                found.extend(StoredItem(*row) for row in connection.execute(query))
            else:
                for first in range(0, len(wanted), 500):
                    found.extend(StoredItem(*row) for row in connection.execute(
                        query.where(items.c.href.in_(wanted[first:first + 500]))))
        return found

    def hrefs(self, path: str) -> list[str]:
        with self.database.connect() as connection:
            return list(connection.execute(
                select(items.c.href).join(collections,
                                          collections.c.id == items.c.collection_id)
                .where(collections.c.path == path).order_by(items.c.href)).scalars())

    def etags(self, path: str) -> list[tuple[str, str]]:
        """(href, etag) of every object, by href: the collection's ETag is made of them."""
        with self.database.connect() as connection:
            return [(row[0], row[1]) for row in connection.execute(
                select(items.c.href, items.c.etag)
                .join(collections, collections.c.id == items.c.collection_id)
                .where(collections.c.path == path).order_by(items.c.href))]

    def states(self, path: str, hrefs: Iterable[str] | None) -> dict[str, FileState]:
        """(write time, size) of the named objects that exist (all when None)."""
        query = (select(items.c.href, items.c.file_mtime_ns, items.c.file_size)
                 .join(collections, collections.c.id == items.c.collection_id)
                 .where(collections.c.path == path))
        found: dict[str, FileState] = {}
        with self.database.connect() as connection:
            if hrefs is None:
                rows = list(connection.execute(query))
            else:
                wanted = sorted(set(hrefs))
                rows = [row for first in range(0, len(wanted), 500)
                        for row in connection.execute(query.where(
                            items.c.href.in_(wanted[first:first + 500])))]
        for href, mtime_ns, size in rows:
            found[href] = FileState(mtime_ns, size)
        return found

    def reindex(self, path: str, tag: str, entries: Sequence[tuple[str, IndexEntry]]
                ) -> None:
        """Objects' index rows worked out again from their unchanged text: no change a
        client syncs, so neither the revision nor the change log moves."""
        self.database.forget_reads()
        states = self.states(path, [href for href, _ in entries])
        self.index.write_entries(path, tag, [(href, entry, states[href])
                                             for href, entry in entries if href in states],
                                 None)

    def store(self, path: str, tag: str, href: str, entry: IndexEntry) -> FileState:
        """One object written: its rows replaced, the collection's revision bumped and
        the href's change recorded, in the thread's transaction."""
        self.database.forget_reads()
        with self.database.begin() as connection:
            collection_id, revision, now = self._bump(connection, path, tag)
            state = item_state(entry.text, now)
            self._drop(connection, collection_id, href)
            self.index.insert_item(connection, collection_id, href, entry, state)
            self._change(connection, collection_id, href, revision, now, deleted=False)
        return state

    def store_all(self, path: str, tag: str,
                  entries: Sequence[tuple[str, IndexEntry]]) -> None:
        """Many objects of one collection at once (a calendar uploaded whole, a
        migration): bulk rows, one revision."""
        self.database.forget_reads()
        with self.database.begin() as connection:
            collection_id, revision, now = self._bump(connection, path, None)
            rows = [(href, entry, item_state(entry.text, now)) for href, entry in entries]
            self.index.write_entries(path, tag, rows, None)
            self._changed(connection, collection_id, [href for href, _ in entries],
                          revision, now, deleted=False)

    def fill(self, path: str, tag: str, entries: Sequence[tuple[str, IndexEntry]]) -> None:
        """An empty collection given many objects (``migrate``): the index's bulk
        insert, every href in the change log at one revision."""
        self.database.forget_reads()
        with self.database.begin() as connection:
            collection_id, revision, now = self._bump(connection, path, None)
            self.index.replace_collection(
                path, tag, [(href, entry, item_state(entry.text, now))
                            for href, entry in entries], None)
            self._changed(connection, collection_id, [href for href, _ in entries],
                          revision, now, deleted=False)

    def remove(self, path: str, href: str) -> None:
        self.database.forget_reads()
        with self.database.begin() as connection:
            collection_id, revision, now = self._bump(connection, path, None)
            self._drop(connection, collection_id, href)
            self._change(connection, collection_id, href, revision, now, deleted=True)

    def move(self, from_path: str, from_href: str, to_path: str, to_tag: str,
             to_href: str) -> None:
        """An object re-homed with its rows: a deletion in the source's change log, a
        change in the target's (both bumped in collection-path order: ``_bump`` locks rows)."""
        self.database.forget_reads()
        with self.database.begin() as connection:
            bumped = {path: self._bump(connection, path, None)
                      for path in sorted({from_path, to_path})}
            self.index.move_entry(from_path, from_href, None, to_path, to_tag, to_href, None)
            for path, href, deleted in ((from_path, from_href, True),
                                        (to_path, to_href, False)):
                collection_id, revision, now = bumped[path]
                self._change(connection, collection_id, href, revision, now, deleted)

    # -- sync-collection --------------------------------------------------------------

    def changes_since(self, collection: StoredCollection, revision: int) -> list[str]:
        """Hrefs changed or deleted after ``revision`` up to the collection's, by href."""
        with self.database.connect() as connection:
            return list(connection.execute(
                select(item_changes.c.href).where(
                    item_changes.c.collection_id == collection.id,
                    item_changes.c.revision > revision,
                    item_changes.c.revision <= collection.revision)
                .order_by(item_changes.c.href)).scalars())

    def purge_deletions(self, path: str, older_than_ns: int) -> int:
        """Forget deletions recorded before ``older_than_ns``; tokens from before the
        newest forgotten one are refused from then on. Returns how many."""
        self.database.forget_reads()
        with self.database.begin() as connection:
            collection_id = connection.execute(select(collections.c.id).where(
                collections.c.path == path)).scalar()
            if collection_id is None:
                return 0
            old = and_(item_changes.c.collection_id == collection_id,
                       item_changes.c.deleted.is_(True),
                       item_changes.c.changed_ns < older_than_ns)
            newest = connection.execute(select(func.max(item_changes.c.revision))
                                        .where(old)).scalar()
            if newest is None:
                return 0
            result = connection.execute(delete(item_changes).where(old))
            connection.execute(update(collections).where(collections.c.id == collection_id)
                               .values(purged_revision=func.max(
                                   collections.c.purged_revision, newest)
                                   if connection.dialect.name == "sqlite" else
                                   func.greatest(collections.c.purged_revision, newest)))
            return int(result.rowcount or 0)

    # -- helpers ----------------------------------------------------------------------

    @staticmethod
    def _bump(connection: Connection, path: str, tag: str | None
                        ) -> tuple[int, int, int]:
        """One object's write, one statement for the collection: its revision + 1 (the
        row stays locked to the commit), and its fingerprint set to that revision —
        busy time keys its cache on the fingerprint, so every write moves it on every
        node. Returns (collection id, revision, the write's time)."""
        now = time.time_ns()
        statements = _statements()
        row = connection.execute(
            statements.bump if tag is None else statements.bump_tag,
            {"bumped_path": path, "now": now} if tag is None else
            {"bumped_path": path, "now": now, "new_tag": tag}).first()
        if row is None:
            raise LookupError("no collection %r" % path)
        return int(row[0]), int(row[1]), now

    @staticmethod
    def _drop(connection: Connection, collection_id: int, href: str) -> None:
        """An object's row gone; its occurrences and attendees go with it (their
        foreign keys cascade)."""
        connection.execute(_statements().drop, {"collection": collection_id,
                                                "item_href": href})

    @staticmethod
    def _change(connection: Connection, collection_id: int, href: str, revision: int,
                now: int, deleted: bool) -> None:
        """One href's change-log row, inserted or updated in one statement."""
        connection.execute(_change_upsert(connection.dialect.name), {
            "collection_id": collection_id, "href": href, "revision": revision,
            "deleted": deleted, "changed_ns": now})

    @staticmethod
    def _changed(connection: Connection, collection_id: int, hrefs: Sequence[str],
                 revision: int, now: int, deleted: bool) -> None:
        """Many hrefs' change-log rows (a calendar uploaded whole, a migration)."""
        for first in range(0, len(hrefs), 500):
            chunk = list(hrefs[first:first + 500])
            connection.execute(delete(item_changes).where(
                item_changes.c.collection_id == collection_id,
                item_changes.c.href.in_(chunk)))
            connection.execute(item_changes.insert(), [
                {"collection_id": collection_id, "href": href, "revision": revision,
                 "deleted": deleted, "changed_ns": now} for href in chunk])


@dataclass(frozen=True)
class _Statements:
    """The statements of a PUT's path, built once with bound parameters: building a
    statement anew costs more of a write's CPU than the database takes to run it."""

    collection: Any
    two_collections: Any
    one_item: Any
    bump: Any
    bump_tag: Any
    drop: Any


@functools.cache
def _statements() -> _Statements:
    """Built on first use (two threads at once may both build them: the same statements)."""
    bumped = {"revision": collections.c.revision + 1,
              "modified_ns": bindparam("now"),
              "files_digest": collections.c.revision + 1}
    bump = (update(collections).where(collections.c.path == bindparam("bumped_path"))
            .returning(collections.c.id, collections.c.revision))
    return _Statements(
        collection=_collection_query().where(collections.c.path == bindparam("path")),
        two_collections=_collection_query().where(collections.c.path.in_(
            [bindparam("path"), bindparam("parent")])),
        one_item=_items_query().where(collections.c.path == bindparam("path"),
                                      items.c.href == bindparam("href")),
        bump=bump.values(**bumped),
        bump_tag=bump.values(tag=bindparam("new_tag"), **bumped),
        drop=delete(items).where(items.c.collection_id == bindparam("collection"),
                                 items.c.href == bindparam("item_href")))


@functools.cache
def _change_upsert(dialect: str) -> Any:
    """The change log's upsert for ``dialect``, built once."""
    dialect_insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = dialect_insert(item_changes)
    return statement.on_conflict_do_update(
        index_elements=[item_changes.c.collection_id, item_changes.c.href],
        set_={"revision": statement.excluded.revision,
              "deleted": statement.excluded.deleted,
              "changed_ns": statement.excluded.changed_ns})


def _items_query() -> Select[Any]:
    """An object's stored columns, joined to its collection (for a ``path`` condition)."""
    return (select(items.c.href, items.c.uid, items.c.component, items.c.etag,
                   items.c.text, items.c.range_start, items.c.range_end,
                   items.c.file_mtime_ns, items.c.file_size)
            .join(collections, collections.c.id == items.c.collection_id))


def _collection_query() -> Select[Any]:
    return select(collections.c.id, collections.c.path, collections.c.tag,
                  collections.c.props, collections.c.revision, collections.c.sync_id,
                  collections.c.purged_revision, collections.c.modified_ns)


def _stored_collection(row: Any) -> StoredCollection:
    props = json.loads(row.props or "{}")
    return StoredCollection(
        id=int(row.id), path=str(row.path),
        tag=str(row.tag or ""), props=props,
        revision=int(row.revision or 0),
        sync_id=str(row.sync_id or "0" * 32),
        purged_revision=int(row.purged_revision or 0),
        modified_ns=int(row.modified_ns or 0))


def _props_text(props: Mapping[str, str]) -> str:
    return json.dumps(dict(props), sort_keys=True)
