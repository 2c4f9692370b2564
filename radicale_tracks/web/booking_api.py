"""The JSON API of booked meetings (``/.web/api/bookings/<id>…`` and the meeting list
``/.web/api/meetings/upcoming|past``); described in docs/web-api.yaml.

The same services as the pages (``web/booking_changes.py``): a reschedule whose time
was taken meanwhile is 409 with fresh ``slots``, as a booking is.
"""

from __future__ import annotations

import datetime
import re
from http import client
from typing import TYPE_CHECKING, Any

from radicale import types

from radicale_tracks.core.customer_booking import BookingError, zone_name
from radicale_tracks.core.slot_report import utc_text
from radicale_tracks.web.answers import error, json_response, slot_json
from radicale_tracks.web.booking_changes import BookingChanges, BookingView, may_change
from radicale_tracks.web.services import SlotTaken

if TYPE_CHECKING:
    from radicale_tracks.web.request import Request

_BOOKING = re.compile(r"^/\.web/api/bookings/(\d{1,12})(/slots|/reschedule|/cancel|"
                      r"/link/revoke)?$")
_LIST = re.compile(r"^/\.web/api/meetings/(upcoming|past)$")


def handle(request: Request, data: dict[str, Any]) -> types.WSGIResponse | None:
    """The answer, or None when the path is none of these."""
    path = request.path.rstrip("/")
    listed = _LIST.match(path)
    if listed is not None:
        if request.method != "GET":
            return error(client.METHOD_NOT_ALLOWED, "method not allowed here")
        query = request.query
        found = request.services.meeting_list(
            request.user, upcoming=listed.group(1) == "upcoming",
            text=(query.get("q") or [""])[0][:200],
            track=(query.get("track") or [None])[0])
        return json_response(client.OK, {"meetings": [
            dict(m, start=utc_text(m["start"]), end=utc_text(m["end"]) if m["end"] else None)
            for m in found]})
    match = _BOOKING.match(path)
    if match is None:
        return None
    changes = BookingChanges(request.services)
    view = changes.for_user(request.user, request.groups, int(match.group(1)))
    action = match.group(2) or ""
    allowed = "GET" if action in ("", "/slots") else "POST"
    if request.method != allowed:
        return error(client.METHOD_NOT_ALLOWED, "method not allowed here")
    if allowed == "POST" or action == "/slots":
        may_change(view)
    if action == "":
        return json_response(client.OK, booking_json(view))
    if action == "/slots":
        query = request.query
        zone = zone_name((query.get("zone") or [""])[0] or view.row.agent_zone, "zone")
        day_text = (query.get("day") or [""])[0]
        try:
            day = datetime.date.fromisoformat(day_text) if day_text else None
        except ValueError:
            raise BookingError("day", "day is a date such as 2026-11-23") from None
        return json_response(client.OK, slot_json(changes.slots(
            view, zone, day, (query.get("show_conflicts") or [""])[0] in ("1", "true"))))
    note = data.get("note") or ""
    if not isinstance(note, str):
        raise BookingError("note", "note is text")
    if action == "/reschedule":
        from radicale_tracks.core.customer_booking import _instant

        accepted = data.get("accepted_conflicts") or []
        if not isinstance(accepted, list) or not all(isinstance(a, str) for a in accepted):
            raise BookingError("accepted_conflicts",
                               "accepted_conflicts is a list of addresses")
        try:
            view = changes.reschedule(view, _instant(data.get("start"), "start"),
                                      actor="agent", by=request.user, note=note,
                                      accepted_conflicts=frozenset(accepted))
        except SlotTaken as e:
            return error(client.CONFLICT, str(e), slots=slot_json(e.fresh))
        return json_response(client.OK, booking_json(view))
    if action == "/cancel":
        return json_response(client.OK, booking_json(changes.cancel(
            view, actor="agent", by=request.user, note=note)))
    changes.revoke_link(view)
    return json_response(client.OK, booking_json(changes.for_user(
        request.user, request.groups, view.row.id)))


def booking_json(view: BookingView) -> dict[str, Any]:
    row = view.row
    return {
        "id": row.id, "uid": row.uid, "subject": row.subject, "state": row.state,
        "changed_by": row.changed_by, "start": utc_text(row.start),
        "end": utc_text(row.end), "agent": row.agent, "holder": row.holder,
        "customer": {"name": row.customer_name, "email": row.customer_address,
                     "zone": row.customer_zone, "on_event": row.customer_on_event,
                     "mailed": row.customer_mailed,
                     "sees_attendees": row.customer_sees_attendees},
        "agent_zone": row.agent_zone, "team": view.team, "rooms": view.rooms,
        "where": view.facts.get("where", ""), "join_url": view.facts.get("join_url", ""),
        "can_change": view.can_change, "may_change": view.may_change,
        "scheduling_failed": view.scheduling_failed,
        "calendar": "/%s/" % row.calendar_path.strip("/"), "href": row.href}
