"""End to end: RFC 6638 scheduling between three users, with the python ``caldav`` library.

A real Radicale with the storage and rights plugins on 127.0.0.1 (``world`` of
``conftest.py``: served by a thread of the test process), alice, bob and carol on their own
``caldav`` clients, and a real SMTP server (aiosmtpd) receiving the iMIP mail for people
outside the server. Each test uses its own UIDs on one server.
"""

from __future__ import annotations

import datetime
from typing import Any

import caldav
import pytest
import requests
from icalendar import Calendar

from caldav_clients import (
    as_list,
    calendars,
    client,
    component,
    find,
    inbox_items,
    method_of,
    partstat,
    principal,
    uid_for,
)
from helpers import USERS, RadicaleServer, stored_texts
from mailserver import MailSink

UTC = datetime.UTC
DOMAIN = "example.org"
START = datetime.datetime(2027, 3, 1, 10, tzinfo=UTC)


def event_text(uid: str, summary: str, start: datetime.datetime, *, sequence: int = 0,
               extra: str = "") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
             "UID:" + uid, "DTSTAMP:20270101T000000Z",
             "DTSTART:" + start.strftime("%Y%m%dT%H%M%SZ"),
             "DTEND:" + (start + datetime.timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ"),
             "SUMMARY:" + summary, "SEQUENCE:%d" % sequence]
    lines += [line for line in extra.splitlines() if line]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def organized(uid: str, summary: str, start: datetime.datetime, attendees: list[str], *,
              sequence: int = 0, organizer: str = "alice") -> str:
    extra = ["ORGANIZER;CN=%s:mailto:%s@example.org" % (organizer.title(), organizer)]
    extra += ["ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:%s" % a for a in attendees]
    return event_text(uid, summary, start, sequence=sequence, extra="\n".join(extra))


def schedule_status(event: Any, address: str) -> str | None:
    for prop in as_list(component(event).get("ATTENDEE", [])):
        if str(prop).lower() == "mailto:" + address:
            return prop.params.get("SCHEDULE-STATUS")
    raise AssertionError("%s is not an attendee" % address)


def tag_of(server: RadicaleServer, user: str, event: Any) -> str:
    answer = requests.get(str(event.url), auth=(user, USERS[user]), timeout=10)
    assert answer.status_code == 200
    return answer.headers["Schedule-Tag"]


# -- invite, accept, decline ------------------------------------------------------------


def test_invitations_answers_and_schedule_tags(world: tuple[RadicaleServer, MailSink],
                                               mail: MailSink) -> None:
    server, _sink = world
    uid = uid_for("plan")
    alice = calendars(server, "alice")
    saved = alice.save_with_invites(
        organized(uid, "Planning", START, []),
        ["mailto:bob@example.org", "mailto:carol.c@example.org", "mailto:dana@example.net"])
    assert saved.id == uid

    # alice's copy says what happened to each invitation (RFC 6638 §7.3)
    mine = find(server, "alice", uid)
    assert schedule_status(mine, "bob@example.org") == "1.2"
    assert schedule_status(mine, "carol.c@example.org") == "1.2"  # carol's alias
    assert schedule_status(mine, "dana@example.net") == "1.1"

    # bob and carol: a REQUEST in the inbox and the meeting in their calendar
    for user, address in (("bob", "bob@example.org"), ("carol", "carol.c@example.org")):
        (item,) = inbox_items(server, user, uid)
        assert method_of(item) == "REQUEST"
        copy = find(server, user, uid)
        assert partstat(copy, address) == "NEEDS-ACTION"
        assert str(component(copy)["SUMMARY"]) == "Planning"
        assert "SCHEDULE-STATUS" not in copy.data
    # dana (elsewhere): one iMIP mail, from alice, carrying the REQUEST
    (invitation,) = mail.wait_for(1)
    assert invitation.recipient == "dana@example.net" and invitation.kind == "invitation"
    assert invitation.message["From"].addresses[0].addr_spec == "alice@example.org"
    request = invitation.calendar()
    assert request is not None and str(request["METHOD"]) == "REQUEST"
    assert str(request.walk("VEVENT")[0]["UID"]) == uid
    mail.take()

    tag_before = tag_of(server, "alice", mine)

    # bob accepts from his inbox (caldav's accept_invite: his copy, If-Schedule-Tag-Match)
    (item,) = inbox_items(server, "bob", uid)
    bob_copy = find(server, "bob", uid)
    bob_tag = tag_of(server, "bob", bob_copy)
    item.accept_invite(calendar=calendars(server, "bob"))
    assert partstat(find(server, "bob", uid), "bob@example.org") == "ACCEPTED"
    assert tag_of(server, "bob", find(server, "bob", uid)) == bob_tag  # PARTSTAT only
    mine = find(server, "alice", uid)
    assert partstat(mine, "bob@example.org") == "ACCEPTED"
    replies = [i for i in inbox_items(server, "alice", uid) if method_of(i) == "REPLY"]
    assert len(replies) == 1
    # a merged reply does not change the organizer's Schedule-Tag (§3.2.10)
    assert tag_of(server, "alice", mine) == tag_before
    # carol's copy follows bob's answer
    assert partstat(find(server, "carol", uid), "bob@example.org") == "ACCEPTED"

    # carol declines by editing her copy
    carol_copy = find(server, "carol", uid)
    carol_copy.change_attendee_status("mailto:carol.c@example.org", partstat="DECLINED")
    carol_copy.save(increase_seqno=False)
    mine = find(server, "alice", uid)
    assert partstat(mine, "carol.c@example.org") == "DECLINED"
    assert partstat(find(server, "bob", uid), "carol.c@example.org") == "DECLINED"
    assert mail.settle(quiet=1.5) == []  # nobody outside hears about answers


def test_if_schedule_tag_match_merges_and_a_stale_tag_is_refused(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    server, _sink = world
    uid = uid_for("review")
    alice = calendars(server, "alice")
    alice.save_with_invites(organized(uid, "Review", START, []), ["mailto:bob@example.org"])
    mine = find(server, "alice", uid)
    tag = tag_of(server, "alice", mine)
    stale_text = mine.data

    (item,) = inbox_items(server, "bob", uid)
    item.accept_invite(calendar=calendars(server, "bob"))
    assert tag_of(server, "alice", find(server, "alice", uid)) == tag

    # alice's client still has the copy from before bob answered: with her Schedule-Tag
    # the server keeps bob's answer and takes her edit (§3.2.10)
    edited = stale_text.replace("SUMMARY:Review", "SUMMARY:Review (room 2)")
    answer = requests.put(str(mine.url), data=edited.encode(), timeout=10,
                          auth=("alice", USERS["alice"]),
                          headers={"Content-Type": "text/calendar",
                                   "If-Schedule-Tag-Match": tag})
    assert answer.status_code == 204, answer.text
    new_tag = answer.headers["Schedule-Tag"]
    assert new_tag != tag
    merged = find(server, "alice", uid)
    assert str(component(merged)["SUMMARY"]) == "Review (room 2)"
    assert partstat(merged, "bob@example.org") == "ACCEPTED"
    assert str(component(find(server, "bob", uid))["SUMMARY"]) == "Review (room 2)"

    # the old tag no longer matches: 412, nothing stored
    answer = requests.put(str(mine.url), data=stale_text.encode(), timeout=10,
                          auth=("alice", USERS["alice"]),
                          headers={"Content-Type": "text/calendar",
                                   "If-Schedule-Tag-Match": tag})
    assert answer.status_code == 412
    assert str(component(find(server, "alice", uid))["SUMMARY"]) == "Review (room 2)"
    answer = requests.delete(str(mine.url), auth=("alice", USERS["alice"]), timeout=10,
                             headers={"If-Schedule-Tag-Match": tag})
    assert answer.status_code == 412


def test_changes_cancellations_and_removed_attendees(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    server, _sink = world
    uid = uid_for("weekly")
    alice = calendars(server, "alice")
    people = ["bob@example.org", "carol@example.org", "dana@example.net"]
    alice.save_event(organized(uid, "Weekly", START, people))
    mail.wait_for(1)
    mail.take()
    bob_tag = tag_of(server, "bob", find(server, "bob", uid))

    # moved an hour later: everyone's copy follows, bob's Schedule-Tag changes
    later = START + datetime.timedelta(hours=1)
    alice.save_event(organized(uid, "Weekly", later, people, sequence=1))
    bob_copy = find(server, "bob", uid)
    assert component(bob_copy)["DTSTART"].dt == later
    assert tag_of(server, "bob", bob_copy) != bob_tag
    (update,) = mail.wait_for(1)
    assert update.recipient == "dana@example.net"
    assert "Updated invitation" in str(update.message["Subject"])
    assert update.calendar().walk("VEVENT")[0]["DTSTART"].dt == later
    mail.take()

    # carol taken off the meeting: she gets a CANCEL, her copy is cancelled
    alice.save_event(organized(uid, "Weekly", later, ["bob@example.org", "dana@example.net"],
                               sequence=2))
    carol_copy = find(server, "carol", uid)
    assert str(component(carol_copy)["STATUS"]) == "CANCELLED"
    assert "CANCEL" in [method_of(i) for i in inbox_items(server, "carol", uid)]
    # dana and bob see the new list of attendees (an update, not a new question)
    (update,) = mail.wait_for(1)
    attendees = [str(a).lower() for a in update.calendar().walk("VEVENT")[0]["ATTENDEE"]]
    assert "mailto:carol@example.org" not in attendees
    assert partstat(find(server, "bob", uid), "bob@example.org") == "NEEDS-ACTION"
    assert len(component(find(server, "bob", uid))["ATTENDEE"]) == 2
    mail.take()

    # the whole meeting deleted: bob's copy cancelled, dana gets a cancellation
    alice.event_by_uid(uid).delete()
    assert str(component(find(server, "bob", uid))["STATUS"]) == "CANCELLED"
    (cancel,) = mail.wait_for(1)
    assert cancel.kind == "cancellation" and cancel.recipient == "dana@example.net"
    assert str(cancel.calendar()["METHOD"]) == "CANCEL"


def test_an_attendee_deleting_declines_and_replies_reach_external_organizers(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    server, _sink = world
    uid = uid_for("standup")
    calendars(server, "alice").save_event(
        organized(uid, "Standup", START, ["bob@example.org"]))
    find(server, "bob", uid).delete()
    assert partstat(find(server, "alice", uid), "bob@example.org") == "DECLINED"

    # bob keeps an invitation he got by mail from someone elsewhere, then accepts it
    other = uid_for("external")
    bob = calendars(server, "bob")
    text = event_text(other, "Their meeting", START, extra="\n".join([
        "ORGANIZER;CN=Dana:mailto:dana@example.net",
        "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob@example.org"]))
    bob.save_event(text)
    assert mail.settle(quiet=1.5) == []  # storing the invitation answers nothing
    event = bob.event_by_uid(other)
    event.load()
    event.change_attendee_status("mailto:bob@example.org", partstat="ACCEPTED")
    event.save(increase_seqno=False)
    (reply,) = mail.wait_for(1)
    assert reply.kind == "reply" and reply.recipient == "dana@example.net"
    assert reply.message["From"].addresses[0].addr_spec == "bob@example.org"
    calendar = reply.calendar()
    assert str(calendar["METHOD"]) == "REPLY"
    answer = calendar.walk("VEVENT")[0]["ATTENDEE"]
    assert answer.params["PARTSTAT"] == "ACCEPTED"
    stored = find(server, "bob", other)
    assert component(stored)["ORGANIZER"].params["SCHEDULE-STATUS"] == "1.1"


def test_schedule_agent_client_and_unknown_users(world: tuple[RadicaleServer, MailSink],
                                                 mail: MailSink) -> None:
    server, _sink = world
    uid = uid_for("client-scheduled")
    text = event_text(uid, "Client-scheduled", START, extra="\n".join([
        "ORGANIZER:mailto:alice@example.org",
        "ATTENDEE;SCHEDULE-AGENT=CLIENT;SCHEDULE-STATUS=1.0:mailto:bob@example.org",
        "ATTENDEE;SCHEDULE-AGENT=CLIENT:mailto:erin@example.net",
        "ATTENDEE:urn:uuid:00000000-0000-0000-0000-000000000000"]))
    calendars(server, "alice").save_event(text)
    with pytest.raises(caldav.lib.error.NotFoundError):
        calendars(server, "bob").event_by_uid(uid)
    assert inbox_items(server, "bob", uid) == []
    assert mail.settle(quiet=1.5) == []
    mine = find(server, "alice", uid)
    assert schedule_status(mine, "bob@example.org") == "1.0"  # the client's own
    statuses = {str(p): p.params.get("SCHEDULE-STATUS")
                for p in component(mine)["ATTENDEE"]}
    assert statuses["urn:uuid:00000000-0000-0000-0000-000000000000"] == "3.7"


# -- free-busy --------------------------------------------------------------------------


def test_free_busy_through_the_outbox(world: tuple[RadicaleServer, MailSink],
                                      mail: MailSink) -> None:
    server, _sink = world
    day = datetime.datetime(2027, 5, 3, tzinfo=UTC)
    bob = calendars(server, "bob")
    bob.save_event(event_text(uid_for("busy"), "Busy", day + datetime.timedelta(hours=9)))
    bob.save_event(event_text(uid_for("maybe"), "Maybe", day + datetime.timedelta(hours=11),
                              extra="STATUS:TENTATIVE"))
    bob.save_event(event_text(uid_for("off"), "Off", day + datetime.timedelta(hours=13),
                              extra="STATUS:CANCELLED"))
    bob.save_event(event_text(uid_for("free"), "Free", day + datetime.timedelta(hours=15),
                              extra="TRANSP:TRANSPARENT"))

    answers = principal(server, "alice").freebusy_request(
        day, day + datetime.timedelta(days=1),
        ["mailto:bob@example.org", "mailto:nobody@example.org", "mailto:dana@example.net"])
    assert set(answers["errors"]) == {"mailto:nobody@example.org", "mailto:dana@example.net"}
    assert all(status.startswith("3.7") for status in answers["errors"].values())
    reply = Calendar.from_ical(answers["mailto:bob@example.org"].data)
    assert str(reply["METHOD"]) == "REPLY"
    lines: dict[str, list[Any]] = {}
    for p in as_list(reply.walk("VFREEBUSY")[0]["FREEBUSY"]):
        lines.setdefault(p.params["FBTYPE"], []).extend(_periods(p))
    nine, eleven = day + datetime.timedelta(hours=9), day + datetime.timedelta(hours=11)
    # bob's working hours are the default Mon-Fri 09:00-17:00 (UTC): the rest of the day
    # is BUSY-UNAVAILABLE (RFC 7953)
    assert lines == {"BUSY": [(nine, nine + datetime.timedelta(hours=1))],
                     "BUSY-TENTATIVE": [(eleven, eleven + datetime.timedelta(hours=1))],
                     "BUSY-UNAVAILABLE": [(day, nine),
                                          (day + datetime.timedelta(hours=17),
                                           day + datetime.timedelta(days=1))]}


def _periods(prop: Any) -> list[Any]:
    """FREEBUSY values as (start, end) in UTC, whatever icalendar parsed them into."""
    text = prop.to_ical().decode() if hasattr(prop, "to_ical") else str(prop)
    found = []
    for period in text.split(","):
        start, _, end = period.partition("/")
        def parse(s):
            return datetime.datetime.strptime(s, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        found.append((parse(start), parse(end)))
    return found


def test_free_busy_refusals(world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    server, _sink = world
    outbox = server.url + "/alice/schedule-outbox/"
    body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nMETHOD:REQUEST\r\n"
            "BEGIN:VFREEBUSY\r\nUID:fb1\r\nDTSTAMP:20270101T000000Z\r\n"
            "DTSTART:20270503T000000Z\r\nDTEND:20270504T000000Z\r\n"
            "ORGANIZER:mailto:%s\r\nATTENDEE:mailto:bob@example.org\r\n"
            "END:VFREEBUSY\r\nEND:VCALENDAR\r\n")
    headers = {"Content-Type": "text/calendar; charset=utf-8"}
    # somebody else's outbox
    answer = requests.post(outbox, data=body % "alice@example.org", headers=headers,
                           auth=("bob", USERS["bob"]), timeout=10)
    assert answer.status_code == 403
    # an ORGANIZER that is not the requester
    answer = requests.post(outbox, data=body % "bob@example.org", headers=headers,
                           auth=("alice", USERS["alice"]), timeout=10)
    assert answer.status_code == 403 and "organizer-allowed" in answer.text
    # not a scheduling message
    answer = requests.post(outbox, data="garbage", headers=headers,
                           auth=("alice", USERS["alice"]), timeout=10)
    assert answer.status_code == 400 and "valid-scheduling-message" in answer.text
    answer = requests.post(outbox, data="<x/>", headers={"Content-Type": "text/xml"},
                           auth=("alice", USERS["alice"]), timeout=10)
    assert answer.status_code == 415


# -- inbox ------------------------------------------------------------------------------


def test_inboxes_are_private_and_written_only_by_the_server(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    server, _sink = world
    uid = uid_for("private")
    calendars(server, "alice").save_event(
        organized(uid, "Private", START, ["bob@example.org"]))
    (item,) = inbox_items(server, "bob", uid)
    inbox = server.url + "/bob/schedule-inbox/"
    # nobody else reads it, bob cannot write into it
    for user in ("alice", "carol"):
        answer = requests.request("PROPFIND", inbox, auth=(user, USERS[user]),
                                  headers={"Depth": "1"}, timeout=10)
        assert answer.status_code in (403, 404)
        assert requests.get(str(item.url), auth=(user, USERS[user]),
                            timeout=10).status_code in (403, 404)
        assert requests.delete(str(item.url), auth=(user, USERS[user]),
                               timeout=10).status_code in (403, 404)
    answer = requests.put(inbox + "mine.ics", data=event_text("x", "x", START).encode(),
                          auth=("bob", USERS["bob"]), timeout=10,
                          headers={"Content-Type": "text/calendar"})
    assert answer.status_code == 403
    assert requests.delete(inbox, auth=("bob", USERS["bob"]), timeout=10).status_code == 403
    # bob deletes what he has read
    item.delete()
    assert inbox_items(server, "bob", uid) == []
    assert find(server, "bob", uid) is not None  # the meeting stays in his calendar


# -- the assistant ----------------------------------------------------------------------


def test_the_assistant_among_users_one_invitation_per_person(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    server, _sink = world
    uid = uid_for("kickoff")
    calendars(server, "alice").save_with_invites(
        organized(uid, "Kickoff", START, []),
        ["mailto:assistant@example.org", "mailto:bob@example.org", "mailto:dana@example.net"])
    mails = {(m.kind, m.recipient): m for m in mail.settle(quiet=2.0)}
    # one mail each: dana's carries the invitation, bob's none (his is in his calendar)
    assert set(mails) == {("track_created", "alice@example.org"),
                          ("member_added", "bob@example.org"),
                          ("member_added", "dana@example.net")}
    assert mails["member_added", "bob@example.org"].calendar() is None
    request = mails["member_added", "dana@example.net"].calendar()
    assert request is not None and str(request["METHOD"]) == "REQUEST"
    mine = find(server, "alice", uid)
    assert schedule_status(mine, "assistant@example.org") == "1.2"
    assert partstat(mine, "assistant@example.org") == "ACCEPTED"
    assert schedule_status(mine, "bob@example.org") == "1.2"
    assert schedule_status(mine, "dana@example.net") == "1.1"
    track_url = str(component(mine)["URL"])
    # the assistant is a principal with its own inbox: the REQUEST it was sent is there
    inbox = requests.request("PROPFIND", server.url + "/assistant/schedule-inbox/",
                             auth=("alice", USERS["alice"]), headers={"Depth": "1"},
                             timeout=10)
    assert inbox.status_code in (403, 404)  # and it is the assistant's alone
    assert any(uid in text for text in stored_texts(server, "assistant/schedule-inbox"))

    # bob's copy is the meeting as stored: the assistant accepted, the track's link
    bob_copy = find(server, "bob", uid)
    assert partstat(bob_copy, "assistant@example.org") == "ACCEPTED"
    assert str(component(bob_copy)["URL"]) == track_url

    # bob accepts from his inbox: alice's copy and the track copy show it, no mail
    (item,) = inbox_items(server, "bob", uid)
    item.accept_invite(calendar=calendars(server, "bob"))
    assert partstat(find(server, "alice", uid), "bob@example.org") == "ACCEPTED"
    track = client(server, "bob").calendar(url=track_url).event_by_uid(uid)
    assert partstat(track, "bob@example.org") == "ACCEPTED"
    assert mail.settle(quiet=1.5) == list(mails.values())


def test_nobody_but_the_organizer_changes_a_copy(world: tuple[RadicaleServer, MailSink],
                                                 mail: MailSink) -> None:
    server, _sink = world
    uid = uid_for("owned")
    calendars(server, "alice").save_event(
        organized(uid, "Alice's meeting", START, ["carol@example.org"]))
    # bob writes an event with the same UID, as its organizer, inviting carol
    calendars(server, "bob").save_event(
        organized(uid, "Hijacked", START + datetime.timedelta(days=1),
                  ["carol@example.org"], sequence=5, organizer="bob"))
    carol_copy = find(server, "carol", uid)
    assert str(component(carol_copy)["SUMMARY"]) == "Alice's meeting"
    assert str(component(carol_copy)["ORGANIZER"]).lower() == "mailto:alice@example.org"
    assert schedule_status(find(server, "bob", uid), "carol@example.org") == "3.8"


# -- an attendee's own changes only (RFC 6638 §3.2.2.1) ----------------------------------


def _answered(text: str, address: str, partstat: str, extra: str = "") -> str:
    """``text`` (a copy as a client fetched it) with ``address``'s PARTSTAT set and
    ``extra`` lines added to the VEVENT, as a client saves it (no RSVP once answered)."""
    calendar = Calendar.from_ical(text)
    event = calendar.walk("VEVENT")[0]
    for prop in as_list(event.get("ATTENDEE", [])):
        if str(prop).lower() == "mailto:" + address:
            prop.params["PARTSTAT"] = partstat
            prop.params.pop("RSVP", None)
    body = calendar.to_ical().decode()
    return body.replace("END:VEVENT", extra + "END:VEVENT", 1) if extra else body


def test_a_stale_attendee_save_answers_the_organizers_current_version(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    server, _sink = world
    uid = uid_for("moved")
    alice = calendars(server, "alice")
    alice.save_event(organized(uid, "Moved", START, ["bob@example.org"]))
    bob_copy = find(server, "bob", uid)
    stale_text, bob_url = bob_copy.data, str(bob_copy.url)

    # alice moves the meeting from 10:00 to 13:00; bob's copy follows
    later = START + datetime.timedelta(hours=3)
    alice.save_event(organized(uid, "Moved", later, ["bob@example.org"], sequence=1))
    moved = component(find(server, "bob", uid))
    assert moved["DTSTART"].dt == later
    sequence = int(moved["SEQUENCE"])

    # bob's client saves the copy it fetched before the move, accepted, unconditionally
    answer = requests.put(bob_url, timeout=10, auth=("bob", USERS["bob"]),
                          data=_answered(stale_text, "bob@example.org", "ACCEPTED").encode(),
                          headers={"Content-Type": "text/calendar"})
    assert answer.status_code == 204, answer.text
    assert "ETag" not in answer.headers  # the server stored something else: fetch it
    mine = find(server, "bob", uid)
    assert component(mine)["DTSTART"].dt == later
    assert int(component(mine)["SEQUENCE"]) == sequence
    assert partstat(mine, "bob@example.org") == "ACCEPTED"

    # alice's copy records his answer, for the 13:00 meeting his copy shows
    assert partstat(find(server, "alice", uid), "bob@example.org") == "ACCEPTED"
    (reply,) = [i for i in inbox_items(server, "alice", uid) if method_of(i) == "REPLY"]
    replied = Calendar.from_ical(reply.data).walk("VEVENT")[0]
    assert replied["DTSTART"].dt == later and int(replied["SEQUENCE"]) == sequence


def test_an_attendee_keeps_alarms_and_transparency_not_the_organizers_fields(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    server, _sink = world
    uid = uid_for("own")
    alice = calendars(server, "alice")
    alice.save_event(organized(uid, "Budget", START, ["bob@example.org"]))
    bob_copy = find(server, "bob", uid)
    alarm = "\r\n".join(["TRANSP:TRANSPARENT", "BEGIN:VALARM", "ACTION:DISPLAY",
                         "DESCRIPTION:Budget", "TRIGGER:-PT15M", "END:VALARM", ""])
    edited = bob_copy.data.replace("SUMMARY:Budget", "SUMMARY:Budget (skip?)").replace(
        "DTSTART:20270301T100000Z", "DTSTART:20270301T090000Z")
    assert edited != bob_copy.data
    etag = requests.get(str(bob_copy.url), timeout=10,
                        auth=("bob", USERS["bob"])).headers["ETag"]
    answer = requests.put(str(bob_copy.url), timeout=10, auth=("bob", USERS["bob"]),
                          data=edited.replace("END:VEVENT", alarm + "END:VEVENT", 1).encode(),
                          headers={"Content-Type": "text/calendar", "If-Match": etag})
    assert answer.status_code == 204, answer.text
    assert "ETag" not in answer.headers
    mine = component(find(server, "bob", uid))
    # merged away: the title and time are the organizer's ...
    assert str(mine["SUMMARY"]) == "Budget" and mine["DTSTART"].dt == START
    # ... the alarm and the transparency are bob's
    assert str(mine["TRANSP"]) == "TRANSPARENT"
    assert [str(a["TRIGGER"].to_ical().decode()) for a in mine.walk("VALARM")] == ["-PT15M"]
    assert str(component(find(server, "alice", uid))["SUMMARY"]) == "Budget"
    assert [i for i in inbox_items(server, "alice", uid) if method_of(i) == "REPLY"] == []

    # a save of exactly what the server holds is stored as sent: the ETag comes back
    current = requests.get(str(bob_copy.url), timeout=10, auth=("bob", USERS["bob"]))
    again = requests.put(str(bob_copy.url), timeout=10, auth=("bob", USERS["bob"]),
                         data=current.content, headers={"Content-Type": "text/calendar",
                                                        "If-Match": current.headers["ETag"]})
    assert again.status_code == 204 and again.headers.get("ETag") == current.headers["ETag"]


def test_an_attendee_cannot_make_a_copy_someone_elses_meeting(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    server, _sink = world
    uid = uid_for("taken")
    calendars(server, "alice").save_event(organized(uid, "Alice's", START,
                                                    ["bob@example.org"]))
    bob_copy = find(server, "bob", uid)
    kept = bob_copy.data
    for organizer in ("mailto:bob@example.org", "mailto:dana@example.net"):
        taken = kept.replace("mailto:alice@example.org", organizer, 1)
        assert taken != kept
        answer = requests.put(str(bob_copy.url), data=taken.encode(), timeout=10,
                              auth=("bob", USERS["bob"]),
                              headers={"Content-Type": "text/calendar"})
        assert answer.status_code == 403, answer.text
        assert "allowed-attendee-scheduling-object-change" in answer.text
        assert "organized by alice@example.org" in answer.text
        assert find(server, "bob", uid).data == kept
    # carol, who may not write there, gets Radicale's answer and learns nothing
    answer = requests.put(str(bob_copy.url), data=kept.encode(), timeout=10,
                          auth=("carol", USERS["carol"]),
                          headers={"Content-Type": "text/calendar"})
    assert answer.status_code == 403 and "organized by" not in answer.text


# -- one occurrence changed (issue 16) ---------------------------------------------------


def test_an_override_carrying_the_series_rrule_is_one_occurrence(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:
    """A client that writes an override with the series' RRULE (as Google does): it is
    stored as one occurrence, and the people invited read that this occurrence's title
    changed — on its date — not that the repetition changed."""
    server, _sink = world
    uid = uid_for("series")
    alice = calendars(server, "alice")
    people = ["bob@example.org", "dana@example.net"]
    series = organized(uid, "Weekly", START, people).replace(
        "SEQUENCE:0\r\n", "SEQUENCE:0\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n")
    alice.save_event(series)
    mail.wait_for(1)
    mail.take()

    second = START + datetime.timedelta(days=7)
    # (the caldav library bumps the master's SEQUENCE on every save: the override too)
    override = organized(uid, "Weekly with the customer", second, people,
                         sequence=1).replace(
        "SEQUENCE:1\r\n", "SEQUENCE:1\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\n"
        "RECURRENCE-ID:%s\r\n" % second.strftime("%Y%m%dT%H%M%SZ"))
    vevent = override[override.index("BEGIN:VEVENT"):override.index("END:VCALENDAR")]
    alice.save_event(series.replace("END:VCALENDAR", vevent + "END:VCALENDAR"))

    stored = Calendar.from_ical(find(server, "alice", uid).data)
    overrides = [c for c in stored.walk("VEVENT") if c.get("RECURRENCE-ID") is not None]
    assert [c.get("RRULE") for c in overrides] == [None]
    bobs = Calendar.from_ical(find(server, "bob", uid).data)
    (bobs_override,) = [c for c in bobs.walk("VEVENT") if c.get("RECURRENCE-ID") is not None]
    assert bobs_override.get("RRULE") is None
    assert str(bobs_override["SUMMARY"]) == "Weekly with the customer"

    (update,) = mail.wait_for(1)
    assert update.recipient == "dana@example.net"
    text = update.text()
    assert "New title: Weekly with the customer" in text, text
    assert "repetition" not in text, text
    assert "8 March 2027" in text, text
