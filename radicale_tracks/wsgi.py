"""WSGI entry point: ``radicale_tracks.wsgi:application`` for gunicorn, uWSGI, mod_wsgi.

Configured exactly like Radicale's own WSGI application — the config file named by
``RADICALE_CONFIG`` — because it *is* Radicale's loader, told to build our
:class:`~radicale_tracks.plugin.application.Application` instead of Radicale's.
"""

from __future__ import annotations

import radicale

from radicale_tracks.plugin.application import Application

# Radicale imports Application without re-exporting it (hence the ignore); its loader
# builds whatever this name holds when the first request comes.
radicale.Application = Application  # type: ignore[attr-defined]
application = radicale.application

__all__ = ["application"]
