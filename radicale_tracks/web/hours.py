"""The Working hours page (``/.web/hours``) and its API (``/.web/api/working-hours``).

Both read and write the user's own RFC 7953 availability — the inbox's
``calendar-availability``, where CalDAV clients and ``radicale-tracks availability set``
keep it — through the same functions as the command (``plugin/availability.py``), so
whatever one sets the others show. A week is read with ``core/weekly_hours.read_week``,
whose errors name the field at fault: the page shows them next to it, the API returns
them as ``{"error", "field"}``. It decides and ``pages.py``/``api.py`` answer (a
template and its context, a status and a JSON body), so it imports neither of them.

The form is plain HTML: per weekday a fieldset of range rows (``mon-0-start``,
``mon-0-end`` …), blank rows ignored, at least :data:`ROWS` shown so that a split day
needs no script; ``web.js`` only adds and removes rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from http import client
from typing import TYPE_CHECKING, Any

from radicale_tracks.core.availability import AvailabilityError
from radicale_tracks.core.weekly_hours import (
    DAY_KEYS,
    DAY_NAMES,
    MAX_RANGES_A_DAY,
    HoursError,
    WeeklyHours,
    read_week,
)

if TYPE_CHECKING:
    from radicale_tracks.plugin.availability import OwnHours
    from radicale_tracks.web.request import Request

#: range rows a day shows at least: a split day and one more, without a script
ROWS = 3

_ROW = re.compile(r"^(%s)-(\d{1,3})-(start|end)$" % "|".join(DAY_KEYS))

Rows = dict[str, list[tuple[str, str]]]


# -- the page ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PageOutcome:
    """What ``pages.py`` answers: a redirect to ``redirect``, or ``hours.html`` with
    ``context`` and ``status`` (this module renders nothing, so it imports no handler)."""

    redirect: str = ""
    status: int = client.OK
    context: dict[str, Any] = field(default_factory=dict)


def page(request: Request, form: dict[str, list[str]]) -> PageOutcome:
    """GET shows the hours; POST saves them (or, with ``action=default``, goes back to
    the server's default) and redirects, so a reload sends nothing twice."""
    services = request.services
    if request.method == "POST":
        if _one(form, "action") == "default":
            services.clear_working_hours(request.user)
            return PageOutcome(redirect="hours?done=default")
        rows, zone = form_rows(form), _one(form, "zone")
        try:
            services.set_working_hours(request.user, read_week(rows, zone))
        except HoursError as e:
            return _shown(services.working_hours(request.user), rows, zone,
                          {_error_key(e.field): str(e)}, invalid=_inputs(e.field))
        except AvailabilityError as e:   # the server's own limits (size, zones)
            return _shown(services.working_hours(request.user), rows, zone, {"days": str(e)})
        return PageOutcome(redirect="hours?done=saved")
    hours = services.working_hours(request.user)
    shown = hours.week or hours.default
    return _shown(hours, week_rows(shown), shown.zone, {},
                  done=(request.query.get("done") or [""])[0])


def _shown(hours: OwnHours, rows: Rows, zone: str, errors: dict[str, str], done: str = "",
           invalid: tuple[str, ...] = ()) -> PageOutcome:
    days = []
    for index, key in enumerate(DAY_KEYS):
        given = rows.get(key, [])
        shown = max(ROWS, min(len(given) + 1, MAX_RANGES_A_DAY), len(given))
        days.append({"key": key, "name": DAY_NAMES[index],
                     "rows": given + [("", "")] * (shown - len(given))})
    return PageOutcome(status=client.BAD_REQUEST if errors else client.OK, context=dict(
        title="Working hours", nav="hours", hours=hours, days=days, zone=zone,
        errors=errors, done=done, invalid=invalid, max_rows=MAX_RANGES_A_DAY))


def form_rows(form: dict[str, list[str]]) -> Rows:
    """The range rows of the form, per day in the order of their numbers."""
    found: dict[str, dict[int, dict[str, str]]] = {}
    for name, values in form.items():
        match = _ROW.match(name)
        if match:
            day, number, part = match.group(1), int(match.group(2)), match.group(3)
            found.setdefault(day, {}).setdefault(number, {})[part] = values[-1].strip()
    return {day: [(row.get("start", ""), row.get("end", "")) for _, row in sorted(rows.items())]
            for day, rows in found.items()}


def week_rows(week: WeeklyHours) -> Rows:
    return {key: [(start.strftime("%H:%M"), end.strftime("%H:%M"))
                  for start, end in week.days[index]]
            for index, key in enumerate(DAY_KEYS)}


def _error_key(field: str) -> str:
    """Where the page shows an error: ``zone``, a day (``mon``) or the week (``days``).
    The row and part (``days.mon.1.end``) mark the input as invalid as well."""
    parts = field.split(".")
    return parts[1] if parts[0] == "days" and len(parts) > 1 else parts[0]


def _inputs(field: str) -> tuple[str, ...]:
    """The inputs an error names (``days.mon.1.end`` → ``mon-1-end``; a whole range,
    ``days.mon.1``, both of its times), marked ``aria-invalid`` beside the day's."""
    parts = field.split(".")
    if parts[0] != "days" or len(parts) < 3:
        return ()
    row = "%s-%s" % (parts[1], parts[2])
    return ("%s-%s" % (row, parts[3]),) if len(parts) > 3 else (row + "-start", row + "-end")


# -- the API -----------------------------------------------------------------------------------

def api_answer(request: Request, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """GET: the hours (:func:`hours_json`). PUT ``{"zone": …, "days": {"mon": [{"start":
    "09:00", "end": "12:00"}, …], …}}`` sets the week; ``{"default": true}`` goes back to
    the server's default hours. Status and JSON body; ``api.py`` sends them."""
    services = request.services
    if request.method == "PUT":
        try:
            if data.get("default") is True:
                unknown = sorted(set(data) - {"default"})
                if unknown:
                    raise HoursError(unknown[0], "nothing goes with default: true")
                services.clear_working_hours(request.user)
            else:
                zone = data.get("zone")
                services.set_working_hours(request.user, read_week(
                    json_rows(data), zone if isinstance(zone, str) else ""))
        except HoursError as e:
            return client.BAD_REQUEST, {"error": str(e), "field": e.field}
        except AvailabilityError as e:   # the server's own limits (size, zones)
            return client.BAD_REQUEST, {"error": str(e), "field": "days"}
    return client.OK, hours_json(services.working_hours(request.user))


def json_rows(data: dict[str, Any]) -> Rows:
    """The ``days`` object as rows, every shape error naming its field."""
    unknown = sorted(set(data) - {"zone", "days"})
    if unknown:
        raise HoursError(unknown[0], "unknown field %r; known: days, zone (or default)"
                         % unknown[0])
    days = data.get("days")
    if not isinstance(days, dict):
        raise HoursError("days", 'days is an object such as {"mon": [{"start": "09:00", '
                                 '"end": "17:00"}]}')
    rows: Rows = {}
    for key, ranges in days.items():
        if not isinstance(ranges, list):
            raise HoursError("days.%s" % key, "days.%s is a list of ranges" % key)
        rows[str(key)] = []
        for number, item in enumerate(ranges):
            field = "days.%s.%d" % (key, number)
            if not isinstance(item, dict) or set(item) != {"start", "end"} or not all(
                    isinstance(item[part], str) and item[part].strip()
                    for part in ("start", "end")):
                raise HoursError(field, '%s is {"start": "09:00", "end": "17:00"}' % field)
            rows[str(key)].append((item["start"], item["end"]))
    return rows


def hours_json(hours: OwnHours) -> dict[str, Any]:
    """``source`` own or default; ``weekly`` whether ``zone`` and ``days`` say exactly what
    counts (false for availability that says more than a week: then they are null and
    ``availability`` is the text, as stored)."""
    week = hours.week if hours.text else hours.default
    return {
        "source": hours.source, "weekly": week is not None,
        "zone": week.zone if week else None,
        "days": {key: [{"start": start, "end": end} for start, end in ranges]
                 for key, ranges in week_rows(week).items()} if week else None,
        "summary": week.describe() if week else None,
        "default": {"zone": hours.default.zone, "summary": hours.default.describe()},
        "availability": hours.text}


def _one(form: dict[str, list[str]], name: str) -> str:
    values = form.get(name)
    return values[-1].strip() if values else ""
