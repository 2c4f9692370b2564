"""The stages of implicit scheduling, each alone: plan, the organizer's stages, the one
apply-and-deliver step and the deliveries it serves.

Plans and stages run on plain values (the broker's messages from inline meetings, the
look-ups as small functions); deliveries write through an in-memory calendar port and a
real database connection (SQLite, and PostgreSQL when configured) for the Schedule-Tags.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterator

import pytest
from icalendar import Calendar
from sqlalchemy import Connection

from radicale_tracks.core.broker import attendee_messages, organizer_messages
from radicale_tracks.core.itip import ItipMessage, attendees_of, main_components, parse_calendar
from radicale_tracks.db.engine import create_database_engine, ensure_schema
from radicale_tracks.scheduling import tags
from radicale_tracks.scheduling.delivery import Deliveries, apply_and_deliver
from radicale_tracks.scheduling.organizer import (
    OrganizerMeeting,
    messages_to_send,
    to_store,
    with_assistant,
    with_rooms,
)
from radicale_tracks.scheduling.plan import (
    DELIVERED,
    INVALID_USER,
    NO_AUTHORITY,
    NOT_SUPPORTED,
    SENT,
    Recipient,
    StoredObject,
    organized_by,
    plan_deliveries,
)

NOW = datetime.datetime(2027, 1, 4, 8, 0, tzinfo=datetime.UTC)
ALICE = frozenset({"alice@example.org"})
PEOPLE = {"bob@example.org": Recipient("local", "bob"),
          "carol@example.org": Recipient("local", "carol"),
          "room@example.org": Recipient("local", "room"),
          "dave@elsewhere.test": Recipient("external", None),
          "eve@elsewhere.test": Recipient("external", None),
          "zed@elsewhere.test": Recipient("external", None),
          "assistant@example.org": Recipient("assistant", None),
          "ghost@example.org": Recipient("invalid", None)}


def meeting(attendees: list[str], *, sequence: int = 0, start: str = "20270111T090000Z",
            organizer: str = "alice@example.org", partstats: dict[str, str] | None = None,
            stamp: str = "20270101T000000Z", extra: str = "") -> Calendar:
    partstats = partstats or {}
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
             "UID:stages@example.org", "DTSTAMP:" + stamp, "DTSTART:" + start,
             "DURATION:PT1H", "SUMMARY:Planning", "SEQUENCE:%d" % sequence,
             "ORGANIZER;CN=Alice:mailto:" + organizer]
    lines += ["ATTENDEE;PARTSTAT=%s:mailto:%s" % (partstats.get(a, "NEEDS-ACTION"), a)
              for a in attendees]
    lines += [line for line in extra.splitlines() if line]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return parse_calendar("\r\n".join(lines) + "\r\n")


def text(calendar: Calendar) -> str:
    return str(calendar.to_ical().decode("utf-8"))


def classify(address: str) -> Recipient:
    return PEOPLE[address]


def status_of(calendar: Calendar, address: str) -> str | None:
    prop = attendees_of(main_components(calendar)[None])[address]
    value = prop.params.get("SCHEDULE-STATUS")
    return None if value is None else str(value)


class Calendars:
    """The users' calendars and inboxes in memory: user → href → text (the port the
    deliveries write through, ``scheduling/delivery.InboxCalendars``)."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, str]] = {}
        self.inboxes: dict[str, list[str]] = {}

    def find_object(self, user: str, uid: str) -> StoredObject | None:
        for href, body in self.objects.get(user, {}).items():
            if "UID:%s" % uid in body:
                return StoredObject("/%s/calendar/" % user, href, body, "etag-" + href)
        return None

    def default_calendar(self, user: str) -> str:
        return "/%s/calendar/" % user

    def write_object(self, collection_path: str, href: str, text: str) -> None:
        self.objects.setdefault(collection_path.strip("/").split("/")[0], {})[href] = text

    def new_href(self, uid: str) -> str:
        return uid.replace("@", "-") + ".ics"

    def deliver(self, user: str, text: str) -> str:
        self.inboxes.setdefault(user, []).append(text)
        return "inbox-%d.ics" % len(self.inboxes[user])

    def remove_object(self, collection_path: str, href: str) -> None:
        del self.objects[collection_path.strip("/").split("/")[0]][href]


class NoMail:
    """Deliveries to users here send no mail; a call would be a wrong turn."""

    def mail(self, *args: object, **kwargs: object) -> object:
        raise AssertionError("no mail expected")


@pytest.fixture
def connection(database_url: str) -> Iterator[Connection]:
    engine = create_database_engine(database_url)
    ensure_schema(engine)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def deliveries(calendars: Calendars) -> Deliveries:
    return Deliveries(calendars, classify, NoMail(), lambda: NOW,  # type: ignore[arg-type]
                      max_attendees=10)


def request_to(recipient: str, calendar: Calendar, old: Calendar | None = None
               ) -> ItipMessage:
    return next(m for m in organizer_messages(old, calendar, ALICE, NOW)
                if m.recipient == recipient)


# --- plan --------------------------------------------------------------------------


def test_the_plan_says_who_gets_what_and_why_not() -> None:
    new = meeting(["bob@example.org", "carol@example.org", "dave@elsewhere.test",
                   "assistant@example.org", "ghost@example.org", "zed@elsewhere.test"])
    carols = meeting(["carol@example.org"], organizer="mallory@example.org")
    copies = {("carol", "stages@example.org"): StoredObject("/carol/calendar/", "c.ics",
                                                            text(carols), "e1")}
    messages = organizer_messages(None, new, ALICE, NOW)
    plan = plan_deliveries(messages, classify, lambda user, uid: copies.get((user, uid)),
                           max_attendees=4)
    # the assistant's side is not counted against the limit; the fifth counted is over
    assert dict(plan.statuses) == {"bob@example.org": DELIVERED,
                                   "carol@example.org": NO_AUTHORITY,
                                   "dave@elsewhere.test": SENT,
                                   "ghost@example.org": INVALID_USER,
                                   "zed@elsewhere.test": NOT_SUPPORTED}
    assert [d.message.recipient for d in plan.deliveries] == ["bob@example.org",
                                                             "dave@elsewhere.test"]
    assert [m.recipient for m in plan.to_assistant] == ["assistant@example.org"]
    assert plan.local_recipients == frozenset({"bob@example.org"})


def test_a_resent_plan_carries_the_stored_meeting_but_to_rooms_that_answered() -> None:
    new = meeting(["bob@example.org", "room@example.org"])
    plan = plan_deliveries(organizer_messages(None, new, ALICE, NOW), classify,
                           lambda user, uid: None, max_attendees=10)
    answered = meeting(["bob@example.org", "room@example.org"],
                       partstats={"room@example.org": "ACCEPTED"})
    resent = plan.resent(organizer_messages(None, answered, ALICE, NOW), keep_users={"room"})
    by_user = {d.recipient.user: d.message for d in resent.deliveries}
    assert "PARTSTAT=ACCEPTED:mailto:room@example.org" in by_user["bob"].ics
    assert by_user["room"] is plan.deliveries[1].message
    assert resent.statuses == plan.statuses


def test_only_the_organizer_owns_a_copy() -> None:
    copy = meeting(["bob@example.org"])
    assert organized_by(None, "mailto:anyone@example.org")
    assert organized_by(copy, "mailto:Alice@Example.org")
    assert not organized_by(copy, "mallory@example.org")


# --- the organizer's stages ------------------------------------------------------------


def test_an_older_version_is_stored_but_sends_nothing() -> None:
    stored = meeting(["bob@example.org"], sequence=3)
    older = meeting(["bob@example.org"], sequence=2, start="20270112T090000Z")
    assert messages_to_send(stored, older, ALICE, NOW, "alice/calendar/m.ics") == []
    newer = meeting(["bob@example.org"], sequence=4, start="20270112T090000Z")
    [message] = messages_to_send(stored, newer, ALICE, NOW, "alice/calendar/m.ics")
    assert (message.recipient, message.method.value) == ("bob@example.org", "REQUEST")


def test_without_assistant_or_rooms_the_meeting_stays_as_written(
        connection: Connection) -> None:
    new = meeting(["bob@example.org"])
    plan = plan_deliveries(organizer_messages(None, new, ALICE, NOW), classify,
                           lambda user, uid: None, max_attendees=10)
    staged = with_assistant(None, connection, "alice", "/alice/calendar/m.ics", None, new,
                            plan, ALICE, NOW)
    assert staged == OrganizerMeeting(new, plan)
    assert with_rooms(None, connection, None, staged, ALICE, NOW) is staged


def test_the_stored_object_carries_every_schedule_status() -> None:
    sent = meeting(["bob@example.org", "dave@elsewhere.test", "carol@example.org"],
                   extra="ATTENDEE;SCHEDULE-AGENT=CLIENT;SCHEDULE-STATUS=2.0:"
                         "mailto:frank@elsewhere.test")
    plan = plan_deliveries(organizer_messages(None, sent, ALICE, NOW), classify,
                           lambda user, uid: None, max_attendees=2)
    stored = to_store(OrganizerMeeting(sent, plan), None, sent, lambda a: False)
    assert stored.statuses == {"bob@example.org": DELIVERED,
                               "carol@example.org": DELIVERED,
                               "dave@elsewhere.test": NOT_SUPPORTED,
                               # the client schedules Frank itself: its status is kept
                               "frank@elsewhere.test": "2.0"}
    assert stored.calendar is not None
    assert [status_of(stored.calendar, a) for a in ("bob@example.org",
                                                     "carol@example.org",
                                                     "dave@elsewhere.test",
                                                     "frank@elsewhere.test")] == [
        DELIVERED, DELIVERED, NOT_SUPPORTED, "2.0"]
    # nothing to add: stored as the client sent it (None), its ETag unchanged
    again = to_store(OrganizerMeeting(stored.calendar, plan), None, stored.calendar,
                     lambda a: False)
    assert again.calendar is None
    deleted = to_store(OrganizerMeeting(None, plan), sent, None, lambda a: False)
    assert (deleted.calendar, deleted.statuses) == (None, dict(plan.statuses))


# --- apply and deliver, once -------------------------------------------------------------


def test_a_stale_message_reaches_no_inbox_and_a_newer_one_does() -> None:
    calendars = Calendars()
    stored = meeting(["bob@example.org"], sequence=2)
    stale = request_to("bob@example.org", meeting(["bob@example.org"], sequence=1))
    applied = apply_and_deliver(calendars, "bob", stale, stale.calendar(), stored,
                                authoritative=False, refusal="Not delivered")
    assert (applied.answer, applied.calendar, calendars.inboxes) == ("stale", None, {})
    newer = request_to("bob@example.org", meeting(["bob@example.org"], sequence=3,
                                                  start="20270112T090000Z"))
    applied = apply_and_deliver(calendars, "bob", newer, newer.calendar(), stored,
                                authoritative=False, refusal="Not delivered")
    assert applied.answer == "updated" and applied.calendar is not None
    assert "DTSTART:20270112T090000Z" in text(applied.calendar)
    assert calendars.inboxes == {"bob": [newer.ics]}


def test_an_unreadable_message_is_refused_before_the_inbox() -> None:
    calendars = Calendars()
    stored = meeting(["bob@example.org"])
    message = request_to("bob@example.org", meeting(["bob@example.org"], sequence=1))
    without_method = parse_calendar(message.ics.replace("METHOD:REQUEST\r\n", ""))
    applied = apply_and_deliver(calendars, "bob", message, without_method, stored,
                                authoritative=False, refusal="Not delivered")
    assert applied.answer == ("refused: RFC 5546 §1.4: an iTIP message must have a METHOD "
                              "property")
    assert applied.calendar is None and calendars.inboxes == {}


def test_a_message_that_does_not_apply_still_reaches_the_inbox() -> None:
    """Only stale and unreadable messages stop short of the inbox: one for another
    meeting is the user's client's to judge, and nothing is written."""
    calendars = Calendars()
    stored = meeting(["bob@example.org"])
    message = request_to("bob@example.org", meeting(["bob@example.org"], sequence=1))
    foreign = parse_calendar(message.ics.replace("UID:stages@example.org",
                                                 "UID:another@example.org"))
    applied = apply_and_deliver(calendars, "bob", message, foreign, stored,
                                authoritative=False, refusal="Not delivered")
    assert (applied.answer, applied.calendar) == ("ignored", None)
    assert calendars.inboxes == {"bob": [message.ics]}


# --- deliveries ------------------------------------------------------------------------


def test_an_invitation_creates_the_copy_and_a_new_time_moves_its_tag(
        connection: Connection) -> None:
    calendars = Calendars()
    delivery = deliveries(calendars)
    first = meeting(["bob@example.org", "carol@example.org"])
    assert delivery.to_attendee(connection, "bob", request_to("bob@example.org", first),
                                None) == "created"
    [(href, body)] = calendars.objects["bob"].items()
    assert "SCHEDULE-STATUS" not in body and "METHOD" not in body
    path = tags.object_path("/bob/calendar/", href)
    existing = calendars.find_object("bob", "stages@example.org")
    # another attendee's answer is inconsequential: the tag stays the current ETag
    answered = meeting(["bob@example.org", "carol@example.org"],
                       partstats={"carol@example.org": "ACCEPTED"})
    answered_request = request_to("bob@example.org", answered)
    assert delivery.to_attendee(connection, "bob", answered_request, existing) == "updated"
    assert tags.schedule_tag(connection, path, "etag-next") == "etag-" + href
    # a new time is consequential: the tag follows the ETag again
    existing = calendars.find_object("bob", "stages@example.org")
    moved = meeting(["bob@example.org", "carol@example.org"], sequence=1,
                    start="20270112T090000Z")
    assert delivery.to_attendee(connection, "bob", request_to("bob@example.org", moved,
                                                              answered), existing) == "updated"
    assert tags.schedule_tag(connection, path, "etag-next") == "etag-next"
    assert len(calendars.inboxes["bob"]) == 3


def test_a_reply_updates_the_organizer_and_the_other_attendees_follow(
        connection: Connection) -> None:
    calendars = Calendars()
    invited = meeting(["bob@example.org", "carol@example.org"])
    for user in ("alice", "carol"):
        calendars.write_object("/%s/calendar/" % user, "m.ics", text(invited))
    PEOPLE["alice@example.org"] = Recipient("local", "alice")
    try:
        reply = attendee_messages(invited, meeting(
            ["bob@example.org", "carol@example.org"],
            partstats={"bob@example.org": "ACCEPTED"}), "bob@example.org", NOW)[0]
        result = deliveries(calendars).reply(connection, "alice", reply, "bob", None)
    finally:
        del PEOPLE["alice@example.org"]
    assert result == "reply-applied"
    assert calendars.inboxes == {"alice": [reply.ics]}
    for user in ("alice", "carol"):
        copy = parse_calendar(calendars.objects[user]["m.ics"])
        prop = attendees_of(main_components(copy)[None])["bob@example.org"]
        assert str(prop.params["PARTSTAT"]) == "ACCEPTED", user
        # a server change of an answer: both keep their Schedule-Tag
        assert tags.schedule_tag(connection, "%s/calendar/m.ics" % user, "x") == "etag-m.ics"


def test_a_reply_to_someone_elses_meeting_is_refused(connection: Connection) -> None:
    calendars = Calendars()
    theirs = meeting(["bob@example.org"], organizer="mallory@example.org")
    calendars.write_object("/alice/calendar/", "m.ics", text(theirs))
    reply = attendee_messages(
        meeting(["bob@example.org"]), meeting(["bob@example.org"],
                                              partstats={"bob@example.org": "DECLINED"}),
        "bob@example.org", NOW)[0]
    assert deliveries(calendars).reply(connection, "alice", reply, "bob", None) == (
        "refused: not the organizer's meeting")
    assert calendars.inboxes == {}
    assert calendars.objects["alice"]["m.ics"] == text(theirs)


def test_an_unreadable_invitation_is_refused_not_raised(connection: Connection) -> None:
    """A REQUEST whose text does not parse is refused like any message that cannot be
    applied (inbound mail answers it as a refusal) — never an exception that fails the
    whole write or mail: parsing is part of applying it."""
    calendars = Calendars()
    message = request_to("bob@example.org", meeting(["bob@example.org"]))
    unreadable = dataclasses.replace(message, ics="BEGIN:VCALENDAR\r\nnot iCalendar\r\n")
    result = deliveries(calendars).to_attendee(connection, "bob", unreadable, None,
                                               authoritative=False)
    assert result.startswith("refused: RFC 5545: not a valid iCalendar object")
    assert calendars.inboxes == {} and calendars.objects == {}
