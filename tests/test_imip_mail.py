"""Inbound iMIP mail (``core/imip.py``): client-shaped ``.eml`` fixtures read as facts.

The fixtures in ``tests/fixtures/imip`` imitate what Google, Outlook/Exchange, Apple Mail,
Thunderbird and mail servers send (see the README there). Each is checked for the facts
the mail service acts on, its chosen calendar part parses and validates, and
:func:`parse_mail` raises nothing but :class:`MailError` on truncated, mutated or random
input. With ``ITIP_CORPUS_DIR`` set, the real clients' mails of the corpus are read too.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

import pytest

from radicale_tracks.core.imip import CalendarPart, InboundMail, MailError, parse_mail
from radicale_tracks.core.itip import Method, parse_calendar
from radicale_tracks.core.validation import validate

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "imip"
CORPUS = os.environ.get("ITIP_CORPUS_DIR", "")


def read(name: str) -> InboundMail:
    return parse_mail((FIXTURES / name).read_bytes())


@dataclass(frozen=True)
class Expected:
    """What one fixture must say."""

    from_address: str
    message_id: str
    method: str | None
    uid: str | None = None
    summary: str | None = None
    parts: int = 1
    distinct: int = 1
    content_type: str = "text/calendar"
    mime_method: str | None = None
    body_method: str | None = None
    subject: str = ""


GOOGLE_UID = "3hq8v0c2n5m7k1r4t6w9y2b5d8@google.com"
THUNDERBIRD_UID = "b7e4c2a1-5d3f-4a8e-9c6b-0f1e2d3c4b5a"
OUTLOOK_SERIES_UID = ("040000008200E00074C5B7101A82E00800000000D0E1F2A3B4C5DA0100000000000000"
                      "00100000005E6F7A8B9C0D1E2F3A4B5C6D7E8F9A0B")

EXPECTED = {
    "google_request.eml": Expected(
        "olivia@gmail.test", "calendar-5b0e8c1f-2d4a-4f6b-9e3c-7a1d2b4c6e8f@google.com",
        "REQUEST", GOOGLE_UID, "Weekly roadmap sync", parts=2, mime_method="REQUEST",
        body_method="REQUEST",
        subject="Invitation: Weekly roadmap sync @ Weekly from 10am to 10:30am on Monday "
                "from Mon Jan 4, 2027 (CET) (assistant@example.org)"),
    "google_update_instance.eml": Expected(
        "olivia@gmail.test", "calendar-8d3f1a7c-6e2b-4c9d-a0f5-3b7e9c1d2a4f@google.com",
        "REQUEST", GOOGLE_UID, "Weekly roadmap sync", parts=2, mime_method="REQUEST",
        body_method="REQUEST"),
    "google_cancel_instance.eml": Expected(
        "olivia@gmail.test", "calendar-2c9e4b6a-1f3d-4a8e-b5c7-0d2f4e6a8b1c@google.com",
        "CANCEL", GOOGLE_UID, "Weekly roadmap sync", parts=2, mime_method="CANCEL",
        body_method="CANCEL"),
    "outlook_request.eml": Expected(
        "oscar@outlook.test",
        "AM9PR07MB7233F1C2D3E4A5B6C7D8E9F0A1B2@AM9PR07MB7233.eurprd07.prod.outlook.com",
        "REQUEST", "040000008200E00074C5B7101A82E00800000000B0C1D2E3F4A5DA010000000000000000"
        "10000000A1B2C3D4E5F60718293A4B5C6D7E8F90", "Quarterly planning",
        mime_method="REQUEST", body_method="REQUEST", subject="Quarterly planning"),
    "outlook_series_request.eml": Expected(
        "oscar@outlook.test",
        "DB9PR07MB88120A1B2C3D4E5F60718293A4B5@DB9PR07MB8812.eurprd07.prod.outlook.com",
        "REQUEST", OUTLOOK_SERIES_UID, "Design review", mime_method="REQUEST",
        body_method="REQUEST", subject="Design review"),
    "outlook_reschedule_rdate_period.eml": Expected(
        "oscar@outlook.test",
        "DB9PR07MB88121B2C3D4E5F60718293A4B5C6@DB9PR07MB8812.eurprd07.prod.outlook.com",
        "REQUEST", OUTLOOK_SERIES_UID, "Design review", mime_method="REQUEST",
        body_method="REQUEST", subject="Updated: Design review"),
    "exchange_request_gmt_name.eml": Expected(
        "oscar@outlook.test", "5A9C1E3B7D2F4A6E8C0B1D3F5E7A9C2B@mail.corp-exchange.test",
        "REQUEST", None, "Vendor review", body_method="REQUEST", subject="Vendor review"),
    "outlook_com_reply.eml": Expected(
        "dana@external.test",
        "PAXPR08MB6912C0FFEE0B1A2C3D4E5F60718@PAXPR08MB6912.eurprd08.prod.outlook.com",
        "REPLY", "9b1f6f5e-3c2d-4f7a-8e1b-2a6c4d8e0f13", "Accepted: Budget review",
        mime_method="REPLY", body_method="REPLY", subject="Accepted: Budget review"),
    "apple_mail_request.eml": Expected(
        "ada@icloud.test", "6E2B91C4-0F3A-4C8D-B7E5-19A2D4F6C8B0@icloud.test", "REQUEST",
        "8C1E5A2F-3B7D-4E9A-A6C0-F2D4B8E1C357", "Analytical engine review",
        mime_method="REQUEST", body_method="REQUEST",
        subject="Invitation: Analytical engine review"),
    "thunderbird_request.eml": Expected(
        "theo@thunder.test", "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d@thunder.test",
        "REQUEST", THUNDERBIRD_UID, "Planungsrunde \u2013 Fr\u00fchjahr", parts=2,
        mime_method="REQUEST", body_method="REQUEST",
        subject="Einladung: Planungsrunde \u2013 Fr\u00fchjahr @ Mi, 3. M\u00e4r 2027 "
                "15:00 \u2013 16:00 (Europe/Berlin)"),
    "thunderbird_cancel.eml": Expected(
        "theo@thunder.test", "f6e5d4c3-b2a1-4f0e-9d8c-7b6a5f4e3d2c@thunder.test", "CANCEL",
        THUNDERBIRD_UID, "Planungsrunde \u2013 Fr\u00fchjahr", parts=2, mime_method="CANCEL",
        body_method="CANCEL", subject="Abgesagt: Planungsrunde \u2013 Fr\u00fchjahr"),
    "latin1_bom_request.eml": Expected(
        "lotte@notes.test", "20270301111502.4711.lotte@notes.test", "REQUEST",
        "LEGACY-20270301-4711@notes.test", "Besprechung Gr\u00f6\u00dfe",
        mime_method="REQUEST", subject="Einladung: Besprechung Gr\u00f6\u00dfe"),
    "utf8_bom_request.eml": Expected(
        "noreply@booking.test", "20270512074501.58213@web01.booking.test", "REQUEST",
        "booking-58213@booking.test", "Consultation \u2013 Caf\u00e9 M\u00fcller", parts=2,
        mime_method="REQUEST", body_method="REQUEST",
        subject="Appointment confirmed: Consultation"),
    "shared_note.eml": Expected(
        "bob@example.org", "0c8f2a3e-6b1d-4e5f-9a7c-3d2e1f0a9b8c@example.org", None,
        parts=0, distinct=0, subject="Agenda for the roadmap sync"),
    "dsn_bounce.eml": Expected(
        "mailer-daemon@mx.example.org", "20261214082001.4Y3hJ0Kp2Qz7sVb@mx.example.org",
        None, parts=0, distinct=0, subject="Undelivered Mail Returned to Sender"),
}

# Exchange CDO folds the UID; the test reads it from the parsed calendar instead.
EXCHANGE_UID = ("040000008200E00074C5B7101A82E008000000007C3E1A2B5F4DDA0100000000000000001"
                "0000000D4C3B2A1F0E9D8C7B6A5948372615049")


def test_every_fixture_is_listed() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.eml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_facts(name: str) -> None:
    expected = EXPECTED[name]
    raw = (FIXTURES / name).read_bytes()
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b""), "fixtures are CRLF"
    mail = parse_mail(raw)
    assert mail.from_address == expected.from_address
    assert mail.message_id == expected.message_id
    assert mail.size == len(raw)
    if expected.subject:
        assert mail.subject == expected.subject
    assert len(mail.calendar_parts) == expected.parts
    assert len(mail.distinct_calendar_parts()) == expected.distinct
    part = mail.calendar()
    if expected.method is None:
        assert part is None
        return
    assert part is not None
    assert part.method == expected.method
    assert part.content_type == expected.content_type
    assert part.mime_method == expected.mime_method
    assert part.body_method == expected.body_method
    assert not part.methods_disagree
    assert_clean_text(part)
    if expected.summary:
        assert "SUMMARY" in part.text and expected.summary in unfolded(part.text)
    if expected.uid:
        assert "UID:" + expected.uid in unfolded(part.text)


def unfolded(text: str) -> str:
    return text.replace("\r\n ", "").replace("\r\n\t", "")


def assert_clean_text(part: CalendarPart) -> None:
    """Decoded, BOM-free, CRLF throughout, starting with the VCALENDAR."""
    assert part.text.startswith("BEGIN:VCALENDAR\r\n"), part.text[:40]
    assert "\ufeff" not in part.text
    assert "\n" not in part.text.replace("\r\n", "")
    assert "\r" not in part.text.replace("\r\n", "")
    assert part.text.rstrip().endswith("END:VCALENDAR")


@pytest.mark.parametrize("name", [n for n, e in sorted(EXPECTED.items()) if e.method])
def test_fixture_calendar_parses_and_validates(name: str) -> None:
    """Every chosen part is a valid iTIP object once its method is known.

    ``latin1_bom_request.eml`` has its METHOD only in the MIME parameter (RFC 6047 §2.4
    wants both): the mail service adds it from ``CalendarPart.method`` before
    validating, as done here. The outlook.com REPLY (no ORGANIZER) and Google's
    instance-only REQUEST/CANCEL are valid as they are.
    """
    part = read(name).calendar()
    assert part is not None and part.method is not None
    calendar = parse_calendar(part.text)
    if "METHOD" not in calendar:
        assert part.body_method is None
        calendar.add("METHOD", part.method)
    assert validate(calendar) == Method(part.method)
    uid = EXPECTED[name].uid or EXCHANGE_UID
    assert {str(c.get("UID")) for c in calendar.walk("VEVENT")} == {uid}


# --- client shapes ---------------------------------------------------------------------


def test_google_sends_the_object_twice_and_the_text_calendar_wins() -> None:
    for name in ("google_request.eml", "google_update_instance.eml",
                 "google_cancel_instance.eml"):
        mail = read(name)
        inline, attached = mail.calendar_parts
        assert (inline.content_type, inline.filename) == ("text/calendar", None)
        assert (attached.content_type, attached.filename) == ("application/ics", "invite.ics")
        assert attached.mime_method is None and attached.method == inline.method
        assert mail.calendar() is inline
        assert mail.distinct_calendar_parts() == (inline,)
        assert mail.attachments == ()  # invite.ics is calendar data, not a file
        assert mail.sender_address == "calendar-notification@google.com"
        assert mail.reply_to == "olivia@gmail.test"
        assert mail.from_name == "Olivia"
        assert mail.text_body.startswith(("Weekly roadmap sync", "This event has been"))


def test_google_instance_messages_carry_only_the_override() -> None:
    for name, recurrence_id, status in (
            ("google_update_instance.eml", "20270111T090000Z", "CONFIRMED"),
            ("google_cancel_instance.eml", "20270118T090000Z", "CANCELLED")):
        part = read(name).calendar()
        assert part is not None
        calendar = parse_calendar(part.text)
        (event,) = calendar.walk("VEVENT")
        assert event.get("RECURRENCE-ID").to_ical().decode() == recurrence_id
        assert str(event.get("STATUS")) == status
        assert int(event.get("SEQUENCE")) == 1
        assert event.get("RRULE") is None
        assert "DTSTART;TZID=Europe/Berlin:" in part.text


def test_authentication_results_in_header_order() -> None:
    results = read("outlook_request.eml").authentication_results
    assert len(results) == 2
    assert results[0].startswith("mx.example.org; dkim=pass header.d=outlook.test;")
    assert "smtp.mailfrom=oscar@outlook.test" in results[0]
    assert results[1].startswith("dkim=none (message not signed)")
    assert all("\r" not in r and "\n" not in r for r in results)
    (google,) = read("google_request.eml").authentication_results
    assert google.startswith("mx.example.org;") and "dmarc=pass" in google
    assert read("apple_mail_request.eml").authentication_results == ()


def test_outlook_keeps_long_lines_and_gets_crlf() -> None:
    mail = read("outlook_request.eml")
    part = mail.calendar()
    assert part is not None
    lines = part.text.split("\r\n")
    assert any(line.startswith("DESCRIPTION;LANGUAGE=en-US:Hi all") and len(line) > 200
               for line in lines)
    assert "TZID:W. Europe Standard Time" in lines
    assert "DTSTART:16010101T030000" in lines
    assert any(line.startswith("X-MICROSOFT-CDO-") for line in lines)
    assert mail.to_addresses == ("assistant@example.org", "bob@example.org")
    assert mail.cc_addresses == ("dana@external.test",)
    assert mail.from_name == "Oscar Outlook"
    assert "Gr\u00fc\u00dfe" in mail.text_body  # QP iso-8859-1 text/plain


def test_old_exchange_has_the_method_in_the_body_only() -> None:
    part = read("exchange_request_gmt_name.eml").calendar()
    assert part is not None
    assert (part.mime_method, part.body_method, part.method) == (None, "REQUEST", "REQUEST")
    assert 'DTSTART;TZID="(GMT-05.00) Eastern Time (US & Canada)":20270315T130000' in part.text
    assert "join?id=4711&pw=abc" in unfolded(part.text)  # quoted-printable =3D undone


def test_outlook_com_reply_without_organizer() -> None:
    mail = read("outlook_com_reply.eml")
    part = mail.calendar()
    assert part is not None
    event = parse_calendar(part.text).walk("VEVENT")[0]
    assert event.get("ORGANIZER") is None
    assert event.get("ATTENDEE").params["PARTSTAT"] == "ACCEPTED"
    assert mail.to_addresses == ("alice@example.org",)
    assert mail.text_body == ""  # Outlook's empty text/plain


def test_apple_mail_attaches_the_calendar_as_a_file() -> None:
    mail = read("apple_mail_request.eml")
    part = mail.calendar()
    assert part is not None
    assert part.filename == "iCal-20270201-093015.ics"
    assert "PRODID:-//Apple Inc.//macOS" in part.text
    assert mail.attachments == ()
    assert mail.text_body.startswith("Hi both,")


def test_thunderbird_quoted_printable_and_8bit_decode_alike() -> None:
    request, cancel = read("thunderbird_request.eml"), read("thunderbird_cancel.eml")
    for mail in (request, cancel):
        inline, attached = mail.calendar_parts
        assert inline.text == attached.text  # QP or 8bit inline, base64 attachment
        assert "SUMMARY:Planungsrunde \u2013 Fr\u00fchjahr" in inline.text
    cancel_part = cancel.calendar()
    assert cancel_part is not None
    assert "SEQUENCE:1" in cancel_part.text and "STATUS:CANCELLED" in cancel_part.text
    assert request.to_addresses == ("assistant@example.org", "bob@example.org",
                                    "dana@external.test")


def test_latin1_calendar_decodes() -> None:
    mail = read("latin1_bom_request.eml")
    part = mail.calendar()
    assert part is not None
    assert "SUMMARY:Besprechung Gr\u00f6\u00dfe" in part.text
    assert "LOCATION:B\u00fcro Stra\u00dfe 5" in part.text
    assert "METHOD" not in part.text
    assert mail.text_body.startswith("Einladung: Besprechung Gr\u00f6\u00dfe")


def test_utf8_bom_is_removed_and_octet_stream_ics_is_calendar_data() -> None:
    raw = (FIXTURES / "utf8_bom_request.eml").read_bytes()
    mail = parse_mail(raw)
    inline, attached = mail.calendar_parts
    assert attached.content_type == "application/octet-stream"
    assert attached.filename == "meeting.ics"  # Content-Type name=, bare disposition
    assert inline.text == attached.text and not inline.text.startswith("\ufeff")
    assert mail.calendar() is inline
    assert "Caf\u00e9 M\u00fcller" in mail.text_body


def test_shared_note_has_no_calendar_and_an_attachment() -> None:
    mail = read("shared_note.eml")
    assert mail.calendar() is None
    assert mail.to_addresses == ("assistant+tracktoken@example.org",)
    (attachment,) = mail.attachments
    assert (attachment.filename, attachment.content_type) == ("agenda.pdf", "application/pdf")
    assert attachment.data.startswith(b"%PDF-1.4")
    assert mail.text_body.startswith("Hi,\n\nhere is the agenda")
    assert not mail.is_delivery_report and mail.auto_submitted is None


def test_bounce_quoting_an_invitation_is_a_report_not_an_invitation() -> None:
    mail = read("dsn_bounce.eml")
    assert mail.is_delivery_report
    assert mail.auto_submitted == "auto-replied"
    assert mail.calendar_parts == () and mail.calendar() is None
    assert mail.attachments == ()
    assert mail.from_name == "Mail Delivery System"
    assert "Recipient address rejected" in mail.text_body
    for name in sorted(EXPECTED):
        if name != "dsn_bounce.eml":
            assert not read(name).is_delivery_report, name


# --- choices between parts --------------------------------------------------------------


def mime(*parts: bytes, top: str = "multipart/mixed") -> bytes:
    body = b"".join(b"--B\r\n" + part + b"\r\n" for part in parts)
    return (b"From: Someone <Someone@Example.test>\r\nMessage-ID: <m@x>\r\n"
            b"Content-Type: " + top.encode() + b"; boundary=B\r\n\r\n" + body + b"--B--\r\n")


def calendar_part(content_type: bytes, method: str | None, summary: str,
                  headers: bytes = b"") -> bytes:
    text = ("BEGIN:VCALENDAR\r\n" + ("METHOD:%s\r\n" % method if method else "")
            + "BEGIN:VEVENT\r\nSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % summary)
    return b"Content-Type: " + content_type + b"\r\n" + headers + b"\r\n" + text.encode()


def test_text_calendar_with_a_mime_method_is_preferred() -> None:
    mail = parse_mail(mime(
        calendar_part(b"application/ics; name=a.ics", "REQUEST", "attached"),
        calendar_part(b"text/calendar", "REQUEST", "body only"),
        calendar_part(b"text/calendar; method=REQUEST", "REQUEST", "mime"),
    ))
    assert len(mail.distinct_calendar_parts()) == 3
    chosen = mail.calendar()
    assert chosen is not None and "SUMMARY:mime" in chosen.text


def test_without_methods_the_first_part_is_chosen() -> None:
    mail = parse_mail(mime(
        calendar_part(b"application/octet-stream; name=one.ics", None, "one"),
        calendar_part(b"application/octet-stream; name=two.ical", None, "two"),
    ))
    chosen = mail.calendar()
    assert chosen is not None and chosen.method is None and "SUMMARY:one" in chosen.text


def test_methods_disagree_is_reported() -> None:
    mail = parse_mail(mime(calendar_part(b"text/calendar; method=cancel", "REQUEST", "x")))
    part = mail.calendar()
    assert part is not None
    assert (part.mime_method, part.body_method, part.method) == ("CANCEL", "REQUEST", "CANCEL")
    assert part.methods_disagree


def test_embedded_messages_are_attachments_not_calendars() -> None:
    inner = b"From: other@x\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\n" \
            b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
    mail = parse_mail(mime(b"Content-Type: text/plain\r\n\r\nsee attached",
                           b"Content-Type: message/rfc822\r\n\r\n" + inner))
    assert mail.calendar_parts == ()
    (attachment,) = mail.attachments
    assert attachment.content_type == "message/rfc822"
    assert b"BEGIN:VCALENDAR" in attachment.data
    assert mail.text_body == "see attached"


def test_html_only_body_becomes_text() -> None:
    mail = parse_mail(b"From: a@b.test\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                      b"<html><head><style>p {color: red}</style></head><body><p>Caf&eacute; "
                      b"&amp; <b>cake</b></p><p>at 3</p></body></html>")
    assert mail.text_body == "Caf\u00e9 & cake\n\nat 3"


def test_headers_decode_leniently() -> None:
    raw = ("From: =?utf-8?q?Doe=2C_J=C3=B6rg?= <J.Doe@Example.TEST>\r\n"
           "Sender: <bad\r\n"
           "Subject: =?UTF-8?B?w6Q=?= =?UTF-8?B?4oA=?=\r\n =?UTF-8?B?kw==?= und Gr\u00fc\u00dfe\r\n"
           "Message-ID: not-bracketed@x\r\n"
           "Auto-Submitted: Auto-Generated (robot); owner=x\r\n"
           "\r\nbody").encode("utf-8")
    mail = parse_mail(raw)
    assert (mail.from_name, mail.from_address) == ("Doe, J\u00f6rg", "j.doe@example.test")
    assert mail.subject == "\u00e4\u2013 und Gr\u00fc\u00dfe"
    assert mail.message_id == "not-bracketed@x"
    assert mail.auto_submitted == "auto-generated"
    assert mail.text_body == "body"


# --- robustness ---------------------------------------------------------------------------


def parse_or_mail_error(data: bytes) -> InboundMail | None:
    """parse_mail may refuse, but only with MailError; what it returns must be usable."""
    try:
        mail = parse_mail(data)
    except MailError as error:
        assert str(error)
        return None
    mail.calendar()
    mail.distinct_calendar_parts()
    return mail


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_truncated_fixtures(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    for cut in range(0, len(data), 37):
        parse_or_mail_error(data[:cut])
        parse_or_mail_error(data[cut:])


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_mutated_fixtures(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    rng = random.Random(name)
    for _ in range(60):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 40)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        parse_or_mail_error(bytes(mutated))


def test_random_bytes() -> None:
    rng = random.Random(6047)
    for _ in range(500):
        parse_or_mail_error(bytes(rng.randrange(256) for _ in range(rng.randint(0, 300))))


@pytest.mark.parametrize("data", [
    b"", b"\r\n\r\n", b"   ", b"no header here at all", b"\x00\xff\xfe" * 50,
], ids=["empty", "blank-lines", "spaces", "prose", "binary"])
def test_not_mail_raises_mail_error(data: bytes) -> None:
    with pytest.raises(MailError):
        parse_mail(data)


@pytest.mark.parametrize("raw", [
    b"From: \"\\\"<>@@@,,,;;; (((((\r\nSender: <>\r\nReply-To: ,,,\r\n"
    b"Content-Type: ;;;===\"\"\"\r\nContent-Transfer-Encoding: \xff\xfe\r\n\r\nbody",
    b"From: " + b"(" * 3000 + b"a@b" + b")" * 3000 + b"\r\n\r\n",
    b"From: a@b\r\nSubject: =?utf-8?b?!!!?= =?x-none?q?=ZZ?= =?utf-8?x?y?=\r\n\r\n",
    b"From: a@b\r\nContent-Type: text/calendar; charset=unicode_escape; method*0*=''\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n!!!!\r\n",
    b"From: a@b\r\nContent-Type: application/octet-stream; name*0*=bogus''%ZZ.ics\r\n"
    b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\n!!!!!\r\n",
    b"From: a@b\r\nContent-Type: multipart/mixed\r\n\r\n--x\r\nContent-Type: text/calendar"
    b"\r\n\r\nBEGIN:VCALENDAR\r\n",
    b"From: a@b\r\n" + b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n"
                               % (i, i) for i in range(300)),
], ids=["garbage-headers", "nested-comments", "bad-encoded-words", "bad-charset-and-base64",
        "bad-rfc2231-and-uuencode", "multipart-without-boundary", "deep-nesting"])
def test_broken_messages_degrade(raw: bytes) -> None:
    mail = parse_or_mail_error(raw)
    assert mail is not None
    assert isinstance(mail.subject, str) and isinstance(mail.text_body, str)


def test_not_bytes_raises_mail_error() -> None:
    with pytest.raises(MailError):
        parse_mail("From: a@b\r\n\r\n")  # type: ignore[arg-type]


# --- the corpus of real clients' mails --------------------------------------------------------


def corpus_mails() -> list[Path]:
    if not CORPUS or not Path(CORPUS).is_dir():
        return []
    return sorted(Path(CORPUS).rglob("*.eml"))


@pytest.mark.skipif(not corpus_mails(), reason="ITIP_CORPUS_DIR is not set")
@pytest.mark.parametrize("path", corpus_mails(),
                         ids=lambda p: "%s/%s" % (p.parent.name, p.name))
def test_corpus_mail_is_read(path: Path) -> None:
    data = path.read_bytes()
    mail = parse_or_mail_error(data)
    for cut in range(0, len(data), max(1, len(data) // 50)):
        parse_or_mail_error(data[:cut])
    if mail is None:
        return
    part = mail.calendar()
    if part is not None:
        assert "\n" not in part.text.replace("\r\n", "")
        assert not part.text.startswith("\ufeff")
    if mail.is_delivery_report:
        assert mail.calendar_parts == ()
