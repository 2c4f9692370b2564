"""A meeting moved to another calendar the way calendar programs do it.

Thunderbird, and apps on Android through the system calendar, move an event from one
calendar to another by writing the copy into the new calendar (``PUT`` with
``If-None-Match: *``) and then deleting the original (``DELETE`` with ``If-Match``); only
some clients send a WebDAV ``MOVE``. RFC 6638 §3.2.4.1 lets a server refuse the copy;
this one takes it as the same meeting: the copy is scheduled as a change of the other
(nothing sent when nothing changed) and deleting one of two copies cancels or declines
nothing. Deleting the last copy still does.

End to end on the scheduling world of ``conftest.py`` (a real Radicale with the plugins,
SQLite and PostgreSQL), as a client would send it, over HTTP with ``requests``.
"""

from __future__ import annotations

import datetime

import requests
from icalendar import Calendar

from caldav_clients import (
    calendars,
    component,
    find,
    inbox_items,
    method_of,
    partstat,
    stored_event,
    uid_for,
)
from helpers import USERS, RadicaleServer, put
from mailserver import MailSink
from test_scheduling import START, organized


def session(user: str) -> requests.Session:
    opened = requests.Session()
    opened.auth = (user, USERS[user])
    return opened


def other_calendar(server: RadicaleServer, user: str) -> str:
    """``/<user>/moved/``, made on first use."""
    url = "%s/%s/moved/" % (server.url, user)
    answer = session(user).request("MKCALENDAR", url)
    assert answer.status_code in (201, 405, 409), answer.text  # 409: made before
    return url


def move_by_copy(server: RadicaleServer, user: str, uid: str) -> str:
    """What Thunderbird sends to move ``uid`` from Work to another calendar: the copy,
    then the delete of the original. The copy's URL."""
    original = find(server, user, uid)
    client = session(user)
    text = client.get(str(original.url)).text
    target = other_calendar(server, user) + "copied-%s.ics" % uid.split("@")[0]
    copied = put(client, target, text, **{"If-None-Match": "*"})
    assert copied.status_code == 201, copied.text
    etag = client.get(str(original.url)).headers["ETag"]
    deleted = client.delete(str(original.url), headers={"If-Match": etag})
    assert deleted.status_code in (200, 204), deleted.text
    return target


def test_the_organizer_moves_a_meeting_and_nobody_is_told_of_a_change_that_is_none(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    server, _sink = world
    uid = uid_for("moved")
    people = ["bob@example.org", "dana@example.net"]
    calendars(server, "alice").save_event(organized(uid, "Planning", START, people))
    mail.wait_for(1)
    mail.take()
    bob = find(server, "bob", uid)
    bob.load()
    sequence, messages = component(bob)["SEQUENCE"], len(inbox_items(server, "bob", uid))

    target = move_by_copy(server, "alice", uid)
    assert mail.settle() == [], "dana was mailed about a move between calendars"
    kept = find(server, "bob", uid)
    assert str(component(kept).get("STATUS", "CONFIRMED")) != "CANCELLED"
    assert component(kept)["SEQUENCE"] == sequence
    assert len(inbox_items(server, "bob", uid)) == messages
    assert "CANCEL" not in [method_of(i) for i in inbox_items(server, "bob", uid)]
    # the meeting lives on in the other calendar: changing it there reaches everyone
    client = session("alice")
    later = START + datetime.timedelta(hours=2)
    assert put(client, target, organized(uid, "Planning", later, people, sequence=1)
               ).status_code == 204
    assert component(find(server, "bob", uid))["DTSTART"].dt == later
    (update,) = mail.wait_for(1)
    assert update.recipient == "dana@example.net"
    assert update.calendar().walk("VEVENT")[0]["DTSTART"].dt == later
    # and deleting it there, the last copy, cancels it for everyone
    mail.take()
    assert client.delete(target).status_code in (200, 204)
    assert str(component(find(server, "bob", uid))["STATUS"]) == "CANCELLED"
    (cancel,) = mail.wait_for(1)
    assert cancel.kind == "cancellation" and cancel.recipient == "dana@example.net"


def test_an_attendee_moves_their_copy_without_declining(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    server, _sink = world
    uid = uid_for("kept")
    calendars(server, "alice").save_event(organized(uid, "Review", START,
                                                    ["bob@example.org"]))
    event = find(server, "bob", uid)
    event.change_attendee_status("mailto:bob@example.org", partstat="ACCEPTED")
    event.save(increase_seqno=False)
    assert partstat(find(server, "alice", uid), "bob@example.org") == "ACCEPTED"

    move_by_copy(server, "bob", uid)
    assert partstat(find(server, "alice", uid), "bob@example.org") == "ACCEPTED"
    assert [method_of(i) for i in inbox_items(server, "alice", uid)].count("REPLY") == 1
    # deleting the last copy is his answer: he declines
    client = session("bob")
    moved = other_calendar(server, "bob") + "copied-%s.ics" % uid.split("@")[0]
    assert client.delete(moved).status_code in (200, 204)
    assert partstat(find(server, "alice", uid), "bob@example.org") == "DECLINED"


def test_a_copy_that_changes_the_meeting_is_sent_as_a_change(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    """A copy is a change of the meeting the other copy holds: what differs is sent."""
    server, _sink = world
    uid = uid_for("copied")
    people = ["bob@example.org", "dana@example.net"]
    calendars(server, "alice").save_event(organized(uid, "Sync", START, people))
    mail.wait_for(1)
    mail.take()
    later = START + datetime.timedelta(days=1)
    target = other_calendar(server, "alice") + "changed-%s.ics" % uid.split("@")[0]
    assert put(session("alice"), target, organized(uid, "Sync", later, people, sequence=1),
               **{"If-None-Match": "*"}).status_code == 201
    (update,) = mail.wait_for(1)
    assert "Updated invitation" in str(update.message["Subject"])
    # (bob's copy is looked for in all his calendars: the test before moved one)
    assert stored_event(server, "bob", uid).walk("VEVENT")[0]["DTSTART"].dt == later


def test_deleting_the_copy_that_alone_invites_someone_cancels_it_for_them(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    """Two copies that no longer agree: dana was invited through the original only (the
    copy in another calendar, written before, does not name her). Deleting the original
    leaves the meeting as the copy has it — without dana — so she is told it is
    cancelled for her; nothing else would ever tell her (deleting the copy later
    cancels only for those it names)."""
    server, _sink = world
    uid = uid_for("diverged")
    calendars(server, "alice").save_event(organized(uid, "Budget", START,
                                                    ["bob@example.org"]))
    original = find(server, "alice", uid)
    client = session("alice")
    text = client.get(str(original.url)).text
    target = other_calendar(server, "alice") + "diverged-%s.ics" % uid.split("@")[0]
    assert put(client, target, text, **{"If-None-Match": "*"}).status_code == 201
    assert mail.settle() == []
    # the original changes: dana is invited there (and only there)
    assert put(client, str(original.url), organized(
        uid, "Budget", START, ["bob@example.org", "dana@example.net"], sequence=1)
               ).status_code == 204
    (invitation,) = mail.wait_for(1)
    assert invitation.recipient == "dana@example.net"
    mail.take()
    assert client.delete(str(original.url)).status_code in (200, 204)
    sent = mail.settle()
    assert [(m.kind, m.recipient) for m in sent] == [("cancellation", "dana@example.net")]
    # bob, on both copies, keeps the meeting
    assert str(component(find(server, "bob", uid)).get("STATUS", "CONFIRMED")) != (
        "CANCELLED")


def test_an_attendee_s_copy_may_not_take_over_one_occurrence(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    """A copy written into another calendar is held to what its owner may change in the
    meeting, as a write over the copy they have is: an attendee's copy whose one
    occurrence names another ORGANIZER is refused (RFC 6638 §3.2.2.1), nothing stored."""
    server, _sink = world
    uid = uid_for("override")
    series = organized(uid, "Standup", START, ["bob@example.org"]).replace(
        "END:VEVENT", "RRULE:FREQ=DAILY;COUNT=3\r\nEND:VEVENT", 1)
    calendars(server, "alice").save_event(series)
    client = session("bob")
    stored = Calendar.from_ical(client.get(str(find(server, "bob", uid).url)).text)
    master = stored.walk("VEVENT")[0]
    override = Calendar.from_ical(master.to_ical())
    second = master["DTSTART"].dt + datetime.timedelta(days=1)
    for name in ("RRULE", "DTSTART", "DTEND", "ORGANIZER"):
        del override[name]
    override.add("RECURRENCE-ID", second)
    override.add("DTSTART", second)
    override.add("DTEND", second + datetime.timedelta(hours=1))
    override.add("ORGANIZER", "mailto:bob@example.org")
    stored.add_component(override)
    target = other_calendar(server, "bob") + "taken-%s.ics" % uid.split("@")[0]

    answer = put(client, target, stored.to_ical().decode(), **{"If-None-Match": "*"})
    assert answer.status_code == 403, answer.text
    assert "allowed-attendee-scheduling-object-change" in answer.text
    assert "organized by alice@example.org" in answer.text
    assert client.get(target).status_code == 404
    assert mail.settle() == []
