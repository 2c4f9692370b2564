"""Public entry point for ``[storage] type = radicale_tracks.storage``.

Radicale imports this module and calls ``Storage(configuration)``: the backend the
configuration's ``item_store`` names (:func:`radicale_tracks.plugin.backends.storage_for`;
files: :mod:`radicale_tracks.plugin.storage`, database:
:mod:`radicale_tracks.plugin.database_storage`). Keep this path stable.
"""

from radicale import config as radicale_config

from radicale_tracks.plugin import storage as _files
from radicale_tracks.plugin.backends import storage_for
from radicale_tracks.plugin.storage import Collection
from radicale_tracks.settings import PLUGIN_CONFIG_SCHEMA

__all__ = ["Collection", "PLUGIN_CONFIG_SCHEMA", "Storage"]


def Storage(configuration: radicale_config.Configuration) -> _files.Storage:  # noqa: N802
    """What Radicale calls to make the storage (a function: the class depends on
    ``item_store``)."""
    return storage_for(configuration)
