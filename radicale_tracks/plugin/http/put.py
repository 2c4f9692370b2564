"""PUT of a calendar object, read from the top down: what happens before Radicale's
PUT, the storage's write under the lock (which schedules), and the answer. (A PUT to
the pages' JSON API, ``/.web/api/…``, is no calendar object: it goes to the pages.)

1. The schedule boxes take no PUT (the server writes them); a writer Radicale would
   refuse gets Radicale's 403 before anything reads the body (:meth:`PutPart._may_write`).
2. Too many attendees in one instance: 403 ``max-attendees-per-instance`` from one scan
   of the body's lines, before any lock (``put_limits.py``).
3. If-Schedule-Tag-Match and the attendee check are handed to the storage, which makes
   them under its write lock (``client_checks.py``).
4. The body is made storable before Radicale reads it (``client_puts.py``): hostile
   zones replaced or refused, TZIDs resolved, PERIOD RDATEs as date-times.
5. Radicale's PUT; the storage writes, and schedules a scheduling object's change.
6. The answer: a refusal under the lock names its precondition (``answers.py``); an
   unknown zone the storage held is 403 ``valid-calendar-data``; Schedule-Tag is sent,
   and no ETag when the stored content is not the client's (RFC 4791 §5.3.4).
"""

from __future__ import annotations

from http import client
from typing import Any

from radicale import httputils, types

from radicale_tracks.errors import WriteRefused
from radicale_tracks.plugin import radicale_internals as internals
from radicale_tracks.plugin.client_puts import (
    UnboundedTimezones,
    UnknownTimezones,
    repaired_body,
)
from radicale_tracks.plugin.http.answers import VALID_CALENDAR_DATA, precondition, refused_write
from radicale_tracks.plugin.http.base import HttpBase, logger
from radicale_tracks.plugin.http.client_checks import hand_client_checks
from radicale_tracks.plugin.http.post import WEB_API_PREFIX
from radicale_tracks.plugin.put_limits import attendee_limit_refusal
from radicale_tracks.plugin.schedule_boxes import box_of
from radicale_tracks.plugin.storage import Storage
from radicale_tracks.plugin.write_request import current_request


class PutPart(HttpBase):
    """Radicale's PUT, with Schedule-Tag and If-Schedule-Tag-Match (RFC 6638 §3.2.10)."""

    def do_PUT(self, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
               user_groups: set[str], request_info: dict[str, Any]) -> types.WSGIResponse:
        storage = self._tracks
        if path.startswith(WEB_API_PREFIX + "/") and self._slot_web is not None and (
                self._slot_web is internals.app_web(self)):   # the pages' own API
            handed: types.WSGIResponse = self._slot_web.put(
                environ, base_prefix, path, user, user_groups, request_info)
            return handed
        if storage is None:
            return super().do_PUT(environ, base_prefix, path, user, user_groups,
                                  request_info)
        if box_of(path) is not None:
            return httputils.NOT_ALLOWED
        if not self._may_write(user, user_groups, path):
            return httputils.NOT_ALLOWED   # before the body is read, as Radicale's PUT
        too_many = self._attendee_limit(storage, environ, path)
        if too_many is not None:
            return too_many
        refused = hand_client_checks(environ, path)
        try:
            # what this request tells the storage (the checks of the client's write, a
            # held zone refusal) is its WriteRequest: it ends with the request
            if refused is not None:
                return refused
            resolved = self._repair_body(storage, environ, path)
            if not isinstance(resolved, bool):
                return resolved
            status, headers, answer, xml_request = super().do_PUT(
                environ, base_prefix, path, user, user_groups, request_info)
        except WriteRefused as e:
            return refused_write("PUT", path, e)
        request = current_request()
        unknown_zones = request.timezones_refused
        if unknown_zones is not None and status == client.BAD_REQUEST:
            logger.info("PUT of %r refused: %s", path, unknown_zones)
            return precondition(VALID_CALENDAR_DATA, str(unknown_zones))
        rewritten = request.rewritten or resolved
        tag = request.schedule_tag
        if isinstance(headers, dict) and status in (client.CREATED, client.NO_CONTENT):
            if rewritten:
                headers = {k: v for k, v in headers.items() if k.lower() != "etag"}
            if tag:
                headers = dict(headers, **{"Schedule-Tag": tag})
        return status, headers, answer, xml_request

    def _may_write(self, user: str, user_groups: set[str], path: str) -> bool:
        """Radicale's own write check of a PUT (``Access(...).check("w")``), made
        before anything of ours reads the body: our refusals (the attendee limit, an
        unbounded zone) name a CalDAV precondition and are for writers allowed there;
        anyone else gets Radicale's plain 403, their body unread. A shared collection
        is checked as Radicale's PUT checks it: as its owner's, with the share's
        permissions."""
        share = self._share_of(path, user, user_groups)
        if share and path != share["PathMapped"]:
            return self._access(share["Owner"], user_groups, share["PathMapped"],
                                share["Permissions"]).check("w")
        return self._access(user, user_groups, path).check("w")

    def _attendee_limit(self, storage: Storage, environ: types.WSGIEnviron, path: str
                        ) -> types.WSGIResponse | None:
        """403 ``max-attendees-per-instance`` before any lock (``put_limits.py``)."""
        raw = self._rewound_body(environ)
        if not isinstance(raw, bytes):
            return raw
        return attendee_limit_refusal(raw, storage.settings.max_attendees_per_instance,
                                      path)

    def _repair_body(self, storage: Storage, environ: types.WSGIEnviron, path: str
                     ) -> bool | types.WSGIResponse:
        """Make the request body storable before Radicale reads it (hostile zones
        replaced, TZIDs without a VTIMEZONE resolved, PERIOD RDATEs as date-times:
        ``client_puts.py``): True when the body changed; an unknown zone is held as the
        storage's refusal of the client's write. A zone whose rules cannot be bounded
        or replaced is answered here, since Radicale would expand it while reading the
        body: 403 ``valid-calendar-data`` (anyone not allowed to write there was answered
        Radicale's 403 before: :meth:`_may_write`)."""
        raw = self._rewound_body(environ)
        if not isinstance(raw, bytes):
            return raw
        try:
            text = httputils.decode_request(self.configuration, environ, raw)
        except UnicodeDecodeError:
            return False  # Radicale answers
        try:
            changed = repaired_body(environ, text,  # type: ignore[arg-type]  # WSGI dict
                                    storage.settings.zone_limits())
        except UnboundedTimezones as e:
            logger.info("PUT of %r refused: %s", path, e)
            return precondition(VALID_CALENDAR_DATA, str(e))
        except UnknownTimezones as e:
            current_request().timezone_refusal = e
            return False
        return changed
