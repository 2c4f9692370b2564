"""End to end: a series moved with ``RDATE;VALUE=PERIOD`` and what a failure leaves behind.

``radicale-tracks deliver`` runs as Postfix's pipe would (a subprocess, the mail on
stdin) against a real ``radicale-tracks serve`` and a real SMTP sink (the module fixture
of ``test_inbound.py``). The fixtures imitate Outlook / Exchange: a weekly series, then
an update that moves two occurrences by EXDATE plus ``RDATE;VALUE=PERIOD`` — one period
with an explicit end in the series' Windows zone, one in UTC with a duration.

A program error is forced in the ``deliver`` subprocess through ``sitecustomize`` (the
only way to make a bug happen on purpose in another process): the sender must get a
sentence, the admin the error, and no track folder may be left behind.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import os
import subprocess
import sys
import uuid
from email.message import EmailMessage
from pathlib import Path

import pytest
from icalendar import Calendar

from inbound_mta import Inbound, fixture, invitation, stamp, track_events, uid_in

UTC = datetime.UTC
GENERIC = "could not process this message"


def _starts(copy: Calendar) -> list[datetime.datetime]:
    master = next(c for c in copy.walk("VEVENT") if c.get("RECURRENCE-ID") is None)
    periods = master.get("RDATE")
    values = periods if isinstance(periods, list) else [periods]
    return sorted(p[0].astimezone(UTC) for value in values for p in
                  (d.dt if isinstance(d.dt, tuple) else (d.dt,) for d in value.dts))


def free_busy(inbound: Inbound, slug: str, start: str, end: str) -> str:  # noqa: F811
    body = ('<?xml version="1.0"?><C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<C:time-range start="%s" end="%s"/></C:free-busy-query>' % (start, end))
    answer = inbound.server.session("bob").request(
        "REPORT", "%s/assistant/%s/" % (inbound.server.url, slug), data=body,
        headers={"Depth": "1", "Content-Type": "application/xml"})
    assert answer.status_code == 200, answer.text
    return answer.text


def test_reschedule_with_rdate_periods_is_followed(inbound: Inbound) -> None:  # noqa: F811
    inbound.sink.take()
    series = fixture("outlook_series_request.eml")
    uid = uid_in(series)
    done = inbound.deliver(series, "oscar@outlook.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr
    slug = inbound.track_of(uid)["slug"]
    inbound.sink.settle()
    inbound.sink.take()

    moved = fixture("outlook_reschedule_rdate_period.eml")
    done = inbound.deliver(moved, "oscar@outlook.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr
    assert b"Error" not in done.stderr and b"tuple" not in done.stderr, done.stderr
    copy = track_events(inbound.server, slug)[0]
    assert _starts(copy) == [datetime.datetime(2027, 1, 19, 13, 0, tzinfo=UTC),
                             datetime.datetime(2027, 2, 2, 13, 0, tzinfo=UTC)]
    # the index answers for the moved occurrences: busy at the new times, free at the old
    busy = free_busy(inbound, slug, "20270119T000000Z", "20270120T000000Z")
    assert "20270119T130000Z/20270119T140000Z" in busy
    busy = free_busy(inbound, slug, "20270202T000000Z", "20270203T000000Z")
    assert "20270202T130000Z/20270202T134500Z" in busy
    assert "\nFREEBUSY" not in free_busy(inbound, slug, "20270118T000000Z",
                                       "20270119T000000Z")
    # the organizer is told, in a mail that names the change
    mails = inbound.sink.wait_for(1)
    told = next(m for m in mails if m.recipient == "oscar@outlook.test")
    assert "19 January" in told.text() and "2 February" in told.text()
    shown = inbound.cli("tracks", "show", slug).stdout
    assert "failed" not in shown


def test_a_new_series_with_rdate_periods_opens_a_track(inbound: Inbound) -> None:  # noqa: F811
    """The first invitation already names instances as periods (UTC with a duration,
    zoned with an end): stored, indexed, no program error for the sender."""
    uid = "periods-%s" % uuid.uuid4().hex
    raw = invitation(uid, "olivia@gmail.test", "Olivia <olivia@gmail.test>",
                     ["assistant@example.org", "bob@example.org"], summary="Periods",
                     extra="RRULE:FREQ=WEEKLY;COUNT=2\n"
                           "RDATE;VALUE=PERIOD:20270310T080000Z/PT30M\n"
                           "RDATE;VALUE=PERIOD;TZID=Europe/Berlin:"
                           "20270312T150000/20270312T170000")
    done = inbound.deliver(raw, "olivia@gmail.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr
    assert b"created" in done.stderr
    slug = inbound.track_of(uid)["slug"]
    busy = free_busy(inbound, slug, "20270310T000000Z", "20270313T000000Z")
    assert "20270310T080000Z/20270310T083000Z" in busy
    assert "20270312T140000Z/20270312T160000Z" in busy


def _sabotaged_env(tmp: Path) -> dict[str, str]:
    """``deliver`` with the track copy's writer broken after the track folder exists."""
    hook = tmp / "sitecustomize.py"
    hook.write_text(
        "from radicale_tracks.plugin import track_calendars\n"
        "def _broken(self, slug, href, ics):\n"
        "    raise AttributeError(\"'tuple' object has no attribute 'tzinfo'\")\n"
        "track_calendars.StorageTrackCalendars.write_copy = _broken\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp), env.get("PYTHONPATH", "")])
    return env


def _track_folders(principal: Path) -> list[str]:
    return sorted(p.name for p in principal.iterdir() if p.is_dir() and
                  not p.name.startswith(".")) if principal.is_dir() else []


@pytest.mark.files_only   # lays out or breaks files behind the server
def test_a_program_error_is_told_as_a_sentence_and_leaves_no_track(
        inbound: Inbound, tmp_path: Path) -> None:  # noqa: F811
    uid = "broken-%s" % uuid.uuid4().hex
    raw = stamp(invitation(uid, "olivia@gmail.test", "Olivia <olivia@gmail.test>",
                           ["assistant@example.org", "dana@external.test"],
                           summary="Never half made"), "pass")
    principal = inbound.server.folder / "collection-root" / "assistant"
    folders_before = _track_folders(principal)
    done = subprocess.run(
        [sys.executable, "-m", "radicale_tracks.cli", "--config", str(inbound.server.config),
         "deliver", "--sender", "olivia@gmail.test", "--recipient", "assistant@example.org"],
        input=raw, capture_output=True, timeout=120, env=_sabotaged_env(tmp_path))
    said = done.stderr.decode()
    assert done.returncode == 65, said
    assert GENERIC in said and "administrator" in said
    assert "tuple" not in said and "AttributeError" not in said
    assert len(said.strip().splitlines()) == 1
    # no half-made track: no folder, no track row
    assert principal.is_dir()  # the track's folder was made, and then removed
    assert _track_folders(principal) == folders_before
    listing = inbound.cli("tracks", "list").stdout
    assert "Never half made" not in listing.split("assistant failures")[0]
    # the admin finds it where the docs say: tracks list / show, quarantine list
    assert uid in listing.split("assistant failures")[1]
    shown = inbound.cli("tracks", "show", uid)
    assert shown.returncode == 0 and "failed" in shown.stdout
    assert "Traceback" in shown.stdout and "AttributeError" in shown.stdout
    held = inbound.cli("quarantine", "list").stdout
    line = next(line for line in held.splitlines() if "Never half made" in line)
    assert "quarantined" in line
    detail = inbound.cli("quarantine", "show", line.split()[0]).stdout
    assert "failure: mail #" in detail and "AttributeError" in detail
    assert "uid: " + uid in detail
    # the MTA's retry gets the same sentence, not the error
    again = inbound.deliver(raw, "olivia@gmail.test", "assistant@example.org",
                            authenticated="")
    assert again.returncode == 65 and b"AttributeError" not in again.stderr


def _renamed(raw: bytes, old: str, new: str) -> bytes:
    """The same invitation, one SEQUENCE later, with a new title (a new Message-ID)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    text = part.get_content()
    text = text.replace("SUMMARY:" + old, "SUMMARY:" + new).replace(
        "SEQUENCE:0", "SEQUENCE:1").replace("DTSTAMP:20260101T000000Z",
                                            "DTSTAMP:20260102T000000Z")
    part.set_content(text.encode("utf-8"), maintype="text", subtype="calendar",
                     params={"method": "REQUEST"}, disposition="inline")
    message.replace_header("Message-ID", "<%s@tests>" % uuid.uuid4().hex)
    return message.as_bytes(policy=email.policy.SMTP)


def test_a_failed_update_of_a_track_shows_in_the_track(inbound: Inbound, tmp_path: Path  # noqa: F811
                                                       ) -> None:
    """A program error on a meeting a track already holds: the track and its copy stay
    as they were, the failure and its traceback show in ``tracks show <track>``."""
    uid = "kept-%s" % uuid.uuid4().hex
    first = invitation(uid, "olivia@gmail.test", "Olivia <olivia@gmail.test>",
                       ["assistant@example.org", "bob@example.org"], summary="Kept")
    assert inbound.deliver(first, "olivia@gmail.test", "assistant@example.org"
                           ).returncode == 0
    slug = inbound.track_of(uid)["slug"]
    update = stamp(_renamed(first, "Kept", "Renamed"), "pass")
    done = subprocess.run(
        [sys.executable, "-m", "radicale_tracks.cli", "--config", str(inbound.server.config),
         "deliver", "--sender", "olivia@gmail.test", "--recipient", "assistant@example.org"],
        input=update, capture_output=True, timeout=120, env=_sabotaged_env(tmp_path))
    assert done.returncode == 65 and GENERIC.encode() in done.stderr, done.stderr
    copy = track_events(inbound.server, slug)[0]
    assert str(copy.walk("VEVENT")[0]["SUMMARY"]) == "Kept"
    shown = inbound.cli("tracks", "show", slug).stdout
    assert "failed" in shown and "Traceback" in shown and "AttributeError" in shown

