"""Where new meetings go: the user's default calendar (RFC 6638 §9.2).

The first calendar that took a user's new meeting stays their default, shown as
``schedule-default-calendar-URL`` on their inbox: a calendar made later ("Archive",
sorting first by name) never takes its place. Their client may choose another with a
PROPPATCH of that property (one of their calendars that takes events, else 403
``valid-schedule-default-calendar-URL``); removing it, or deleting the calendar, makes the
first by name count again.

End to end on the scheduling world of ``conftest.py`` (SQLite and PostgreSQL).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import requests
from caldav.lib.error import NotFoundError

from caldav_clients import calendars, principal, uid_for
from helpers import USERS, RadicaleServer
from mailserver import MailSink
from test_scheduling import START, organized

DAV, CALDAV = "DAV:", "urn:ietf:params:xml:ns:caldav"
PROPERTY = "{%s}schedule-default-calendar-URL" % CALDAV


def session(user: str) -> requests.Session:
    opened = requests.Session()
    opened.auth = (user, USERS[user])
    return opened


def default_of(server: RadicaleServer, user: str) -> str | None:
    answer = session(user).request(
        "PROPFIND", "%s/%s/schedule-inbox/" % (server.url, user), headers={"Depth": "0"},
        data='<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="%s"><D:prop>'
             '<C:schedule-default-calendar-URL/></D:prop></D:propfind>' % CALDAV)
    assert answer.status_code == 207, answer.text
    href = ET.fromstring(answer.content).find(".//%s/{%s}href" % (PROPERTY, DAV))
    return href.text if href is not None else None


def choose(server: RadicaleServer, user: str, href: str | None) -> requests.Response:
    change = ("<D:set><D:prop><C:schedule-default-calendar-URL><D:href>%s</D:href>"
              "</C:schedule-default-calendar-URL></D:prop></D:set>" % href if href else
              "<D:remove><D:prop><C:schedule-default-calendar-URL/></D:prop></D:remove>")
    return session(user).request(
        "PROPPATCH", "%s/%s/schedule-inbox/" % (server.url, user),
        headers={"Content-Type": "application/xml"},
        data='<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:C="%s">%s'
             '</D:propertyupdate>' % (CALDAV, change))


def mkcalendar(server: RadicaleServer, user: str, name: str, components: str = "") -> None:
    body = ""
    if components:
        body = ('<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="%s"><D:set>'
                '<D:prop><C:supported-calendar-component-set><C:comp name="%s"/>'
                '</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>'
                % (CALDAV, components))
    answer = session(user).request("MKCALENDAR", "%s/%s/%s/" % (server.url, user, name),
                                   data=body or None)
    assert answer.status_code in (201, 409), answer.text   # 409: made before


def where(server: RadicaleServer, user: str, uid: str) -> str:
    """The path of the user's calendar holding ``uid``."""
    for calendar in principal(server, user).calendars():
        try:
            calendar.event_by_uid(uid)
        except NotFoundError:
            continue
        return str(calendar.url.path)
    raise AssertionError("%s has no %s" % (user, uid))


def invite(server: RadicaleServer, user: str, name: str) -> str:
    uid = uid_for(name)
    calendars(server, "alice").save_event(organized(uid, name, START,
                                                    ["%s@example.org" % user]))
    return uid


def test_a_calendar_made_later_does_not_take_the_new_meetings(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    server, _sink = world
    first = where(server, "bob", invite(server, "bob", "first"))
    assert default_of(server, "bob") == first
    mkcalendar(server, "bob", "aaa-archive")      # first by name from now on
    assert default_of(server, "bob") == first
    assert where(server, "bob", invite(server, "bob", "second")) == first


def test_the_client_chooses_the_default_and_only_among_its_own_event_calendars(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    server, _sink = world
    first = where(server, "carol", invite(server, "carol", "before"))
    mkcalendar(server, "carol", "zz-projects")
    mkcalendar(server, "carol", "tasks", components="VTODO")
    chosen = choose(server, "carol", "/carol/zz-projects/")
    assert chosen.status_code == 207, chosen.text
    assert default_of(server, "carol") == "/carol/zz-projects/"
    assert where(server, "carol", invite(server, "carol", "after")) == "/carol/zz-projects/"
    # a full URL names it as well
    assert choose(server, "carol", server.url + first).status_code == 207
    assert default_of(server, "carol") == first

    for refused in ("/alice/work/", "/carol/tasks/", "/carol/missing/", "/carol/",
                    "/carol/schedule-inbox/"):
        answer = choose(server, "carol", refused)
        assert answer.status_code == 403, (refused, answer.text)
        assert "valid-schedule-default-calendar-URL" in answer.text
        assert default_of(server, "carol") == first

    # set and then removed in one request: the last one counts (RFC 4918 §9.2)
    both = session("carol").request(
        "PROPPATCH", "%s/carol/schedule-inbox/" % server.url,
        headers={"Content-Type": "application/xml"},
        data='<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:C="%s"><D:set>'
             '<D:prop><C:schedule-default-calendar-URL><D:href>/carol/zz-projects/</D:href>'
             '</C:schedule-default-calendar-URL></D:prop></D:set><D:remove><D:prop>'
             '<C:schedule-default-calendar-URL/></D:prop></D:remove></D:propertyupdate>'
             % CALDAV)
    assert both.status_code == 207, both.text
    names = sorted(str(c.url.path) for c in principal(server, "carol").calendars()
                   if not str(c.url.path).endswith("/tasks/"))
    assert names[0] != "/carol/zz-projects/"
    assert default_of(server, "carol") == names[0]      # removed, not set
    # removed: the first by name that takes events counts again
    assert choose(server, "carol", "/carol/zz-projects/").status_code == 207
    assert choose(server, "carol", None).status_code == 207
    assert default_of(server, "carol") == names[0]


def test_a_deleted_default_gives_way_to_the_first_by_name(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    server, _sink = world
    mkcalendar(server, "alice", "zz-later")
    assert choose(server, "alice", "/alice/zz-later/").status_code == 207
    assert session("alice").delete(server.url + "/alice/zz-later/").status_code in (200,
                                                                                    204)
    names = sorted(str(c.url.path) for c in principal(server, "alice").calendars())
    assert default_of(server, "alice") == names[0]
