"""Alembic environment: runs on the connection handed over by ``db.engine.upgrade``."""

from alembic import context

from radicale_tracks.tables import load_tables

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs alembic by hand
    raise RuntimeError("run migrations with 'radicale-tracks db upgrade'")
context.configure(connection=connection, target_metadata=load_tables(),
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
