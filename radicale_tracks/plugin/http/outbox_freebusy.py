"""POST of a VFREEBUSY request to a user's outbox (RFC 6638 §5): busy time of the
attendees, answered from the SQL index.

One ``schedule-response`` entry per attendee: the busy time of a user of this server
(transparent and cancelled events and transparent calendars do not count, tentative
events are BUSY-TENTATIVE, time outside working hours BUSY-UNAVAILABLE),
3.7 for an address that is nobody here, 3.8 where ``freebusy_visibility`` does not let
the requester see it. Refusals of the request itself name the CalDAV precondition.
"""

from __future__ import annotations

import datetime
import logging
import xml.etree.ElementTree as ET
from http import client
from typing import TYPE_CHECKING

from radicale import xmlutils

if TYPE_CHECKING:
    from radicale_tracks.core.freebusy import Estimate
    from radicale_tracks.plugin.storage import Storage

logger = logging.getLogger("radicale.tracks.outbox")

SUCCESS = "2.0;Success"
INVALID_USER = "3.7;Invalid calendar user"
NO_AUTHORITY = "3.8;No authority"
NOT_SUPPORTED = "3.14;Unsupported capability"
FAILED = "5.1;Service unavailable"


def freebusy_post(storage: Storage, body: bytes, content_type: str, user: str,
                  max_occurrence: int, now: datetime.datetime) -> tuple[int, dict[str, str],
                                                                        bytes]:
    """(status, headers, body) of the answer to one outbox POST by ``user``."""
    from radicale_tracks.core.freebusy import (
        FreeBusyRequest,
        busy_periods,
        freebusy_reply,
        parse_freebusy_request,
    )
    from radicale_tracks.core.itip import ItipError
    from radicale_tracks.plugin.availability import people_busy

    if content_type.split(";")[0].strip().lower() != "text/calendar":
        return _error(client.UNSUPPORTED_MEDIA_TYPE, "C:supported-calendar-data",
                      "the outbox takes text/calendar")
    settings = storage.settings
    try:
        request: FreeBusyRequest = parse_freebusy_request(
            body, max_attendees=settings.scheduling_max_attendees,
            max_range=datetime.timedelta(days=settings.freebusy_max_days),
            zone_limits=settings.zone_limits())
    except ItipError as e:
        return _error(client.BAD_REQUEST, "C:valid-scheduling-message", str(e))
    if request.organizer not in storage.book.addresses_of(user):
        return _error(client.FORBIDDEN, "C:organizer-allowed",
                      "ORGANIZER %s is not one of your addresses" % request.organizer)
    scheduler = storage.scheduler
    recipients = [scheduler.classify(uri) for uri in request.attendee_uris]
    visible = [r.user for r in recipients if r.kind == "local" and r.user and (
        settings.freebusy_visibility != "self" or r.user == user)]
    estimated: dict[str, list[Estimate]] = {}
    try:   # everyone at once: one pass over the index for all their calendars
        busy = people_busy(storage, visible, request.start, request.end, max_occurrence,
                           working_hours=set(visible), estimates=estimated)
    except Exception:   # someone's calendar fails: ask one by one to tell whose
        busy = {}
    root = ET.Element(xmlutils.make_clark("C:schedule-response"))
    for address, uri, recipient in zip(request.attendees, request.attendee_uris,
                                       recipients, strict=True):
        status, data = INVALID_USER, None
        if recipient.kind == "local" and recipient.user:
            if recipient.user not in visible:
                status = NO_AUTHORITY
            else:
                try:
                    periods = busy.get(recipient.user)
                    if periods is None:
                        periods = people_busy(storage, [recipient.user], request.start,
                                              request.end, max_occurrence,
                                              working_hours={recipient.user},
                                              estimates=estimated)[recipient.user]
                except Exception:
                    logger.exception("Free-busy of %s unavailable", recipient.user)
                    status = FAILED
                else:
                    status = SUCCESS
                    data = freebusy_reply(request, uri, busy_periods(
                        [(_utc(s), _utc(e), kind) for s, e, kind in periods],
                        request.start, request.end), now,
                        "-//radicale-tracks//free-busy//EN", comments=[
                            "Estimated %s/%s: %s" % (
                                _utc(e.start).strftime("%Y%m%dT%H%M%SZ"),
                                _utc(e.end).strftime("%Y%m%dT%H%M%SZ"), e.describe())
                            for e in estimated.get(recipient.user, ())])
        root.append(_response(uri, status, data))
        logger.info("Free-busy of %s for %s: %s", address, user, status)
    body_out = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return client.OK, {"Content-Type": "text/xml; charset=utf-8"}, body_out


def _utc(timestamp: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC)


def _response(uri: str, status: str, data: str | None) -> ET.Element:
    response = ET.Element(xmlutils.make_clark("C:response"))
    recipient = ET.SubElement(response, xmlutils.make_clark("C:recipient"))
    ET.SubElement(recipient, xmlutils.make_clark("D:href")).text = uri
    ET.SubElement(response, xmlutils.make_clark("C:request-status")).text = status
    if data is not None:
        ET.SubElement(response, xmlutils.make_clark("C:calendar-data")).text = data
    return response


def _error(status: int, precondition: str, message: str) -> tuple[int, dict[str, str], bytes]:
    """A DAV:error body naming the precondition (RFC 4918 §16), with a readable reason."""
    root = xmlutils.webdav_error(precondition)
    description = ET.SubElement(root, xmlutils.make_clark("D:responsedescription"))
    description.text = message
    logger.info("Outbox POST refused (%s): %s", precondition, message)
    return status, {"Content-Type": "text/xml; charset=utf-8"}, ET.tostring(
        root, encoding="utf-8", xml_declaration=True)
