"""A user's CalDAV client (the python ``caldav`` library) against a test server, and
what the tests read with it: calendars, copies, inbox items, parameters."""

from __future__ import annotations

import uuid
from typing import Any

from caldav.davclient import DAVClient
from caldav.lib.error import NotFoundError
from icalendar import Calendar

from helpers import USERS, RadicaleServer


def client(server: RadicaleServer, user: str) -> DAVClient:
    """``user``'s own client, logged in with the password of ``helpers.USERS``."""
    return DAVClient("%s/%s/" % (server.url, user), username=user, password=USERS[user])


def principal(server: RadicaleServer, user: str) -> Any:
    return client(server, user).principal()  # type: ignore[no-untyped-call]


def calendars(server: RadicaleServer, user: str) -> Any:
    """The user's "Work" calendar, made on first use."""
    owner = principal(server, user)
    for calendar in owner.calendars():
        if calendar.url.path.rstrip("/").endswith("/work"):
            return calendar
    return owner.make_calendar(name="Work", cal_id="work")


def component(event: Any) -> Any:
    return Calendar.from_ical(event.data).walk("VEVENT")[0]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def partstat(event: Any, address: str) -> str:
    for prop in as_list(component(event).get("ATTENDEE", [])):
        if str(prop).lower() == "mailto:" + address:
            return str(prop.params.get("PARTSTAT", "NEEDS-ACTION"))
    raise AssertionError("%s is not an attendee" % address)


def find(server: RadicaleServer, user: str, uid: str) -> Any:
    event = calendars(server, user).event_by_uid(uid)
    event.load()
    return event


def inbox_items(server: RadicaleServer, user: str, uid: str) -> list[Any]:
    items = []
    for item in principal(server, user).schedule_inbox().get_items():
        item.load()
        if item.id == uid:
            items.append(item)
    return items


def method_of(item: Any) -> str:
    return str(Calendar.from_ical(item.data)["METHOD"])


def uid_for(name: str) -> str:
    return "%s-%s@example.org" % (name, uuid.uuid4().hex[:8])


def stored_event(server: RadicaleServer, user: str, uid: str) -> Calendar:
    """The user's copy of ``uid``, read with the caldav client like any calendar app."""
    for calendar in principal(server, user).calendars():
        try:
            found = calendar.event_by_uid(uid)
        except NotFoundError:
            continue
        return Calendar.from_ical(found.data)
    raise AssertionError("%s has no event %s" % (user, uid))


def attendee_params(calendar: Calendar) -> dict[str, dict[str, str]]:
    event = calendar.walk("VEVENT")[0]
    props = event.get("ATTENDEE")
    props = props if isinstance(props, list) else [props]
    return {str(p).lower().removeprefix("mailto:"): {k: str(v) for k, v in p.params.items()}
            for p in props}
