"""What one user chose on the pages and wants kept, kept in the database.

``tracks_user_setting`` holds (user, name) → text: today the time zone the booking
wizard shows times in (``web_zone``), the browser's zone on the first visit or the one
picked later. It lives in the database, not in the browser, so it follows the user to
another browser and to every node of a shared database; a later write of the same name
replaces the value (``INSERT … ON CONFLICT DO UPDATE``, so two nodes writing at the same
moment end up with one row).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Connection, String, Table, Text, delete, select

from radicale_tracks.db.metadata import metadata

user_setting = Table(
    "tracks_user_setting", metadata,
    Column("user", String(255), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

#: the IANA zone the wizard shows times in for this user
WEB_ZONE = "web_zone"


def user_value(connection: Connection, user: str, name: str) -> str | None:
    """The value ``user`` keeps under ``name``, None when they never chose one."""
    return connection.execute(select(user_setting.c.value).where(
        user_setting.c.user == user, user_setting.c.name == name)).scalar_one_or_none()


def set_user_value(connection: Connection, user: str, name: str, value: str, at: int) -> None:
    """``name`` of ``user`` set to ``value`` (inserted, or the stored one replaced)."""
    values = {"user": user, "name": name, "value": value, "updated_at": at}
    changes = {"value": value, "updated_at": at}
    if connection.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg = pg_insert(user_setting).values(values)
        connection.execute(pg.on_conflict_do_update(
            index_elements=[user_setting.c.user, user_setting.c.name], set_=changes))
    elif connection.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(user_setting).values(values)
        connection.execute(lite.on_conflict_do_update(
            index_elements=[user_setting.c.user, user_setting.c.name], set_=changes))
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError("unsupported database %s" % connection.dialect.name)


def forget_user_value(connection: Connection, user: str, name: str) -> None:
    """``name`` of ``user`` removed: the default applies again."""
    connection.execute(delete(user_setting).where(
        user_setting.c.user == user, user_setting.c.name == name))
