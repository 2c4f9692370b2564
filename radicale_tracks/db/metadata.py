"""The one SQLAlchemy ``MetaData`` every table registers on, and the schema revision.

Tables live next to the code that owns them (``index/schema.py``, ``tracks/schema.py``,
``outbox/schema.py``); ``radicale_tracks.tables.load_tables`` imports them all so that
Alembic and the tests see the whole schema (there, not here: every table module imports
this one). Changing a table means a new Alembic revision in
``radicale_tracks/migrations/versions`` and bumping :data:`SCHEMA_REVISION`.
"""

from __future__ import annotations

from sqlalchemy import MetaData

#: The Alembic head this code expects; tests check it matches the migrations.
SCHEMA_REVISION = "0012"

metadata = MetaData()

