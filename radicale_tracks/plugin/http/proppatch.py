"""PROPPATCH: ``schedule-calendar-transp`` stored as the text Radicale keeps of a dead
property (RFC 6638 §9.1); the inbox takes ``calendar-availability`` from its owner
(RFC 7953 §7.2.4) and nothing else; the outbox takes nothing."""

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
                return self._inbox_proppatch(storage, environ, path, user)
            return httputils.NOT_ALLOWED
        raw = self._body(environ)
        if not isinstance(raw, bytes):
            return raw
        body = calendar_transp_as_text(raw)
        put_back(environ, body)
        environ["CONTENT_LENGTH"] = str(len(body))  # type: ignore[index]  # WSGI dict
        return super().do_PROPPATCH(environ, base_prefix, path, user, user_groups,
                                    request_info)

    def _inbox_proppatch(self, storage: Storage, environ: types.WSGIEnviron, path: str,
                         user: str) -> types.WSGIResponse:
        """The owner sets or removes ``calendar-availability`` on the inbox."""
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
            return (client.FORBIDDEN, {"Content-Type": "text/plain"},
                    "only calendar-availability can be changed on the inbox\n", None)
        text = changes[wanted]
        try:
            if text:   # before the lock: bounded, but nobody waits for a refusal
                check_availability(storage, text)
            with storage.acquire_lock("w", user):
                set_availability(storage, user, text if text else None, checked=True)
        except AvailabilityError as e:
            logger.info("calendar-availability of %r refused: %s", user, e)
            return precondition(VALID_CALENDAR_DATA, str(e))
        multistatus = ET.Element(MULTISTATUS)
        response = ET.SubElement(multistatus, xmlutils.make_clark("D:response"))
        ET.SubElement(response, xmlutils.make_clark("D:href")).text = path
        propstat = ET.SubElement(response, xmlutils.make_clark("D:propstat"))
        ET.SubElement(ET.SubElement(propstat, xmlutils.make_clark("D:prop")), AVAILABILITY)
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
