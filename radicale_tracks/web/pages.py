"""The server-rendered pages: the booking wizard, Meetings, My tracks and a track.

The wizard keeps its state in the form itself (hidden fields carry earlier steps), so
it needs no session, works without JavaScript, survives a reload and the browser's
back button, and each step is one POST the tests can drive. Each step validates with
the same readers as the JSON API (``core/customer_booking.py``), and a refusal is shown
next to the field it names.
"""

from __future__ import annotations

import datetime
import zoneinfo
from functools import lru_cache
from http import client
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from radicale import types

from radicale_tracks.core.customer_booking import (
    MEETING_TYPES,
    BookingError,
    read_booking,
    read_customer,
    read_details,
    zone_name,
)
from radicale_tracks.core.slots import SlotQueryError
from radicale_tracks.web import hours
from radicale_tracks.web.services import NotAllowed, SlotTaken
from radicale_tracks.web.week_grid import week_grid, week_start

if TYPE_CHECKING:
    from radicale_tracks.web.request import Request

#: the wizard's fields, by the step that asks for them
STEP_FIELDS: dict[int, tuple[str, ...]] = {
    1: ("customer_name", "customer_email"),
    2: ("subject", "duration", "members", "rooms", "pools", "description", "conference",
        "meeting_type", "location", "track"),
    3: ("zone", "day", "show_conflicts", "slot", "shown_day"),
    4: ("add_to_event", "send_confirmation", "customer_zone", "holder",
        "customer_sees_attendees"),
}
LIST_FIELDS = ("members", "rooms", "pools")
FLAG_FIELDS = ("add_to_event", "send_confirmation", "customer_sees_attendees")
#: which step shows an error about a field the booking reader names
FIELD_STEP = {"customer.name": 1, "customer.email": 1, "customer": 1, "subject": 2,
              "duration": 2, "members": 2, "rooms": 2, "pools": 2, "description": 2,
              "conference": 2, "meeting_type": 2, "location": 2, "track": 2,
              "zone": 3, "start": 3, "slots": 3, "day": 3}
KIND_GROUPS = {
    "created": ("booked", "created", "added"),
    "changed": ("updated", "rescheduled", "reply", "counter", "refresh", "shared",
                "feed-revoked"),
    "cancelled": ("cancelled", "instance-cancelled"),
    "problems": ("refused", "failed", "stale", "ignored", "member-removed"),
}
#: what each kind of activity line is called on the Meetings page
KIND_WORDS = {
    "booked": "Booked", "created": "New track", "added": "Added to a track",
    "updated": "Changed", "rescheduled": "Moved", "reply": "Answer", "counter": "Change proposed",
    "refresh": "Asked for the meeting", "shared": "Shared", "feed-revoked": "Link revoked",
    "cancelled": "Cancelled", "instance-cancelled": "One occurrence cancelled",
    "refused": "Refused", "failed": "Failed", "stale": "Older version ignored",
    "ignored": "Ignored", "member-removed": "Member removed",
}


def _kind_words(kind: str) -> str:
    return KIND_WORDS.get(kind, kind.replace("-", " ").capitalize())


@lru_cache(maxsize=1)
def _templates() -> Environment:
    environment = Environment(loader=PackageLoader("radicale_tracks.web", "templates"),
                              autoescape=select_autoescape(default=True),
                              undefined=StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True)
    environment.filters["local"] = _local
    environment.filters["kind_words"] = _kind_words
    environment.filters["state_words"] = _state_words
    environment.filters["actor_words"] = _actor_words
    return environment


#: a booking's state, as Meetings shows it
STATE_WORDS = {"confirmed": "Confirmed", "rescheduled": "Rescheduled",
               "cancelled": "Cancelled", "awaiting-room": "Awaiting a room"}


def _state_words(state: str) -> str:
    return STATE_WORDS.get(state, state.capitalize())


def _actor_words(actor: str, row: Any) -> str:
    """Who changed a booking last: the customer, the agent, or the holder's calendar."""
    return {"customer": "the customer", "agent": "the team (on the web)",
            "organizer": "%s's calendar" % row.holder}.get(actor, actor)


@lru_cache(maxsize=1)
def zone_names() -> tuple[str, ...]:
    return tuple(sorted(z for z in zoneinfo.available_timezones()
                        if "/" in z and not z.startswith(("posix/", "right/", "Etc/",
                                                          "SystemV/", "US/")))) + ("UTC",)


def render(request: Request, name: str, status: int = client.OK,
           **context: Any) -> types.WSGIResponse:
    context.setdefault("nav", "")
    body = _templates().get_template(name).render(
        user=request.user, base=request.url(""), csrf=request.csrf_token(),
        radicale_ui=request.url("index.html"), **context)
    return status, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
                    "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
                    "Content-Security-Policy": (
                        "default-src 'self'; style-src 'self'; script-src 'self'; "
                        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
                    }, body.encode("utf-8"), None


def render_public(request: Request, name: str, status: int = client.OK,
                  **context: Any) -> types.WSGIResponse:
    """A page for someone without an account here (a customer's link): no navigation,
    no login, not kept by the browser or shown to other sites."""
    context.setdefault("csrf", "")
    body = _templates().get_template(name).render(base=request.url(""), **context)
    return status, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
                    "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                    "X-Robots-Tag": "noindex",
                    "Content-Security-Policy": (
                        "default-src 'self'; style-src 'self'; script-src 'self'; "
                        "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
                    }, body.encode("utf-8"), None


def redirect(request: Request, path: str) -> types.WSGIResponse:
    return client.SEE_OTHER, {"Location": request.url(path)}, None, None


def unauthorized(request: Request) -> types.WSGIResponse:
    body = _templates().get_template("login.html").render(base=request.url(""))
    return client.UNAUTHORIZED, {
        "Content-Type": "text/html; charset=utf-8",
        "WWW-Authenticate": 'Basic realm="Radicale", charset="UTF-8"'}, body.encode(), None


def not_attached(request: Request) -> types.WSGIResponse:
    body = _templates().get_template("not_attached.html").render(
        base=request.url(""), radicale_ui=request.url("index.html"))
    return client.SERVICE_UNAVAILABLE, {"Content-Type": "text/html; charset=utf-8"}, \
        body.encode(), None


def checked_form(request: Request) -> dict[str, list[str]] | types.WSGIResponse:
    """A POST's form once its token and origin hold (else the refusal page); {} for
    other methods."""
    if request.method != "POST":
        return {}
    form = request.form()
    if not request.same_origin() or not request.plugin.csrf_ok(
            request.user, _one(form, "csrf")):
        return render(request, "error.html", client.FORBIDDEN, title="Refused",
                      message="This form is out of date or came from another site. "
                              "Go back, reload the page and send it again.")
    return form


def not_here(request: Request, e: NotAllowed) -> types.WSGIResponse:
    return render(request, "error.html", client.NOT_FOUND if "no such" in str(e)
                  else client.FORBIDDEN, title="Not here", message=str(e))


def handle(request: Request) -> types.WSGIResponse:
    path = request.path.rstrip("/")
    form = checked_form(request)
    if not isinstance(form, dict):
        return form
    try:
        if path in ("/.web", "/.web/meetings"):
            return meetings_page(request) if request.method == "GET" else _not_allowed(
                request)
        if path == "/.web/book":
            return book_page(request, form)
        if path == "/.web/tracks":
            return render(request, "tracks.html", title="My tracks", nav="tracks",
                          tracks=request.services.my_tracks(request.user),
                          zone=request.services.zone_of(request.user))
        if path.startswith("/.web/tracks/"):
            rest = path[len("/.web/tracks/"):]
            slug, _, action = rest.partition("/")
            if action == "revoke" and request.method == "POST":
                request.services.revoke_feed(request.user, slug)
                return redirect(request, "tracks/%s?revoked=1" % slug)
            if not action and request.method == "GET":
                return track_page(request, slug)
        if path == "/.web/hours":
            outcome = hours.page(request, form)
            if outcome.redirect:
                return redirect(request, outcome.redirect)
            return render(request, "hours.html", outcome.status, zones=zone_names(),
                          **outcome.context)
        if path == "/.web/logout":
            return render(request, "logout.html", title="Logged out", nav="")
    except NotAllowed as e:
        return not_here(request, e)
    return render(request, "error.html", client.NOT_FOUND, title="Not found",
                  message="There is no page %s." % request.path)


def _not_allowed(request: Request) -> types.WSGIResponse:
    return render(request, "error.html", client.METHOD_NOT_ALLOWED, title="Not allowed",
                  message="This page is only read.")


# -- Meetings -----------------------------------------------------------------------------

def meetings_page(request: Request) -> types.WSGIResponse:
    query = request.query
    group = (query.get("kind") or [""])[0]
    kinds = KIND_GROUPS.get(group, ())
    text = (query.get("q") or [""])[0][:200]
    track = (query.get("track") or [""])[0] or None
    try:
        before = int((query.get("before") or [""])[0] or 0) or None
    except ValueError:
        before = None
    services = request.services
    limit = 50
    rows = services.meetings(request.user, kinds=kinds, text=text, track=track,
                             before=before, limit=limit)
    older = None
    if len(rows) == limit:
        older = "meetings?" + urlencode(
            {k: v for k, v in (("kind", group), ("q", text), ("track", track or ""),
                               ("before", rows[-1]["id"])) if v})
    when = "past" if (query.get("when") or [""])[0] == "past" else "upcoming"
    listed = services.meeting_list(request.user, upcoming=when == "upcoming", text=text,
                                   track=track, limit=100)
    return render(request, "meetings.html", title="Meetings", nav="meetings", rows=rows,
                  group=group, groups=tuple(KIND_GROUPS), text=text, track=track or "",
                  tracks=services.my_tracks(request.user), older=older,
                  zone=services.zone_of(request.user), meetings=listed, when=when,
                  when_link="meetings?" + urlencode(
                      {k: v for k, v in (("kind", group), ("q", text),
                                         ("track", track or "")) if v}))


# -- a track -------------------------------------------------------------------------------

def track_page(request: Request, slug: str) -> types.WSGIResponse:
    page = request.services.track_page(request.user, slug)
    return render(request, "track.html", title=page["title"], nav="tracks", track=page,
                  revoked=bool(request.query.get("revoked")),
                  zone=request.services.zone_of(request.user))


# -- the wizard ------------------------------------------------------------------------------

def book_page(request: Request, form: dict[str, list[str]]) -> types.WSGIResponse:
    services = request.services
    state = _state(form)
    if request.method == "GET":
        return _step(request, 1, state)
    step = _step_number(_one(form, "step"))
    _remember_zone(request, form, step)
    agent_zone = services.zone_of(request.user)
    # the week and day buttons of step 3 carry no action: they only show other times
    moved = bool(_one(form, "week") or _one(form, "show_day"))
    action = _one(form, "action") or ("refresh" if moved else "next")
    if action == "back":
        return _step(request, max(1, step - 1), state)
    if step == 1:
        try:
            read_customer({"name": state["customer_name"], "email": state["customer_email"]})
        except BookingError as e:
            return _step(request, 1, state, errors={_field(e.field): str(e)})
        return _step(request, 2, state)
    if step == 2:
        try:
            services.check_details(read_details(_details(state)))
        except BookingError as e:
            return _step(request, 2, state, errors={_field(e.field): str(e)})
        return _step(request, 3, state)
    if step == 3:
        week = _one(form, "week")
        if week:            # "Previous week" / "Next week"
            state["day"], state["shown_day"] = week, ""
        state["shown_day"] = _one(form, "show_day") or state["shown_day"]
        if action == "next":
            try:
                zone_name(state["zone"] or agent_zone, "zone")
            except BookingError as e:
                return _step(request, 3, state, errors={"zone": str(e)})
            if not state["slot"]:
                return _step(request, 3, state, errors={"slot": "Choose a time."})
            return _step(request, 4, state)
        return _step(request, 3, state)
    if step == 4 and action == "schedule":
        try:
            booking = read_booking(_booking(state), agent_zone)
            booked = services.book(request.user, request.groups, booking)
        except BookingError as e:
            return _step(request, FIELD_STEP.get(e.field, 4), state,
                         errors={_field(e.field): str(e)})
        except SlotTaken as e:
            # the week of the chosen time, asked again (the same fresh answer as
            # ``e.fresh``, laid out as the grid's Monday-to-Sunday week)
            chosen = _chosen(state)
            if chosen is not None:
                state["day"] = _local(chosen["start"], state["zone"] or agent_zone,
                                      "%Y-%m-%d")
            state["slot"] = state["shown_day"] = ""
            return _step(request, 3, state, errors={"slot": str(e)})
        return render(request, "book_done.html", title="Booked", nav="book",
                      booked=booked, state=state, zone=state["zone"],
                      details=read_details(_details(state)))
    return _step(request, step, state)


def _step(request: Request, step: int, state: dict[str, Any],
          errors: dict[str, str] | None = None) -> types.WSGIResponse:
    services = request.services
    if step >= 3:   # the zone is asked on step 3: until then it is the user's
        state["zone"] = state["zone"] or services.zone_of(request.user)
        state["customer_zone"] = state["customer_zone"] or state["zone"]
    context: dict[str, Any] = dict(
        title="Book for a customer", nav="book", step=step, state=state,
        errors=dict(errors or {}), hidden=_hidden(state, step),
        meeting_types=MEETING_TYPES, zones=zone_names(), grid=None, reason=None,
        chosen=None, ask_browser_zone=services.remembered_zone(request.user) is None)
    if step == 2:
        context["directory"] = services.directory()
        context["tracks"] = [t for t in services.my_tracks(request.user)
                             if t["status"] == "open"]
    if step == 3:
        context.update(_week(request, state, context["errors"]))
    if step == 4:
        context.update(_confirmation(request, state, context["errors"]))
    status = client.BAD_REQUEST if context["errors"] else client.OK
    return render(request, "book.html", status, **context)


def _remember_zone(request: Request, form: dict[str, list[str]], step: int) -> None:
    """Keep the agent's zone: the one picked on step 3 when it is not the zone the
    page offered anyway, else — nothing kept yet — the browser's (the page's script
    sends it; without the script nothing is sent and the calendars' zone stays)."""
    services = request.services
    picked = _one(form, "zone") if step == 3 else ""
    if picked:
        try:
            zone = zone_name(picked, "zone")
        except BookingError:
            return      # shown next to the picker by step 3
        if zone != services.zone_of(request.user):
            services.remember_zone(request.user, zone)
        return
    browser = _one(form, "browser_zone")
    if browser and services.remembered_zone(request.user) is None:
        try:
            services.remember_zone(request.user, zone_name(browser, "browser_zone"))
        except BookingError:
            pass        # a zone this server does not know: the calendars' zone stays


def _week(request: Request, state: dict[str, Any], errors: dict[str, str]
          ) -> dict[str, Any]:
    """Step 3: the week grid of the slots, or why there is none."""
    services = request.services
    try:
        zone = state["zone"] = zone_name(state["zone"], "zone")   # a Windows name → IANA
    except BookingError as e:
        errors["zone"] = str(e)
        return {}
    today = services.clock().astimezone(zoneinfo.ZoneInfo(zone)).date()
    try:
        asked = datetime.date.fromisoformat(state["day"]) if state["day"] else today
    except ValueError:
        errors["day"] = "%r is not a date such as 2026-11-23" % state["day"]
        return {}
    first = week_start(asked)
    state["day"] = first.isoformat()
    try:
        found = services.slots(request.user, read_details(_details(state)), zone, day=first,
                               show_conflicts=state["show_conflicts"])
    except (BookingError, SlotQueryError) as e:
        errors["slot"] = str(e)
        return {}
    try:
        shown = datetime.date.fromisoformat(state["shown_day"]) if state["shown_day"] \
            else None
    except ValueError:
        shown = None
    grid = week_grid(found, first, today, domain=services.storage.settings.domain,
                     shown=shown, chosen=state["slot"])
    state["shown_day"] = grid.days[grid.shown].date.isoformat()
    return {"grid": grid, "reason": found.result.reason}


def _confirmation(request: Request, state: dict[str, Any], errors: dict[str, str]
                  ) -> dict[str, Any]:
    """Step 4: who and what is booked — every person, the room each pool would give
    now (the booking chooses again under the write lock), the time in both zones."""
    services = request.services
    details = read_details(_details(state))
    chosen = _chosen(state)
    customer_zone = None
    try:
        customer_zone = zone_name(state["customer_zone"], "notifications.customer_zone")
    except BookingError as e:
        errors.setdefault("customer_zone", str(e))
    rooms = None
    if chosen is not None:
        try:
            rooms = services.slot_rooms(request.user, details, zone_name(state["zone"], "zone"),
                                        chosen["start"])
        except (BookingError, SlotQueryError) as e:
            errors.setdefault("slot", str(e))
    preview = None
    if chosen is not None and customer_zone is not None:
        try:
            preview = services.customer_preview(
                request.user, read_booking(_booking(state), state["zone"]),
                {room.address: room.name for room in rooms or () if room.address})
        except BookingError:
            preview = None   # the field at fault is named when scheduling
    return {
        "chosen": chosen, "details": details, "rooms": rooms, "preview": preview,
        "customer_zone": customer_zone if customer_zone != state["zone"] else None,
        "team": [(m, services.address_of(m)) for m in details.members],
        "holder": state["holder"] or (
            request.user if request.user in details.members else details.members[0])}


def _state(form: dict[str, list[str]]) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for fields in STEP_FIELDS.values():
        for name in fields:
            if name in LIST_FIELDS:
                state[name] = [v for v in form.get(name, []) if v]
            elif name in FLAG_FIELDS:
                values = form.get(name)
                state[name] = values[-1] == "on" if values else True
            elif name == "show_conflicts":
                state[name] = _one(form, name) == "on"
            else:
                state[name] = _one(form, name)
    state["duration"] = state["duration"] or "30"
    state["meeting_type"] = state["meeting_type"] or "video"
    return state


def _hidden(state: dict[str, Any], step: int) -> list[tuple[str, str]]:
    """Fields of the other steps, carried along."""
    hidden: list[tuple[str, str]] = []
    for number, fields in STEP_FIELDS.items():
        if number == step:
            continue
        for name in fields:
            value = state[name]
            if name in LIST_FIELDS:
                hidden.extend((name, v) for v in value)
            elif name in FLAG_FIELDS:
                hidden.append((name, "on" if value else "off"))
            elif name == "show_conflicts":
                if value:
                    hidden.append((name, "on"))
            elif value:
                hidden.append((name, str(value)))
    return hidden


def _details(state: dict[str, Any]) -> dict[str, Any]:
    return {name: state[name] for name in STEP_FIELDS[2] if name != "track"}


def _booking(state: dict[str, Any]) -> dict[str, Any]:
    start, conflicts = _slot_value(state["slot"])
    return {
        "customer": {"name": state["customer_name"], "email": state["customer_email"]},
        "details": _details(state), "start": start, "zone": state["zone"],
        "notifications": {name: state[name] for name in STEP_FIELDS[4]},
        "accepted_conflicts": conflicts, "track": state["track"] or None}


def _slot_value(value: str) -> tuple[str, list[str]]:
    """A slot radio's value: ``<start UTC>|<addresses busy then, comma-separated>``."""
    start, _, busy = (value or "").partition("|")
    return start, [a for a in busy.split(",") if a]


def _chosen(state: dict[str, Any]) -> dict[str, Any] | None:
    start, conflicts = _slot_value(state["slot"])
    if not start:
        return None
    try:
        moment = datetime.datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError:
        return None
    minutes = int(state["duration"] or 30) if str(state["duration"]).isdigit() else 30
    return {"start": int(moment.timestamp()), "end": int(moment.timestamp()) + minutes * 60,
            "conflicts": conflicts}


def _local(instant: int | None, zone: str, form: str = "%a %d %b %Y, %H:%M") -> str:
    if not instant:
        return ""
    return datetime.datetime.fromtimestamp(instant, zoneinfo.ZoneInfo(zone)).strftime(form)


def _one(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name)
    return values[-1].strip() if values else ""


def _step_number(value: str) -> int:
    return int(value) if value in ("1", "2", "3", "4") else 1


def _field(name: str) -> str:
    """The form field of a reader's field name (``customer.email`` → customer_email)."""
    return {"customer.name": "customer_name", "customer.email": "customer_email",
            "notifications.holder": "holder",
            "notifications.customer_zone": "customer_zone", "start": "slot",
            "slots": "slot"}.get(name, name.replace("notifications.", ""))
