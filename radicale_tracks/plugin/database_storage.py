"""``item_store = database``: Radicale's storage API on the database alone.

Everything a node needs lives in ``database_url`` (``index/item_store.py``): items with
their index rows, collection properties, the sync-collection change log. Any number of
nodes can share one PostgreSQL database; ``filesystem_folder`` holds nothing another node
needs (Radicale's start-up makes it; SQLite keeps its file there by default).

The classes extend the file backend's (``storage.py``), so the scheduling writer, busy
time, the HTTP parts and the commands see one ``Storage``/``Collection``; every member
that would touch files is overridden here — reads and writes go to the rows, and the
parts of Radicale's multifilesystem built on ``_get``/``_list`` read them too.

A write needs no journal: it is one database transaction (``Database.begin``). Locks
are per calendar on PostgreSQL (``calendar_locks.py``: each collection a write hold
meets is locked before it is read for the write); SQLite keeps one write lock, the
only one it allows.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, ClassVar, TypeVar

from radicale import config as radicale_config
from radicale import item as radicale_item
from radicale import pathutils
from radicale import storage as radicale_storage
from radicale.item import filter as radicale_filter

from radicale_tracks.db.session import Recovery, on_rollback
from radicale_tracks.index.item_store import (
    ItemStore,
    StoredCollection,
    StoredItem,
    sync_token,
    token_revision,
)
from radicale_tracks.index.store import CollectionState, FileState
from radicale_tracks.plugin import calendar_locks, write_hold
from radicale_tracks.plugin import radicale_internals as internals
from radicale_tracks.plugin.client_puts import client_items
from radicale_tracks.plugin.index_queries import item_from_index
from radicale_tracks.plugin.size_limits import check_object_size
from radicale_tracks.plugin.storage import Collection, Storage

logger = logging.getLogger("radicale.tracks.storage")

_T = TypeVar("_T")

#: the root collection: always there, never a row
_ROOT = StoredCollection(id=0, path="", tag="", props={}, revision=0, sync_id="0" * 32,
                         purged_revision=0, modified_ns=0)


def _http_date(ns: int) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(ns // 10**9))


class DatabaseCollection(Collection):
    """A collection whose items, properties and history are rows."""

    rows_are_truth: ClassVar[bool] = True

    def __init__(self, storage_: Any, path: str, filesystem_path: str | None = None) -> None:
        super().__init__(storage_, path, filesystem_path)
        self._stored: StoredCollection | None = None
        if "/" in self.path:
            # read in a write hold: read for a write; its calendar is locked first
            calendar_locks.need([self.path])

    @property
    def store(self) -> DatabaseStorage:
        store = super().store
        assert isinstance(store, DatabaseStorage)
        return store

    @property
    def stored(self) -> StoredCollection:
        """The collection's row (read once per object: one request's view)."""
        if self._stored is None:
            if not self.path:
                return _ROOT
            self._stored = self.store.items.collection(self.path) or StoredCollection(
                id=-1, path=self.path, tag="", props={}, revision=0, sync_id="0" * 32,
                purged_revision=0, modified_ns=0)
        return self._stored

    # -- properties and history ------------------------------------------------------

    def get_meta(self, key: str | None = None) -> Any:
        props = self.stored.props
        return dict(props) if key is None else props.get(key)

    def set_meta(self, props: Mapping[str, str]) -> None:
        calendar_locks.need([self.path])
        self.store.items.set_props(self.path, props)
        self._stored = None

    @property
    def last_modified(self) -> str:
        return _http_date(self.stored.modified_ns or time.time_ns())

    @property
    def etag(self) -> str:
        """Radicale's collection ETag (every href/etag, then the properties), from rows."""
        digest = hashlib.sha256()
        for href, etag in self.store.items.etags(self.path):
            digest.update((href + "/" + etag).encode())
        digest.update(json.dumps(self.get_meta(), sort_keys=True).encode())
        return '"%s"' % digest.hexdigest()

    def sync(self, old_token: str = "") -> tuple[str, Iterable[str]]:
        """RFC 6578 from the change log: every href changed or deleted since the token's
        revision (ValueError for a token this collection did not give, or too old)."""
        self._stored = None
        stored = self.stored
        token = sync_token(stored)
        if not old_token:
            return token, self.store.items.hrefs(self.path)
        revision = token_revision(stored, old_token)
        if revision == stored.revision:
            return token, ()
        return token, self.store.items.changes_since(stored, revision)

    def _clean_history(self) -> None:
        """Deletions older than ``max_sync_token_age`` forgotten, once per
        ``history_clean_interval`` per collection and process (as the files backend)."""
        interval = self.store.settings.history_clean_interval
        now = time.monotonic()
        last = self._history_cleaned_at.get(self.path)
        if interval and last is not None and now - last < interval:
            return
        self._history_cleaned_at[self.path] = now
        max_age = int(self.store.configuration.get("storage", "max_sync_token_age"))
        self.store.items.purge_deletions(self.path, time.time_ns() - max_age * 10**9)

    def forget_history(self, href: str) -> None:
        """Nothing to forget: files mode drops a deleted inbox message's history because
        Radicale's *initial* sync lists deleted members; here an initial sync lists only
        the rows that exist, and the deletion must stay in the change log for clients
        holding an older token (RFC 6578: a removed member is reported, 404) until
        ``max_sync_token_age`` purges it."""
        return None

    # -- items ------------------------------------------------------------------------

    def _item(self, row: StoredItem) -> radicale_item.Item:
        # Radicale's ``name`` is the object's outer component (the Content-Type of GET
        # and getcontenttype); a vCard's ``component`` is "" (find_tag), so read it
        # from the stored text, which Radicale serialized
        return radicale_item.Item(
            collection=self, href=row.href, last_modified=_http_date(row.modified_ns),
            etag=row.etag, text=row.text, uid=row.uid,
            name="VCARD" if row.text.lstrip()[:11].upper() == "BEGIN:VCARD"
            else "VCALENDAR",
            component_name=row.component, time_range=(row.range_start, row.range_end))

    def _too_big(self, row: StoredItem) -> bool:
        """Over ``max_resource_size`` (lowered since it was stored): Radicale's
        ``get_multi`` and ``get_all`` leave such a file out, with a warning."""
        limit = internals.max_resource_size(self.store)
        if row.size <= limit:
            return False
        logger.warning("Object skipped because its size exceeds max_resource_size "
                       "%d > %d: %r in %r", row.size, limit, row.href, self.path)
        return True

    def _list(self) -> Iterator[str]:
        yield from self.store.items.hrefs(self.path)

    def _get(self, href: str, verify_href: bool = True) -> radicale_item.Item | None:
        """Radicale's read of one item (radicale_internals.OVERRIDDEN_HOOKS)."""
        return self._read(href, verify_href)

    def _read(self, href: str, verify_href: bool) -> radicale_item.Item | None:
        if verify_href and not pathutils.is_safe_filesystem_path_component(href):
            return None
        found = self.store.items.items(self.path, [href])
        return self._item(found[0]) if found else None

    def get_multi(self, hrefs: Iterable[str]
                  ) -> Iterator[tuple[str, radicale_item.Item | None]]:
        wanted = list(hrefs)
        safe = [h for h in wanted if pathutils.is_safe_filesystem_path_component(h)]
        found = {row.href: row for row in self.store.items.items(self.path, safe)}
        for href in wanted:
            row = found.get(href)
            if row is not None and self._too_big(row):
                continue  # not even (href, None): Radicale's get_multi yields nothing
            yield href, self._item(row) if row is not None else None

    def get_all(self) -> Iterator[radicale_item.Item]:
        for row in self.store.items.items(self.path):
            if not self._too_big(row):
                yield self._item(row)

    def every_item(self) -> Iterator[radicale_item.Item]:
        """Every object, whatever its size (a Depth 1 listing, ``verify``, ``migrate``)."""
        for row in self.store.items.items(self.path):
            yield self._item(row)

    def item(self, href: str, verify_href: bool = False) -> radicale_item.Item | None:
        return self._read(href, verify_href)

    def stored_text(self, href: str) -> str | None:
        found = self.store.items.items(self.path, [href])
        return found[0].text if found else None

    def has_uid(self, uid: str) -> bool:
        return self.store.index.has_uid(self.path, uid)

    def get_filtered(self, filters: Iterable[ET.Element]
                     ) -> Iterator[tuple[radicale_item.Item, bool]]:
        """Radicale's ``get_filtered`` from the rows: a time range's candidates, each
        with whether the index is sure it matches (the rows are the truth here)."""
        filters = list(filters)
        if self.tag != "VCALENDAR":
            yield from radicale_storage.BaseCollection.get_filtered(self, filters)
            return
        tag, start, end, simple = radicale_filter.simplify_prefilters(filters, self.tag)
        if start <= radicale_filter.TIMESTAMP_MIN and end >= radicale_filter.TIMESTAMP_MAX:
            yield from radicale_storage.BaseCollection.get_filtered(self, filters)
            return
        limit = internals.max_resource_size(self.store)
        for candidate in self.store.index.candidates(self.path, tag, start, end):
            if candidate.state.size > limit:
                continue
            yield (item_from_index(self, candidate),
                   bool(simple and tag is not None and candidate.exact))

    def by_age(self) -> list[str]:
        states = self.file_states(None)
        return sorted(states, key=lambda href: (states[href].mtime_ns, href))

    # -- writes -----------------------------------------------------------------------

    def upload_indexed(self, href: str, item: radicale_item.Item
                       ) -> tuple[radicale_item.Item, radicale_item.Item | None]:
        check_object_size(item, self.store.put_size_limit)
        if not pathutils.is_safe_filesystem_path_component(href):
            raise pathutils.UnsafePathError(href)
        calendar_locks.need([self.path])
        old = self._read(href, False)
        entry = self.store.folder_index.extract(item)
        state = self.store.items.store(self.path, self.tag, href, entry)
        self._clean_history()
        # what a read of the row gives, without reading it back
        uploaded = self._item(StoredItem(
            href=href, uid=entry.uid, component=entry.component, etag=entry.etag,
            text=entry.text, range_start=entry.range_start, range_end=entry.range_end,
            modified_ns=state.mtime_ns, size=state.size))
        return uploaded, old

    def delete_indexed(self, href: str | None) -> None:
        if href is None:
            paths = self.store.items.paths_below(self.path)
            calendar_locks.need(paths or [self.path])
            self.store.items.delete_tree(self.path)
            for path in paths:
                self.store.scheduling.forget_schedule_tags(path)
            return
        calendar_locks.need([self.path])
        if not self.store.items.items(self.path, [href]):
            raise radicale_storage.ComponentNotFoundError(href)
        self.store.items.remove(self.path, href)
        self._clean_history()

    # -- the index: the rows are the truth, nothing drifts -----------------------------

    def sync_index_if_folder_changed(self) -> None:
        return None

    def index_refreshed(self) -> dict[str, FileState] | None:
        return None

    def index_refreshed_from(self, state: CollectionState | None
                             ) -> dict[str, FileState] | None:
        return None

    def file_states(self, hrefs: Iterable[str] | None) -> dict[str, FileState]:
        return self.store.items.states(self.path, hrefs)

    def sync_index(self) -> dict[str, FileState]:
        return self.file_states(None)

    def scan_files(self) -> dict[str, FileState]:
        return self.file_states(None)

    def reindex_files(self, hrefs: list[str]) -> None:
        """Occurrence rows worked out again from the stored text (``reindex``: the
        expansion window moved)."""
        entries = [(row.href, self.store.folder_index.extract(self._item(row)))
                   for row in self.store.items.items(self.path, hrefs)]
        self.store.items.reindex(self.path, self.tag, entries)

    def entry_from_file(self, href: str) -> Any:
        item = self._read(href, False)
        return None if item is None else self.store.folder_index.extract(item)


class DatabaseStorage(Storage):
    """``[storage] type = radicale_tracks.storage`` with ``item_store = database``."""

    _collection_class: ClassVar[type[Any]] = DatabaseCollection
    ITEM_STORE: ClassVar[str] = "database"

    def __init__(self, configuration: radicale_config.Configuration,
                 start_sender: bool = True, claim_item_store: bool = True) -> None:
        super().__init__(configuration, start_sender, claim_item_store)
        self.items = ItemStore(self.database, self.index)
        #: PostgreSQL: a lock per calendar; SQLite: Radicale's one lock
        self.per_calendar_locks = self.engine.dialect.name == "postgresql"
        logger.info("Calendar data in the database (item_store = database, %s)",
                    "locks per calendar" if self.per_calendar_locks else "one write lock")

    # -- locks ------------------------------------------------------------------------

    @contextlib.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args: Any,
                     **kwargs: Any) -> Iterator[None]:
        """Reads take no lock (the database's snapshots); a write locks the calendars it
        names and meets (PostgreSQL), or takes Radicale's one lock (SQLite)."""
        with self.database.reading() as reader:   # one connection for the hold's reads
            if mode != "w":
                with write_hold.holding(self.database, contextlib.nullcontext(), mode,
                                        user, False):
                    yield
                return
            if self.per_calendar_locks:
                lock: contextlib.AbstractContextManager[None] = (
                    calendar_locks.calendar_lock_hold(
                        self.engine, calendar_locks.request_units(
                            kwargs.get("path"), kwargs.get("to_path")), reader))
            else:
                lock = internals.exclusive_lock(self)
            with write_hold.holding(self.database, lock, mode, user,
                                    kwargs.get("request") == "PUT"):
                yield

    def restartable(self, work: Callable[[], _T]) -> _T:
        """``work`` run again with the learnt calendars locked first whenever it meets
        one out of order (``calendar_locks.restarting``), as the application runs a
        request: a command's or a delivery's :class:`LockOrderRestart` never escapes."""
        if not self.per_calendar_locks:
            return work()
        return calendar_locks.restarting(lambda _request: work())

    # -- no files, no journal ---------------------------------------------------------

    def recover_writes(self) -> Recovery:
        """Nothing to finish: a write is one transaction."""
        return Recovery()

    def changing(self, path: str, new_folder: bool = False
                 ) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    # -- collections ------------------------------------------------------------------

    def discover(self, path: str, depth: str = "0",
                 child_context_manager: Callable[[str, str | None], AbstractContextManager[None]]
                 | None = None, user_groups: Any = frozenset()) -> Iterator[Any]:
        sane = pathutils.strip_path(path)
        attributes = sane.split("/") if sane else []
        if not all(pathutils.is_safe_filesystem_path_component(a) for a in attributes):
            logger.warning("Unsafe path %r requested from storage", sane)
            return
        if "/" in sane:
            # in a write hold, whether it exists is read under its lock: a collection
            # another writer is making is found once it is made, never made again
            # (create_collection with props would replace it, its items with it)
            calendar_locks.need([sane])
        parent = "/".join(attributes[:-1])
        if parent:   # an object's path, or a calendar's: both rows at once
            stored, parent_stored = self.items.collection_or_parent(sane, parent)
        else:
            stored, parent_stored = (self.items.collection(sane) if sane else _ROOT), None
        if stored is None:
            if not attributes:
                return
            href = attributes.pop()
            if parent_stored is None:
                return
            found = DatabaseCollection(self, pathutils.unstrip_path(parent, True)).item(
                href, verify_href=True)
            if found is not None and self._small_enough(found):
                yield found
            return
        collection = DatabaseCollection(self, pathutils.unstrip_path(sane, True))
        collection._stored = stored if sane else None
        yield collection
        if depth == "0":
            return
        # Radicale's Depth 1 lists every file, over max_resource_size too
        for item in collection.every_item():
            if child_context_manager is None:
                yield item
            else:
                with child_context_manager(sane, item.href):
                    yield item
        fresh = not calendar_locks.locking()
        for child in self.items.children(sane):
            found_child = DatabaseCollection(self, pathutils.unstrip_path(child.path, True))
            if fresh:   # in a write hold its row is read again, under the lock just taken
                found_child._stored = child
            yield found_child

    def _small_enough(self, item: radicale_item.Item) -> bool:
        return len(item.serialize().encode("utf-8")) <= internals.max_resource_size(self)

    def exists(self, path: str) -> bool:
        return next(iter(self.discover(path)), None) is not None

    def collections(self) -> Iterator[Collection]:
        for path in self.items.paths_below(""):
            collection = DatabaseCollection(self, pathutils.unstrip_path(path, True))
            if collection.tag:
                yield collection

    def principals(self) -> list[str]:
        return [c.path for c in self.items.children("")]

    def collection_paths(self) -> list[str]:
        return self.items.paths_below("")

    def fill(self, collection: Collection, members: list[tuple[str, radicale_item.Item]]
             ) -> None:
        """An empty collection given many objects at once (``migrate``): bulk rows, one
        transaction, one revision."""
        calendar_locks.need([collection.path])
        for _href, item in members:
            check_object_size(item, self.put_size_limit)
        self.items.fill(collection.path, collection.tag or "",
                        [(href, self.folder_index.extract(item)) for href, item in members])

    def create_collection(self, href: str,
                          items: Iterable[radicale_item.Item] | None = None,
                          props: Mapping[str, str] | None = None) -> Any:
        """Radicale's semantics: without ``props`` the collection is made if missing;
        with them it is replaced, with ``items`` when it has a tag. Missing parents are
        made too (Radicale makes their folders)."""
        sane = pathutils.strip_path(href)
        calendar_locks.need([sane])
        items = client_items(href, items)
        with self.database.begin() as connection:
            principal = sane.split("/")[0]
            on_rollback(connection, lambda: self.boxes_ready.discard(principal))
            parts = sane.split("/") if sane else []
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                if self.items.collection(parent) is None:
                    self.items.create(parent, {})
            existing = self.items.collection(sane) if sane else _ROOT
            if not props:
                if existing is None:
                    self.items.create(sane, {})
                return (DatabaseCollection(self, pathutils.unstrip_path(sane, True)), {},
                        [])
            replaced: dict[str, radicale_item.Item] = {}
            before: set[str] = set()
            if existing is not None:
                old = DatabaseCollection(self, pathutils.unstrip_path(sane, True))
                replaced = {item.href: item for item in old.get_all() if item.href}
                before = set(replaced)
            self.items.create(sane, props)
            collection = DatabaseCollection(self, pathutils.unstrip_path(sane, True))
            tag = props.get("tag")
            stored_hrefs: list[str] = []
            if items is not None and tag in ("VCALENDAR", "VADDRESSBOOK"):
                suffix = ".ics" if tag == "VCALENDAR" else ".vcf"
                entries = []
                for item in items:
                    check_object_size(item, self.put_size_limit)
                    item_href = _free_href(item.uid, suffix, set(stored_hrefs))
                    stored_hrefs.append(item_href)
                    entries.append((item_href, self.folder_index.extract(item)))
                self.items.store_all(sane, tag, entries)
        kept = {h: i for h, i in replaced.items() if h in stored_hrefs}
        return collection, kept, [h for h in stored_hrefs if h not in before]

    def move(self, item: radicale_item.Item, to_collection: Any, to_href: str) -> None:
        if not pathutils.is_safe_filesystem_path_component(to_href):
            raise pathutils.UnsafePathError(to_href)
        source = item.collection
        assert isinstance(source, DatabaseCollection)
        assert isinstance(to_collection, DatabaseCollection) and item.href
        calendar_locks.need([source.path, to_collection.path])
        with self.database.begin():
            self.items.move(source.path, item.href, to_collection.path,
                            to_collection.tag or "", to_href)
            self.scheduling.move_schedule_tag(source.path, item.href, to_collection.path,
                                              to_href)

    def verify(self) -> bool:
        """Every object's row parses as Radicale would store it."""
        ok = True
        for collection in self.collections():
            assert isinstance(collection, DatabaseCollection)
            for item in collection.every_item():
                try:
                    item.vobject_item  # noqa: B018  # parsing is the check
                except Exception as e:
                    ok = False
                    logger.error("Invalid object %r in %r: %s", item.href,
                                 collection.path, e)
        return ok


def _free_href(uid: str, suffix: str, taken: set[str]) -> str:
    """The href Radicale gives an object of an uploaded calendar: its UID (plus suffix),
    else its UID's hash, else a random name — the first that is safe and free."""
    candidates = [uid if uid.lower().endswith(suffix.lower()) else uid + suffix,
                  radicale_item.get_etag(uid).strip('"') + suffix]
    for href in candidates:
        if pathutils.is_safe_filesystem_path_component(href) and href not in taken:
            return href
    return radicale_item.find_available_uid(lambda h: h in taken, suffix)

