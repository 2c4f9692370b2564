"""The settings a command runs with: Radicale's config file read and checked whole."""

from __future__ import annotations

from radicale import config as radicale_config

from radicale_tracks import settings as tracks_settings
from radicale_tracks.rooms.directory import configured_rooms


def load_settings(config_path: str | None
                  ) -> tuple[radicale_config.Configuration, tracks_settings.Settings]:
    """:func:`radicale_tracks.settings.load_settings`, and the config's ``rooms`` lines
    parsed: a bad line fails every command (exit 2, naming the line) as it fails the
    server's start, not only the commands that use rooms."""
    configuration, settings = tracks_settings.load_settings(config_path)
    configured_rooms(settings)
    return configuration, settings
