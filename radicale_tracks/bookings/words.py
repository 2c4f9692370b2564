"""What a customer reads about their meeting: what, when, where, with whom, and how to
change it — worked out from the holder's event as stored and the booking's row.

A customer is no user here: they read times in their own zone, with the team's zone in
brackets when it differs (so "10:00 (Europe/London) [11:00 Europe/Berlin, the team's
time]" settles any doubt on a call); rooms by their names; the other people only when
the agent let them see who else comes. Pure: the caller passes the calendar and row.
"""

from __future__ import annotations

import datetime
import re
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar

from radicale_tracks.bookings.store import BookingRow
from radicale_tracks.core.addresses import normalize_address
from radicale_tracks.core.itip import InstanceKey, attendees_of, master_of, partstat_of
from radicale_tracks.core.summaries import meeting_facts


def span_words(start: int, end: int, zone: str) -> str:
    """``Tuesday 24 November 2026, 10:00–10:30``, in ``zone``."""
    first = datetime.datetime.fromtimestamp(start, ZoneInfo(zone))
    last = datetime.datetime.fromtimestamp(end, ZoneInfo(zone))
    text = "%s %d %s" % (first.strftime("%A"), first.day, first.strftime("%B %Y, %H:%M"))
    if last.date() == first.date():
        return text + "–" + last.strftime("%H:%M")
    return text + " – %s %d %s" % (last.strftime("%A"), last.day,
                                   last.strftime("%B %Y, %H:%M"))


def when_words(start: int, end: int, customer_zone: str, team_zone: str) -> str:
    """The time in the customer's zone, the team's in brackets when it reads otherwise
    (only the hours when the day is the same)."""
    theirs = span_words(start, end, customer_zone)
    text = "%s (%s)" % (theirs, customer_zone)
    team = span_words(start, end, team_zone)
    if team_zone == customer_zone or team == theirs:
        return text
    day, _, hours = team.rpartition(", ")
    same_day = theirs.rpartition(", ")[0] == day
    return text + " [%s %s]" % (hours if same_day else team, team_zone)


#: the links a customer is given to join: the web, telephone and SIP, nothing a
#: browser would run (``javascript:``) or open elsewhere (``file:``)
_JOINABLE = re.compile(r"^(https?://|tel:|sip:)[^\s<>\"]+$", re.IGNORECASE)


def join_link(calendar: Calendar) -> str:
    """How to join: the event's CONFERENCE, else a "Join:" line of its description —
    the holder may have written either in any calendar program, so only a link of a
    joinable kind is kept."""
    master = master_of(calendar)
    if master is None:
        return ""
    found = ""
    conference = master.get("CONFERENCE")
    if conference is not None:
        first = conference[0] if isinstance(conference, list) else conference
        found = str(first).strip()
    else:
        for line in str(master.get("DESCRIPTION", "")).splitlines():
            if line.startswith("Join: "):
                found = line[6:].strip()
                break
    return found if _JOINABLE.match(found) else ""


def people_of(calendar: Calendar, booking: BookingRow, is_assistant_side: Any
              ) -> tuple[list[str], list[str]]:
    """(the team by name, the rooms by name) of the event: who comes and where,
    leaving out the customer, the assistant and whoever declined."""
    master = master_of(calendar)
    team: list[str] = []
    rooms: list[str] = []
    if master is None:
        return team, rooms
    organizer = master.get("ORGANIZER")
    organizer_address = normalize_address(str(organizer)) if organizer is not None else ""
    if organizer is not None:
        team.append(str(organizer.params.get("CN") or organizer_address))
    for address, prop in attendees_of(master).items():
        if address in (booking.customer_address, organizer_address) or is_assistant_side(
                address) or partstat_of(prop) == "DECLINED":
            continue
        name = str(prop.params.get("CN") or address)
        kind = str(prop.params.get("CUTYPE", "INDIVIDUAL")).upper()
        if kind == "ROOM":
            rooms.append(name)
        elif kind in ("INDIVIDUAL", "GROUP", "UNKNOWN"):
            team.append(name)
    return team, rooms


def customer_context(calendar: Calendar, booking: BookingRow, *, link: str,
                     is_assistant_side: Any, instance: InstanceKey = None
                     ) -> dict[str, Any]:
    """The template context every customer mail shares."""
    facts = meeting_facts(calendar, booking.customer_zone, instance)
    span = first_span(calendar) or (booking.start, booking.end)
    team, rooms = people_of(calendar, booking, is_assistant_side)
    where = [*rooms]
    if facts["location"]:
        where.append(facts["location"])
    return {
        "what": facts["summary"],
        "when": when_words(span[0], span[1], booking.customer_zone, booking.agent_zone),
        "where": ", ".join(where),
        "join_url": join_link(calendar),
        "with_whom": team if booking.customer_sees_attendees else [],
        "host": team[0] if team else booking.holder,
        "manage_url": link,
        "customer_name": booking.customer_name,
    }


def first_span(calendar: Calendar) -> tuple[int, int] | None:
    """The meeting's start and end as POSIX seconds (its first occurrence)."""
    from radicale_tracks.core.summaries import first_occurrence

    found = first_occurrence(calendar)
    if found is None or not isinstance(found.start, datetime.datetime):
        return None
    start = found.start
    end = found.end if isinstance(found.end, datetime.datetime) else start
    if start.tzinfo is None:
        start = start.replace(tzinfo=datetime.UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=datetime.UTC)
    return int(start.timestamp()), int(end.timestamp())
