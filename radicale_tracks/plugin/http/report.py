"""REPORT: a calendar's free-busy-query answered from the SQL index (RFC 4791 §7.10),
with Radicale's access checks and Radicale's rendering; the Schedule-Tag of objects in
a calendar-multiget or calendar-query. Anything not plainly ours is Radicale's."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from http import client
from typing import Any

from radicale import httputils, types, xmlutils
from radicale.app.report import render_freebusy
from radicale.item import filter as radicale_filter
from sqlalchemy.exc import SQLAlchemyError

from radicale_tracks.plugin.http.base import logger, put_back
from radicale_tracks.plugin.http.properties import PropertiesPart
from radicale_tracks.plugin.http.scheduling_properties import DavRequest, requested_props
from radicale_tracks.plugin.storage import Collection, Storage

FREE_BUSY_QUERY = xmlutils.make_clark("C:free-busy-query")
TIME_RANGE = xmlutils.make_clark("C:time-range")


class ReportPart(PropertiesPart):
    """REPORT: free-busy from the index, Schedule-Tag in Radicale's multistatus."""

    def do_REPORT(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                  user: str, user_groups: set[str], request_info: dict[str, Any]
                  ) -> types.WSGIResponse:
        raw = self._body(environ)
        if not isinstance(raw, bytes):
            return raw
        storage = self._tracks
        if storage is not None and b"free-busy-query" in raw:
            answer = self._free_busy_from_index(storage, raw, environ, path, user,
                                                user_groups)
            if answer is not None:
                return answer
        put_back(environ, raw)
        request = None
        if b"schedule-tag" in raw and storage is not None:
            request = DavRequest(base_prefix, user, requested_props(self._parse(raw, environ)))
        with self._adding_properties(request):
            return super().do_REPORT(environ, base_prefix, path, user, user_groups,
                                     request_info)

    def _free_busy_from_index(self, storage: Storage, raw: bytes,
                              environ: types.WSGIEnviron, path: str, user: str,
                              user_groups: set[str]) -> types.WSGIResponse | None:
        """The answer, or None to let Radicale answer (anything not plainly ours)."""
        if self._sharing_enabled():
            return None
        xml_request = self._parse(raw, environ)
        if xml_request is None or xml_request.tag != FREE_BUSY_QUERY:
            return None
        time_range = xml_request.find(TIME_RANGE)
        if not isinstance(time_range, ET.Element):
            return None
        access = self._access(user, user_groups, path)
        if not access.check("r") and not access.allows_freebusy():
            return httputils.NOT_ALLOWED
        start, end = radicale_filter.parse_time_range(time_range)
        max_occurrence = self.configuration.get("reporting", "max_freebusy_occurrence")
        with storage.acquire_lock("r", user):
            collection = next(iter(storage.discover(path)), None)
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
        headers = {"Content-Type": "text/calendar; charset=%s" % self._response_charset()}
        return client.OK, headers, body, xmlutils.pretty_xml(xml_request)
