"""``[rights] type = radicale_tracks.rights`` — the public name of the rights plugin."""

from radicale_tracks.plugin.rights import Rights

__all__ = ["Rights"]
