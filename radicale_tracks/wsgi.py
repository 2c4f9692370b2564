"""WSGI entry point: ``radicale_tracks.wsgi:application`` for gunicorn, uWSGI, mod_wsgi.

Configured exactly like Radicale's own WSGI application — the config file named by
``RADICALE_CONFIG`` — because it *is* Radicale's loader, told to build our
:class:`~radicale_tracks.plugin.application.Application` instead of Radicale's.
"""

from __future__ import annotations

import radicale

from radicale_tracks.plugin.application import Application

radicale.Application = Application  # type: ignore[misc]
application = radicale.application

__all__ = ["application"]
