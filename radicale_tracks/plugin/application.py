"""Radicale's WSGI application with the requests the index answers better.

Radicale's plugin points cannot replace a REPORT, so the server runs this subclass
(``radicale-tracks serve``, ``radicale_tracks.wsgi:application``). It answers a
free-busy-query on a calendar of the tracks storage from the index — same access checks,
same rendering as Radicale's own code — and hands every other request, and every unusual
one, to Radicale unchanged. Plain ``radicale`` with only the storage plugin still gets the
index through ``get_filtered``; it just parses the events it finds.
"""

from __future__ import annotations

import io
import logging
import re
import socket
import xml.etree.ElementTree as ET
from http import client
from typing import Any

import defusedxml.ElementTree as DefusedET
from radicale import app as radicale_app
from radicale import httputils, types, xmlutils
from radicale.app.base import Access
from radicale.app.report import render_freebusy
from radicale.item import filter as radicale_filter
from sqlalchemy.exc import SQLAlchemyError

from radicale_tracks.plugin.storage import Collection, Storage
from radicale_tracks.tracks.store import track_by_feed_token

logger = logging.getLogger("radicale.tracks.application")

FREE_BUSY_QUERY = xmlutils.make_clark("C:free-busy-query")
TIME_RANGE = xmlutils.make_clark("C:time-range")


FEED_PREFIX = "/.tracks/feed/"
_FEED_TOKEN = re.compile(r"^[0-9a-f]{16,64}$")


class Application(radicale_app.Application):
    """``radicale.Application`` plus free-busy answered from the SQL index and the
    read-only track feeds."""

    def _handle_request(self, environ: types.WSGIEnviron) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(FEED_PREFIX) and isinstance(self._storage, Storage):
            return self._track_feed(environ, path[len(FEED_PREFIX):])
        return super()._handle_request(environ)

    def _track_feed(self, environ: types.WSGIEnviron, name: str) -> Any:
        """``GET /.tracks/feed/<feed token>.ics``: a track's calendar for subscribers.

        The unguessable token is the credential (members without an account subscribe
        with it from any calendar app); it only ever grants reading that one track.
        """
        method = environ.get("REQUEST_METHOD", "GET").upper()
        token = name[:-4] if name.endswith(".ics") else name
        storage = self._storage
        assert isinstance(storage, Storage)
        if method not in ("GET", "HEAD"):
            return _plain(client.METHOD_NOT_ALLOWED, "read-only feed\n",
                          [("Allow", "GET, HEAD")])
        if not _FEED_TOKEN.match(token):
            return _plain(client.NOT_FOUND, "no such feed\n")
        try:
            with storage.database.connect() as connection:
                track = track_by_feed_token(connection, token)
        except SQLAlchemyError:
            logger.exception("Feed lookup failed")
            return _plain(client.SERVICE_UNAVAILABLE, "try again later\n")
        if track is None:
            return _plain(client.NOT_FOUND, "no such feed\n")
        with storage.acquire_lock("r", ""):
            collection = next(iter(storage.discover("/%s/%s/" % (
                storage.settings.assistant_principal, track.slug))), None)
            if not isinstance(collection, Collection):
                return _plain(client.NOT_FOUND, "no such feed\n")
            body = collection.serialize().encode("utf-8")
        logger.info("Feed of track %s served", track.slug)
        return ("200 OK", [("Content-Type", "text/calendar; charset=utf-8"),
                           ("Content-Length", str(len(body))),
                           ("Cache-Control", "private, max-age=300")], [body])

    def do_PUT(self, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
               user_groups: set, request_info: dict) -> types.WSGIResponse:
        """Radicale's PUT; no ETag when the assistant changed what was stored.

        RFC 4791 §5.3.4: a client given an ETag assumes its own copy is what the server
        holds, and would never fetch the assistant's answer and the track details.
        """
        storage = self._storage
        if isinstance(storage, Storage):
            storage.take_rewritten()
        status, headers, answer, xml_request = super().do_PUT(
            environ, base_prefix, path, user, user_groups, request_info)
        if isinstance(storage, Storage) and storage.take_rewritten() and isinstance(
                headers, dict):
            headers = {k: v for k, v in headers.items() if k.lower() != "etag"}
        return status, headers, answer, xml_request

    def do_REPORT(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                  user: str, user_groups: set, request_info: dict) -> types.WSGIResponse:
        try:
            raw = httputils.read_raw_request_body(self.configuration, environ)
        except RuntimeError:
            return httputils.BAD_REQUEST
        except socket.timeout:
            return httputils.REQUEST_TIMEOUT
        answer = self._free_busy_from_index(raw, environ, path, user, user_groups)
        if answer is not None:
            return answer
        environ["wsgi.input"] = io.BytesIO(raw)  # type: ignore[index]  # WSGI dict
        return super().do_REPORT(environ, base_prefix, path, user, user_groups,
                                 request_info)

    def _free_busy_from_index(self, raw: bytes, environ: types.WSGIEnviron, path: str,
                              user: str, user_groups: set) -> types.WSGIResponse | None:
        """The answer, or None to let Radicale answer (anything not plainly ours)."""
        if b"free-busy-query" not in raw or not isinstance(self._storage, Storage):
            return None
        if getattr(self._sharing, "_enabled", False):
            return None
        try:
            xml_request: Any = DefusedET.fromstring(
                httputils.decode_request(self.configuration, environ, raw))
        except Exception:
            return None
        if xml_request.tag != FREE_BUSY_QUERY:
            return None
        time_range = xml_request.find(TIME_RANGE)
        if not isinstance(time_range, ET.Element):
            return None
        access = Access(self._rights, user, user_groups, path)
        if not access.check("r") and not access.allows_freebusy():
            return httputils.NOT_ALLOWED
        start, end = radicale_filter.parse_time_range(time_range)
        max_occurrence = self.configuration.get("reporting", "max_freebusy_occurrence")
        with self._storage.acquire_lock("r", user):
            collection = next(iter(self._storage.discover(path)), None)
            if not isinstance(collection, Collection) or collection.tag != "VCALENDAR":
                return None
            if not access.allows_freebusy(collection):
                return httputils.NOT_ALLOWED
            try:
                periods = collection.free_busy(start, end, max_occurrence)
            except ValueError:
                return httputils.BAD_REQUEST
            except SQLAlchemyError:
                logger.exception("Index unavailable; Radicale answers the free-busy "
                                 "query of %r", path)
                return None
        body = render_freebusy(periods, start, end)
        headers = {"Content-Type": "text/calendar; charset=%s" % self._encoding}
        return client.OK, headers, body, xmlutils.pretty_xml(xml_request)


def _plain(status: int, text: str, headers: list[tuple[str, str]] | None = None) -> Any:
    body = text.encode("utf-8")
    return ("%d %s" % (status, client.responses.get(status, "")),
            [("Content-Type", "text/plain; charset=utf-8"),
             ("Content-Length", str(len(body))), *(headers or [])], [body])
