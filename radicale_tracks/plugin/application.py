"""``radicale_tracks.plugin.application.Application``, the name the server, ``wsgi.py``
and the tests have always imported: the application now lives in ``plugin/http/``, one
module per HTTP method (``plugin/http/application.py``)."""

from __future__ import annotations

from radicale_tracks.plugin.http.application import Application

__all__ = ["Application"]
