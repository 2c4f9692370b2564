"""Schema: Alembic migrations match the tables the code uses, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from helpers import RadicaleServer, run_cli, write_config
from radicale_tracks.db.engine import (
    alembic_config,
    create_database_engine,
    current_revision,
    ensure_schema,
)
from radicale_tracks.db.metadata import SCHEMA_REVISION
from radicale_tracks.tables import load_tables


def test_code_expects_the_newest_migration() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == SCHEMA_REVISION


def test_migrated_schema_matches_the_tables(database_url: str) -> None:
    engine = create_database_engine(database_url)
    ensure_schema(engine)
    assert current_revision(engine) == SCHEMA_REVISION
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), load_tables())
    assert differences == []
    engine.dispose()


def test_db_upgrade_is_idempotent_and_server_refuses_an_old_schema(
        tmp_path: Path, database_url: str) -> None:
    config = write_config(tmp_path / "radicale.conf", tmp_path / "collections",
                          "radicale_tracks.storage", 5232, {"database_url": database_url})
    for _ in range(2):
        result = run_cli(config, "db", "upgrade")
        assert result.returncode == 0, result.stderr
    assert run_cli(config, "db", "current").stdout.strip() == SCHEMA_REVISION

    engine = create_database_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    engine.dispose()
    server = RadicaleServer(tmp_path / "old", storage_options={"database_url": database_url})
    with pytest.raises(RuntimeError) as failure:
        server.start(timeout=20)
    assert "db upgrade" in str(failure.value)


def test_members_stored_broken_by_earlier_versions_are_repaired(database_url: str) -> None:
    """0007: ``mailto:x@y`` and letter case become the address (merged into a row that
    already holds it); an empty member is removed with an activity line saying so."""
    from radicale_tracks.db.engine import upgrade

    engine = create_database_engine(database_url)
    upgrade(engine, "0006")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO tracks_track (id, slug, token, feed_token, title, organizer, status,"
            " created_at, updated_at) VALUES (1, 's1', 't1', 'f1', 'Sync', 'olivia@gmail.test',"
            " 'open', 0, 0)"))
        for number, address in enumerate(["olivia@gmail.test", "mailto:dana@external.test",
                                           "", "bob@example.org", "Bob@Example.ORG",
                                           "frank miller@example.org"], start=1):
            connection.execute(text(
                "INSERT INTO tracks_member (id, track_id, address, role, added_at) "
                "VALUES (:id, 1, :address, 'attendee', 0)"), {"id": number, "address": address})
    upgrade(engine)
    with engine.connect() as connection:
        kept = sorted(row[0] for row in connection.execute(text(
            "SELECT address FROM tracks_member WHERE track_id = 1")))
        told = [row[0] for row in connection.execute(text(
            "SELECT summary FROM tracks_activity WHERE kind = 'member-removed'"))]
    assert kept == ["bob@example.org", "dana@external.test", "olivia@gmail.test"]
    assert len(told) == 2 and any("frank miller" in line for line in told), told
    assert all("earlier version" in line for line in told)
    engine.dispose()


def test_leased_rows_of_an_earlier_version_keep_their_lease(database_url: str) -> None:
    """0008: the journal's table, and ``lease_holder`` on the outbox — NULL for a lease
    taken by an earlier version, which nobody takes over before it expires."""
    from radicale_tracks.db.engine import upgrade
    from radicale_tracks.outbox import holders
    from radicale_tracks.outbox.store import OutboxStore

    engine = create_database_engine(database_url)
    upgrade(engine, "0007")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO tracks_outbox (id, created_at, message_id, envelope_from, recipient,"
            " kind, subject, message, status, attempts, next_attempt_at, lease_until)"
            " VALUES (1, 0, 'm1@x', 'a@x', 'b@x', 'invitation', 's', 'm', 'pending', 0, 0,"
            " 1000)"))
    upgrade(engine)
    store = OutboxStore(engine)
    [row] = store.rows()
    assert (row.lease_until, row.lease_holder) == (1000, None)
    assert store.claim_due(999, 300, 10, str(holders.current()), holders.is_gone) == []
    assert [r.id for r in store.claim_due(1001, 300, 10, str(holders.current()))] == [1]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM tracks_write_journal")
                                  ).scalar() == 0
    engine.dispose()
