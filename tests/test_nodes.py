"""What nodes sharing one database need besides the mail: the health answer load
balancers ask, the form secret every node agrees on, and the settings a database-mode
node refuses to start without. Real servers (in process, over HTTP), real SQLite and
PostgreSQL, the real command line."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import text

from databases import fresh_database
from helpers import (
    PLUGIN,
    USERS,
    RadicaleServer,
    free_port,
    postgres_admin_url,
    run_cli,
    write_config,
)
from inprocess import InProcessServer
from radicale_tracks.db.engine import create_database_engine, ensure_schema
from radicale_tracks.db.metadata import SCHEMA_REVISION
from radicale_tracks.db.shared_values import WEB_FORM_SECRET, read_value, shared_value
from radicale_tracks.outbox.mail import OutgoingMail
from radicale_tracks.outbox.store import enqueue

ServerFactory = Callable[..., RadicaleServer]


def health(server: RadicaleServer, method: str = "GET") -> tuple[int, Any]:
    """``/.tracks/health`` as a load balancer asks it: no credentials."""
    response = requests.request(method, server.url + "/.tracks/health", timeout=60)
    assert response.headers["Content-Type"] == "application/json"
    return response.status_code, response.json() if method == "GET" else None


def overdue_mail(engine: Any, now: int) -> None:
    mail = OutgoingMail(
        envelope_from="assistant@example.org", recipient="dana@example.net",
        kind="invitation", subject="Due", message_id="due.1@example.org",
        message="Message-ID: <due.1@example.org>\r\nSubject: Due\r\n\r\nhi\r\n")
    with engine.begin() as connection:
        enqueue(connection, [mail], now)


# -- /.tracks/health -------------------------------------------------------------

@pytest.mark.files_only   # its configs name the item store themselves
def test_health_answers_without_login_or_the_storage_lock(
        make_server: ServerFactory, database_url: str) -> None:
    server: Any = make_server("node", database_url=database_url, domain="example.org",
                              outbox_sender="False")
    now = int(time.time())
    overdue_mail(server.storage.engine, now - 100)
    # a long write holds Radicale's storage lock: the node still answers it is healthy
    with server.storage.acquire_lock("w", "alice"):
        status, answer = health(server)
    assert status == 200
    assert answer["status"] == "ok" and answer["reasons"] == []
    assert answer["item_store"] == "files"
    assert answer["database"] == {"reachable": True, "schema_current": True,
                                  "revision": SCHEMA_REVISION,
                                  "expected_revision": SCHEMA_REVISION}
    outbox = answer["outbox"]
    assert outbox["pending"] == 1
    assert outbox["oldest_pending_age_seconds"] >= 100
    assert outbox["lag_seconds"] >= 100
    assert health(server, "HEAD")[0] == 200
    response = requests.post(server.url + "/.tracks/health", timeout=60)
    assert response.status_code == 405
    # nothing about users, addresses or where the database is
    body = requests.get(server.url + "/.tracks/health", timeout=60).text
    for secret in ("example", "dana", "127.0.0.1", "sqlite", "postgres", "@"):
        assert secret not in body


def test_health_is_down_when_the_schema_is_behind(
        make_server: ServerFactory, database_url: str) -> None:
    server: Any = make_server("node", database_url=database_url, domain="example.org")
    with server.storage.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0008'"))
    status, answer = health(server)
    assert status == 503
    assert answer["status"] == "down"
    assert answer["database"]["reachable"] is True
    assert answer["database"]["schema_current"] is False
    assert answer["database"]["revision"] == "0008"
    assert answer["outbox"] is None
    [reason] = answer["reasons"]
    assert "0008" in reason and SCHEMA_REVISION in reason and "db upgrade" in reason


@pytest.mark.postgresql
def test_health_is_down_when_the_database_cannot_be_reached(
        make_server: ServerFactory, tmp_path: Path) -> None:
    with fresh_database("postgresql", tmp_path) as url:
        server: Any = make_server("node", database_url=url, domain="example.org",
                                  outbox_sender="False")
        assert health(server)[0] == 200
        admin = create_database_engine(str(postgres_admin_url()))
        name = server.storage.engine.url.database
        try:
            with admin.connect() as connection:
                connection.execute(text(
                    'ALTER DATABASE "%s" ALLOW_CONNECTIONS false' % name))
                connection.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
                connection.commit()
            status, answer = health(server)
            assert status == 503
            assert answer["status"] == "down"
            assert answer["reasons"] == ["database unreachable"]
            assert answer["database"]["reachable"] is False
        finally:
            with admin.connect() as connection:
                connection.execute(text('ALTER DATABASE "%s" ALLOW_CONNECTIONS true' % name))
                connection.commit()
            admin.dispose()
        assert health(server)[0] == 200
        server.stop()


# -- the form secret --------------------------------------------------------------

def test_nodes_starting_together_agree_on_one_secret(database_url: str) -> None:
    engine = create_database_engine(database_url)
    ensure_schema(engine)
    engine.dispose()
    nodes = 4
    barrier = threading.Barrier(nodes)
    found: list[str] = []
    errors: list[BaseException] = []

    def start(number: int) -> None:
        node_engine = create_database_engine(database_url)
        try:
            barrier.wait(30)
            found.append(shared_value(node_engine, "race", lambda: "candidate-%d" % number))
        except BaseException as e:  # reported below, in the test's thread
            errors.append(e)
        finally:
            node_engine.dispose()

    threads = [threading.Thread(target=start, args=(n,)) for n in range(nodes)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and len(found) == nodes
    assert len(set(found)) == 1 and found[0].startswith("candidate-")


def _form_token(secret: bytes, user: str) -> str:
    return hmac.new(secret, user.encode(), hashlib.sha256).hexdigest()[:40]


def test_the_old_secret_file_is_adopted_and_every_node_shares_it(
        tmp_path: Path, database_url: str) -> None:
    """Tokens of forms open before the upgrade still submit, on every node."""
    old = b"\x01secret of an earlier version\xff"
    (tmp_path / "a" / "collections").mkdir(parents=True)
    (tmp_path / "a" / "collections" / ".tracks-web-secret").write_bytes(old)
    (tmp_path / "b").mkdir()
    first = InProcessServer(tmp_path / "a", database_url, web=True)
    other = InProcessServer(tmp_path / "b", database_url, web=True)  # no file there
    for node in (first, other):
        web = node.app._web
        assert web.csrf_token("alice") == _form_token(old, "alice")
        assert web.csrf_ok("alice", _form_token(old, "alice"))
    with first.storage.engine.connect() as connection:
        assert read_value(connection, WEB_FORM_SECRET) == old.hex()


def test_a_new_database_gets_a_random_secret(tmp_path: Path, database_url: str) -> None:
    node = InProcessServer(tmp_path, database_url, web=True)
    with node.storage.engine.connect() as connection:
        stored = read_value(connection, WEB_FORM_SECRET)
    assert stored is not None and len(bytes.fromhex(stored)) == 32
    assert node.app._web.csrf_token("bob") == _form_token(bytes.fromhex(stored), "bob")
    assert not (tmp_path / "collections" / ".tracks-web-secret").exists()


# -- connections ----------------------------------------------------------------------

def _event(uid: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\n"
            "UID:%s\r\nDTSTAMP:20270101T000000Z\r\nDTSTART:20270105T090000Z\r\n"
            "DTEND:20270105T093000Z\r\nSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
            % (uid, uid))


@pytest.mark.postgresql
def test_a_busy_node_keeps_its_connections_open(tmp_path: Path) -> None:
    """As many writers as Radicale lets in at once (``max_connections``), each holding a
    calendar lock and a data connection, are served by the pool without opening a
    connection once it is warm. A pool smaller than that closes every connection handed
    back beyond its size, and PostgreSQL forks a new backend for the next one: under load
    that churn cost a second node most of what it added (docs/performance.md)."""
    from sqlalchemy import event

    writers = 6
    with fresh_database("postgresql", tmp_path) as url:
        node = InProcessServer(tmp_path, url, item_store="database",
                               base_url="http://127.0.0.1", server={"max_connections": writers})
        engine = node.storage.engine
        assert engine.pool.size() == 2 * writers + 4   # database_pool_size = 0: derived
        users = list(USERS)
        for number in range(writers):
            status, _, text = node("MKCALENDAR", "/%s/w%d/" % (users[number % 3], number),
                                   users[number % 3])
            assert status == 201, text
        opened: list[object] = []
        closed: list[object] = []
        event.listen(engine, "connect", lambda *_: opened.append(1))
        event.listen(engine.pool, "close", lambda *_: closed.append(1))

        def burst(label: str) -> list[int]:
            barrier = threading.Barrier(writers)
            statuses: list[int] = []

            def write(number: int) -> None:
                user = users[number % 3]
                barrier.wait(60)
                for sequence in range(5):
                    uid = "%s-%d-%d" % (label, number, sequence)
                    statuses.append(node("PUT", "/%s/w%d/%s.ics" % (user, number, uid),
                                         user, _event(uid))[0])

            threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
                assert not thread.is_alive()
            return statuses

        assert burst("warm") == [201] * writers * 5
        warmed = len(opened)
        assert burst("busy") == [201] * writers * 5
        # churn shows as closes: a connection handed back to a full pool is closed
        assert closed == [], "connections closed by a busy node"
        assert len(opened) == warmed, "connections opened by a warm node"


# -- settings of a database-mode node ---------------------------------------------

def _config(tmp_path: Path, **options: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return write_config(tmp_path / "radicale.conf", tmp_path / "collections", PLUGIN,
                        free_port(), {"domain": "example.org", **options})


PG_URL = "postgresql+psycopg://tracks@127.0.0.1:1/tracks"
REFUSAL = ("Invalid value for option 'base_url' in section 'storage': '' (item_store = "
           "database on PostgreSQL: every node must put the same public address in mails")


@pytest.mark.parametrize("command", [["info"], ["serve"], ["worker", "--once"]])
@pytest.mark.files_only   # its configs name the item store themselves
def test_a_database_mode_node_on_postgresql_needs_base_url(
        tmp_path: Path, command: list[str]) -> None:
    config = _config(tmp_path, database_url=PG_URL, item_store="database")
    result = subprocess.run(
        [sys.executable, "-m", "radicale_tracks.cli", "--config", str(config), *command],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert REFUSAL in result.stderr


@pytest.mark.files_only   # its configs name the item store themselves
def test_info_says_where_calendar_data_lives(tmp_path: Path) -> None:
    config = _config(tmp_path / "db", database_url=PG_URL, item_store="database",
                     base_url="https://cal.example.org")
    result = run_cli(config, "info")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["item_store"] == "database"
    assert shown["base_url"] == "https://cal.example.org"
    assert shown["item_store_means"].startswith("database mode: calendar data lives in "
                                                "the database")

    files = run_cli(_config(tmp_path / "files"), "info")
    assert files.returncode == 0, files.stderr
    assert json.loads(files.stdout)["item_store"] == "files"
    # SQLite in database mode is one node: the address of [server] hosts is right
    sqlite = run_cli(_config(tmp_path / "sqlite", item_store="database"), "info")
    assert sqlite.returncode == 0, sqlite.stderr
    assert json.loads(sqlite.stdout)["base_url"].startswith("http://127.0.0.1:")
