"""``radicale-tracks migrate --to database|files``: calendar data moved between backends.

Both backends are opened on the same configuration (the same ``database_url``: the
tracks, outbox, rooms and Schedule-Tag rows stay where they are) and everything is
copied through their storage API: every collection with its properties, every object
under its href with its text unchanged — so hrefs, UIDs and ETags survive a round trip.
The target must be empty; the source is left as it was (the admin deletes it once the
server runs on the target). Sync tokens do not move: the target gives new ones and
refuses the old ones with ``valid-sync-token``, after which clients sync once in full
(RFC 6578 §3.2).

Run it with the servers stopped: only the target's write lock is taken (both backends
of one folder share Radicale's lock file). Files → database replaces each collection's
files index rows with the database backend's (the same tables); after an interrupted
move, ``reindex`` in files mode rebuilds the files index and the move starts again once
the partial target is emptied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from radicale import config as radicale_config
from radicale import item as radicale_item

from radicale_tracks.db.shared_values import ITEM_STORE, replace_value
from radicale_tracks.errors import TracksError
from radicale_tracks.plugin import radicale_internals as internals
from radicale_tracks.plugin.database_storage import DatabaseCollection, DatabaseStorage
from radicale_tracks.plugin.folder_index import FolderIndex
from radicale_tracks.plugin.storage import Collection, Storage

#: progress(done, total, what)
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class MoveReport:
    collections: int
    items: int


def backend(configuration: radicale_config.Configuration, item_store: str) -> Storage:
    """A storage of ``item_store`` on this configuration, whatever the file says; no
    sender thread (a command)."""
    copied = configuration.copy()
    copied.update({"storage": {"item_store": item_store}}, "migrate", privileged=True)
    if item_store == "database":
        return DatabaseStorage(copied, start_sender=False, claim_item_store=False)
    return Storage(copied, start_sender=False, claim_item_store=False)


def move_items(source: Storage, target: Storage, progress: Progress | None = None
               ) -> MoveReport:
    """Every collection and object of ``source`` into the empty ``target``.

    Objects are read as stored text (nothing parses them twice, and the files
    backend's item cache is not written: the source stays as it was) and written per
    collection — into the database in bulk, one transaction per collection."""
    if _has_data(target):
        raise TracksError("the target already holds calendar data (%s); move into an "
                          "empty one" % _describe(target))
    with target.acquire_lock("w", "", request="MIGRATE"):
        try:
            return _move(source, target, progress)
        except BaseException:
            if isinstance(target, DatabaseStorage):
                # the database as empty as it was: "fix it, then migrate again" works
                # (each collection is a transaction of its own; a half-filled target
                # would refuse the next run)
                for path in target.principals():
                    target.items.delete_tree(path)
            raise


def _move(source: Storage, target: Storage, progress: Progress | None) -> MoveReport:
    found = [c for c in (source.calendar("/%s/" % p) for p in source.collection_paths())
             if c is not None]
    sizes = {c.path: len(c.scan_files()) if c.tag else 0 for c in found}
    total, done = sum(sizes.values()), 0
    for collection in found:
        props = dict(collection.get_meta())
        # read before the target is made: both backends keep their index in the
        # same tables, and making a files collection re-syncs its rows
        members = _members(collection) if props.get("tag") else []
        target.create_collection("/%s/" % collection.path, props=props or None)
        if not members:
            continue
        moved = target.calendar("/%s/" % collection.path)
        assert moved is not None
        if isinstance(target, DatabaseStorage):
            target.fill(moved, members)
            done += len(members)
            if progress:
                progress(done, total, collection.path)
            continue
        for href, item in members:
            moved.upload_indexed(href, item)
            done += 1
            if progress:
                progress(done, total, collection.path)
    replace_value(target.engine, ITEM_STORE, target.ITEM_STORE)
    return MoveReport(len(found), done)


def _members(collection: Collection) -> list[tuple[str, radicale_item.Item]]:
    """(href, item) of every object as its backend serves it (the text, and so the
    ETag, a client saw), by href; the files backend's item cache is not written."""
    if isinstance(collection, DatabaseCollection):
        return [(item.href or "", item) for item in collection.every_item()]
    found = []
    for href in sorted(collection.scan_files()):
        try:
            found.append((href, FolderIndex.item_from_file(collection, href)))
        except Exception as e:
            # Radicale serves no such object either: it cannot be moved, and is named
            raise TracksError("%s/%s cannot be read as Radicale reads it (%s); fix or "
                              "remove it, then migrate again" % (collection.path, href, e)
                              ) from e
    return found


def _has_data(storage: Storage) -> bool:
    return bool(storage.collections_in("/"))


def _describe(storage: Storage) -> str:
    if isinstance(storage, DatabaseStorage):
        return "collections in %s" % storage.engine.url.render_as_string(hide_password=True)
    return "folders in %s" % internals.collection_root(storage)

