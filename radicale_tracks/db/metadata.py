"""The one SQLAlchemy ``MetaData`` every table registers on, and the schema revision.

Tables live next to the code that owns them (``index/schema.py``, ``tracks/schema.py``,
``outbox/schema.py``); :func:`load_tables` imports them all so that Alembic and the tests
see the whole schema. Changing a table means a new Alembic revision in
``radicale_tracks/migrations/versions`` and bumping :data:`SCHEMA_REVISION`.
"""

from __future__ import annotations

from sqlalchemy import MetaData

#: The Alembic head this code expects; tests check it matches the migrations.
SCHEMA_REVISION = "0008"

metadata = MetaData()


def load_tables() -> MetaData:
    """The metadata with every table of the project registered."""
    import radicale_tracks.db.journal  # noqa: F401
    import radicale_tracks.inbound.schema  # noqa: F401
    import radicale_tracks.index.schema  # noqa: F401
    import radicale_tracks.outbox.schema  # noqa: F401
    import radicale_tracks.rooms.schema  # noqa: F401
    import radicale_tracks.scheduling.schema  # noqa: F401
    import radicale_tracks.tracks.schema  # noqa: F401

    return metadata
