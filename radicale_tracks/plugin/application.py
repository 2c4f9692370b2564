"""Radicale's WSGI application with RFC 6638 scheduling and the index's fast answers.

Radicale's plugin points cannot add POST targets, principal properties, response headers
or replace a REPORT, so the server runs this subclass (``radicale-tracks serve``,
``radicale_tracks.wsgi:application``). On top of Radicale it

- advertises ``calendar-auto-schedule`` and answers the scheduling properties of
  principals, inboxes, outboxes and objects (``scheduling_dav.py``);
- answers free-busy POSTs to a user's outbox (``outbox_post.py``) and free-busy-query
  REPORTs from the index — same access checks, same rendering as Radicale's own code;
- sends Schedule-Tag on GET and PUT of scheduling objects, checks If-Schedule-Tag-Match,
  and drops the ETag of a PUT whose stored content the server changed;
- refuses an attendee's PUT that names another ORGANIZER (403, RFC 6638 §3.2.2.1);
- lets users delete their inbox messages and nothing else write into inbox or outbox;
- serves the read-only track feeds;
- redirects ``POST /.tracks/api/slots`` to the slot API under ``/.web/api/`` (308).

Every other request, and every unusual one, goes to Radicale unchanged. Plain
``radicale`` with only the storage plugin still schedules on writes and gets the index
through ``get_filtered``; docs/admin.md lists what it loses.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import re
import threading
import xml.etree.ElementTree as ET
from http import client
from typing import Any, cast

import defusedxml.ElementTree as DefusedET
from radicale import app as radicale_app
from radicale import httputils, types, xmlutils
from radicale.app.base import Access
from radicale.app.report import render_freebusy
from radicale.item import filter as radicale_filter
from sqlalchemy.exc import SQLAlchemyError

from radicale_tracks.errors import (
    AttendeeChangeRefused,
    ResourceTooLargeRefused,
    ScheduleTagMismatch,
    WriteRefused,
)
from radicale_tracks.plugin.client_puts import (
    UnboundedTimezones,
    UnknownTimezones,
    repaired_body,
)
from radicale_tracks.plugin.outbox_post import freebusy_post
from radicale_tracks.plugin.put_limits import attendee_limit_refusal
from radicale_tracks.plugin.schedule_boxes import (
    INBOX,
    OUTBOX,
    box_of,
    ensure_boxes,
    remove_message,
)
from radicale_tracks.plugin.scheduling_dav import (
    DavRequest,
    SchedulingProperties,
    requested_props,
    wants_us,
)
from radicale_tracks.plugin.size_limits import body_limit, declared_length, too_large_json
from radicale_tracks.plugin.storage import Collection, Storage
from radicale_tracks.plugin.write_request import ClientChecks, current_request, request_scope
from radicale_tracks.tracks.store import track_by_feed_token

logger = logging.getLogger("radicale.tracks.application")

FREE_BUSY_QUERY = xmlutils.make_clark("C:free-busy-query")
AVAILABILITY = xmlutils.make_clark("C:calendar-availability")
VALID_CALENDAR_DATA = "C:valid-calendar-data"
CALENDAR_TRANSP = xmlutils.make_clark("C:schedule-calendar-transp")
TIME_RANGE = xmlutils.make_clark("C:time-range")


MULTISTATUS = xmlutils.make_clark("D:multistatus")
AUTO_SCHEDULE = "calendar-auto-schedule"

FEED_PREFIX = "/.tracks/feed/"
API_PREFIX = "/.tracks/api/"
WEB_API_PREFIX = "/.web/api"
SLOTS_API = WEB_API_PREFIX + "/slots"
_FEED_TOKEN = re.compile(r"^[0-9a-f]{16,64}$")


class Application(radicale_app.Application):
    """``radicale.Application`` plus scheduling, free-busy from the SQL index and the
    read-only track feeds."""

    #: the PROPFIND/REPORT being answered on this thread, for ``_xml_response``
    _dav_request = threading.local()

    def __init__(self, configuration: Any) -> None:
        super().__init__(configuration)
        #: who answers the slot API: the pages' plugin, or — under another ``[web] type``
        #: — one of our own for that path alone, so the slot finder needs no pages
        self._slot_web: Any = None
        if isinstance(self._storage, Storage):
            if hasattr(self._web, "attach"):
                self._slot_web = self._web   # the pages of radicale_tracks.web
            else:
                from radicale_tracks.web.plugin import Web

                self._slot_web = Web(configuration)
            self._slot_web.attach(self._storage, self._rights)

    def _handle_request(self, environ: types.WSGIEnviron) -> Any:
        path = environ.get("PATH_INFO", "")
        too_large = self._body_too_large(environ, path)
        if too_large is not None:
            return too_large
        if path.startswith(FEED_PREFIX) and isinstance(self._storage, Storage):
            return self._track_feed(environ, path[len(FEED_PREFIX):])
        with request_scope():   # what this request tells the storage ends with it
            return super()._handle_request(environ)

    def _body_too_large(self, environ: types.WSGIEnviron, path: str) -> Any:
        """413 for a body above ``[server] max_content_length``, from its Content-Length,
        before anything reads it — on every path, ours included. Radicale checks this
        only under its own built-in server; under a WSGI server (gunicorn, uWSGI) our
        paths would read any size whole."""
        limit = body_limit(self.configuration)
        length = declared_length(environ)  # type: ignore[arg-type]  # WSGI dict
        if length <= limit:
            return None
        logger.info("Request body of %d bytes refused on %r (max_content_length %d)",
                    length, path, limit)
        if path.startswith((API_PREFIX, WEB_API_PREFIX)):
            return _wsgi_json(client.REQUEST_ENTITY_TOO_LARGE, too_large_json(length, limit))
        return _plain(client.REQUEST_ENTITY_TOO_LARGE, "Request body too large: %d bytes; "
                      "the limit is %d bytes (max_content_length).\n" % (length, limit))

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

    # -- discovery ------------------------------------------------------------------

    def do_OPTIONS(self, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
                   user_groups: set, request_info: dict) -> types.WSGIResponse:
        status, headers, answer, xml_request = super().do_OPTIONS(
            environ, base_prefix, path, user, user_groups, request_info)
        return status, _with_auto_schedule(headers), answer, xml_request

    def do_PROPFIND(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                    user: str, user_groups: set, request_info: dict) -> types.WSGIResponse:
        storage = self._storage
        if not isinstance(storage, Storage):
            return super().do_PROPFIND(environ, base_prefix, path, user, user_groups,
                                       request_info)
        raw = self._body(environ)
        if not isinstance(raw, bytes):
            return raw
        self._ensure_boxes(user, path)
        request = DavRequest(base_prefix, user, requested_props(
            self._parse(raw, environ)) if raw else None)
        environ["wsgi.input"] = io.BytesIO(raw)  # type: ignore[index]  # WSGI dict
        self._dav_request.current = request if wants_us(request) else None
        try:
            status, headers, answer, xml_request = super().do_PROPFIND(
                environ, base_prefix, path, user, user_groups, request_info)
        finally:
            self._dav_request.current = None
        return status, _with_auto_schedule(headers), answer, xml_request

    def _xml_response(self, xml_content: ET.Element, request_info: dict) -> bytes:
        request: DavRequest | None = getattr(self._dav_request, "current", None)
        if request is not None and xml_content.tag == MULTISTATUS and isinstance(
                self._storage, Storage):
            self._dav_request.current = None
            try:
                with self._storage.acquire_lock("r", request.user):
                    SchedulingProperties(self._storage).augment(xml_content, request)
            except Exception:
                logger.exception("Scheduling properties not added")
        return super()._xml_response(xml_content, request_info)

    def _ensure_boxes(self, user: str, path: str) -> None:
        """A user's inbox and outbox exist before their principal is discovered."""
        storage = self._storage
        if not user or not isinstance(storage, Storage) or not storage.settings.scheduling:
            return
        if user in storage._boxes_ready or user == storage.settings.assistant_principal:
            return
        if path.strip("/").split("/")[0] != user:
            return
        try:
            with storage.acquire_lock("w", user):
                ensure_boxes(storage, user)
        except Exception:
            logger.exception("Scheduling inbox and outbox of %r not created", user)

    # -- outbox and inbox ---------------------------------------------------------------

    def do_POST(self, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
                user_groups: set, request_info: dict) -> types.WSGIResponse:
        box = box_of(path)
        storage = self._storage
        if path.startswith(API_PREFIX):
            return _moved_api(base_prefix, path)
        if path.rstrip("/") == SLOTS_API and self._slot_web is not None:
            return self._slot_web.post(environ, base_prefix, path, user, user_groups,
                                       request_info)
        if box is None or not isinstance(storage, Storage):
            return super().do_POST(environ, base_prefix, path, user, user_groups,
                                   request_info)
        owner, name = box
        if name != OUTBOX or path.strip("/") != "%s/%s" % (owner, OUTBOX):
            return httputils.METHOD_NOT_ALLOWED
        if not user or owner != user:
            return httputils.NOT_ALLOWED
        raw = self._body(environ)
        if not isinstance(raw, bytes):
            return raw
        max_occurrence = self.configuration.get("reporting", "max_freebusy_occurrence")
        with storage.acquire_lock("r", user):
            status, headers, body = freebusy_post(
                storage, raw, environ.get("CONTENT_TYPE", ""), user, max_occurrence,
                datetime.datetime.now(datetime.UTC))
        return status, headers, body, None

    def do_DELETE(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                  user: str, user_groups: set, request_info: dict) -> types.WSGIResponse:
        storage = self._storage
        box = box_of(path)
        if box is not None and isinstance(storage, Storage):
            return self._delete_from_box(box, path, user)
        refused = self._schedule_tag_precondition(environ, path)
        if refused is not None:
            return refused
        try:
            return super().do_DELETE(environ, base_prefix, path, user, user_groups,
                                     request_info)
        except WriteRefused as e:
            return _refused_write("DELETE", path, e)

    def _delete_from_box(self, box: tuple[str, str], path: str,
                         user: str) -> types.WSGIResponse:
        """Users delete their own inbox messages (RFC 6638 §2.1: DAV:unbind); the boxes
        themselves stay."""
        owner, name = box
        parts = path.strip("/").split("/")
        if not user or owner != user or name != INBOX or len(parts) != 3:
            return httputils.NOT_ALLOWED
        storage = self._storage
        assert isinstance(storage, Storage)
        with storage.acquire_lock("w", user):
            inbox = next(iter(storage.discover("/%s/%s/" % (owner, INBOX))), None)
            if not isinstance(inbox, Collection) or inbox._get(parts[2]) is None:
                return httputils.NOT_FOUND
            remove_message(inbox, parts[2])
        return client.NO_CONTENT, {}, None, None

    def do_PROPPATCH(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                     user: str, user_groups: set, request_info: dict) -> types.WSGIResponse:
        storage = self._storage
        box = box_of(path)
        if box is not None:
            if box[1] == INBOX and isinstance(storage, Storage) and user == box[0]:
                return self._inbox_proppatch(environ, path, user)
            return httputils.NOT_ALLOWED
        raw = self._body(environ)
        if not isinstance(raw, bytes):
            return raw
        body = calendar_transp_as_text(raw)
        environ["wsgi.input"] = io.BytesIO(body)  # type: ignore[index]  # WSGI dict
        environ["CONTENT_LENGTH"] = str(len(body))  # type: ignore[index]
        return super().do_PROPPATCH(environ, base_prefix, path, user, user_groups,
                                    request_info)

    def _inbox_proppatch(self, environ: types.WSGIEnviron, path: str, user: str
                         ) -> types.WSGIResponse:
        """RFC 7953 §7.2.4: the owner sets or removes ``calendar-availability`` on the
        inbox; nothing else of the inbox is writable."""
        from radicale_tracks.core.availability import AvailabilityError
        from radicale_tracks.plugin.availability import check_availability, set_availability

        raw = self._body(environ)
        if not isinstance(raw, bytes):
            return raw
        root = self._parse(raw, environ) if raw else None
        if root is None:
            return httputils.BAD_REQUEST
        changes = xmlutils.props_from_request(root)
        wanted = xmlutils.make_human_tag(AVAILABILITY)
        if set(changes) != {wanted}:
            return _plain(client.FORBIDDEN, "only calendar-availability can be changed "
                          "on the inbox\n")
        storage = self._storage
        assert isinstance(storage, Storage)
        text = changes[wanted]
        try:
            if text:   # before the lock: bounded, but nobody waits for a refusal
                check_availability(storage, text)
            with storage.acquire_lock("w", user):
                set_availability(storage, user, text if text else None, checked=True)
        except AvailabilityError as e:
            logger.info("calendar-availability of %r refused: %s", user, e)
            return _precondition(VALID_CALENDAR_DATA, str(e))
        multistatus = ET.Element(MULTISTATUS)
        response = ET.SubElement(multistatus, xmlutils.make_clark("D:response"))
        ET.SubElement(response, xmlutils.make_clark("D:href")).text = path
        propstat = ET.SubElement(response, xmlutils.make_clark("D:propstat"))
        ET.SubElement(ET.SubElement(propstat, xmlutils.make_clark("D:prop")), AVAILABILITY)
        ET.SubElement(propstat, xmlutils.make_clark("D:status")).text = (
            xmlutils.make_response(client.OK))
        return (client.MULTI_STATUS, {"Content-Type": "text/xml; charset=utf-8"},
                ET.tostring(multistatus, encoding="utf-8", xml_declaration=True), None)

    def do_MOVE(self, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
                user_groups: set, request_info: dict) -> types.WSGIResponse:
        destination = environ.get("HTTP_DESTINATION", "")
        if box_of(path) is not None or "/%s/" % INBOX in destination or (
                "/%s/" % OUTBOX in destination):
            return httputils.NOT_ALLOWED
        return super().do_MOVE(environ, base_prefix, path, user, user_groups, request_info)

    # -- objects --------------------------------------------------------------------------

    def do_GET(self, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
               user_groups: set, request_info: dict) -> types.WSGIResponse:
        status, headers, answer, xml_request = super().do_GET(
            environ, base_prefix, path, user, user_groups, request_info)
        if status == client.OK and isinstance(headers, dict):
            tag = self._schedule_tag(path, user)
            if tag:
                headers = dict(headers, **{"Schedule-Tag": tag})
        return status, headers, answer, xml_request

    def do_PUT(self, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
               user_groups: set, request_info: dict) -> types.WSGIResponse:
        """Radicale's PUT, with Schedule-Tag and If-Schedule-Tag-Match (RFC 6638 §3.2.10);
        no ETag when the server changed what was stored (RFC 4791 §5.3.4: a client given
        an ETag assumes its own copy is what the server holds)."""
        storage = self._storage
        if not isinstance(storage, Storage):
            return super().do_PUT(environ, base_prefix, path, user, user_groups,
                                  request_info)
        if box_of(path) is not None:
            return httputils.NOT_ALLOWED
        if not self._may_write(user, user_groups, path):
            return httputils.NOT_ALLOWED   # before the body is read, as Radicale's PUT
        too_many = self._attendee_limit(environ, path)
        if too_many is not None:
            return too_many
        refused = self._schedule_tag_precondition(environ, path)
        try:
            # what this request tells the storage (the checks of the client's write, a
            # held zone refusal) is its WriteRequest: it ends with the request
            if refused is not None:
                return refused
            resolved = self._repair_body(environ, path, user, user_groups)
            if not isinstance(resolved, bool):
                return resolved
            status, headers, answer, xml_request = super().do_PUT(
                environ, base_prefix, path, user, user_groups, request_info)
        except WriteRefused as e:
            return _refused_write("PUT", path, e)
        request = current_request()
        unknown_zones = request.timezones_refused
        if unknown_zones is not None and status == client.BAD_REQUEST:
            logger.info("PUT of %r refused: %s", path, unknown_zones)
            return _precondition(VALID_CALENDAR_DATA, str(unknown_zones))
        rewritten = request.rewritten or resolved
        tag = request.schedule_tag
        if isinstance(headers, dict) and status in (client.CREATED, client.NO_CONTENT):
            if rewritten:
                headers = {k: v for k, v in headers.items() if k.lower() != "etag"}
            if tag:
                headers = dict(headers, **{"Schedule-Tag": tag})
        return status, headers, answer, xml_request

    def _may_write(self, user: str, user_groups: set, path: str) -> bool:
        """Radicale's own write check of a PUT (``Access(...).check("w")``), made
        before anything of ours reads the body: our refusals (the attendee limit, an
        unbounded zone) name a CalDAV precondition and are for writers allowed there;
        anyone else gets Radicale's plain 403, their body unread. A shared collection
        is checked as Radicale's PUT checks it: as its owner's, with the share's
        permissions."""
        if getattr(self._sharing, "_enabled", False):
            share = self._sharing.sharing_collection_resolver(path, user, user_groups)
            if share and path != share["PathMapped"]:
                return Access(self._rights, share["Owner"], user_groups,
                              share["PathMapped"], share["Permissions"]).check("w")
        return Access(self._rights, user, user_groups, path).check("w")

    def _attendee_limit(self, environ: types.WSGIEnviron, path: str
                        ) -> types.WSGIResponse | None:
        """403 ``max-attendees-per-instance`` before any lock (``put_limits.py``)."""
        raw = self._rewound_body(environ)
        if not isinstance(raw, bytes):
            return raw
        limit = cast(Storage, self._storage).settings.max_attendees_per_instance
        return attendee_limit_refusal(raw, limit, path)

    def _rewound_body(self, environ: types.WSGIEnviron) -> bytes | types.WSGIResponse:
        """The request body, put back for whoever reads it next (Radicale)."""
        raw = self._body(environ)
        if isinstance(raw, bytes):
            environ["wsgi.input"] = io.BytesIO(raw)  # type: ignore[index]  # WSGI dict
        return raw

    def _repair_body(self, environ: types.WSGIEnviron, path: str, user: str,
                     user_groups: set) -> bool | types.WSGIResponse:
        """Make the request body storable before Radicale reads it (hostile zones
        replaced, TZIDs without a VTIMEZONE resolved, PERIOD RDATEs as date-times:
        ``client_puts.py``): True when the body changed; an unknown zone is held as the
        storage's refusal of the client's write. A zone whose rules cannot be bounded
        or replaced is answered here, since Radicale would expand it while reading the
        body: 403 ``valid-calendar-data`` (anyone not allowed to write there was answered
        Radicale's 403 before: :meth:`_may_write`)."""
        storage = self._storage
        assert isinstance(storage, Storage)
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
            return _precondition(VALID_CALENDAR_DATA, str(e))
        except UnknownTimezones as e:
            current_request().timezone_refusal = e
            return False
        return changed

    def _schedule_tag(self, path: str, user: str) -> str | None:
        storage = self._storage
        parts = path.strip("/").split("/")
        if not isinstance(storage, Storage) or len(parts) != 3 or box_of(path):
            return None
        try:
            with storage.acquire_lock("r", user):
                return storage.schedule_tag_of("%s/%s" % (parts[0], parts[1]), parts[2])
        except Exception:
            logger.exception("Schedule-Tag of %r unknown", path)
            return None

    def _schedule_tag_precondition(self, environ: types.WSGIEnviron, path: str
                                   ) -> types.WSGIResponse | None:
        """The checks of this PUT's or DELETE's write handed to the storage, which makes
        them under the write lock (a tag compared before it would let two writers with
        one tag both pass): If-Schedule-Tag-Match — 412 unless it names the object's
        current tag, a match merges the server's inconsequential changes — and an
        attendee naming another ORGANIZER (403). Only an object can match: 412 at once
        for anything else."""
        wanted = environ.get("HTTP_IF_SCHEDULE_TAG_MATCH")
        storage = self._storage
        if not isinstance(storage, Storage):
            return None
        if wanted is not None and (len(path.strip("/").split("/")) != 3 or box_of(path)):
            logger.info("If-Schedule-Tag-Match %s failed on %r: no scheduling object",
                        wanted, path)
            return httputils.PRECONDITION_FAILED
        current_request().checks = ClientChecks(
            schedule_tag=wanted.strip() if wanted is not None else None)
        return None

    def do_REPORT(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                  user: str, user_groups: set, request_info: dict) -> types.WSGIResponse:
        raw = self._body(environ)
        if not isinstance(raw, bytes):
            return raw
        answer = self._free_busy_from_index(raw, environ, path, user, user_groups)
        if answer is not None:
            return answer
        environ["wsgi.input"] = io.BytesIO(raw)  # type: ignore[index]  # WSGI dict
        if b"schedule-tag" in raw and isinstance(self._storage, Storage):
            root = self._parse(raw, environ)
            self._dav_request.current = DavRequest(base_prefix, user, requested_props(root))
        try:
            return super().do_REPORT(environ, base_prefix, path, user, user_groups,
                                     request_info)
        finally:
            self._dav_request.current = None

    def _body(self, environ: types.WSGIEnviron) -> bytes | types.WSGIResponse:
        """The request body, or the answer to a body that could not be read."""
        try:
            return httputils.read_raw_request_body(self.configuration, environ)
        except RuntimeError:
            return httputils.BAD_REQUEST
        except TimeoutError:
            return httputils.REQUEST_TIMEOUT

    def _parse(self, raw: bytes, environ: types.WSGIEnviron) -> ET.Element | None:
        try:
            root: Any = DefusedET.fromstring(
                httputils.decode_request(self.configuration, environ, raw))
        except Exception:
            return None
        return root if isinstance(root, ET.Element) else None

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


def calendar_transp_as_text(raw: bytes) -> bytes:
    """A PROPPATCH body with ``schedule-calendar-transp``'s child element turned into
    text, which is what Radicale stores of a dead property (RFC 6638 §9.1 values
    ``opaque`` / ``transparent``); other bodies unchanged."""
    if b"schedule-calendar-transp" not in raw:
        return raw
    try:
        root = DefusedET.fromstring(raw)
    except Exception:
        return raw
    for prop in root.iter(CALENDAR_TRANSP):
        kind = next((child.tag.rpartition("}")[2] for child in prop), "")
        for child in list(prop):
            prop.remove(child)
        prop.text = kind if kind in ("opaque", "transparent") else (prop.text or "")
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _refused_write(method: str, path: str, refusal: WriteRefused) -> types.WSGIResponse:
    """The answer to a client's write the storage refused under its write lock: each
    refusal has one status and precondition, whichever method met it."""
    logger.info("%s of %r refused: %s", method, path, refusal)
    if isinstance(refusal, ScheduleTagMismatch):
        return httputils.PRECONDITION_FAILED
    if isinstance(refusal, AttendeeChangeRefused):
        return _precondition("C:allowed-attendee-scheduling-object-change", str(refusal))
    if isinstance(refusal, ResourceTooLargeRefused):
        return _precondition("C:max-resource-size", str(refusal))
    return httputils.FORBIDDEN


def _precondition(element: str, reason: str) -> types.WSGIResponse:
    """403 with a precondition element (RFC 4791 §1.3, e.g. §5.3.2.1's
    ``CALDAV:valid-calendar-data`` and ``CALDAV:max-resource-size``, RFC 6638
    §3.2.2.1's ``allowed-attendee-scheduling-object-change``), as Apple CalendarServer
    answers, and a sentence saying what is wrong."""
    error = xmlutils.webdav_error(element)
    ET.SubElement(error, xmlutils.make_clark("D:responsedescription")).text = reason
    return (client.FORBIDDEN, {"Content-Type": "text/xml; charset=utf-8"},
            ET.tostring(error, encoding="utf-8", xml_declaration=True), None)


def _with_auto_schedule(headers: Any) -> Any:
    """The DAV header with RFC 6638's ``calendar-auto-schedule`` (§2)."""
    if isinstance(headers, dict) and "DAV" in headers and AUTO_SCHEDULE not in headers["DAV"]:
        return dict(headers, DAV="%s, %s" % (headers["DAV"], AUTO_SCHEDULE))
    return headers


def _moved_api(base_prefix: str, path: str) -> types.WSGIResponse:
    """``POST /.tracks/api/slots`` moved to ``/.web/api/slots`` (docs/web-api.yaml), which
    takes the same question: 308 keeps the method and the body, so a client that follows
    redirects keeps working for this release. Anything else under the prefix is 404."""
    if path.rstrip("/") != API_PREFIX + "slots":
        return _json(client.NOT_FOUND, {"error": "no such API: %s" % path})
    location = base_prefix + SLOTS_API
    return _json(client.PERMANENT_REDIRECT, {"moved_to": location},
                 [("Location", location)])


def _wsgi_json(status: int, body: Any) -> Any:
    """A JSON answer in the form ``_handle_request`` returns (before Radicale's routing)."""
    data = json.dumps(body, indent=1).encode("utf-8")
    return ("%d %s" % (status, client.responses.get(status, "")),
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
            [data])


def _json(status: int, body: Any, headers: list[tuple[str, str]] | None = None
          ) -> types.WSGIResponse:
    data = json.dumps(body, indent=1).encode("utf-8")
    return status, dict([("Content-Type", "application/json"), *(headers or [])]), data, None


def _plain(status: int, text: str, headers: list[tuple[str, str]] | None = None) -> Any:
    body = text.encode("utf-8")
    return ("%d %s" % (status, client.responses.get(status, "")),
            [("Content-Type", "text/plain; charset=utf-8"),
             ("Content-Length", str(len(body))), *(headers or [])], [body])
