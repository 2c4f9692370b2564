"""Engines and schema revisions.

SQLite by default (WAL, so readers never wait for the single writer), PostgreSQL by URL.
The server checks the schema revision with one query and only imports Alembic when it
has to migrate: Alembic costs memory that a running Radicale should not pay.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from radicale_tracks.db.metadata import SCHEMA_REVISION
from radicale_tracks.errors import SchemaOutdatedError

logger = logging.getLogger("radicale.tracks.database")

MIGRATIONS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations")


#: connections an engine keeps open when its owner does not say (SQLAlchemy's default):
#: enough for a command or a worker, not for a server (``database_pool_size``)
DEFAULT_POOL_SIZE = 5


def create_database_engine(url: str, pool_size: int = DEFAULT_POOL_SIZE) -> Engine:
    """An engine with the settings the index needs on each backend.

    ``pool_size`` must cover the connections a process holds at once: a connection
    handed back to a full pool is closed, and opening one costs PostgreSQL a new backend
    (a fork, and caches and prepared statements built again), which under load cost a
    second node most of what it added.
    """
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"future": True, "pool_size": pool_size}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(database)), exist_ok=True)
        kwargs["connect_args"] = {"timeout": 60, "check_same_thread": False}
    else:
        kwargs["pool_pre_ping"] = True
        # a host that drops packets must not hang a request (or the health check)
        # until the TCP timeout: a connection is refused after 10 s
        if parsed.get_backend_name() == "postgresql" and "connect_timeout" not in parsed.query:
            kwargs["connect_args"] = {"connect_timeout": 10}
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _configure_sqlite)
    return engine


_shared: dict[str, Engine] = {}
_shared_lock = threading.Lock()


def shared_engine(url: str, pool_size: int = DEFAULT_POOL_SIZE) -> Engine:
    """One engine per URL and process: the storage and rights plugins share its pool
    (the first to ask sizes it; both ask with ``database_pool_size``)."""
    with _shared_lock:
        engine = _shared.get(url)
        if engine is None:
            engine = _shared[url] = create_database_engine(url, pool_size)
        return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.execute("PRAGMA cache_size=-512")
    cursor.close()


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision stored in the database, or None for a new database.

    A plain query rather than SQLAlchemy's inspector: the inspector's reflection
    machinery costs the server ~2 MB of memory for one yes/no answer.
    """
    try:
        with engine.connect() as connection:
            row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    except (OperationalError, ProgrammingError):
        return None
    return row[0] if row else None


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations up to ``revision`` (imports Alembic)."""
    from alembic import command

    with engine.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS_DIR)
    return config


def ensure_schema(engine: Engine) -> None:
    """Create the schema of a new database; refuse to run on an outdated one.

    A new database is migrated automatically so that ``make serve`` needs no step of its
    own; an existing one is only ever upgraded by the admin (``db upgrade``), because a
    migration of a shared PostgreSQL is an admin's decision.
    """
    found = current_revision(engine)
    if found is None:
        logger.info("New tracks database at %s: creating schema",
                    engine.url.render_as_string(hide_password=True))
        upgrade(engine)
        return
    if found != SCHEMA_REVISION:
        raise SchemaOutdatedError(found, SCHEMA_REVISION)
