"""The pages of one booking: the team's (``/.web/bookings/<id>``, logged in) and the
customer's (``/.web/booking/<link>``, no account: the signed link is the credential).

Both show the meeting as it is now and offer the same two changes — another time from
the slots the team offers, or a cancellation with an optional message — through
``web/booking_changes.py``. The customer's page shows only what their mails show (never
who else is busy, nor the other people unless the agent allowed it) and its forms carry
a token tied to the booking, as the team's carry one tied to the user.
"""

from __future__ import annotations

import datetime
import re
from http import client
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from radicale import types

from radicale_tracks.bookings.links import LinkRefused
from radicale_tracks.core.customer_booking import BookingError, zone_name
from radicale_tracks.core.slots import SlotQueryError
from radicale_tracks.web.booking_changes import BookingChanges, BookingView, may_change
from radicale_tracks.web.pages import (
    _one,
    _slot_value,
    checked_form,
    not_here,
    redirect,
    render,
    render_public,
    zone_names,
)
from radicale_tracks.web.services import NotAllowed, SlotList, SlotTaken
from radicale_tracks.web.week_grid import WeekGrid, week_grid, week_start

if TYPE_CHECKING:
    from radicale_tracks.web.request import Request

#: what a customer reads when their change cannot be made for a reason of the team's
CANNOT_CHANGE = ("This meeting cannot be changed here. Reply to the e-mail about it and "
                 "%s will help.")
#: and when no times can be offered
NO_TIMES = "No times can be offered right now. Reply to the e-mail about the meeting."

_TEAM = re.compile(r"^/\.web/bookings/(\d{1,12})(?:/(reschedule|cancel|revoke))?$")
_CUSTOMER = re.compile(r"^/\.web/booking/([0-9a-f.]{1,120})$")


def is_customer_path(path: str) -> bool:
    return path.rstrip("/").startswith("/.web/booking/")


# -- the team's page ----------------------------------------------------------------------

def is_team_path(path: str) -> bool:
    return path.rstrip("/").startswith("/.web/bookings/")


def team_page(request: Request) -> types.WSGIResponse:
    """``/.web/bookings/<id>[/action]``, logged in."""
    match = _TEAM.match(request.path.rstrip("/"))
    form = checked_form(request)
    if not isinstance(form, dict):
        return form
    if match is None:
        return render(request, "error.html", client.NOT_FOUND, title="Not found",
                      message="There is no page %s." % request.path)
    changes = BookingChanges(request.services)
    try:
        view = changes.for_user(request.user, request.groups, int(match.group(1)))
        action = match.group(2)
        base = "bookings/%d" % view.row.id
        if request.method == "GET":
            if action:
                return redirect(request, base)
            return _team(request, changes, view, notice=_notice(request))
        may_change(view)
    except NotAllowed as e:
        return not_here(request, e)
    by = request.user
    if _one(form, "show_day"):      # a phone's day switch without a script
        return _team(request, changes, view, form=form)
    try:
        if action == "reschedule":
            start, conflicts = _slot_value(_one(form, "slot"))
            if not start:
                return _team(request, changes, view, errors={"slot": "Choose a time."},
                             form=form)
            done = changes.reschedule(view, _instant(start), actor="agent", by=by,
                                      note=_one(form, "note"),
                                      accepted_conflicts=frozenset(conflicts))
            return redirect(request, base + "?done=moved" + _unsent(done))
        if action == "cancel":
            done = changes.cancel(view, actor="agent", by=by, note=_one(form, "note"))
            return redirect(request, base + "?done=cancelled" + _unsent(done))
        if action == "revoke":
            changes.revoke_link(view)
            return redirect(request, base + "?done=revoked")
    except BookingError as e:
        return _team(request, changes, view, errors={_field(e.field): str(e)}, form=form)
    except SlotTaken as e:
        return _team(request, changes, view, errors={"slot": str(e)}, fresh=e.fresh,
                     form=form)
    return redirect(request, base)


def _team(request: Request, changes: BookingChanges, view: BookingView, *,
          errors: dict[str, str] | None = None, notice: str = "",
          fresh: SlotList | None = None, form: dict[str, list[str]] | None = None
          ) -> types.WSGIResponse:
    form = form or {}
    query = request.query
    zone = view.row.agent_zone
    show_conflicts = (query.get("show_conflicts") or [""])[0] == "on"
    errors = dict(errors or {})
    grid = _grid(request, changes, view, zone, show_conflicts, fresh, errors, form)
    return render(request, "booking.html", client.BAD_REQUEST if errors else client.OK,
                  title=view.facts["what"], nav="meetings", view=view, row=view.row,
                  facts=view.facts, zone=zone, grid=grid, errors=errors, notice=notice,
                  note=_one(form, "note"), chosen=_one(form, "slot"),
                  show_conflicts=show_conflicts, query=_query(
                      show_conflicts="on" if show_conflicts else ""))


# -- the customer's page ------------------------------------------------------------------

def customer_page(request: Request) -> types.WSGIResponse:
    """``/.web/booking/<link>``: no login; the link decides."""
    match = _CUSTOMER.match(request.path.rstrip("/"))
    if match is None:
        return _refused(request, "This link is not complete. Open the link from your most "
                                 "recent e-mail about the meeting.")
    services = request.plugin.services
    if services is None:
        return _refused(request, "This page is not available right now. Try again later.",
                        client.SERVICE_UNAVAILABLE)
    token = match.group(1)
    changes = BookingChanges(services)
    try:
        view = changes.for_link(token)
    except LinkRefused as e:
        return _refused(request, str(e))
    form: dict[str, list[str]] = {}
    if request.method == "POST":
        form = request.form()
        if not request.same_origin() or not request.plugin.csrf_ok(
                _form_owner(view), _one(form, "csrf")):
            return _refused(request, "This form is out of date. Open the link from your "
                                     "e-mail again.", client.FORBIDDEN)
        action = _one(form, "action")
        if _one(form, "show_day"):  # a phone's day switch without a script
            return _customer(request, changes, view, token, form=form)
        try:
            if action == "reschedule":
                start, _ = _slot_value(_one(form, "slot"))
                if not start:
                    return _customer(request, changes, view, token,
                                     errors={"slot": "Choose a time."}, form=form)
                done = changes.reschedule(view, _instant(start), actor="customer",
                                          by=view.row.customer_address,
                                          note=_one(form, "note"))
                return redirect(request, "booking/%s?done=moved%s" % (token, _unsent(done)))
            if action == "cancel":
                done = changes.cancel(view, actor="customer", by=view.row.customer_address,
                                      note=_one(form, "note"))
                return redirect(request, "booking/%s?done=cancelled%s" % (token,
                                                                          _unsent(done)))
        except BookingError as e:
            # the team's reasons ("repeats", "no longer in alice's calendar") are not
            # the customer's to read: their own message's limits are
            message = str(e) if e.field == "note" else CANNOT_CHANGE % view.facts["host"]
            return _customer(request, changes, view, token,
                             errors={_field(e.field): message}, form=form)
        except SlotTaken:
            return _customer(request, changes, view, token, form=form, errors={
                "slot": "Someone took that time a moment ago. Please pick another one."})
    return _customer(request, changes, view, token, notice=_notice(request))


def _customer(request: Request, changes: BookingChanges, view: BookingView, token: str, *,
              errors: dict[str, str] | None = None, notice: str = "",
              form: dict[str, list[str]] | None = None) -> types.WSGIResponse:
    form = form or {}
    query = request.query
    zone = view.row.customer_zone
    asked = (query.get("zone") or [""])[0]
    errors = dict(errors or {})
    if asked:
        try:
            zone = zone_name(asked, "zone")
        except BookingError as e:
            errors["zone"] = str(e)
    grid = _grid(request, changes, view, zone, False, None, errors, form, plain=True)
    return render_public(
        request, "customer_booking.html", client.BAD_REQUEST if errors else client.OK,
        title=view.facts["what"], view=view, row=view.row, facts=view.facts, zone=zone,
        zones=zone_names(), grid=grid, errors=errors, notice=notice,
        note=_one(form, "note"), chosen=_one(form, "slot"), token=token,
        show_conflicts=False, query=_query(zone=asked),
        csrf=request.plugin.csrf_token(_form_owner(view)))


# -- shared ---------------------------------------------------------------------------------

def _grid(request: Request, changes: BookingChanges, view: BookingView, zone: str,
          show_conflicts: bool, fresh: SlotList | None, errors: dict[str, str],
          form: dict[str, list[str]], plain: bool = False) -> WeekGrid | None:
    """The week of slots to pick from (``?week=`` any day of it; this week by default),
    or None when the booking can no longer change (or not by this user) or the finder
    refused."""
    if not (view.can_change and view.may_change):
        return None
    today = changes.now().astimezone(ZoneInfo(zone)).date()
    asked = (request.query.get("week") or [""])[0]
    try:
        first = week_start(datetime.date.fromisoformat(asked) if asked else today)
    except ValueError:
        errors.setdefault("week", "%r is not a date such as 2026-11-23" % asked)
        first = week_start(today)
    found = fresh
    if found is None or found.start.date() != first:
        try:
            found = changes.slots(view, zone, first, show_conflicts)
        except (BookingError, SlotQueryError, ValueError) as e:
            errors.setdefault("slot", NO_TIMES if plain else str(e))
            return None
    shown_text = _one(form, "show_day") or _one(form, "shown_day")
    try:
        shown = datetime.date.fromisoformat(shown_text) if shown_text else None
    except ValueError:
        shown = None
    return week_grid(found, first, today, domain=changes.storage.settings.domain,
                     shown=shown, chosen=_one(form, "slot"))


def _query(**values: str) -> str:
    """The page's query string beside ``week=`` (links to the weeks before and after)."""
    from urllib.parse import urlencode

    kept = urlencode({k: v for k, v in values.items() if v})
    return kept + "&" if kept else ""


def _refused(request: Request, message: str, status: int = client.NOT_FOUND
             ) -> types.WSGIResponse:
    return render_public(request, "customer_refused.html", status,
                         title="This link does not open", message=message)


def _form_owner(view: BookingView) -> str:
    """Whom the customer page's form token is tied to: the booking, at its link
    version (a revoked link's open forms stop too)."""
    return "booking-link:%d:%d" % (view.row.id, view.row.link_version)


def _unsent(done: BookingView) -> str:
    """The notice's mark that the change was stored but nobody was told by iTIP."""
    return "-unsent" if done.scheduling_failed else ""


def _notice(request: Request) -> str:
    done: str = (request.query.get("done") or [""])[0]
    return done[:20]


def _instant(text: str) -> int:
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BookingError("slot", "%r is not a time" % text) from None
    if moment.tzinfo is None:
        raise BookingError("slot", "%r has no UTC offset" % text)
    return int(moment.timestamp())


def _field(name: str) -> str:
    fields = {"start": "slot", "slots": "slot"}
    return fields.get(name, name)


__all__ = ["team_page", "customer_page", "is_customer_path", "is_team_path"]
