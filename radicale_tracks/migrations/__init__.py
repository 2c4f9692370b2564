"""Alembic migrations of the tracks database (``radicale-tracks db upgrade``)."""
