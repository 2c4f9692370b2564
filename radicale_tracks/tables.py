"""Every table of the project on the one ``MetaData``, for Alembic and the tests.

Apart from ``db/metadata.py``, which every table module imports: the list of the owners
of tables imports them, so it cannot live where they import from without a circle.
"""

from __future__ import annotations

from sqlalchemy import MetaData


def load_tables() -> MetaData:
    """The metadata with every table of the project registered."""
    import radicale_tracks.bookings.schema  # noqa: F401
    import radicale_tracks.db.journal  # noqa: F401
    import radicale_tracks.db.shared_values  # noqa: F401
    import radicale_tracks.db.user_settings  # noqa: F401
    import radicale_tracks.inbound.schema  # noqa: F401
    import radicale_tracks.index.schema  # noqa: F401
    import radicale_tracks.outbox.schema  # noqa: F401
    import radicale_tracks.rooms.schema  # noqa: F401
    import radicale_tracks.scheduling.schema  # noqa: F401
    import radicale_tracks.tracks.schema  # noqa: F401
    from radicale_tracks.db.metadata import metadata

    return metadata
