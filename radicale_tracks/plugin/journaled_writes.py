"""Crash safety of the storage's file changes: journaled with the write's transaction,
and finished at start-up when a killed process left them half done.

Every file write, delete and new folder of a write made under the storage's write lock
is journaled with the database transaction open on this thread (``db/journal.py``): a
rollback puts the files back, and a journal left by a dead process is finished by
whoever takes the lock next — so a journal must never outlive the lock.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable

from radicale import pathutils
from radicale.storage import multifilesystem

from radicale_tracks.db.session import Database, Recovery, on_rollback
from radicale_tracks.plugin import radicale_internals as internals

logger = logging.getLogger("radicale.tracks.storage")


def changing(storage: multifilesystem.Storage, database: Database, path: str,
             new_folder: bool = False) -> contextlib.AbstractContextManager[None]:
    """Around one file or folder change: journaled with the database transaction
    open on this thread (``db/journal.py``). Only under the write lock: a journal is
    finished by whoever takes that lock next, so it must never outlive it."""
    if not internals.holds_write_lock(storage):
        return contextlib.nullcontext()
    return database.changing(path, new_folder)


def creating(storage: multifilesystem.Storage, database: Database,
             boxes_ready: set[str], href: str) -> contextlib.AbstractContextManager[None]:
    """A new collection folder (and any missing parent) journaled as new: a
    scheduling write that rolls back removes it (a track, an inbox)."""
    path = internals.collection_folder_of(storage, href)
    if os.path.lexists(path):
        return contextlib.nullcontext()
    while not os.path.lexists(os.path.dirname(path)):
        path = os.path.dirname(path)
    if database.in_transaction and internals.holds_write_lock(storage):
        with database.connect() as connection:
            # the folders go with the rollback: ensure_boxes must not trust its cache
            on_rollback(connection, boxes_ready.clear)
    return changing(storage, database, path, new_folder=True)


def recover_writes(storage: multifilesystem.Storage, database: Database,
                   resync: Callable[[str], None]) -> Recovery:
    """Finish the writes a killed process left half done (start-up, ``verify``):
    committed ones keep their files, the others get their files back; and the
    rows of committed writes whose journal is gone are deleted. A process deletes
    its last write's row only with its next journaled write, so every process that
    ends (each ``deliver``, each server stop) leaves one: this bounds them to one
    per process running. Costs one ``listdir`` and one query when there is nothing
    to do; the lock only when there is. ``resync``: the index of the collection at a
    path brought in line with its files."""
    journals = database.journals
    if not journals or not (journals.leftovers() or database.has_journal_rows()):
        return Recovery()
    with internals.exclusive_lock(storage):
        recovery = database.recover()
        root = internals.collection_root(storage)
        for folder in sorted(recovery.folders):
            relative = os.path.relpath(folder, root)
            if relative.startswith(os.pardir) or not os.path.isdir(folder):
                continue
            resync(pathutils.unstrip_path(
                "" if relative == os.curdir else relative.replace(os.sep, "/"), True))
    for txid in recovery.committed:
        logger.warning("Write %s was committed before the process stopped: kept", txid)
    for txid in recovery.rolled_back:
        logger.warning("Write %s was not committed before the process stopped: its "
                       "files are back as they were", txid)
    return recovery
