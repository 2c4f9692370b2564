"""Which backend a configuration names: ``[storage] item_store = files|database``.

Radicale builds its storage from ``radicale_tracks.storage.Storage(configuration)``,
which is :func:`storage_for`; the commands and mail delivery open theirs with
:func:`open_storage`. Both backends are one ``Storage`` to the rest of the package
(``storage.py``, and ``database_storage.py`` extending it).
"""

from __future__ import annotations

from radicale import config as radicale_config

from radicale_tracks.errors import TracksError
from radicale_tracks.plugin.database_storage import DatabaseStorage
from radicale_tracks.plugin.storage import Storage
from radicale_tracks.rooms.directory import configured_rooms
from radicale_tracks.settings import Settings


def storage_for(configuration: radicale_config.Configuration,
                start_sender: bool = True) -> Storage:
    """The storage of ``item_store``: Radicale's files plus the index, or the database."""
    if Settings.from_configuration(configuration).item_store == "database":
        return DatabaseStorage(configuration, start_sender=start_sender)
    return Storage(configuration, start_sender=start_sender)


def open_storage(config_path: str | None, start_sender: bool = False
                 ) -> tuple[Storage, Settings]:
    """The storage a config file names, for admin commands and mail delivery outside the
    server (``start_sender``: a long-running command sends queued mail from a thread)."""
    from radicale_tracks.settings import load_settings

    configuration, settings = load_settings(config_path)
    configured_rooms(settings)
    storage_type = configuration.get("storage", "type")
    if storage_type not in ("radicale_tracks.storage", "radicale_tracks.plugin.storage"):
        raise TracksError("[storage] type is %r in the config; radicale-tracks needs "
                          "'radicale_tracks.storage'" % storage_type)
    return storage_for(configuration, start_sender=start_sender), settings
