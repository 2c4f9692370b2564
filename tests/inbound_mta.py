"""The MTA's side of inbound mail, played by a test: ``radicale-tracks deliver`` as
Postfix's pipe runs it, ``Authentication-Results`` stamped from the trusted authserv-id,
invitations and the mail fixtures of ``tests/fixtures/imip/``, and what a track holds."""

from __future__ import annotations

import email
import email.policy
import smtplib
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from icalendar import Calendar

from helpers import RadicaleServer
from mailserver import MailSink

FIXTURES = Path(__file__).parent / "fixtures" / "imip"
AUTHSERV = "mx.example.org"
ALLOWED = ("example.org, gmail.test, outlook.test, icloud.test, thunder.test, external.test, "
           "notes.test, booking.test, zimbra.test, kde.test, evolution.test")


class Inbound:
    """The server, its mail sink, and the MTA's side of delivery."""

    def __init__(self, server: RadicaleServer, sink: MailSink) -> None:
        self.server = server
        self.sink = sink

    def deliver(self, raw: bytes, sender: str, *recipients: str, authenticated: str = "pass"
                ) -> subprocess.CompletedProcess[bytes]:
        """``radicale-tracks deliver`` as Postfix's pipe runs it: the mail on stdin."""
        stamped = stamp(raw, authenticated) if authenticated else raw
        arguments = [sys.executable, "-m", "radicale_tracks.cli", "--config",
                     str(self.server.config), "deliver", "--sender", sender]
        for recipient in recipients:
            arguments += ["--recipient", recipient]
        return subprocess.run(arguments, input=stamped, capture_output=True, timeout=120)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.server.cli(*args)

    def track_of(self, uid: str) -> dict[str, str]:
        shown = self.cli("tracks", "list")
        assert shown.returncode == 0, shown.stderr
        for line in shown.stdout.splitlines():
            slug = line.split()[0] if line.strip() else ""
            detail = self.cli("tracks", "show", slug).stdout if slug else ""
            if uid in detail:
                return {"slug": slug, "detail": detail}
        raise AssertionError("no track holds %s:\n%s" % (uid, shown.stdout))


def stamp(raw: bytes, result: str) -> bytes:
    """Prepend our MTA's Authentication-Results for the From domain."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    domain = str(message.get("From", "")).rpartition("@")[2].strip("> ").lower()
    header = ("Authentication-Results: %s; dkim=%s header.d=%s header.s=s1; "
              "dmarc=%s header.from=%s\r\n" % (AUTHSERV, result, domain, result, domain))
    return header.encode("ascii") + raw


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def calendar_of(raw: bytes) -> Calendar:
    from radicale_tracks.core.imip import parse_mail

    part = parse_mail(raw).calendar()
    assert part is not None
    return Calendar.from_ical(part.text)


def uid_in(raw: bytes) -> str:
    component = next(c for c in calendar_of(raw).subcomponents if c.name == "VEVENT")
    return str(component["UID"])


def track_events(server: RadicaleServer, slug: str, user: str = "bob") -> list[Any]:
    """Every object of a track, as a member reads it."""
    return collection_objects(server, user, "/assistant/%s/" % slug)


def objects_with_hrefs(server: RadicaleServer, user: str, path: str
                       ) -> list[tuple[str, str]]:
    """(href, calendar data) of every object of a calendar collection (calendar-query
    without a filter)."""
    body = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
            '<C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/>'
            '</C:filter></C:calendar-query>')
    answer = server.session(user).request(
        "REPORT", server.url + path, data=body,
        headers={"Depth": "1", "Content-Type": "application/xml"})
    assert answer.status_code == 207, answer.text
    found = []
    for response in ET.fromstring(answer.content).iter("{DAV:}response"):
        href = response.findtext("{DAV:}href") or ""
        data = response.findtext(".//{urn:ietf:params:xml:ns:caldav}calendar-data")
        if data:
            found.append((href, data))
    return found


def collection_objects(server: RadicaleServer, user: str, path: str) -> list[Any]:
    """Every object of a calendar collection, parsed."""
    return [Calendar.from_ical(data) for _href, data in objects_with_hrefs(server, user, path)]


def invitation(uid: str, organizer: str, from_address: str, attendees: list[str],
               method: str = "REQUEST", summary: str = "Planning", extra: str = "",
               dtstamp: str = "20260101T000000Z", sequence: int = 0,
               start: str = "20270301T100000Z", end: str = "20270301T110000Z") -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "METHOD:" + method,
             "BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:" + dtstamp,
             # a value, or ";TZID=…:value" with its parameters
             "DTSTART" + (start if start.startswith(";") else ":" + start),
             "DTEND" + (end if end.startswith(";") else ":" + end),
             "SEQUENCE:%d" % sequence,
             "SUMMARY:" + summary,
             "ORGANIZER:" + (organizer if ":" in organizer else "mailto:" + organizer)]
    lines += ["ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:" + a for a in attendees]
    lines += [line for line in extra.splitlines() if line]
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = ", ".join(attendees)
    message["Subject"] = "Invitation: " + summary
    message["Message-ID"] = "<%s@tests>" % uuid.uuid4().hex
    message.set_content("You are invited.")
    message.add_attachment("\r\n".join(lines).encode("utf-8"), maintype="text",
                           subtype="calendar", params={"method": method},
                           disposition="inline")
    return message.as_bytes(policy=email.policy.SMTP)


def connect_lmtp(port: int) -> smtplib.LMTP:
    deadline = time.monotonic() + 30
    while True:
        try:
            return smtplib.LMTP("127.0.0.1", port, timeout=30)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
