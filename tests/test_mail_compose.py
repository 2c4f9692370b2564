"""Mail rendering: the RFC 6047 shape real clients expect, and admin template overrides."""

from __future__ import annotations

import datetime
import email
import email.policy
from pathlib import Path

from icalendar import Calendar

from radicale_tracks.mail.compose import TEMPLATE_KINDS, MailTemplates, compose_mail

NOW = datetime.datetime(2027, 1, 1, 12, tzinfo=datetime.UTC)
ITIP = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nMETHOD:REQUEST\r\n"
        "BEGIN:VEVENT\r\nUID:u1\r\nDTSTAMP:20270101T120000Z\r\nDTSTART:20270104T100000Z\r\n"
        "SUMMARY:Caf\u00e9 \u2615\r\nORGANIZER:mailto:alice@example.org\r\n"
        "ATTENDEE:mailto:dana@example.net\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
CONTEXT = {
    "recipient_name": "Dana", "organizer_name": "Alice", "domain": "example.org",
    "track": {"title": "Caf\u00e9 \u2615", "url": "http://x/assistant/t/",
              "address": "assistant+k@example.org", "feed_url": "http://x/.tracks/feed/f.ics"},
    "meeting": {"summary": "Caf\u00e9 \u2615", "when": "Monday 4 January 2027, 10:00 (UTC)",
                "location": "<b>HQ</b>", "join_url": ""},
    "subscribe": {"caldav_url": "", "feed_url": "http://x/.tracks/feed/f.ics"},
    "changes": ["Time: a \u2192 b"], "instance": "", "address": "assistant+k@example.org",
    "reason": "closed", "assistant_address": "assistant@example.org",
    "attendee_name": "Bob", "answer": "accepted",
    # a booking's customer mails (bookings/words.py)
    "what": "Caf\u00e9 \u2615", "when": "Monday 4 January 2027, 10:00\u201310:30 (UTC)",
    "where": "Room 3", "join_url": "https://meet.example.org/x", "with_whom": ["Alice"],
    "host": "Alice", "manage_url": "http://x/.web/booking/1.1.2.ab", "note": "See you",
    "actor": "agent", "agent_name": "carol", "customer_name": "Dana",
    "customer_address": "dana@example.net", "lead": "in 1 hour",
    "team_when": "Monday 4 January 2027, 11:00\u201311:30 (Europe/Berlin)",
}


def render(templates: MailTemplates, kind: str, itip: str | None) -> email.message.EmailMessage:
    mail = compose_mail(templates, kind, CONTEXT, sender="assistant+k@example.org",
                        sender_name="Assistant", recipient="dana@example.net",
                        recipient_name="Dana", message_id="abc.tracks@example.org", now=NOW,
                        itip=itip, method="REQUEST" if itip else None)
    assert mail.message.isascii()
    parsed = email.message_from_string(mail.message, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_imip_shape() -> None:
    message = render(MailTemplates(), "member_added", ITIP)
    assert message.get_content_type() == "multipart/mixed"
    alternative, attachment = message.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in alternative.iter_parts()] == [
        "text/plain", "text/html", "text/calendar"]
    calendar_part = list(alternative.iter_parts())[2]
    assert calendar_part.get_param("method") == "REQUEST"
    assert calendar_part.get_content_charset() == "utf-8"
    calendar = Calendar.from_ical(calendar_part.get_payload(decode=True))
    assert str(calendar.walk("VEVENT")[0]["SUMMARY"]) == "Caf\u00e9 \u2615"
    assert attachment.get_content_type() == "application/ics"
    assert attachment.get_filename() == "invite.ics"
    assert message["Message-ID"] == "<abc.tracks@example.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert "Caf\u00e9" in str(message["Subject"])
    html = list(alternative.iter_parts())[1].get_content()
    assert "&lt;b&gt;HQ&lt;/b&gt;" in html  # HTML escapes what the organizer typed


def test_every_kind_renders_with_and_without_calendar() -> None:
    templates = MailTemplates()
    for kind in TEMPLATE_KINDS:
        plain = render(templates, kind, None)
        assert plain.get_content_type() == "multipart/alternative"
        assert plain["Subject"]
        assert render(templates, kind, ITIP).get_content_type() == "multipart/mixed"


def test_admin_templates_override_the_built_in_ones(tmp_path: Path) -> None:
    (tmp_path / "member_added.subject.txt").write_text("Welcome to {{ track.title }}")
    (tmp_path / "_meeting.txt").write_text("MEETING {{ meeting.summary }}")
    message = render(MailTemplates(str(tmp_path)), "member_added", None)
    assert str(message["Subject"]) == "Welcome to Caf\u00e9 \u2615"
    assert "MEETING Caf\u00e9" in message.get_body(("plain",)).get_content()
    # the others stay built in
    assert str(render(MailTemplates(str(tmp_path)), "track_created", None)["Subject"]
               ).startswith("Track created")
