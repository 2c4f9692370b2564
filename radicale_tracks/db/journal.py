"""The write journal: a scheduling write's files and rows as one transaction.

One scheduling write stores several ``.ics`` files (the organizer's object, inbox
messages, attendees' copies, track copies, perhaps a new folder) while its index, outbox
and tracks rows wait in one database transaction. A process killed between the first
file and the commit would leave files without rows: an invitation stored as sent whose
mail was never queued, an inbox message nobody indexed.

The protocol (driven by :class:`radicale_tracks.db.session.Database`):

1. before a transaction's first file change it opens a journal
   ``<filesystem_folder>/.Radicale.tracks-journal/<txid>`` and inserts the row
   ``tracks_write_journal(txid)`` *in that transaction*;
2. before every file change the previous state is appended to the journal (the old
   bytes, "absent", or "new folder") and synced — so the journal always covers every
   change already made;
3. the database commit is the decision: committed, the journal is deleted (its row
   later, lazily); rolled back in-process, the files are restored from it first;
4. a journal found later (the process was killed) is finished under Radicale's write
   lock — which every journaled write holds from its first file to its journal's
   deletion, so no live write owns it: with its row the write committed and the files
   stay; without, the files are restored and created files and folders removed.

Records are appended whole and synced before the change they guard, so a torn last
record belongs to a change that never started and is ignored.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqlalchemy import BigInteger, Column, String, Table

from radicale_tracks.db.metadata import metadata

logger = logging.getLogger("radicale.tracks.journal")

#: the folder of unfinished journals, beside Radicale's ``collection-root``
JOURNAL_FOLDER = ".Radicale.tracks-journal"

write_journal = Table(
    "tracks_write_journal", metadata,
    # committed with the write's rows: its presence says the write's files are final
    Column("txid", String(64), primary_key=True),
    Column("created_at", BigInteger, nullable=False),
)

#: Test-only crash points (read once at import: nothing to pay in production). Kill this
#: process with SIGKILL after the Nth journaled file change of a transaction, or right
#: after a journaled transaction committed (before its journal is deleted).
CRASH_AFTER_FILE_WRITES = int(
    os.environ.get("RADICALE_TRACKS_TEST_CRASH_AFTER_FILE_WRITES") or 0)
CRASH_AFTER_COMMIT = os.environ.get("RADICALE_TRACKS_TEST_CRASH_AFTER_COMMIT") == "1"


def crash() -> None:
    """What a kill -9 does: no rollback, no clean-up, no flushed buffers of ours."""
    os.kill(os.getpid(), signal.SIGKILL)


_FILE = "file"
_FOLDER = "folder"


@dataclass(frozen=True)
class Record:
    """The state one change replaced: a file's old bytes (None: it did not exist), or a
    folder that did not exist."""

    kind: str
    path: str   # relative to the storage folder
    old: bytes | None = None


@dataclass
class Journal:
    """The open journal of one transaction."""

    folder: JournalFolder
    txid: str
    #: paths already recorded: only the state before the transaction matters
    recorded: set[str] = field(default_factory=set)
    #: journaled changes made so far (the test crash point counts them)
    changes: int = 0
    #: journal rows of earlier committed writes deleted in this transaction
    cleared: list[str] = field(default_factory=list)
    #: folders recorded as new: what goes into them needs no record of its own
    new_folders: list[str] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.folder.journal_path(self.txid)

    def record_file(self, path: str) -> None:
        """Before ``path`` is written or deleted."""
        relative = self.folder.relative(path)
        if relative in self.recorded or any(
                relative.startswith(folder + os.sep) for folder in self.new_folders):
            return
        try:
            with open(path, "rb") as f:
                old: bytes | None = f.read()
        except FileNotFoundError:
            old = None
        self._append(Record(_FILE, relative, old))

    def record_new_folder(self, path: str) -> None:
        """Before a folder that does not exist is created (with what goes into it)."""
        relative = self.folder.relative(path)
        if relative not in self.recorded and not any(
                relative.startswith(folder + os.sep) for folder in self.new_folders):
            self._append(Record(_FOLDER, relative))
            self.new_folders.append(relative)

    def _append(self, record: Record) -> None:
        header = {"kind": record.kind, "path": record.path,
                  "old": None if record.old is None else len(record.old)}
        data = json.dumps(header).encode() + b"\n" + (record.old or b"")
        first = not self.recorded
        with open(self.path, "xb" if first else "ab") as f:
            f.write(data)
            self.folder.sync(f)
        if first:
            # the journal's name durable too; this also makes the removals of earlier
            # journals durable before this transaction deletes their rows
            self.folder.sync_folder(self.folder.folder)
        self.recorded.add(record.path)

    def changed(self) -> None:
        self.changes += 1
        if CRASH_AFTER_FILE_WRITES and self.changes >= CRASH_AFTER_FILE_WRITES:
            crash()


class JournalFolder:
    """The journals of one storage folder: opening, reading back, undoing, deleting."""

    def __init__(self, storage_folder: str, fsync: bool) -> None:
        self.storage_folder = os.path.abspath(storage_folder)
        self.folder = os.path.join(self.storage_folder, JOURNAL_FOLDER)
        self.fsync = fsync

    def journal_path(self, txid: str) -> str:
        return os.path.join(self.folder, txid)

    def relative(self, path: str) -> str:
        relative = os.path.relpath(os.path.abspath(path), self.storage_folder)
        if relative.startswith(os.pardir) or os.path.isabs(relative):
            raise ValueError("%r is outside the storage folder" % path)
        return relative

    def sync(self, f: object) -> None:
        if self.fsync:
            getattr(os, "fdatasync", os.fsync)(f.fileno())  # type: ignore[attr-defined]

    def sync_folder(self, path: str) -> None:
        if self.fsync:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def open(self) -> Journal:
        """A new journal; its file is made with its first record, durably, before the
        change that record guards."""
        os.makedirs(self.folder, exist_ok=True)
        return Journal(self, secrets.token_hex(16))

    def leftovers(self) -> list[str]:
        """The txids of journals on disk (one ``listdir``; none in the common case)."""
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return []
        return sorted(name for name in names if not name.startswith("."))

    def records(self, txid: str) -> Iterator[Record]:
        """The journal's complete records, in the order written."""
        try:
            with open(self.journal_path(txid), "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return   # opened, but nothing was recorded (nor changed)
        position = 0
        while position < len(data):
            end = data.find(b"\n", position)
            if end < 0:
                return   # torn header: its change never started
            try:
                header = json.loads(data[position:end])
            except ValueError:
                return
            size = header.get("old")
            body_end = end + 1 + (size or 0)
            if body_end > len(data):
                return   # torn old bytes: their change never started
            old = data[end + 1:body_end] if size is not None else None
            yield Record(header["kind"], header["path"], old)
            position = body_end

    def undo(self, txid: str) -> set[str]:
        """Put back every state the journal recorded, newest first; returns the folders
        whose files changed (their index is re-synced by the caller).

        The removals are made durable (each parent folder synced) before this returns,
        and so before the caller deletes the journal: a power loss after the journal's
        removal must not bring back a file or folder the undo took away."""
        touched: set[str] = set()
        removed_from: set[str] = set()
        for record in reversed(list(self.records(txid))):
            path = os.path.join(self.storage_folder, self.relative(
                os.path.join(self.storage_folder, record.path)))
            if record.kind == _FOLDER:
                if os.path.isdir(path):
                    shutil.rmtree(path)
                    removed_from.add(os.path.dirname(path))
            elif record.old is None:
                if os.path.lexists(path):
                    os.remove(path)
                    removed_from.add(os.path.dirname(path))
            else:
                self._restore(path, record.old)   # synced there
            touched.add(os.path.dirname(path))
        for folder in sorted(removed_from):
            if os.path.isdir(folder):   # else a folder removed later in this undo
                self.sync_folder(folder)
        return touched

    def _restore(self, path: str, old: bytes) -> None:
        temporary = "%s.tracks-restore-%s~" % (path, secrets.token_hex(4))
        with open(temporary, "wb") as f:
            f.write(old)
            self.sync(f)
        os.replace(temporary, path)
        self.sync_folder(os.path.dirname(path))

    def remove(self, txid: str) -> None:
        """Delete a finished journal. Its row is deleted only after the folder was
        synced since (the next journal's first record, or :meth:`Database.recover`): a
        journal back after a power loss without its row would undo a committed write."""
        try:
            os.remove(self.journal_path(txid))
        except FileNotFoundError:
            pass
