"""Scheduling discovery (RFC 6638) as Thunderbird and Apple Calendar do it.

One ``radicale-tracks serve`` on 127.0.0.1 with the rights plugin; every request is sent
with ``requests`` the way the client sends it (method, URL, Depth, headers, body shape)
and the answer is checked on the parsed XML: exact hrefs, element names and statuses.

Where the requests come from (docs/interop.md lists them one by one):

- Thunderbird: mozilla/releases-comm-central, calendar/providers/caldav/
  ``CalDavCalendar.sys.mjs`` (checkDavResourceType → checkServerCaps → findPrincipalNS →
  checkPrincipalsNameSpace, pollInbox/getUpdatedItems, getFreeBusyIntervals),
  ``CalDavProvider.sys.mjs`` (handleHomeSet), ``modules/CalDavRequest.sys.mjs``
  (CalDavPropfindRequest, CalDavHeaderRequest, CalDavFreeBusyRequest),
  ``modules/CalDavRequestHandlers.sys.mjs`` (CalDavWebDavSyncHandler), ``modules/
  CalDavUtils.sys.mjs`` (namespace prefixes); Accept headers from calProviderUtils'
  prepHttpChannel.
- Apple Calendar: apple/ccs-calendarserver, contrib/performance/loadtest/ ``ical.py``
  (class OS_X_10_11: User-Agent and default headers, PROPFIND/REPORT headers) and the
  request bodies it replays from ``request-data/OS_X_10_11/`` and ``request-data/
  OS_X_10_7/poll_calendar_multiget.request`` (property lists reproduced below).
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from helpers import PLUGIN, USERS, RadicaleServer, mkcalendar, put
from inprocess import ThreadedServer

DOMAIN = "example.org"

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CALSERVER = "http://calendarserver.org/ns/"
ICAL = "http://apple.com/ns/ical/"
ME = "http://me.com/_namespace/"


def d(name: str) -> str:
    return "{%s}%s" % (DAV, name)


def c(name: str) -> str:
    return "{%s}%s" % (CALDAV, name)


def cs(name: str) -> str:
    return "{%s}%s" % (CALSERVER, name)


# -- the server --------------------------------------------------------------------


@dataclass
class World:
    server: RadicaleServer
    #: Schedule-Tag answered to alice's PUT of /alice/work/meeting.ics
    meeting_tag: str

    def session(self, user: str) -> requests.Session:
        session = requests.Session()
        session.auth = (user, USERS[user])
        return session

    def url(self, path: str) -> str:
        return self.server.url + path


def event(uid: str, scheduling: bool) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//discovery//EN",
             "BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20270101T000000Z",
             "DTSTART:20270104T100000Z", "DTEND:20270104T110000Z", "SUMMARY:Planning"]
    if scheduling:
        lines += ["ORGANIZER;CN=Alice:mailto:alice@example.org",
                  "ATTENDEE;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:alice@example.org",
                  "ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.org"]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    server = ThreadedServer(
        tmp_path_factory.mktemp("discovery"), storage_type=PLUGIN,
        storage_options={"domain": DOMAIN,
                         "addresses": "alice: alice.smith@example.org",
                         "user_types": "carol: ROOM"},
        rights_type="radicale_tracks.rights").start()
    try:
        for user in USERS:  # each user logs in once: principal, inbox and outbox exist
            answer = server.session(user).request("PROPFIND", "%s/%s/" % (server.url, user),
                                                  headers={"Depth": "0"})
            assert answer.status_code == 207, answer.text
        alice = server.session("alice")
        mkcalendar(alice, server.url + "/alice/work/")
        created = put(alice, server.url + "/alice/work/meeting.ics",
                      event("meeting-%s@example.org" % uuid.uuid4().hex[:8], True))
        assert created.status_code == 201, created.text
        assert "Schedule-Tag" in created.headers
        solo = put(alice, server.url + "/alice/work/solo.ics",
                   event("solo-%s@example.org" % uuid.uuid4().hex[:8], False))
        assert solo.status_code == 201, solo.text
        yield World(server, created.headers["Schedule-Tag"])
    finally:
        server.stop()


# -- answers -------------------------------------------------------------------------

Props = dict[str, tuple[int, ET.Element]]


def multistatus(answer: requests.Response) -> dict[str, Props]:
    """href → {property: (status of its propstat, element)}; each property once."""
    assert answer.status_code == 207, (answer.status_code, answer.text)
    root = ET.fromstring(answer.content)
    assert root.tag == d("multistatus")
    found: dict[str, Props] = {}
    for response in root.findall(d("response")):
        href = response.findtext(d("href"))
        assert href and href not in found, href
        props: Props = {}
        for propstat in response.findall(d("propstat")):
            status = int((propstat.findtext(d("status")) or "").split()[1])
            prop = propstat.find(d("prop"))
            assert prop is not None
            for element in prop:
                assert element.tag not in props, (href, element.tag)
                props[element.tag] = (status, element)
        found[href] = props
    return found


def ok(props: Props, tag: str) -> ET.Element:
    status, element = props[tag]
    assert status == 200, (tag, status)
    return element


def not_found(props: Props, tag: str) -> None:
    assert props[tag][0] == 404, (tag, props[tag][0])


def hrefs(element: ET.Element) -> list[str]:
    return [(h.text or "").strip() for h in element.findall(d("href"))]


def names(element: ET.Element) -> set[str]:
    return {child.tag for child in element}


def privileges(element: ET.Element) -> set[str]:
    return {p.tag for privilege in element.findall(d("privilege")) for p in privilege}


def dav_tokens(answer: requests.Response) -> list[str]:
    return [t.strip() for t in answer.headers.get("DAV", "").split(",") if t.strip()]


def assert_answers_exactly(props: Props, asked: list[str]) -> None:
    """Every property asked is answered once, found (200) or not (404); nothing else."""
    assert set(props) == set(asked), set(props) ^ set(asked)
    assert {status for status, _ in props.values()} <= {200, 404}


# -- Thunderbird ---------------------------------------------------------------------

TB_HEADERS = {
    # Thunderbird 128 on Linux; prepHttpChannel adds the two Accept headers
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.0",
    "Accept": "text/xml",
    "Accept-Charset": "utf-8,*;q=0.1",
}
TB_XML = "text/xml; charset=utf-8"
TB_NAMESPACES = {"D": DAV, "C": CALDAV, "CS": CALSERVER, "A": ICAL}  # CalDavNsResolver


def tb_propfind_body(props: list[str]) -> str:
    """CalDavPropfindRequest's body: CalDavTagsToXmlns("D", ...props), then the props."""
    prefixes = dict.fromkeys(["D"] + [p.split(":")[0] for p in props])
    xmlns = " ".join("xmlns:%s='%s'" % (p, TB_NAMESPACES[p]) for p in prefixes)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<D:propfind %s><D:prop>%s'
            "</D:prop></D:propfind>" % (xmlns, "".join("<%s/>" % p for p in props)))


def tb_propfind(world: World, user: str, path: str, props: list[str],
                depth: int = 0) -> requests.Response:
    return world.session(user).request(
        "PROPFIND", world.url(path), data=tb_propfind_body(props).encode(),
        headers={**TB_HEADERS, "Content-Type": TB_XML, "Depth": str(depth)})


def tb_features(answer: requests.Response) -> set[str]:
    """DAVHeaderResponse.features: the DAV header split on commas, version dropped."""
    return set(answer.headers.get("DAV", "").replace(", ", ",").split(",")[1:])


def tb_home_set(calendar_path: str) -> str:
    """CalDavCalendar.setCalHomeSet(true): the calendar URL minus its last segment."""
    base = calendar_path[:-2] if calendar_path.endswith("/") else calendar_path
    return "/".join(base.split("/")[:-1]) + "/"


TB_CHECK_RESOURCE_TYPE = ["D:resourcetype", "D:owner", "D:current-user-principal",
                          "D:current-user-privilege-set", "D:supported-report-set",
                          "C:supported-calendar-component-set", "CS:getctag"]
TB_PRINCIPAL_NS = ["C:calendar-home-set", "C:calendar-user-address-set",
                   "C:schedule-inbox-URL", "C:schedule-outbox-URL"]
TB_HOME_SET = ["D:resourcetype", "D:displayname", "D:current-user-privilege-set",
               "A:calendar-color"]


def test_thunderbird_checks_calendar_then_options_then_principal(world: World) -> None:
    """checkDavResourceType → checkServerCaps → checkPrincipalsNameSpace, on alice's
    calendar: Thunderbird ends up with auto-scheduling, her address and both boxes."""
    calendar = "/alice/work/"
    answer = tb_propfind(world, "alice", calendar, TB_CHECK_RESOURCE_TYPE)
    assert "calendar-auto-schedule" in dav_tokens(answer)
    found = multistatus(answer)
    assert list(found) == [calendar]
    props = found[calendar]
    assert names(ok(props, d("resourcetype"))) == {d("collection"), c("calendar")}
    principal = hrefs(ok(props, d("current-user-principal")))
    assert principal == ["/alice/"]
    assert {d("write"), d("write-content")} <= privileges(
        ok(props, d("current-user-privilege-set")))  # not read-only
    reports = {r.tag for r in ok(props, d("supported-report-set")).iter()
               if r.tag not in (d("supported-report-set"), d("supported-report"),
                                d("report"))}
    assert d("sync-collection") in reports  # Thunderbird then syncs with sync-collection
    components = {e.get("name") for e in ok(props, c("supported-calendar-component-set"))}
    assert {"VEVENT", "VTODO"} <= components

    # checkServerCaps: OPTIONS on the "home set", the calendar URL minus a segment
    home = tb_home_set(calendar)
    assert home == "/alice/"
    options = world.session("alice").request("OPTIONS", world.url(home), headers=TB_HEADERS)
    assert options.status_code == 200
    features = tb_features(options)
    assert "calendar-auto-schedule" in features  # → mHasAutoScheduling, free-busy provider
    assert "calendar-access" in features

    # checkPrincipalsNameSpace: current-user-principal was given, so a Depth 0 PROPFIND
    answer = tb_propfind(world, "alice", principal[0], TB_PRINCIPAL_NS)
    assert "calendar-auto-schedule" in dav_tokens(answer)
    found = multistatus(answer)
    assert list(found) == ["/alice/"]
    props = found["/alice/"]
    assert_answers_exactly(props, [c("calendar-home-set"), c("calendar-user-address-set"),
                                   c("schedule-inbox-URL"), c("schedule-outbox-URL")])
    assert hrefs(ok(props, c("calendar-home-set"))) == ["/alice/"]
    address_set = ok(props, c("calendar-user-address-set"))
    # her own address first (preferred), then the alias from `addresses`, then the principal
    assert hrefs(address_set) == ["mailto:alice@example.org",
                                  "mailto:alice.smith@example.org", "/alice/"]
    assert [h.get("preferred") for h in address_set.findall(d("href"))] == ["1", None, None]
    first_mailto = next(h for h in hrefs(address_set) if h.lower().startswith("mailto:"))
    assert first_mailto == "mailto:alice@example.org"  # mCalendarUserAddress
    assert hrefs(ok(props, c("schedule-inbox-URL"))) == ["/alice/schedule-inbox/"]
    assert hrefs(ok(props, c("schedule-outbox-URL"))) == ["/alice/schedule-outbox/"]


def test_thunderbird_lists_calendars_of_the_home_set_without_the_inbox(world: World) -> None:
    """CalDavProvider.handleHomeSet: Depth 1 on the home; every response whose
    resourcetype has C:calendar becomes a calendar in Thunderbird."""
    answer = tb_propfind(world, "alice", "/alice/", TB_HOME_SET, depth=1)
    assert "calendar-auto-schedule" in dav_tokens(answer)
    found = multistatus(answer)
    asked = [d("resourcetype"), d("displayname"), d("current-user-privilege-set"),
             "{%s}calendar-color" % ICAL]
    for props in found.values():
        assert_answers_exactly(props, asked)
    calendars = [href for href, props in found.items()
                 if c("calendar") in names(ok(props, d("resourcetype")))]
    assert calendars == ["/alice/work/"]
    inbox = found["/alice/schedule-inbox/"]
    assert names(ok(inbox, d("resourcetype"))) == {d("collection"), c("schedule-inbox")}
    assert {d("read"), c("schedule-deliver")} <= privileges(
        ok(inbox, d("current-user-privilege-set")))


def test_thunderbird_polls_the_attendee_inbox_with_webdav_sync(world: World) -> None:
    """pollInbox → getUpdatedItems(inbox) → CalDavWebDavSyncHandler: sync-collection
    REPORT with an empty token, sync-level 1 and Depth 1."""
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<sync-collection xmlns="DAV:">'
            "<sync-token/><sync-level>1</sync-level><prop><getcontenttype/><getetag/>"
            "</prop></sync-collection>")
    answer = world.session("bob").request(
        "REPORT", world.url("/bob/schedule-inbox/"), data=body.encode(),
        headers={**TB_HEADERS, "Content-Type": TB_XML, "Depth": "1"})
    found = multistatus(answer)
    items = [href for href in found if href.startswith("/bob/schedule-inbox/")
             and href.endswith(".ics")]
    assert len(items) == 1, found  # alice's invitation
    props = found[items[0]]
    assert (ok(props, d("getcontenttype")).text or "").startswith("text/calendar")
    assert ok(props, d("getetag")).text
    token = ET.fromstring(answer.content).find(d("sync-token"))
    assert token is not None and token.text


def test_thunderbird_free_busy_goes_to_the_outbox(world: World) -> None:
    """getFreeBusyIntervals → CalDavFreeBusyRequest: POST to the schedule-outbox-URL
    with Originator and Recipient (Thunderbird uses the outbox for nothing else when
    the server auto-schedules)."""
    request = "\r\n".join([
        "BEGIN:VCALENDAR", "PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN",
        "VERSION:2.0", "METHOD:REQUEST", "BEGIN:VFREEBUSY",
        "UID:%s" % uuid.uuid4(), "DTSTAMP:20261201T120000Z",
        "DTSTART:20270104T000000Z", "DTEND:20270111T000000Z",
        "ORGANIZER:mailto:alice@example.org",
        "ATTENDEE;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;CUTYPE=INDIVIDUAL:"
        "mailto:bob@example.org",
        "END:VFREEBUSY", "END:VCALENDAR", ""])
    answer = world.session("alice").post(
        world.url("/alice/schedule-outbox/"), data=request.encode(), headers={
            **TB_HEADERS, "Content-Type": "text/calendar; charset=utf-8",
            "Originator": "mailto:alice@example.org", "Recipient": "mailto:bob@example.org"})
    assert answer.status_code == 200, answer.text
    root = ET.fromstring(answer.content)
    assert root.tag == c("schedule-response")
    responses = root.findall(c("response"))
    assert len(responses) == 1
    recipient = responses[0].find(c("recipient"))
    assert recipient is not None and hrefs(recipient) == ["mailto:bob@example.org"]
    assert (responses[0].findtext(c("request-status")) or "").startswith("2.0")
    data = responses[0].findtext(c("calendar-data")) or ""
    assert "BEGIN:VFREEBUSY" in data
    assert "20270104T100000Z/20270104T110000Z" in data  # bob's copy of the meeting


# -- Apple Calendar (OS X 10.11 CalendarAgent) -------------------------------------------

APPLE_HEADERS = {
    "User-Agent": "Mac+OS+X/10.11 (15A283) CalendarAgent/361",
    "Accept": "*/*", "Accept-Language": "en-us", "Accept-Encoding": "gzip,deflate",
    "Connection": "keep-alive",
}
#: Apple's prefixes: DAV: is A, every other namespace is declared on each element
APPLE_PREFIXES = {CALDAV: "B", CALSERVER: "C", ICAL: "D", ME: "E"}


def apple_props(props: list[str]) -> str:
    lines = []
    for tag in props:
        namespace, name = tag[1:].split("}")
        if namespace == DAV:
            lines.append("    <A:%s/>" % name)
        else:
            prefix = APPLE_PREFIXES[namespace]
            lines.append('    <%s:%s xmlns:%s="%s"/>' % (prefix, name, prefix, namespace))
    return "\n".join(lines)


def apple_propfind_body(props: list[str]) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<A:propfind xmlns:A="DAV:">\n'
            "  <A:prop>\n%s\n  </A:prop>\n</A:propfind>\n" % apple_props(props))


def apple(world: World, user: str, method: str, path: str, body: str,
          depth: str | None) -> requests.Response:
    headers = {**APPLE_HEADERS, "Content-Type": "text/xml"}
    if depth is not None:
        headers["Depth"] = depth
    return world.session(user).request(method, world.url(path), data=body.encode(),
                                       headers=headers)


#: request-data/OS_X_10_11/startup_principal_initial_propfind.request
APPLE_PRINCIPAL_INITIAL = [d("current-user-principal"), d("principal-URL"),
                           d("resourcetype")]
#: request-data/OS_X_10_11/startup_principal_propfind.request
APPLE_PRINCIPAL = [
    c("calendar-home-set"), c("calendar-user-address-set"), d("current-user-principal"),
    d("displayname"), cs("dropbox-home-URL"), cs("email-address-set"),
    cs("notification-URL"), d("principal-collection-set"), d("principal-URL"),
    d("resource-id"), c("schedule-inbox-URL"), c("schedule-outbox-URL"),
    d("supported-report-set")]
#: request-data/OS_X_10_11/poll_calendarhome_depth1_propfind.request
APPLE_HOME = [
    d("add-member"), cs("allowed-sharing-modes"), "{%s}autoprovisioned" % ICAL,
    "{%s}bulk-requests" % ME, c("calendar-alarm"), "{%s}calendar-color" % ICAL,
    c("calendar-description"), c("calendar-free-busy-set"), "{%s}calendar-order" % ICAL,
    c("calendar-timezone"), d("current-user-privilege-set"),
    c("default-alarm-vevent-date"), c("default-alarm-vevent-datetime"), d("displayname"),
    cs("getctag"), cs("invite"), "{%s}language-code" % ICAL, "{%s}location-code" % ICAL,
    d("owner"), cs("pre-publish-url"), cs("publish-url"), cs("push-transports"),
    cs("pushkey"), d("quota-available-bytes"), d("quota-used-bytes"),
    "{%s}refreshrate" % ICAL, d("resource-id"), d("resourcetype"),
    c("schedule-calendar-transp"), c("schedule-default-calendar-URL"), cs("source"),
    cs("subscribed-strip-alarms"), cs("subscribed-strip-attachments"),
    cs("subscribed-strip-todos"), c("supported-calendar-component-set"),
    c("supported-calendar-component-sets"), d("supported-report-set"), d("sync-token"),
    c("managed-attachments-server-URL")]
#: request-data/OS_X_10_11/poll_inbox_propfind.request
APPLE_INBOX = [d("getcontenttype"), d("getetag")]
#: request-data/OS_X_10_7/poll_calendar_multiget.request (the OS X 10.11 client uses it)
APPLE_MULTIGET = [d("getetag"), c("calendar-data"), c("schedule-tag")]


def test_apple_finds_the_principal(world: World) -> None:
    """startup: the initial PROPFIND on the principal path gives principal-URL."""
    answer = apple(world, "alice", "PROPFIND", "/alice/",
                   apple_propfind_body(APPLE_PRINCIPAL_INITIAL), "0")
    assert "calendar-auto-schedule" in dav_tokens(answer)
    props = multistatus(answer)["/alice/"]
    assert_answers_exactly(props, APPLE_PRINCIPAL_INITIAL)
    assert hrefs(ok(props, d("current-user-principal"))) == ["/alice/"]
    assert hrefs(ok(props, d("principal-URL"))) == ["/alice/"]
    assert names(ok(props, d("resourcetype"))) == {d("principal"), d("collection")}


def test_apple_reads_the_principal(world: World) -> None:
    """_extractPrincipalDetails: the large principal PROPFIND; the properties this server
    does not have come back in a 404 propstat next to the scheduling ones."""
    answer = apple(world, "alice", "PROPFIND", "/alice/",
                   apple_propfind_body(APPLE_PRINCIPAL), "0")
    assert "calendar-auto-schedule" in dav_tokens(answer)
    found = multistatus(answer)
    assert list(found) == ["/alice/"]
    props = found["/alice/"]
    assert_answers_exactly(props, APPLE_PRINCIPAL)
    assert {tag for tag, (status, _) in props.items() if status == 404} == {
        cs("dropbox-home-URL"), cs("email-address-set"), cs("notification-URL"),
        d("resource-id")}
    assert hrefs(ok(props, c("calendar-home-set"))) == ["/alice/"]
    assert hrefs(ok(props, c("calendar-user-address-set"))) == [
        "mailto:alice@example.org", "mailto:alice.smith@example.org", "/alice/"]
    assert hrefs(ok(props, d("current-user-principal"))) == ["/alice/"]
    assert hrefs(ok(props, d("principal-URL"))) == ["/alice/"]
    assert ok(props, d("displayname")).text == "alice"
    assert hrefs(ok(props, c("schedule-inbox-URL"))) == ["/alice/schedule-inbox/"]
    assert hrefs(ok(props, c("schedule-outbox-URL"))) == ["/alice/schedule-outbox/"]


def test_apple_polls_the_calendar_home(world: World) -> None:
    """_calendarHomePropfind: Depth 1 on the home with Apple's 39 properties. Apple takes
    responses with C:calendar as calendars and the one with C:schedule-inbox as the
    inbox; the inbox must not look like a calendar."""
    answer = apple(world, "alice", "PROPFIND", "/alice/", apple_propfind_body(APPLE_HOME),
                   "1")
    assert "calendar-auto-schedule" in dav_tokens(answer)
    found = multistatus(answer)
    assert {"/alice/", "/alice/schedule-inbox/", "/alice/work/"} <= set(found)
    for props in found.values():
        assert_answers_exactly(props, APPLE_HOME)
    kinds = {href: names(ok(props, d("resourcetype"))) for href, props in found.items()}
    assert [href for href, kind in kinds.items() if c("calendar") in kind] == ["/alice/work/"]
    assert [href for href, kind in kinds.items() if c("schedule-inbox") in kind] == [
        "/alice/schedule-inbox/"]
    assert kinds["/alice/schedule-inbox/"] == {d("collection"), c("schedule-inbox")}
    assert kinds["/alice/work/"] == {d("collection"), c("calendar")}

    work, inbox = found["/alice/work/"], found["/alice/schedule-inbox/"]
    assert names(ok(work, c("schedule-calendar-transp"))) == {c("opaque")}
    assert d("write") in privileges(ok(work, d("current-user-privilege-set")))
    # RFC 6638 §9.2: the default calendar is a property of the inbox
    assert hrefs(ok(inbox, c("schedule-default-calendar-URL"))) == ["/alice/work/"]
    assert {d("read"), c("schedule-deliver")} <= privileges(
        ok(inbox, d("current-user-privilege-set")))
    assert d("write") not in privileges(ok(inbox, d("current-user-privilege-set")))
    not_found(inbox, c("schedule-calendar-transp"))


def test_apple_polls_the_inbox(world: World) -> None:
    """_updateCalendar_PROPFIND on the inbox: Depth 1, getcontenttype and getetag."""
    answer = apple(world, "bob", "PROPFIND", "/bob/schedule-inbox/",
                   apple_propfind_body(APPLE_INBOX), "1")
    found = multistatus(answer)
    for props in found.values():
        assert_answers_exactly(props, APPLE_INBOX)
    items = [href for href in found if href.endswith(".ics")]
    assert len(items) == 1 and items[0].startswith("/bob/schedule-inbox/")
    assert (ok(found[items[0]], d("getcontenttype")).text or "").startswith("text/calendar")
    assert ok(found[items[0]], d("getetag")).text


# -- scheduling properties clients rely on --------------------------------------------


@pytest.mark.parametrize("path", ["/", "/alice/", "/alice/work/", "/alice/schedule-inbox/"])
def test_options_advertise_auto_schedule(world: World, path: str) -> None:
    answer = world.session("alice").request("OPTIONS", world.url(path))
    assert answer.status_code == 200
    tokens = dav_tokens(answer)
    assert tokens[0] == "1"
    assert "calendar-access" in tokens and "calendar-auto-schedule" in tokens


OUTBOX_PROPS = [d("resourcetype"), d("current-user-privilege-set")]


def test_outbox_grants_schedule_send_to_its_owner(world: World) -> None:
    """RFC 6638 §2.1, §6.1: the outbox is a collection of type C:schedule-outbox on which
    its owner has C:schedule-send."""
    answer = apple(world, "alice", "PROPFIND", "/alice/schedule-outbox/",
                   apple_propfind_body(OUTBOX_PROPS), "0")
    assert "calendar-auto-schedule" in dav_tokens(answer)
    props = multistatus(answer)["/alice/schedule-outbox/"]
    assert names(ok(props, d("resourcetype"))) == {d("collection"), c("schedule-outbox")}
    granted = privileges(ok(props, d("current-user-privilege-set")))
    assert {c("schedule-send"), c("schedule-send-invite"), c("schedule-send-reply"),
            c("schedule-send-freebusy")} <= granted
    assert d("write") not in granted


def test_outbox_is_listed_in_the_home(world: World) -> None:
    answer = apple(world, "alice", "PROPFIND", "/alice/", apple_propfind_body(OUTBOX_PROPS),
                   "1")
    found = multistatus(answer)
    assert "/alice/schedule-outbox/" in found
    assert names(ok(found["/alice/schedule-outbox/"], d("resourcetype"))) == {
        d("collection"), c("schedule-outbox")}


@pytest.mark.parametrize("path", ["/alice/schedule-inbox/", "/alice/schedule-outbox/"])
def test_others_cannot_propfind_a_users_boxes(world: World, path: str) -> None:
    answer = tb_propfind(world, "bob", path, ["D:resourcetype", "D:getetag"], depth=1)
    assert answer.status_code in (403, 404), answer.text
    assert "schedule-inbox" not in answer.text and ".ics" not in answer.text


def test_others_cannot_see_a_users_scheduling_properties(world: World) -> None:
    answer = tb_propfind(world, "bob", "/alice/", TB_PRINCIPAL_NS)
    assert answer.status_code in (403, 404), answer.text
    assert "mailto:" not in answer.text and "schedule-" not in answer.text


def test_calendar_user_type_comes_from_user_types(world: World) -> None:
    """calendar-user-type (RFC 6638 §2.4.2), which Apple asks with the principal
    properties of attendees, on each user's own principal."""
    body = apple_propfind_body([c("calendar-user-type"), c("calendar-user-address-set")])
    for user, kind in (("carol", "ROOM"), ("alice", "INDIVIDUAL"), ("bob", "INDIVIDUAL")):
        props = multistatus(apple(world, user, "PROPFIND", "/%s/" % user, body, "0"))[
            "/%s/" % user]
        assert ok(props, c("calendar-user-type")).text == kind
        assert hrefs(ok(props, c("calendar-user-address-set")))[0] == (
            "mailto:%s@example.org" % user)


def test_default_calendar_is_the_calendar_made_with_mkcalendar(world: World) -> None:
    """carol has no calendar yet: no default (404); after MKCALENDAR it is that one, on
    her principal and on her inbox (RFC 6638 §9.2)."""
    asked = [c("schedule-default-calendar-URL")]
    carol = world.session("carol")
    before = multistatus(apple(world, "carol", "PROPFIND", "/carol/",
                               apple_propfind_body(asked), "0"))["/carol/"]
    not_found(before, c("schedule-default-calendar-URL"))
    mkcalendar(carol, world.url("/carol/room/"))
    for path in ("/carol/", "/carol/schedule-inbox/"):
        props = multistatus(apple(world, "carol", "PROPFIND", path,
                                  apple_propfind_body(asked), "0"))[path]
        assert hrefs(ok(props, c("schedule-default-calendar-URL"))) == ["/carol/room/"]


def test_allprop_gives_the_same_address_set(world: World) -> None:
    """A property has one value however it is asked for (RFC 4918 §9.1)."""
    answer = world.session("alice").request("PROPFIND", world.url("/alice/"),
                                            headers={"Depth": "0"})
    props = multistatus(answer)["/alice/"]
    assert hrefs(ok(props, c("calendar-user-address-set"))) == [
        "mailto:alice@example.org", "mailto:alice.smith@example.org", "/alice/"]


# -- Schedule-Tag ----------------------------------------------------------------------


def test_schedule_tag_in_propfind_depth_1(world: World) -> None:
    """RFC 6638 §3.2.10: scheduling objects carry C:schedule-tag; an event without
    ORGANIZER is no scheduling object (404)."""
    get = world.session("alice").get(world.url("/alice/work/meeting.ics"))
    assert get.headers.get("Schedule-Tag") == world.meeting_tag
    answer = apple(world, "alice", "PROPFIND", "/alice/work/",
                   apple_propfind_body([d("getetag"), c("schedule-tag")]), "1")
    assert "calendar-auto-schedule" in dav_tokens(answer)
    found = multistatus(answer)
    assert set(found) == {"/alice/work/", "/alice/work/meeting.ics", "/alice/work/solo.ics"}
    meeting, solo = found["/alice/work/meeting.ics"], found["/alice/work/solo.ics"]
    assert ok(meeting, c("schedule-tag")).text == world.meeting_tag
    assert ok(meeting, d("getetag")).text
    not_found(solo, c("schedule-tag"))
    assert ok(solo, d("getetag")).text
    not_found(found["/alice/work/"], c("schedule-tag"))


def test_schedule_tag_in_calendar_multiget(world: World) -> None:
    """Apple's calendar-multiget (getetag, calendar-data, schedule-tag; no Depth)."""
    targets = ["/alice/work/meeting.ics", "/alice/work/solo.ics"]
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<C:calendar-multiget xmlns:C="urn:ietf:params:xml:ns:caldav">\n'
            '  <A:prop xmlns:A="DAV:">\n    <A:getetag/>\n    <C:calendar-data/>\n'
            "    <C:schedule-tag/>\n  </A:prop>\n%s</C:calendar-multiget>\n" % "".join(
                '  <A:href xmlns:A="DAV:">%s</A:href>\n' % href for href in targets))
    answer = apple(world, "alice", "REPORT", "/alice/work/", body, None)
    found = multistatus(answer)
    assert set(found) == set(targets)
    meeting, solo = found[targets[0]], found[targets[1]]
    for props in (meeting, solo):
        assert_answers_exactly(props, APPLE_MULTIGET)
    assert ok(meeting, c("schedule-tag")).text == world.meeting_tag
    assert "ORGANIZER" in (ok(meeting, c("calendar-data")).text or "")
    not_found(solo, c("schedule-tag"))
    assert "BEGIN:VEVENT" in (ok(solo, c("calendar-data")).text or "")
