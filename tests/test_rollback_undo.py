"""Vectors: what a transaction made on disk goes when the transaction rolls back, and the
write journal finishes a write a killed process left."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from radicale_tracks.db.session import Database, on_rollback

pytestmark = pytest.mark.files_only   # the files item store itself


def test_undo_runs_on_rollback_only(tmp_path: Path) -> None:
    database = Database(create_engine("sqlite:///%s" % (tmp_path / "db.sqlite3")))
    undone: list[str] = []
    with database.begin() as connection:
        connection.execute(text("SELECT 1"))
        on_rollback(connection, lambda: undone.append("committed"))
    assert undone == []
    with pytest.raises(RuntimeError):
        with database.begin() as connection:
            on_rollback(connection, lambda: undone.append("first"))
            with database.begin() as joined:  # the write's inner steps join it
                on_rollback(joined, lambda: undone.append("second"))
            raise RuntimeError("a step failed after the folder was made")
    assert sorted(undone) == ["first", "second"]


def test_a_failing_undo_does_not_hide_the_error(tmp_path: Path) -> None:
    database = Database(create_engine("sqlite:///%s" % (tmp_path / "db.sqlite3")))

    def broken() -> None:
        raise OSError("folder already gone")

    with pytest.raises(KeyError):
        with database.begin() as connection:
            on_rollback(connection, broken)
            raise KeyError("the real error")


# -- the write journal (db/journal.py) --------------------------------------------------

def journaled_database(tmp_path: Path) -> tuple[Database, Path]:
    from radicale_tracks.db.journal import JournalFolder, write_journal

    engine = create_engine("sqlite:///%s" % (tmp_path / "db.sqlite3"))
    write_journal.create(engine)
    storage = tmp_path / "storage"
    (storage / "collection-root" / "bob" / "calendar").mkdir(parents=True)
    return Database(engine, JournalFolder(str(storage), fsync=True)), storage


def write_in_transaction(database: Database, storage: Path, fail: bool,
                         principal: str = "assistant") -> None:
    """Replace one file, add one, delete one, make a folder with a file in it."""
    calendar = storage / "collection-root" / "bob" / "calendar"
    track = storage / "collection-root" / principal / "t1"
    with database.begin():
        with database.changing(str(calendar / "old.ics")):
            (calendar / "old.ics").write_text("new text")
        with database.changing(str(calendar / "added.ics")):
            (calendar / "added.ics").write_text("added")
        with database.changing(str(calendar / "gone.ics")):
            (calendar / "gone.ics").unlink()
        with database.changing(str(track.parent), new_folder=True):
            track.mkdir(parents=True)
        with database.changing(str(track / "copy.ics")):
            (track / "copy.ics").write_text("copy")
        if fail:
            raise RuntimeError("a step failed after the files were written")


def seed(storage: Path) -> None:
    calendar = storage / "collection-root" / "bob" / "calendar"
    (calendar / "old.ics").write_text("old text")
    (calendar / "gone.ics").write_text("to be deleted")


def files(storage: Path) -> dict[str, str]:
    root = storage / "collection-root"
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_a_rollback_puts_every_file_back_and_a_commit_keeps_them(tmp_path: Path) -> None:
    database, storage = journaled_database(tmp_path)
    seed(storage)
    before = files(storage)
    with pytest.raises(RuntimeError):
        write_in_transaction(database, storage, fail=True)
    assert files(storage) == before
    assert not (storage / "collection-root" / "assistant").exists()
    assert database.journals is not None and database.journals.leftovers() == []

    write_in_transaction(database, storage, fail=False)
    assert files(storage) == {"bob/calendar/old.ics": "new text",
                              "bob/calendar/added.ics": "added",
                              "assistant/t1/copy.ics": "copy"}
    assert database.journals.leftovers() == []
    with database.engine.connect() as connection:   # its row goes with the next write
        assert connection.execute(text("SELECT count(*) FROM tracks_write_journal")
                                  ).scalar() == 1
    seed(storage)
    write_in_transaction(database, storage, fail=False, principal="rooms")
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM tracks_write_journal")
                                  ).scalar() == 1


def test_recovery_finishes_a_killed_write_by_its_row(tmp_path: Path) -> None:
    """A journal without its row (killed before the commit) is rolled back, with its
    row (killed after) kept; a torn last record guarded a change never made."""
    from radicale_tracks.db.journal import write_journal

    database, storage = journaled_database(tmp_path)
    assert database.journals is not None
    seed(storage)
    before = files(storage)
    calendar = storage / "collection-root" / "bob" / "calendar"

    # killed mid-write: the journal and the files stay, the transaction is gone
    journal = database.journals.open()
    journal.record_file(str(calendar / "old.ics"))
    (calendar / "old.ics").write_text("half")
    journal.record_file(str(calendar / "added.ics"))
    (calendar / "added.ics").write_text("half")
    with open(journal.path, "ab") as f:
        f.write(b'{"kind": "file", "path": "collection-root/bob/calendar/x.ics", "ol')
    recovery = database.recover()
    assert recovery.rolled_back == [journal.txid] and recovery.committed == []
    assert files(storage) == before
    assert str(calendar) in recovery.folders

    # killed after the commit: the row is there, the files are final
    journal = database.journals.open()
    journal.record_file(str(calendar / "added.ics"))
    (calendar / "added.ics").write_text("committed")
    with database.engine.begin() as connection:
        connection.execute(write_journal.insert().values(txid=journal.txid, created_at=0))
    recovery = database.recover()
    assert recovery.committed == [journal.txid]
    assert files(storage)["bob/calendar/added.ics"] == "committed"
    assert database.journals.leftovers() == []
    with database.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM tracks_write_journal")
                                  ).scalar() == 0


def test_a_journal_names_only_files_inside_the_storage(tmp_path: Path) -> None:
    database, storage = journaled_database(tmp_path)
    with pytest.raises(ValueError):
        with database.begin():
            with database.changing(str(tmp_path / "elsewhere.ics")):
                pass


def test_an_undo_makes_its_removals_durable_before_the_journal_goes(
        tmp_path: Path) -> None:
    """A created file or folder that the undo removed comes back after a power loss
    unless its parent folder was synced; once the journal is gone nothing would remove
    it again. Every parent the undo removed something from is synced before then."""
    from radicale_tracks.db.journal import JournalFolder, write_journal

    events: list[tuple[str, str]] = []

    class Watched(JournalFolder):
        def undo(self, txid: str) -> set[str]:
            events.append(("undo", txid))
            return super().undo(txid)

        def sync_folder(self, path: str) -> None:
            events.append(("sync", path))
            super().sync_folder(path)

        def remove(self, txid: str) -> None:
            events.append(("remove", txid))
            super().remove(txid)

    engine = create_engine("sqlite:///%s" % (tmp_path / "db.sqlite3"))
    write_journal.create(engine)
    storage = tmp_path / "storage"
    root = storage / "collection-root"
    calendar = root / "bob" / "calendar"
    calendar.mkdir(parents=True)
    database = Database(engine, Watched(str(storage), fsync=True))
    with pytest.raises(RuntimeError):
        with database.begin():
            with database.changing(str(calendar / "added.ics")):
                (calendar / "added.ics").write_text("added")
            with database.changing(str(root / "carol"), new_folder=True):
                (root / "carol" / "inbox").mkdir(parents=True)
            raise RuntimeError("a step failed after the files were written")
    assert not (calendar / "added.ics").exists() and not (root / "carol").exists()
    kinds = [kind for kind, _ in events]
    start, end = kinds.index("undo"), kinds.index("remove")
    synced = {path for kind, path in events[start:end] if kind == "sync"}
    assert {str(calendar), str(root)} <= synced
