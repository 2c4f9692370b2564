"""Values every node of one database must agree on, kept in the database itself.

Nodes on different hosts share no folder, so what used to be a file beside the
collections (the web pages' form-token secret, ``.tracks-web-secret``) lives in
``tracks_setting`` (name → text). A value is made once: the first node to start inserts
its candidate with ``INSERT … ON CONFLICT DO NOTHING`` and every node — that one
included — reads back the row that won, so two nodes starting at the same moment end
up with the same value.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Column, Connection, Engine, String, Table, Text, delete, insert, select

from radicale_tracks.db.metadata import metadata

shared_setting = Table(
    "tracks_setting", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

#: the HMAC key of the web pages' form tokens, as hex
WEB_FORM_SECRET = "web_form_secret"
#: where this database's calendar data lives (``item_store``): a node of the other
#: mode refuses to start on it — its files index would overwrite the database's items
ITEM_STORE = "item_store"


def read_value(connection: Connection, name: str) -> str | None:
    """The stored value of ``name``, None when no node has made it yet."""
    return connection.execute(select(shared_setting.c.value).where(
        shared_setting.c.name == name)).scalar_one_or_none()


def _insert_if_absent(connection: Connection, name: str, value: str) -> None:
    """``INSERT … ON CONFLICT DO NOTHING``: a row another node made first is kept."""
    values = {"name": name, "value": value}
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        connection.execute(pg_insert(shared_setting).values(values).on_conflict_do_nothing())
    elif connection.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        connection.execute(
            sqlite_insert(shared_setting).values(values).on_conflict_do_nothing())
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        connection.execute(insert(shared_setting).values(values))


def shared_value(engine: Engine, name: str, candidate: Callable[[], str]) -> str:
    """The value of ``name`` every node agrees on: the stored one, else ``candidate()``
    stored if no other node stored one first, and read back either way.

    ``candidate`` is called only when nothing is stored yet (it may read an old file
    or make a random value)."""
    with engine.connect() as connection:
        found = read_value(connection, name)
    if found is not None:
        return found
    proposed = candidate()
    with engine.begin() as connection:
        _insert_if_absent(connection, name, proposed)
    with engine.connect() as connection:
        found = read_value(connection, name)
    if found is None:  # pragma: no cover - a row is never deleted
        raise RuntimeError("shared value %r vanished after it was stored" % name)
    return found


def replace_value(engine: Engine, name: str, value: str) -> None:
    """``name`` set to ``value`` whatever was stored (``migrate`` moves the item store)."""
    with engine.begin() as connection:
        connection.execute(delete(shared_setting).where(shared_setting.c.name == name))
        connection.execute(insert(shared_setting).values({"name": name, "value": value}))
