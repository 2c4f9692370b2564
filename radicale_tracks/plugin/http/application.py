"""Radicale's WSGI application with RFC 6638 scheduling and the index's fast answers,
combined from one part per HTTP method.

Radicale's plugin points cannot add POST targets, principal properties, response headers
or replace a REPORT, so the server runs this subclass (``radicale-tracks serve``,
``radicale_tracks.wsgi:application``). Each part is one module, as Radicale's own
``radicale/app/`` is:

- ``options.py`` — ``calendar-auto-schedule`` in the DAV header;
- ``propfind.py``, ``report.py`` — the scheduling properties of principals, inboxes,
  outboxes and objects (``properties.py``, ``scheduling_properties.py``); free-busy-query
  REPORTs from the index, with Radicale's access checks and rendering;
- ``put.py`` — Schedule-Tag, If-Schedule-Tag-Match, the attendee limit, the body made
  storable, no ETag when the server changed what was stored;
- ``get.py`` — Schedule-Tag on GET, the read-only track feeds;
- ``health.py`` — ``/.tracks/health`` for load balancers;
- ``delete.py`` — users delete their inbox messages; an object's delete checked;
- ``post.py`` — free-busy POSTs to a user's outbox (``outbox_freebusy.py``), the slot
  API, the 308 from ``/.tracks/api/slots``;
- ``proppatch.py``, ``move.py`` — nothing else writes into inbox or outbox;
- ``answers.py`` — the answers several parts give; ``base.py`` — what they share, and the
  one decision whether the storage is ours.

Every other request, and every unusual one, goes to Radicale unchanged. Plain
``radicale`` with only the storage plugin still schedules on writes and gets the index
through ``get_filtered``; docs/admin.md lists what it loses.
"""

from __future__ import annotations

import io
from http import client
from typing import Any

from radicale import types

from radicale_tracks.plugin.calendar_locks import restarting
from radicale_tracks.plugin.http.answers import (
    Intermediate,
    intermediate_json,
    intermediate_plain,
)
from radicale_tracks.plugin.http.base import logger
from radicale_tracks.plugin.http.delete import DeletePart
from radicale_tracks.plugin.http.get import FEED_PREFIX, GetPart, track_feed
from radicale_tracks.plugin.http.health import HEALTH_PATH, health
from radicale_tracks.plugin.http.move import MovePart
from radicale_tracks.plugin.http.options import OptionsPart
from radicale_tracks.plugin.http.post import API_PREFIX, WEB_API_PREFIX, PostPart
from radicale_tracks.plugin.http.propfind import PropfindPart
from radicale_tracks.plugin.http.proppatch import ProppatchPart
from radicale_tracks.plugin.http.put import PutPart
from radicale_tracks.plugin.http.report import ReportPart
from radicale_tracks.plugin.size_limits import body_limit, declared_length, too_large_json
from radicale_tracks.plugin.write_request import request_scope


class Application(OptionsPart, PropfindPart, ReportPart, PutPart, GetPart, DeletePart,
                  PostPart, ProppatchPart, MovePart):
    """``radicale.Application`` plus scheduling, free-busy from the SQL index and the
    read-only track feeds."""

    def _handle_request(self, environ: types.WSGIEnviron) -> Intermediate:
        """What is answered before Radicale's routing: a body too large, on every path,
        the track feeds (no account: the token is the credential) and the health check
        of load balancers (no account, nothing about users)."""
        path = environ.get("PATH_INFO", "")
        too_large = body_too_large(self.configuration, environ, path)
        if too_large is not None:
            return too_large
        if path.startswith(FEED_PREFIX) and self._tracks is not None:
            return track_feed(self._tracks, environ, path[len(FEED_PREFIX):])
        if path == HEALTH_PATH and self._tracks is not None:
            return health(self._tracks, environ)
        if getattr(self._tracks, "per_calendar_locks", False):
            return self._restartable(environ)
        with request_scope():   # what this request tells the storage ends with it
            answer: Intermediate = super()._handle_request(environ)
        return answer

    def _restartable(self, environ: types.WSGIEnviron) -> Intermediate:
        """Locks per calendar: a write that meets a calendar out of the global order
        runs again with it locked first (``calendar_locks.restarting``). The body is
        kept as it is read (``ReplayedBody``), so each attempt reads the same bytes and
        a body nobody reads — refused before it was read — is still never read."""
        body = ReplayedBody(environ["wsgi.input"])

        def rewind() -> None:
            # the PUT part puts back a body of its own: each attempt starts from ours
            body.rewind()
            environ["wsgi.input"] = body  # type: ignore[index]  # WSGI dict

        return restarting(lambda _request: super(Application, self)._handle_request(
            environ), before_attempt=rewind)


class ReplayedBody(io.RawIOBase):
    """A request body read once from the client and replayed to later attempts: what
    the first attempt read is kept, a later attempt reads it again from the start."""

    def __init__(self, stream: Any) -> None:
        super().__init__()
        self.stream = stream
        self.kept = bytearray()
        self.position = 0

    def rewind(self) -> None:
        self.position = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        wanted = None if size is None or size < 0 else size
        found = bytes(self.kept[self.position:] if wanted is None
                      else self.kept[self.position:self.position + wanted])
        self.position += len(found)
        if wanted is None or len(found) < wanted:
            more = self.stream.read() if wanted is None else self.stream.read(
                wanted - len(found))
            if more:
                self.kept.extend(more)
                self.position += len(more)
                found += more
        return found

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def body_too_large(configuration: Any, environ: types.WSGIEnviron, path: str
                   ) -> Intermediate | None:
    """413 for a body above ``[server] max_content_length``, from its Content-Length,
    before anything reads it — on every path, ours included. Radicale checks this only
    under its own built-in server; under a WSGI server (gunicorn, uWSGI) our paths would
    read any size whole."""
    limit = body_limit(configuration)
    length = declared_length(environ)  # type: ignore[arg-type]  # WSGI dict
    if length <= limit:
        return None
    logger.info("Request body of %d bytes refused on %r (max_content_length %d)",
                length, path, limit)
    if path.startswith((API_PREFIX, WEB_API_PREFIX)):
        return intermediate_json(client.REQUEST_ENTITY_TOO_LARGE, too_large_json(length, limit))
    return intermediate_plain(client.REQUEST_ENTITY_TOO_LARGE, "Request body too large: "
                              "%d bytes; the limit is %d bytes (max_content_length).\n"
                              % (length, limit))
