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

logger = logging.getLogger("radicale.tracks.application")

FREE_BUSY_QUERY = xmlutils.make_clark("C:free-busy-query")
TIME_RANGE = xmlutils.make_clark("C:time-range")


class Application(radicale_app.Application):
    """``radicale.Application`` plus free-busy answered from the SQL index."""

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
