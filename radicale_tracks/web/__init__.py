"""``[web] type = radicale_tracks.web``: the booking wizard, Meetings, My tracks and the
track pages, with their JSON API, under Radicale's ``/.web`` (docs/web.md)."""

from radicale_tracks.web.plugin import Web

__all__ = ["Web"]
