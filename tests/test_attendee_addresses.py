"""End to end: attendees written broken are repaired or named, never stored broken.

By mail (``radicale-tracks deliver``, the organizer on Google/Exchange) and by CalDAV (a
client's PUT through the scheduling engine), with fixtures modelled on what CDO, Outlook
and careless clients write: ``mailto:mailto:``, a fold that lost its space, an ATTENDEE
whose value is empty. The track's members (``tracks show``), the organizer's mail and
the organizer's stored object are checked.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from icalendar import Calendar

from caldav_clients import calendars, component, find, inbox_items
from helpers import RadicaleServer
from inbound_mta import Inbound, collection_objects, invitation
from mailserver import MailSink


def members_of(detail: str) -> list[str]:
    """The member addresses ``tracks show`` prints (one per line under "members:")."""
    block = detail.split("\nmembers:\n", 1)[1].split("\n\n", 1)[0]
    return [line.split()[2] if len(line.split()) > 2 else "" for line in block.splitlines()]


def test_mailed_invitation_repairs_what_is_unambiguous_and_names_the_rest(
        inbound: Inbound) -> None:  # noqa: F811
    inbound.sink.settle(quiet=0.5)
    inbound.sink.take()
    uid = "broken-attendees-%s@gmail.test" % uuid.uuid4().hex[:8]
    raw = invitation(uid, "olivia@gmail.test", "Olivia <olivia@gmail.test>",
                     ["assistant@example.org"], summary="Budget review", extra="\n".join([
                         "ATTENDEE;CN=Bob;PARTSTAT=NEEDS-ACTION:mailto:mailto:bob@example.org",
                         # a fold that lost its leading space: the value is on the next line
                         "ATTENDEE;CN=Dana;ROLE=REQ-PARTICIPANT:",
                         "mailto:dana@external.test",
                         # CDO: broken before the ':', the value indented by two spaces
                         'ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=TRUE;CN="Erin"', ":",
                         "  MAILTO:Erin@Notes.TEST",
                         # nothing left of the address: named to the organizer
                         "ATTENDEE;CN=Carol Jones;ROLE=REQ-PARTICIPANT:",
                         "ATTENDEE;CN=Frank:mailto:frank miller@external.test"]))
    done = inbound.deliver(raw, "olivia@gmail.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr

    detail = inbound.track_of(uid)["detail"]
    members = members_of(detail)
    assert sorted(members) == ["bob@example.org", "dana@external.test", "erin@notes.test",
                               "olivia@gmail.test"], detail
    mails = {(m.kind, m.recipient): m for m in inbound.sink.wait_for(4)}
    confirmation = mails[("track_created", "olivia@gmail.test")]
    text = re.sub(r"\s+", " ", confirmation.text())
    assert "Carol Jones" in text and "empty" in text
    assert "Frank" in text and "frank miller@external.test" in text
    assert "Bob" not in text.split("Carol Jones")[1]   # repaired ones are not listed
    assert {recipient for _kind, recipient in mails} == {
        "olivia@gmail.test", "bob@example.org", "dana@external.test", "erin@notes.test"}
    assert all("@" in r and " " not in r for m in inbound.sink.settle()
               for r in m.recipients)

    # the same mail to bob, a user here: his copy holds the repaired addresses only
    done = inbound.deliver(raw, "olivia@gmail.test", "bob@example.org")
    assert done.returncode == 0, done.stderr
    copy = next(c for c in collection_objects(inbound.server, "bob", "/bob/calendar/")
                if any(str(e["UID"]) == uid for e in c.walk("VEVENT")))
    assert sorted(str(a) for a in copy.walk("VEVENT")[0]["ATTENDEE"]) == [
        "mailto:assistant@example.org", "mailto:bob@example.org",
        "mailto:dana@external.test", "mailto:erin@notes.test"]


def test_an_unusable_organizer_is_refused_with_its_reason(inbound: Inbound) -> None:  # noqa: F811
    uid = "broken-organizer-%s@gmail.test" % uuid.uuid4().hex[:8]
    # Lotus Notes wrote its own name for the organizer, not an internet address
    raw = invitation(uid, "Olivia Smith/Acme@Acme", "Olivia <olivia@gmail.test>",
                     ["assistant@example.org"])
    done = inbound.deliver(raw, "olivia@gmail.test", "assistant@example.org")
    assert done.returncode == 65, done.stderr
    assert b"ORGANIZER" in done.stderr and b"Lotus Notes" in done.stderr, done.stderr

    # a URI that is no e-mail address (a principal's urn:uuid): nobody to answer by mail
    uid = "uri-organizer-%s@gmail.test" % uuid.uuid4().hex[:8]
    raw = invitation(uid, "urn:uuid:6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f",
                     "Olivia <olivia@gmail.test>", ["assistant@example.org"])
    done = inbound.deliver(raw, "olivia@gmail.test", "assistant@example.org")
    assert done.returncode == 65, done.stderr
    assert b"not an e-mail address" in done.stderr, done.stderr
    assert b"administrator" not in done.stderr  # a reason, not a program error


def _statuses(event: Any) -> dict[str, str | None]:
    found = component(event).get("ATTENDEE")
    return {"%s|%s" % (p.params.get("CN", ""), str(p)): p.params.get("SCHEDULE-STATUS")
            for p in (found if isinstance(found, list) else [found])}


def test_caldav_organizer_unaddressable_attendees_get_3_7(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:  # noqa: F811
    server, _sink = world
    uid = "broken-put-%s@example.org" % uuid.uuid4().hex[:8]
    text = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
        "UID:" + uid, "DTSTAMP:20270101T000000Z", "DTSTART:20270301T100000Z",
        "DTEND:20270301T110000Z", "SUMMARY:Broken addresses", "SEQUENCE:0",
        "ORGANIZER;CN=Alice:mailto:alice@example.org",
        "ATTENDEE;CN=Bob;PARTSTAT=NEEDS-ACTION:MAILTO:mailto:Bob@Example.org",
        "ATTENDEE;CN=Fay;PARTSTAT=NEEDS-ACTION:",
        "ATTENDEE;CN=Erin;PARTSTAT=NEEDS-ACTION:mailto:erin smith@external.test",
        "ATTENDEE;CN=Dana;PARTSTAT=NEEDS-ACTION:mailto:dana@external.test",
        "END:VEVENT", "END:VCALENDAR", ""])
    calendars(server, "alice").save_event(text)

    statuses = _statuses(find(server, "alice", uid))
    assert statuses == {"Bob|mailto:bob@example.org": "1.2", "Fay|": "3.7",
                        "Erin|mailto:erin smith@external.test": "3.7",
                        "Dana|mailto:dana@external.test": "1.1"}
    # bob's copy and inbox message: the repaired address, nothing empty or broken
    for stored in [find(server, "bob", uid), *inbox_items(server, "bob", uid)]:
        attendees = [str(a) for a in Calendar.from_ical(stored.data).walk("VEVENT")[0]
                     .get("ATTENDEE")]
        assert attendees == ["mailto:bob@example.org", "mailto:dana@external.test"]
    sent = mail.wait_for(1)
    assert [m.recipients for m in mail.settle()] == [("dana@external.test",)], sent


def test_caldav_organizer_with_the_assistant_is_told_who_was_not_reached(
        world: tuple[RadicaleServer, MailSink], mail: MailSink) -> None:  # noqa: F811
    server, _sink = world
    uid = "broken-track-%s@example.org" % uuid.uuid4().hex[:8]
    text = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
        "UID:" + uid, "DTSTAMP:20270101T000000Z", "DTSTART:20270302T100000Z",
        "DTEND:20270302T110000Z", "SUMMARY:Tracked", "SEQUENCE:0",
        "ORGANIZER;CN=Alice:mailto:alice@example.org",
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:assistant@example.org",
        "ATTENDEE;CN=Dana;PARTSTAT=NEEDS-ACTION:mailto:mailto:dana@external.test",
        "ATTENDEE;CN=Fay Lee;PARTSTAT=NEEDS-ACTION:",
        "END:VEVENT", "END:VCALENDAR", ""])
    calendars(server, "alice").save_event(text)
    statuses = _statuses(find(server, "alice", uid))
    assert statuses["Fay Lee|"] == "3.7"
    assert "Dana|mailto:dana@external.test" in statuses
    mails = {(m.kind, m.recipient): m for m in mail.wait_for(2)}
    created = mails[("track_created", "alice@example.org")]
    assert "Fay Lee" in created.text() and "empty" in created.text()
    assert ("member_added", "dana@external.test") in mails
    slug = str(component(find(server, "alice", uid))["X-TRACKS-TRACK"])
    shown = server.cli("tracks", "show", slug)
    assert shown.returncode == 0, shown.stderr
    assert sorted(members_of(shown.stdout)) == ["alice@example.org", "dana@external.test"]
    assert all(r for m in mail.settle() for r in m.recipients)

    # a later change invites Gus without a usable address: alice's client shows 3.7,
    # and the assistant names him to her; nobody else is told anything
    mail.take()
    later = text.replace("SEQUENCE:0", "SEQUENCE:1").replace(
        "END:VEVENT", "ATTENDEE;CN=Gus;PARTSTAT=NEEDS-ACTION:mailto:gus at example.org\r\n"
        "END:VEVENT")
    calendars(server, "alice").save_event(later)
    assert _statuses(find(server, "alice", uid))["Gus|mailto:gus at example.org"] == "3.7"
    told = {(m.kind, m.recipient): m for m in mail.settle()}
    updated = told[("change_followed", "alice@example.org")]
    assert "Gus" in updated.text() and "accepted the updated" not in updated.text()
    assert updated.calendar() is None  # her event is here: no REPLY to import


def test_a_reply_from_an_unusable_address_is_refused_with_its_reason(
        inbound: Inbound) -> None:  # noqa: F811
    uid = "broken-reply-%s@external.test" % uuid.uuid4().hex[:8]
    raw = invitation(uid, "bob@example.org", "Dana <dana@external.test>", [],
                     method="REPLY", extra="ATTENDEE;CN=Dana;PARTSTAT=ACCEPTED:mailto:")
    done = inbound.deliver(raw, "dana@external.test", "bob@example.org")
    assert done.returncode == 65, done.stderr
    assert b"Dana" in done.stderr and b"empty" in done.stderr, done.stderr
