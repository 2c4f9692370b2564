"""Public entry point for ``[storage] type = radicale_tracks.storage``.

Radicale imports this module and instantiates ``Storage(configuration)``; the
implementation lives in :mod:`radicale_tracks.plugin.storage`. Keep this path stable.
"""

from radicale_tracks.plugin.storage import Collection, Storage
from radicale_tracks.settings import PLUGIN_CONFIG_SCHEMA

__all__ = ["Collection", "PLUGIN_CONFIG_SCHEMA", "Storage"]
