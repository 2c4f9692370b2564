"""End to end: invitations by mail from Google, Outlook, Apple and Thunderbird.

A real Radicale with the plugins on 127.0.0.1 (``inbound`` of ``conftest.py``, served by a
thread of the test process), a real SMTP server (aiosmtpd) receiving
what the assistant answers, and the mail fixtures of ``tests/fixtures/imip/`` piped into
``radicale-tracks deliver`` as an MTA's pipe transport runs it — or sent over TCP to
``radicale-tracks lmtp`` with Python's LMTP client. The MTA is played by the test: it
stamps ``Authentication-Results`` from the trusted authserv-id, as Postfix with OpenDKIM
and OpenDMARC would.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import subprocess
import sys
import uuid
from typing import Any

import pytest
from icalendar import Calendar

from helpers import free_port, put, stored_texts
from inbound_mta import (
    AUTHSERV,
    Inbound,
    calendar_of,
    collection_objects,
    connect_lmtp,
    fixture,
    invitation,
    objects_with_hrefs,
    stamp,
    track_events,
    uid_in,
)
from mailserver import MailSink, Received

UTC = datetime.UTC


def mails_for(sink: MailSink, count: int) -> dict[tuple[str, str], Received]:
    return {(m.kind, m.recipient): m for m in sink.wait_for(count)}


# -- the four clients --------------------------------------------------------------------

def test_google_invitation_update_and_cancellation(inbound: Inbound) -> None:
    inbound.sink.take()
    raw = fixture("google_request.eml")
    uid = uid_in(raw)
    done = inbound.deliver(raw, "bounce-123@calendar-server.bounces.google.test",
                           "assistant@example.org")
    assert done.returncode == 0, done.stderr
    assert b"created" in done.stderr

    mails = mails_for(inbound.sink, 3)
    confirmation = mails[("track_created", "olivia@gmail.test")]
    reply = confirmation.calendar()
    assert reply is not None and str(reply["METHOD"]) == "REPLY"
    answer = reply.walk("VEVENT")[0]
    assert str(answer["ATTENDEE"]).lower() == "mailto:assistant@example.org"
    assert answer["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    track_address = confirmation.message["From"].addresses[0].addr_spec
    assert track_address.startswith("assistant+") and track_address.endswith("@example.org")
    assert "/.tracks/feed/" in confirmation.text()  # the organizer has no account here
    # participants learn how to follow the track; their invitation came from Google
    for member in ("bob@example.org", "dana@external.test"):
        assert mails[("member_added", member)].calendar() is None

    track = inbound.track_of(uid)
    events = track_events(inbound.server, track["slug"])
    assert [str(e.walk("VEVENT")[0]["UID"]) for e in events] == [uid]

    # Google moves one instance (UTC RECURRENCE-ID, the instance's own SEQUENCE)
    inbound.sink.take()
    update = fixture("google_update_instance.eml")
    done = inbound.deliver(update, "olivia@gmail.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr
    copy = track_events(inbound.server, track["slug"])[0]
    overrides = [c for c in copy.walk("VEVENT") if c.get("RECURRENCE-ID") is not None]
    moved = calendar_of(update).walk("VEVENT")[0]
    assert [o.decoded("RECURRENCE-ID") for o in overrides] == [
        moved.decoded("RECURRENCE-ID")]
    assert overrides[0].decoded("DTSTART") == moved.decoded("DTSTART")

    # … and cancels another one
    cancel = fixture("google_cancel_instance.eml")
    done = inbound.deliver(cancel, "olivia@gmail.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr
    copy = track_events(inbound.server, track["slug"])[0]
    cancelled = calendar_of(cancel).walk("VEVENT")[0].decoded("RECURRENCE-ID")
    statuses = {c.decoded("RECURRENCE-ID"): str(c.get("STATUS", ""))
                for c in copy.walk("VEVENT") if c.get("RECURRENCE-ID") is not None}
    master = next(c for c in copy.walk("VEVENT") if c.get("RECURRENCE-ID") is None)
    exdates = [d.dt for e in _as_list(master.get("EXDATE")) for d in e.dts]
    assert statuses.get(cancelled) == "CANCELLED" or cancelled in exdates

    # the MTA retries the first mail: nothing changes, nothing is sent twice
    inbound.sink.settle()
    inbound.sink.take()
    again = inbound.deliver(raw, "bounce-123@calendar-server.bounces.google.test",
                            "assistant@example.org")
    assert again.returncode == 0, again.stderr
    assert b"already received" in again.stderr
    assert inbound.sink.settle(quiet=1.0) == []
    assert len(track_events(inbound.server, track["slug"])) == 1


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def test_outlook_invitation_gets_iana_zones(inbound: Inbound) -> None:
    inbound.sink.take()
    raw = fixture("outlook_request.eml")
    uid = uid_in(raw)
    done = inbound.deliver(raw, "oscar@outlook.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr
    mails = inbound.sink.wait_for(1)
    assert ("track_created", "oscar@outlook.test") in {(m.kind, m.recipient) for m in mails}
    track = inbound.track_of(uid)
    copy = track_events(inbound.server, track["slug"])[0]
    start = copy.walk("VEVENT")[0]["DTSTART"]
    assert start.params["TZID"] == "Europe/Berlin"
    assert [str(tz["TZID"]) for tz in copy.walk("VTIMEZONE")] == ["Europe/Berlin"]


def test_exchange_display_zone_name_and_body_method(inbound: Inbound) -> None:
    raw = fixture("exchange_request_gmt_name.eml")
    uid = uid_in(raw)
    done = inbound.deliver(raw, "oscar@outlook.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr
    copy = track_events(inbound.server, inbound.track_of(uid)["slug"])[0]
    assert copy.walk("VEVENT")[0]["DTSTART"].params["TZID"] == "America/New_York"


@pytest.mark.parametrize("name, sender", [("apple_mail_request.eml", "ada@icloud.test"),
                                          ("thunderbird_request.eml", "theo@thunder.test")])
def test_apple_and_thunderbird_invitations(inbound: Inbound, name: str, sender: str
                                           ) -> None:
    inbound.sink.take()
    raw = fixture(name)
    done = inbound.deliver(raw, sender, "assistant@example.org")
    assert done.returncode == 0, done.stderr
    kinds = {(m.kind, m.recipient) for m in inbound.sink.wait_for(1)}
    assert ("track_created", sender) in kinds
    assert inbound.track_of(uid_in(raw))


def test_thunderbird_cancellation_follows(inbound: Inbound) -> None:
    request = fixture("thunderbird_request.eml")
    uid = uid_in(request)
    inbound.deliver(request, "theo@thunder.test", "assistant@example.org")
    inbound.sink.settle()
    inbound.sink.take()
    done = inbound.deliver(fixture("thunderbird_cancel.eml"), "theo@thunder.test",
                           "assistant@example.org")
    assert done.returncode == 0, done.stderr
    track = inbound.track_of(uid)
    copy = track_events(inbound.server, track["slug"])[0]
    assert str(copy.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    assert "cancelled" in track["detail"]


@pytest.mark.parametrize("name", ["latin1_bom_request.eml", "utf8_bom_request.eml"])
def test_charsets_and_byte_order_marks(inbound: Inbound, name: str) -> None:
    raw = fixture(name)
    # a booking system sends From: noreply@…, its envelope sender is the organizer's
    organizer = str(calendar_of(raw).walk("VEVENT")[0]["ORGANIZER"]).split(":", 1)[1]
    done = inbound.deliver(raw, organizer, "assistant@example.org")
    if b"noreply@" in raw:
        # DKIM vouches for From: noreply@, not for the organizer of the envelope: held,
        # until the admin vouches for it
        assert done.returncode == 65, done.stderr
        assert b"only the From address can be authenticated" in done.stderr
        row_id = next(line.split()[0] for line in inbound.cli(
            "quarantine", "list").stdout.splitlines() if "noreply@" in line)
        released = inbound.cli("quarantine", "release", row_id)
        assert released.returncode == 0, released.stdout + released.stderr
    else:
        assert done.returncode == 0, done.stderr
    track = inbound.track_of(uid_in(raw))
    copy = Calendar.from_ical(  # no member here
        stored_texts(inbound.server, "assistant/%s" % track["slug"])[0])
    summary = str(copy.walk("VEVENT")[0]["SUMMARY"])
    assert summary == str(calendar_of(raw).walk("VEVENT")[0]["SUMMARY"])


# -- users here --------------------------------------------------------------------------

def test_invitation_to_a_user_here_reaches_inbox_and_calendar(inbound: Inbound) -> None:
    raw = fixture("google_request.eml")
    uid = uid_in(raw)
    done = inbound.deliver(raw, "olivia@gmail.test", "bob@example.org")
    assert done.returncode == 0, done.stderr
    copies = [c for c in collection_objects(inbound.server, "bob", "/bob/calendar/")
              if any(str(e["UID"]) == uid for e in c.walk("VEVENT"))]
    assert copies, "bob's copy is in his calendar"
    assert any(str(e["UID"]) == uid for c in collection_objects(
        inbound.server, "bob", "/bob/schedule-inbox/") for e in c.walk("VEVENT"))


# -- trust -------------------------------------------------------------------------------

def test_forged_invitation_is_quarantined_and_can_be_released(inbound: Inbound) -> None:
    uid = "forged-%s" % uuid.uuid4().hex
    raw = invitation(uid, "olivia@gmail.test", "mallory@evil.test",
                     ["assistant@example.org"])
    done = inbound.deliver(raw, "mallory@evil.test", "assistant@example.org")
    assert done.returncode == 65
    reason = done.stderr.decode()
    assert "ORGANIZER" in reason and len(reason.strip().splitlines()) == 1
    held = inbound.cli("quarantine", "list")
    line = next(line for line in held.stdout.splitlines() if "mallory@evil.test" in line)
    row_id = line.split()[0]
    shown = inbound.cli("quarantine", "show", row_id)
    assert "quarantined" in shown.stdout and uid in shown.stdout
    assert inbound.cli("quarantine", "show", row_id, "--raw").stdout.startswith(
        "Authentication-Results")

    released = inbound.cli("quarantine", "release", row_id)
    assert released.returncode == 0, released.stdout + released.stderr
    assert inbound.track_of(uid)
    assert row_id not in inbound.cli("quarantine", "list").stdout.split()

    other = invitation("forged-%s" % uuid.uuid4().hex, "olivia@gmail.test",
                       "mallory@evil.test", ["assistant@example.org"])
    assert inbound.deliver(other, "mallory@evil.test", "assistant@example.org"
                           ).returncode == 65
    row_id = next(line.split()[0] for line in inbound.cli("quarantine", "list"
                                                          ).stdout.splitlines())
    assert inbound.cli("quarantine", "delete", row_id).returncode == 0
    assert inbound.cli("quarantine", "show", row_id).returncode == 1


def test_failed_dmarc_and_unlisted_domain_are_refused(inbound: Inbound) -> None:
    uid = "dmarc-%s" % uuid.uuid4().hex
    raw = invitation(uid, "olivia@gmail.test", "Olivia <olivia@gmail.test>",
                     ["assistant@example.org"])
    done = inbound.deliver(raw, "olivia@gmail.test", "assistant@example.org",
                           authenticated="fail")
    assert done.returncode == 65 and b"dmarc=fail" in done.stderr
    unstamped = inbound.deliver(raw, "olivia@gmail.test", "assistant@example.org",
                                authenticated="")
    assert unstamped.returncode == 65 and AUTHSERV.encode() in unstamped.stderr
    other = invitation("list-%s" % uuid.uuid4().hex, "eve@elsewhere.test",
                       "eve@elsewhere.test", ["assistant@example.org"])
    refused = inbound.deliver(other, "eve@elsewhere.test", "assistant@example.org")
    assert refused.returncode == 65 and b"allow" in refused.stderr


def test_limits_garbage_and_unknown_recipients(inbound: Inbound) -> None:
    many = invitation("many-%s" % uuid.uuid4().hex, "olivia@gmail.test",
                      "olivia@gmail.test",
                      ["assistant@example.org"] + ["p%d@external.test" % n
                                                   for n in range(600)])
    done = inbound.deliver(many, "olivia@gmail.test", "assistant@example.org")
    assert done.returncode == 65 and b"inbound_max_attendees" in done.stderr
    garbage = inbound.deliver(b"\x00\xff garbage", "x@external.test",
                              "assistant@example.org", authenticated="")
    assert garbage.returncode == 65, garbage.stderr
    assert b"Traceback" not in garbage.stderr
    endless = invitation("count-%s" % uuid.uuid4().hex, "olivia@gmail.test",
                         "olivia@gmail.test", ["assistant@example.org"],
                         extra="RRULE:FREQ=DAILY;COUNT=5000")
    done = inbound.deliver(endless, "olivia@gmail.test", "assistant@example.org")
    assert done.returncode == 65 and b"inbound_max_instances" in done.stderr
    nobody = inbound.deliver(fixture("google_request.eml"), "olivia@gmail.test",
                             "nobody@example.org")
    assert nobody.returncode == 67
    unknown_track = inbound.deliver(fixture("google_request.eml"), "olivia@gmail.test",
                                    "assistant+nosuchtoken@example.org")
    assert unknown_track.returncode == 67


def test_bounces_are_kept_not_answered(inbound: Inbound) -> None:
    inbound.sink.take()
    done = inbound.deliver(fixture("dsn_bounce.eml"), "", "assistant@example.org",
                           authenticated="")
    assert done.returncode == 0, done.stderr
    assert "kept" in inbound.cli("quarantine", "list").stdout
    assert inbound.sink.settle(quiet=1.0) == []


# -- track addresses ---------------------------------------------------------------------

def open_track(inbound: Inbound, members: list[str]) -> tuple[str, str, str]:
    """A track organised from elsewhere by olivia: (uid, slug, track address)."""
    inbound.sink.take()
    uid = "track-%s" % uuid.uuid4().hex
    raw = invitation(uid, "olivia@gmail.test", "olivia@gmail.test",
                     ["assistant@example.org", *members], summary="Weekly sync")
    done = inbound.deliver(raw, "olivia@gmail.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr
    mails = mails_for(inbound.sink, 1 + len(members))
    address = mails[("track_created", "olivia@gmail.test")].message["From"].addresses[
        0].addr_spec
    return uid, inbound.track_of(uid)["slug"], address


def test_members_share_notes_into_their_track(inbound: Inbound) -> None:
    _uid, slug, address = open_track(inbound, ["bob@example.org"])
    token = address.split("+", 1)[1].split("@", 1)[0]
    note = fixture("shared_note.eml").replace(b"TRACKTOKEN", token.encode())
    done = inbound.deliver(note, "bob@example.org", address)
    assert done.returncode == 0, done.stderr
    journals = [c for cal in track_events(inbound.server, slug) for c in cal.walk("VJOURNAL")]
    assert len(journals) == 1
    journal = journals[0]
    subject = str(email.message_from_bytes(note, policy=email.policy.default)["Subject"])
    assert str(journal["SUMMARY"]) == subject
    assert "bob@example.org" in str(journal["ORGANIZER"])
    attachments = _as_list(journal.get("ATTACH"))
    assert attachments and attachments[0].params["FILENAME"] == "agenda.pdf"

    stranger = note.replace(b"bob@example.org", b"dana@external.test").replace(
        b"Message-ID: <", b"Message-ID: <other-")
    refused = inbound.deliver(stranger, "dana@external.test", address)
    assert refused.returncode == 65 and b"member" in refused.stderr


def test_refresh_counter_and_reply_to_a_track(inbound: Inbound) -> None:
    uid, slug, address = open_track(inbound, ["dana@external.test", "bob@example.org"])
    inbound.sink.settle()
    inbound.sink.take()

    refresh = invitation(uid, "olivia@gmail.test", "dana@external.test",
                         ["dana@external.test"], method="REFRESH")
    done = inbound.deliver(refresh, "dana@external.test", address)
    assert done.returncode == 0, done.stderr
    current = mails_for(inbound.sink, 1)[("meeting_current", "dana@external.test")]
    sent = current.calendar()
    assert sent is not None and str(sent["METHOD"]) == "REQUEST"
    assert "SENT-BY" in sent.walk("VEVENT")[0]["ORGANIZER"].params

    inbound.sink.take()
    counter = invitation(uid, "olivia@gmail.test", "dana@external.test",
                         ["dana@external.test"], method="COUNTER")
    done = inbound.deliver(counter, "dana@external.test", address)
    assert done.returncode == 0, done.stderr
    declined = mails_for(inbound.sink, 1)[("counter_declined", "dana@external.test")]
    assert str(declined.calendar()["METHOD"]) == "DECLINECOUNTER"

    # inviting the track's address adds a meeting to the track
    inbound.sink.take()
    second = "second-%s" % uuid.uuid4().hex
    done = inbound.deliver(invitation(second, "olivia@gmail.test", "olivia@gmail.test",
                                      [address, "dana@external.test"], summary="Retro"),
                           "olivia@gmail.test", address)
    assert done.returncode == 0, done.stderr
    ready = mails_for(inbound.sink, 1)[("meeting_ready", "olivia@gmail.test")]
    assert str(ready.calendar()["METHOD"]) == "REPLY"
    assert inbound.track_of(second)["slug"] == slug

    # the same version again, in another mail: stale, nothing changes
    inbound.sink.settle()
    inbound.sink.take()
    again = inbound.deliver(invitation(second, "olivia@gmail.test", "olivia@gmail.test",
                                       [address, "dana@external.test"], summary="Retro"),
                            "olivia@gmail.test", address)
    assert again.returncode == 0 and b"stale" in again.stderr
    assert inbound.sink.settle(quiet=1.0) == []

    reply = invitation(uid, "olivia@gmail.test", "dana@external.test", [],
                       method="REPLY", extra="ATTENDEE;PARTSTAT=DECLINED:"
                                             "mailto:dana@external.test")
    done = inbound.deliver(reply, "dana@external.test", address)
    assert done.returncode == 0, done.stderr
    copy = next(e for c in track_events(inbound.server, slug) for e in c.walk("VEVENT")
                if str(e["UID"]) == uid)  # the track holds two meetings by now
    dana = next(a for a in _as_list(copy["ATTENDEE"]) if "dana@" in str(a))
    assert dana.params["PARTSTAT"] == "DECLINED", done.stderr


# -- ordering: the organizer's SEQUENCE and DTSTAMP ----------------------------------------
#
# Evolution keeps SEQUENCE for a cancellation, Google and Outlook for minor edits: only
# DTSTAMP says which version is newer (RFC 5546 §2.1.5). The copies kept here must be
# ordered by the organizer's stamps, not by the moment a copy was written.

def evolution_mail(uid: str, attendees: list[str], dtstamp: str, method: str = "REQUEST",
                   summary: str = "Design review") -> bytes:
    """Evan's Evolution: every version SEQUENCE 0, DTSTAMP when he saved it."""
    extra = "STATUS:CANCELLED" if method == "CANCEL" else ""
    return invitation(uid, "evan@external.test", "evan@external.test", attendees,
                      method=method, summary=summary, extra=extra, dtstamp=dtstamp)


def _track_copy(inbound: Inbound, slug: str) -> Calendar:
    """The one meeting of a track without members here, as stored."""
    (text,) = stored_texts(inbound.server, "assistant/%s" % slug)
    return Calendar.from_ical(text)


def test_same_sequence_update_and_cancel_reach_the_track(inbound: Inbound) -> None:
    uid = "evolution-%s@external.test" % uuid.uuid4().hex
    attendees = ["assistant@example.org", "dana@external.test"]
    inbound.sink.take()
    done = inbound.deliver(evolution_mail(uid, attendees, "20260101T000000Z"),
                           "evan@external.test", "assistant@example.org")
    assert done.returncode == 0 and b"created" in done.stderr, done.stderr
    slug = inbound.track_of(uid)["slug"]
    inbound.sink.settle()
    inbound.sink.take()

    # a minor edit: same SEQUENCE, later DTSTAMP — applied
    update = evolution_mail(uid, attendees, "20260102T000000Z",
                            summary="Design review (room 2)")
    done = inbound.deliver(update, "evan@external.test", "assistant@example.org")
    assert done.returncode == 0 and b"updated" in done.stderr, done.stderr
    copy = _track_copy(inbound, slug)
    assert str(copy.walk("VEVENT")[0]["SUMMARY"]) == "Design review (room 2)"
    # a title is no significant change: the organizer is not mailed about her own edit,
    # the track's activity says it in words
    shown = inbound.cli("tracks", "show", slug).stdout
    assert "New title: Design review (room 2)" in shown, shown

    # Evolution sends the same version again (another mail): a retry, nothing happens
    inbound.sink.settle()
    inbound.sink.take()
    again = evolution_mail(uid, attendees, "20260102T000000Z",
                           summary="Design review (room 2)")
    done = inbound.deliver(again, "evan@external.test", "assistant@example.org")
    assert done.returncode == 0 and b"duplicate" in done.stderr, done.stderr
    assert inbound.sink.settle(quiet=1.0) == []

    # the cancellation keeps SEQUENCE 0 too
    cancel = evolution_mail(uid, attendees, "20260103T000000Z", method="CANCEL")
    done = inbound.deliver(cancel, "evan@external.test", "assistant@example.org")
    assert done.returncode == 0 and b"cancelled" in done.stderr, done.stderr
    copy = _track_copy(inbound, slug)
    assert str(copy.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    shown = inbound.cli("tracks", "show", slug).stdout
    activity = shown.split("activity (newest first):", 1)[1].split()
    assert activity[3:5] == ["cancelled", "Design"], shown    # the newest line
    assert "cancelled seq 0" in shown, shown  # the organizer's SEQUENCE, not one made here
    kinds = {(m.kind, m.recipient) for m in inbound.sink.wait_for(1)}
    assert ("meeting_cancelled", "evan@external.test") in kinds


def _bobs_copy(inbound: Inbound, uid: str) -> tuple[str, Calendar]:
    for href, data in objects_with_hrefs(inbound.server, "bob", "/bob/calendar/"):
        calendar = Calendar.from_ical(data)
        if any(str(e["UID"]) == uid for e in calendar.walk("VEVENT")):
            return href, calendar
    raise AssertionError("bob has no copy of %s" % uid)


def test_attendee_copy_follows_same_sequence_changes_after_his_client_saved_it(
        inbound: Inbound) -> None:
    """Bob's client accepts through CalDAV and stamps DTSTAMP with its own (fast) clock,
    as Thunderbird and Evolution do; the organizer's later same-SEQUENCE update and
    cancellation still reach his copy."""
    uid = "evolution-%s@external.test" % uuid.uuid4().hex
    attendees = ["bob@example.org", "dana@external.test"]
    done = inbound.deliver(evolution_mail(uid, attendees, "20260101T000000Z"),
                           "evan@external.test", "bob@example.org")
    assert done.returncode == 0, done.stderr
    href, copy = _bobs_copy(inbound, uid)
    event = copy.walk("VEVENT")[0]
    for attendee in _as_list(event["ATTENDEE"]):
        if "bob@" in str(attendee):
            attendee.params["PARTSTAT"] = "ACCEPTED"
            attendee.params.pop("RSVP", None)
    event.pop("DTSTAMP")
    event.add("DTSTAMP", datetime.datetime.now(UTC) + datetime.timedelta(days=1))
    saved = put(inbound.server.session("bob"), inbound.server.url + href,
                copy.to_ical().decode())
    assert saved.status_code in (201, 204), saved.text

    update = evolution_mail(uid, attendees, "20260102T000000Z",
                            summary="Design review (room 2)")
    done = inbound.deliver(update, "evan@external.test", "bob@example.org")
    assert done.returncode == 0, done.stderr
    _href, copy = _bobs_copy(inbound, uid)
    event = copy.walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == "Design review (room 2)", done.stderr

    cancel = evolution_mail(uid, attendees, "20260103T000000Z", method="CANCEL")
    done = inbound.deliver(cancel, "evan@external.test", "bob@example.org")
    assert done.returncode == 0, done.stderr
    _href, copy = _bobs_copy(inbound, uid)
    assert str(copy.walk("VEVENT")[0]["STATUS"]) == "CANCELLED", done.stderr


# -- one occurrence changed ---------------------------------------------------------------

def test_google_override_with_rrule_is_reported_as_that_occurrence(inbound: Inbound) -> None:
    """Google sends a changed occurrence as an override that still carries the series'
    RRULE: the track keeps one occurrence, and the organizer reads that the title of
    that occurrence changed — not that the repetition changed, nor the series' date."""
    uid = "%s@google.com" % uuid.uuid4().hex
    attendees = ["assistant@example.org", "dana@external.test"]
    rule = "RRULE:FREQ=WEEKLY;COUNT=6"
    inbound.sink.take()
    done = inbound.deliver(invitation(uid, "olivia@gmail.test", "olivia@gmail.test",
                                      attendees, summary="Weekly sync", extra=rule),
                           "olivia@gmail.test", "assistant@example.org")
    assert done.returncode == 0 and b"created" in done.stderr, done.stderr
    slug = inbound.track_of(uid)["slug"]
    inbound.sink.settle()
    inbound.sink.take()

    # the occurrence gets a new title and moves an hour: a significant change, which
    # the assistant accepts again and tells the organizer about
    override = invitation(uid, "olivia@gmail.test", "olivia@gmail.test", attendees,
                          summary="Weekly sync with the customer",
                          extra="RECURRENCE-ID:20270308T100000Z\n" + rule,
                          sequence=1, start="20270308T110000Z",
                          end="20270308T120000Z")
    done = inbound.deliver(override, "olivia@gmail.test", "assistant@example.org")
    assert done.returncode == 0 and b"updated" in done.stderr, done.stderr

    copy = _track_copy(inbound, slug)
    stored = {str(c.get("RECURRENCE-ID", "")) and c.decoded("RECURRENCE-ID"): c
              for c in copy.walk("VEVENT")}
    moved = stored[datetime.datetime(2027, 3, 8, 10, tzinfo=UTC)]
    assert str(moved["SUMMARY"]) == "Weekly sync with the customer"
    assert moved.get("RRULE") is None          # an override is one occurrence
    assert str(stored[""]["SUMMARY"]) == "Weekly sync"

    changed = mails_for(inbound.sink, 1)[("change_followed", "olivia@gmail.test")]
    text = changed.text()
    assert "New title: Weekly sync with the customer (was: Weekly sync)" in text, text
    assert "repeat" not in text and "RRULE" not in text, text
    assert "8 March 2027" in text and "1 March 2027" not in text, text
    assert "Monday 8 March 2027, 11:00–12:00" in text, text  # the occurrence, as it is now

    shown = inbound.cli("tracks", "show", slug).stdout
    line = next(line for line in shown.splitlines() if "New title" in line)
    assert "8 March 2027" in line and "1 March" not in line, shown
    assert "rrule" not in shown.lower() and "repeat" not in line, shown


# -- LMTP --------------------------------------------------------------------------------

def test_lmtp_answers_per_recipient(inbound: Inbound) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "radicale_tracks.cli", "--config", str(inbound.server.config),
         "lmtp", "--listen", "127.0.0.1:%d" % port],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        connection = connect_lmtp(port)
        uid = "lmtp-%s" % uuid.uuid4().hex
        raw = stamp(invitation(uid, "olivia@gmail.test", "olivia@gmail.test",
                               ["assistant@example.org", "bob@example.org"]), "pass")
        connection.ehlo_or_helo_if_needed()
        assert connection.mail("olivia@gmail.test")[0] == 250
        assert connection.rcpt("assistant@example.org")[0] == 250
        assert connection.rcpt("nobody@example.org")[0] == 550
        assert connection.rcpt("bob@example.org")[0] == 250
        first = connection.data(raw)
        second = connection.getreply()
        assert first[0] == 250 and b"assistant@example.org" in first[1]
        assert second[0] == 250 and b"bob@example.org" in second[1]
        connection.quit()
        assert inbound.track_of(uid)
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output


