"""Rebuild and verify the index against the files (``radicale-tracks reindex|verify``).

Both run under Radicale's storage lock, so they can run beside a live server: ``reindex``
takes the write lock, ``verify`` the read lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from radicale_tracks.index.extract import IndexEntry
from radicale_tracks.index.store import FileState
from radicale_tracks.plugin.storage import Collection, Storage, folder_mtime_ns

#: progress(done, total, what)
Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Difference:
    """One way in which the index disagrees with the files."""

    path: str
    href: str
    problem: str

    def __str__(self) -> str:
        return "%s/%s: %s" % (self.path, self.href, self.problem) if self.href else (
            "%s: %s" % (self.path, self.problem))


@dataclass(frozen=True)
class ReindexReport:
    collections: int
    items: int
    failed: int


def reindex(storage: Storage, progress: Progress | None = None) -> ReindexReport:
    """Rebuild every collection's rows from its files; forget vanished collections."""
    with storage.acquire_lock("w", "", request="REINDEX"):
        collections = list(storage.collections())
        scans = [(c, folder_mtime_ns(c._filesystem_path), c.scan_files()) for c in collections]
        total = sum(len(files) for _, _, files in scans)
        done = failed = 0
        present = {c.path for c in collections}
        for path in storage.index.collection_paths():
            if path not in present:
                storage.index.delete_collection(path)
        for collection, mtime, files in scans:
            entries: list[tuple[str, IndexEntry, FileState]] = []
            for href, state in sorted(files.items()):
                entry = collection.entry_from_file(href)
                if entry is None:
                    failed += 1
                else:
                    entries.append((href, entry, state))
                done += 1
                if progress:
                    progress(done, total, collection.path)
            stale = set(storage.index.files(collection.path)) - {h for h, _, _ in entries}
            storage.index.write_entries(collection.path, collection.tag or "", entries,
                                        mtime, removed=sorted(stale))
        return ReindexReport(len(collections), done - failed, failed)


def verify(storage: Storage) -> list[Difference]:
    """Every disagreement between index and files; an empty list means they agree."""
    differences: list[Difference] = []
    with storage.acquire_lock("r", "", request="VERIFY"):
        collections = list(storage.collections())
        present = {c.path for c in collections}
        for path in storage.index.collection_paths():
            if path not in present:
                differences.append(Difference(path, "", "indexed but no such collection"))
        for collection in collections:
            differences.extend(_verify_collection(storage, collection))
    return differences


def _verify_collection(storage: Storage, collection: Collection) -> list[Difference]:
    found: list[Difference] = []
    path = collection.path
    if not storage.index.is_indexed(path):
        return [Difference(path, "", "collection not indexed")]
    files = collection.scan_files()
    indexed = storage.index.files(path)
    for href in sorted(set(indexed) - set(files)):
        found.append(Difference(path, href, "indexed but the file is gone"))
    for href in sorted(files):
        if href not in indexed:
            found.append(Difference(path, href, "file not indexed"))
            continue
        item = collection._get(href, verify_href=False)
        if item is None:
            continue
        if item.etag != indexed[href].etag:
            found.append(Difference(path, href, "etag %s in the index, %s in the file" % (
                indexed[href].etag, item.etag)))
    return found

