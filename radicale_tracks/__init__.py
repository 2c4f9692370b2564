"""radicale-tracks: a scheduling-aware Radicale with a meeting assistant.

Public plugin modules (what admins put in their Radicale config):
``[storage] type = radicale_tracks.storage``.
"""

__version__ = "0.1.0"
