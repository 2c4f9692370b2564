"""The JSON API behind the pages (``/.web/api/…``; docs/web-api.yaml is its OpenAPI).

Every answer is JSON; errors are ``{"error": …}`` with ``field`` naming the input at
fault (400), and a booking whose time was taken meanwhile is 409 with fresh ``slots``.
"""

from __future__ import annotations

import datetime
import re
from http import client
from typing import TYPE_CHECKING, Any

from radicale import types

from radicale_tracks.core.customer_booking import (
    BookingError,
    read_booking,
    read_customer,
    read_details,
    zone_name,
)
from radicale_tracks.core.slot_report import utc_text
from radicale_tracks.core.slots import SlotQueryError
from radicale_tracks.web import hours
from radicale_tracks.web.answers import error, json_response, slot_json
from radicale_tracks.web.services import NotAllowed, SlotTaken

if TYPE_CHECKING:
    from radicale_tracks.web.request import Request

_TRACK = re.compile(r"^/\.web/api/tracks/([A-Za-z0-9_-]{1,64})(/feed/revoke)?$")
MEETING_KINDS = ("booked", "created", "added", "updated", "rescheduled", "cancelled",
                 "instance-cancelled", "reply", "refused", "failed", "shared",
                 "counter", "refresh", "stale", "ignored", "feed-revoked")


def handle(request: Request) -> types.WSGIResponse:
    path = request.path.rstrip("/")
    if request.method in ("POST", "PUT"):
        content_type = request.environ.get("CONTENT_TYPE", "").split(";")[0].strip()
        if content_type != "application/json":
            return error(client.UNSUPPORTED_MEDIA_TYPE, "send application/json")
        if not request.same_origin():
            return error(client.FORBIDDEN, "cross-site request refused")
        try:
            data = request.json()
        except ValueError as e:
            return error(client.BAD_REQUEST, "not JSON: %s" % e)
        if not isinstance(data, dict):
            return error(client.BAD_REQUEST, "a JSON object is expected")
    else:
        data = {}
    routes = {
        ("GET", "/.web/api/me"): me,
        ("GET", "/.web/api/preferences"): preferences,
        ("POST", "/.web/api/preferences"): set_preferences,
        ("GET", "/.web/api/directory"): directory,
        ("POST", "/.web/api/customer"): customer,
        ("POST", "/.web/api/slots"): slots,
        ("POST", "/.web/api/bookings"): bookings,
        ("GET", "/.web/api/meetings"): meetings,
        ("GET", "/.web/api/tracks"): tracks,
        ("GET", "/.web/api/working-hours"): working_hours,
        ("PUT", "/.web/api/working-hours"): working_hours,
    }
    handler = routes.get((request.method, path))
    match = None
    try:
        if handler is not None:
            return handler(request, data)
        from radicale_tracks.web import booking_api

        answer = booking_api.handle(request, data)
        if answer is not None:
            return answer
        match = _TRACK.match(path)
        if match and request.method == "GET" and not match.group(2):
            return json_response(client.OK, track_json(request.services.track_page(
                request.user, match.group(1))))
        if match and request.method == "POST" and match.group(2):
            request.services.revoke_feed(request.user, match.group(1))
            page = request.services.track_page(request.user, match.group(1))
            return json_response(client.OK, {"feed_url": page["feed_url"]})
    except BookingError as e:
        return error(client.BAD_REQUEST, str(e), field=e.field)
    except (SlotQueryError, ValueError) as e:
        return error(client.BAD_REQUEST, str(e))
    except NotAllowed as e:
        return error(client.NOT_FOUND if "no such" in str(e) else client.FORBIDDEN, str(e))
    if any(path == p for _, p in routes) or match:
        return error(client.METHOD_NOT_ALLOWED, "method not allowed here")
    return error(client.NOT_FOUND, "no such API: %s" % path)


def me(request: Request, data: dict[str, Any]) -> types.WSGIResponse:
    services = request.services
    return json_response(client.OK, {"user": request.user,
                                     "address": services.address_of(request.user),
                                     "zone": services.zone_of(request.user)})


#: what ``/.web/api/preferences`` keeps per user
PREFERENCE_FIELDS = ("zone",)


def preferences(request: Request, data: dict[str, Any]) -> types.WSGIResponse:
    """What the user chose to keep: ``zone`` null when they never chose one (the pages
    then offer the browser's zone, else the calendars' — ``/me`` answers the zone in use)."""
    return json_response(client.OK, {"zone": request.services.remembered_zone(request.user)})


def set_preferences(request: Request, data: dict[str, Any]) -> types.WSGIResponse:
    """``{"zone": "Asia/Tokyo"}`` keeps that zone (a Windows name is kept as its IANA
    name); ``{"zone": null}`` forgets it. Fields left out stay as they are."""
    unknown = sorted(set(data) - set(PREFERENCE_FIELDS))
    if unknown:
        raise BookingError(unknown[0], "unknown field(s) %s; known: %s" % (
            ", ".join(unknown), ", ".join(PREFERENCE_FIELDS)))
    services = request.services
    if "zone" in data:
        zone = data["zone"]
        services.remember_zone(request.user, None if zone is None else zone_name(zone, "zone"))
    return preferences(request, data)


def directory(request: Request, data: dict[str, Any]) -> types.WSGIResponse:
    found = request.services.directory()
    return json_response(client.OK, {
        "users": list(found.users),
        "rooms": [{"address": a, "name": n} for a, n in found.rooms],
        "pools": [{"name": n, "rooms": list(r)} for n, r in found.pools]})


def customer(request: Request, data: dict[str, Any]) -> types.WSGIResponse:
    found = read_customer(data)
    return json_response(client.OK, {"name": found.name, "email": found.address})


#: the wizard's form of the slot question; without ``details`` it is the agent's form
SLOTS_WIZARD_FIELDS = ("details", "zone", "day", "show_conflicts")


def slots(request: Request, data: dict[str, Any]) -> types.WSGIResponse:
    """The wizard's ``{"details": {…}, "zone": …, "day": "2026-11-23", "show_conflicts":
    true}``, or — without ``details`` — the agent's question of ``core/slot_request.py``
    (``{"attendees": ["bob@…"], "pools": […], "duration": 30, "week": "next", …}``), the
    one ``/.tracks/api/slots`` took before it redirected here: one slot API, both forms."""
    services = request.services
    if "details" not in data:
        return json_response(client.OK, slot_json(services.find(request.user, data)))
    unknown = sorted(set(data) - set(SLOTS_WIZARD_FIELDS))
    if unknown:
        raise BookingError(unknown[0], "unknown field(s) %s beside details; known: %s" % (
            ", ".join(unknown), ", ".join(SLOTS_WIZARD_FIELDS)))
    details = read_details(data.get("details") or {})
    services.check_details(details)
    zone = zone_name(data.get("zone") or services.zone_of(request.user), "zone")
    day = data.get("day")
    try:
        first = datetime.date.fromisoformat(day) if day else None
    except (TypeError, ValueError):
        raise BookingError("day", "day is a date such as 2026-11-23") from None
    found = services.slots(request.user, details, zone, day=first,
                           show_conflicts=bool(data.get("show_conflicts")))
    return json_response(client.OK, slot_json(found))


def bookings(request: Request, data: dict[str, Any]) -> types.WSGIResponse:
    services = request.services
    booking = read_booking(data, services.zone_of(request.user))
    try:
        booked = services.book(request.user, request.groups, booking)
    except SlotTaken as e:
        return error(client.CONFLICT, str(e), slots=slot_json(e.fresh))
    return json_response(client.CREATED, {
        "id": booked.booking_id, "uid": booked.uid, "holder": booked.holder,
        "calendar": "/%s/" % booked.calendar_path,
        "href": booked.href, "start": utc_text(booked.start), "end": utc_text(booked.end),
        "answers": booked.answers, "rooms": booked.rooms, "track": booked.track,
        "customer_on_event": booked.customer_on_event,
        "confirmation_sent": booked.confirmation_sent,
        "scheduling_failed": booked.scheduling_failed})


def meetings(request: Request, data: dict[str, Any]) -> types.WSGIResponse:
    query = request.query
    kinds = [k for value in query.get("kind", []) for k in value.split(",") if k]
    unknown = sorted(set(kinds) - set(MEETING_KINDS))
    if unknown:
        raise BookingError("kind", "unknown kind(s) %s; known: %s" % (
            ", ".join(unknown), ", ".join(MEETING_KINDS)))
    before = _number(query, "before", None)
    limit = min(max(_number(query, "limit", 50) or 50, 1), 200)
    found = request.services.meetings(
        request.user, kinds=kinds, text=(query.get("q") or [""])[0][:200],
        track=(query.get("track") or [None])[0], before=before, limit=limit)
    return json_response(client.OK, {
        "meetings": [dict(m, at=utc_text(m["at"])) for m in found],
        "next": found[-1]["id"] if len(found) == limit else None})


def tracks(request: Request, data: dict[str, Any]) -> types.WSGIResponse:
    found = request.services.my_tracks(request.user)
    return json_response(client.OK, {"tracks": [
        dict(t, next=utc_text(t["next"]) if t["next"] else None,
             updated_at=utc_text(t["updated_at"])) for t in found]})


def working_hours(request: Request, data: dict[str, Any]) -> types.WSGIResponse:
    """GET and PUT of the user's working hours (``web/hours.py``)."""
    return json_response(*hours.api_answer(request, data))


def track_json(page: dict[str, Any]) -> dict[str, Any]:
    def meeting(m: dict[str, Any]) -> dict[str, Any]:
        return dict(m, start=utc_text(m["start"]) if m["start"] else None)

    return dict(page, upcoming=[meeting(m) for m in page["upcoming"]],
                past=[meeting(m) for m in page["past"]])


def _number(query: dict[str, list[str]], name: str, default: int | None) -> int | None:
    values = query.get(name)
    if not values or not values[0]:
        return default
    try:
        return int(values[0])
    except ValueError:
        raise BookingError(name, "%s is a number" % name) from None
