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

from radicale_tracks.errors import TracksError
from radicale_tracks.plugin import radicale_internals as internals
from radicale_tracks.plugin.database_storage import DatabaseStorage
from radicale_tracks.plugin.storage import Storage

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
        return DatabaseStorage(copied, start_sender=False)
    return Storage(copied, start_sender=False)


def move_items(source: Storage, target: Storage, progress: Progress | None = None
               ) -> MoveReport:
    """Every collection and object of ``source`` into the empty ``target``."""
    if _has_data(target):
        raise TracksError("the target already holds calendar data (%s); move into an "
                          "empty one" % _describe(target))
    with target.acquire_lock("w", "", request="MIGRATE"):
        paths = _collection_paths(source)
        found = [c for c in (source.calendar("/%s/" % p) for p in paths) if c is not None]
        total = sum(len(list(c.get_all())) for c in found if c.tag)
        done = 0
        for collection in found:
            props = dict(collection.get_meta())
            # read before the target is made: both backends keep their index in the
            # same tables, and making a files collection re-syncs its rows
            members = list(collection.get_all()) if props else []
            target.create_collection("/%s/" % collection.path, props=props or None)
            if not props:
                continue
            moved = target.calendar("/%s/" % collection.path)
            assert moved is not None
            for item in members:
                assert item.href
                moved.upload_indexed(item.href, item)
                done += 1
                if progress:
                    progress(done, total, collection.path)
        return MoveReport(len(found), done)


def _collection_paths(storage: Storage) -> list[str]:
    """Every collection below the root, parents before children."""
    found: list[str] = []
    pending = [""]
    while pending:
        path = pending.pop(0)
        children = [c.path for c in storage.collections_in("/%s/" % path if path else "/")]
        found.extend(children)
        pending.extend(children)
    return found


def _has_data(storage: Storage) -> bool:
    return bool(storage.collections_in("/"))


def _describe(storage: Storage) -> str:
    if isinstance(storage, DatabaseStorage):
        return "collections in %s" % storage.engine.url.render_as_string(hide_password=True)
    return "folders in %s" % internals.collection_root(storage)

