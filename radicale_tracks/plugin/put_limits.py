"""Limits of a client's PUT that are checked before Radicale reads the body.

Radicale parses a PUT body (vobject) before it takes the write lock, and the storage then
schedules it under the lock: both grow with the attendees of the object, and scheduling
sends each attendee the whole list. An object with more ATTENDEE properties in one
instance than ``max_attendees_per_instance`` is refused here, from one scan of the body's
lines (``core/attendee_limit.py``), with RFC 4791 §5.3.2.1's precondition — before any
lock is taken or any other user waits. The storage checks again before scheduling
(``scheduling_writes.py``) for plain ``radicale`` with only the storage plugin.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from http import client

from radicale import types, xmlutils

from radicale_tracks.core.attendee_limit import most_attendees_per_instance, too_many_attendees

logger = logging.getLogger("radicale.tracks.application")

#: RFC 4791 §5.2.9 (property of calendar collections) and §5.3.2.1 (precondition)
MAX_ATTENDEES = "C:max-attendees-per-instance"


def attendee_limit_refusal(raw: bytes, limit: int, path: str) -> types.WSGIResponse | None:
    """403 ``CALDAV:max-attendees-per-instance`` with a sentence when an instance of the
    body has more than ``limit`` attendees; None to go on."""
    found = most_attendees_per_instance(raw)
    if found <= limit:
        return None
    reason = too_many_attendees(found, limit)
    logger.info("PUT of %r refused: %s", path, reason)
    error = xmlutils.webdav_error(MAX_ATTENDEES)
    ET.SubElement(error, xmlutils.make_clark("D:responsedescription")).text = reason
    return (client.FORBIDDEN, {"Content-Type": "text/xml; charset=utf-8"},
            ET.tostring(error, encoding="utf-8", xml_declaration=True), None)
