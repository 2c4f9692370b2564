"""Answers several HTTP parts give alike: a CalDAV precondition, a refused write, JSON
and plain text — each written once, so a refusal reads the same whichever method met it.

Two forms: a part's ``do_*`` method returns Radicale's ``WSGIResponse`` (status number,
headers, body, XML request); ``Application._handle_request``, which answers before
Radicale's routing (a body too large, the track feeds), returns the finished
:data:`Intermediate` (status line, header list, body chunks).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from http import client
from typing import Any

from radicale import httputils, types, xmlutils

from radicale_tracks.errors import (
    AttendeeChangeRefused,
    ResourceTooLargeRefused,
    ScheduleTagMismatch,
    WriteRefused,
)
from radicale_tracks.plugin.http.base import logger

#: what ``_handle_request`` returns: status line, headers, body chunks
Intermediate = tuple[str, list[tuple[str, str]], Iterable[bytes]]

#: RFC 4791 §5.3.2.1: the body is not calendar data this server stores
VALID_CALENDAR_DATA = "C:valid-calendar-data"


def refused_write(method: str, path: str, refusal: WriteRefused) -> types.WSGIResponse:
    """The answer to a client's write the storage refused under its write lock: each
    refusal has one status and precondition, whichever method met it."""
    logger.info("%s of %r refused: %s", method, path, refusal)
    if isinstance(refusal, ScheduleTagMismatch):
        return httputils.PRECONDITION_FAILED
    if isinstance(refusal, AttendeeChangeRefused):
        return precondition("C:allowed-attendee-scheduling-object-change", str(refusal))
    if isinstance(refusal, ResourceTooLargeRefused):
        return precondition("C:max-resource-size", str(refusal))
    return httputils.FORBIDDEN


def precondition(element: str, reason: str) -> types.WSGIResponse:
    """403 with a precondition element (RFC 4791 §1.3, e.g. §5.3.2.1's
    ``CALDAV:valid-calendar-data`` and ``CALDAV:max-resource-size``, RFC 6638
    §3.2.2.1's ``allowed-attendee-scheduling-object-change``), as Apple CalendarServer
    answers, and a sentence saying what is wrong."""
    error = xmlutils.webdav_error(element)
    ET.SubElement(error, xmlutils.make_clark("D:responsedescription")).text = reason
    return (client.FORBIDDEN, {"Content-Type": "text/xml; charset=utf-8"},
            ET.tostring(error, encoding="utf-8", xml_declaration=True), None)


def json_answer(status: int, body: Any, headers: list[tuple[str, str]] | None = None
                ) -> types.WSGIResponse:
    """A JSON answer of a ``do_*`` method."""
    data = json.dumps(body, indent=1).encode("utf-8")
    return status, dict([("Content-Type", "application/json"), *(headers or [])]), data, None


def intermediate_json(status: int, body: Any) -> Intermediate:
    """A JSON answer in the form ``_handle_request`` returns (before Radicale's routing)."""
    data = json.dumps(body, indent=1).encode("utf-8")
    return ("%d %s" % (status, client.responses.get(status, "")),
            [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
            [data])


def intermediate_plain(status: int, text: str, headers: list[tuple[str, str]] | None = None
                       ) -> Intermediate:
    """A text answer in the form ``_handle_request`` returns."""
    body = text.encode("utf-8")
    return ("%d %s" % (status, client.responses.get(status, "")),
            [("Content-Type", "text/plain; charset=utf-8"),
             ("Content-Length", str(len(body))), *(headers or [])], [body])
