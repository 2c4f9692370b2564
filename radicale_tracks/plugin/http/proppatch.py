"""PROPPATCH: ``schedule-calendar-transp`` stored as the text Radicale keeps of a dead
property (RFC 6638 §9.1); the inbox takes ``calendar-availability`` (RFC 7953 §7.2.4)
and ``schedule-default-calendar-URL`` (RFC 6638 §9.2) from its owner and nothing else;
the outbox takes nothing."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from http import client
from typing import Any

import defusedxml.ElementTree as DefusedET
from radicale import httputils, types, xmlutils

from radicale_tracks.plugin.http.answers import VALID_CALENDAR_DATA, precondition
from radicale_tracks.plugin.http.base import HttpBase, logger, put_back
from radicale_tracks.plugin.schedule_boxes import INBOX, box_of
from radicale_tracks.plugin.storage import Storage

AVAILABILITY = xmlutils.make_clark("C:calendar-availability")
DEFAULT_CALENDAR_URL = xmlutils.make_clark("C:schedule-default-calendar-URL")
VALID_DEFAULT_CALENDAR = "C:valid-schedule-default-calendar-URL"
CALENDAR_TRANSP = xmlutils.make_clark("C:schedule-calendar-transp")
MULTISTATUS = xmlutils.make_clark("D:multistatus")


class ProppatchPart(HttpBase):
    """PROPPATCH of calendars (transparency as text) and of the inbox (availability)."""

    def do_PROPPATCH(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                     user: str, user_groups: set[str], request_info: dict[str, Any]
                     ) -> types.WSGIResponse:
        storage = self._tracks
        box = box_of(path)
        if box is not None:
            if box[1] == INBOX and storage is not None and user == box[0]:
                return self._inbox_proppatch(storage, environ, base_prefix, path, user)
            return httputils.NOT_ALLOWED
        raw = self._body(environ)
        if not isinstance(raw, bytes):
            return raw
        body = calendar_transp_as_text(raw)
        put_back(environ, body)
        environ["CONTENT_LENGTH"] = str(len(body))  # type: ignore[index]  # WSGI dict
        return super().do_PROPPATCH(environ, base_prefix, path, user, user_groups,
                                    request_info)

    def _inbox_proppatch(self, storage: Storage, environ: types.WSGIEnviron,
                         base_prefix: str, path: str, user: str) -> types.WSGIResponse:
        """The owner sets or removes ``calendar-availability`` on the inbox, and chooses
        the calendar new meetings go to (``schedule-default-calendar-URL``, RFC 6638
        §9.2: one of their calendars that takes events; removed, the first by name)."""
        from radicale_tracks.core.availability import AvailabilityError
        from radicale_tracks.plugin.availability import check_availability, set_availability

        raw = self._body(environ)
        if not isinstance(raw, bytes):
            return raw
        root = self._parse(raw, environ) if raw else None
        if root is None:
            return httputils.BAD_REQUEST
        changes = xmlutils.props_from_request(root)
        availability = xmlutils.make_human_tag(AVAILABILITY)
        default = xmlutils.make_human_tag(DEFAULT_CALENDAR_URL)
        if not changes or not set(changes) <= {availability, default}:
            return (client.FORBIDDEN, {"Content-Type": "text/plain"},
                    "only calendar-availability and schedule-default-calendar-URL can be "
                    "changed on the inbox\n", None)
        calendars = storage.scheduling_calendars
        chosen: str | None = None
        if default in changes and changes[default] is not None:   # set (the last wins)
            chosen = _calendar_named(root, base_prefix, user)
            if chosen is None or chosen not in calendars.event_calendars(user):
                return precondition(VALID_DEFAULT_CALENDAR, (
                    "schedule-default-calendar-URL must name one of your calendars that "
                    "takes events"))
        text = changes.get(availability)
        try:
            if text:   # before the lock: bounded, but nobody waits for a refusal
                check_availability(storage, text)
            with storage.acquire_lock("w", user):
                if default in changes:
                    if chosen is not None and chosen not in calendars.event_calendars(
                            user):   # deleted meanwhile
                        return precondition(VALID_DEFAULT_CALENDAR,
                                            "that calendar is gone")
                    calendars.remember_default(user, chosen)
                if availability in changes:
                    set_availability(storage, user, text if text else None, checked=True)
        except AvailabilityError as e:
            logger.info("calendar-availability of %r refused: %s", user, e)
            return precondition(VALID_CALENDAR_DATA, str(e))
        multistatus = ET.Element(MULTISTATUS)
        response = ET.SubElement(multistatus, xmlutils.make_clark("D:response"))
        ET.SubElement(response, xmlutils.make_clark("D:href")).text = path
        propstat = ET.SubElement(response, xmlutils.make_clark("D:propstat"))
        changed = ET.SubElement(propstat, xmlutils.make_clark("D:prop"))
        for name in changes:
            ET.SubElement(changed, xmlutils.make_clark(name))
        ET.SubElement(propstat, xmlutils.make_clark("D:status")).text = (
            xmlutils.make_response(client.OK))
        return (client.MULTI_STATUS, {"Content-Type": "text/xml; charset=utf-8"},
                ET.tostring(multistatus, encoding="utf-8", xml_declaration=True), None)


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
    result: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return result


def _calendar_named(root: ET.Element, base_prefix: str, user: str) -> str | None:
    """The calendar path (``alice/work``) the request's schedule-default-calendar-URL
    names with its ``D:href`` (a path or a URL), None when it names none of the user's."""
    from urllib.parse import unquote, urlsplit

    for found in reversed(list(root.iter(DEFAULT_CALENDAR_URL))):   # the last one set
        href = found.find(xmlutils.make_clark("D:href"))
        text = (href.text or "").strip() if href is not None else ""
        if not text:
            return None
        target = unquote(urlsplit(text).path)
        if base_prefix and target.startswith(base_prefix.rstrip("/") + "/"):
            target = target[len(base_prefix.rstrip("/")):]
        parts = [part for part in target.split("/") if part]
        return "/".join(parts) if len(parts) == 2 and parts[0] == user else None
    return None
