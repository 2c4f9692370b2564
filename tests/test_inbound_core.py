"""Vectors for the pure parts of inbound mail: leniency, the assistant's answers, digests."""

from __future__ import annotations

import datetime

import pytest

from radicale_tracks.commands.inbound import exit_code, read_bounded
from radicale_tracks.core.answers import SharedFile, declinecounter, received_message, shared_note
from radicale_tracks.core.itip import ItipError, Method, parse_calendar
from radicale_tracks.core.leniency import (
    check_value_types,
    drop_local_attachments,
    drop_or_refuse_broken,
    drop_redundant_duration,
)
from radicale_tracks.core.validation import validate
from radicale_tracks.inbound.processor import Disposition
from radicale_tracks.inbound.reading import Code, message_digest

NOW = datetime.datetime(2027, 1, 1, 12, tzinfo=datetime.UTC)


def calendar(*lines: str, method: str = "REQUEST") -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN",
                        "METHOD:" + method, "BEGIN:VEVENT", "UID:u1",
                        "DTSTAMP:20270101T000000Z", *lines, "END:VEVENT",
                        "END:VCALENDAR", ""])


# -- leniency ---------------------------------------------------------------------------

def test_dtend_wins_over_a_disagreeing_duration() -> None:
    parsed = parse_calendar(calendar("DTSTART:20270105T100000Z", "DTEND:20270105T103000Z",
                                     "DURATION:PT1H", "ORGANIZER:mailto:o@x.test",
                                     "ATTENDEE:mailto:a@x.test"))
    event = parsed.walk("VEVENT")[0]
    with pytest.raises(ItipError, match="DTEND and DURATION"):
        validate(parsed)
    assert drop_redundant_duration(event)
    assert "DURATION" not in event
    validate(parsed)
    assert event.decoded("DTEND") - event.decoded("DTSTART") == datetime.timedelta(
        minutes=30)


def test_duration_alone_is_kept() -> None:
    event = parse_calendar(calendar("DTSTART:20270105T100000Z", "DURATION:PT1H")
                           ).walk("VEVENT")[0]
    assert not drop_redundant_duration(event)
    assert "DURATION" in event


def test_file_attachments_are_dropped_others_kept() -> None:
    event = parse_calendar(calendar("DTSTART:20270105T100000Z",
                                    "ATTACH:file:///etc/passwd",
                                    "ATTACH:https://example.org/agenda.pdf")
                           ).walk("VEVENT")[0]
    assert drop_local_attachments(event) == 1
    assert [str(a) for a in [event["ATTACH"]]] == ["https://example.org/agenda.pdf"]


@pytest.mark.parametrize("line, refused", [
    ("DTSTART:20270105", True),                       # ZideStore: a date, no VALUE=DATE
    ("DTSTART;VALUE=DATE:20270105", False),
    ("DTSTART:20270105T100000Z", False),
    ("DTSTART;TZID=Europe/Berlin:20270105T100000", False),
])
def test_dates_need_value_date(line: str, refused: bool) -> None:
    parsed = parse_calendar(calendar(line))
    if refused:
        with pytest.raises(ItipError, match="VALUE=DATE"):
            check_value_types(parsed)
    else:
        check_value_types(parsed)


def test_broken_bookkeeping_is_dropped_broken_rules_refused() -> None:
    parsed = parse_calendar(calendar("DTSTART:20270105T100000Z", "CREATED:00001231T000000Z",
                                     "LAST-MODIFIED:20130755"))
    assert sorted(drop_or_refuse_broken(parsed)) == ["CREATED", "LAST-MODIFIED"]
    assert "CREATED" not in parsed.walk("VEVENT")[0]
    broken_rule = parse_calendar(calendar("DTSTART:20270105T100000Z",
                                          "RRULE:FREQ=WEEKLY;BYDAY=MO, TU"))
    with pytest.raises(ItipError, match="RRULE"):
        drop_or_refuse_broken(broken_rule)
    empty_exdate = parse_calendar(calendar("DTSTART;VALUE=DATE:20270105", "EXDATE;VALUE=DATE:"))
    with pytest.raises(ItipError, match="EXDATE"):
        drop_or_refuse_broken(empty_exdate)


# -- the assistant's answers ------------------------------------------------------------

def test_declinecounter_answers_each_proposed_instance() -> None:
    counter = parse_calendar("\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "METHOD:COUNTER",
        "BEGIN:VEVENT", "UID:u1", "DTSTAMP:20270101T000000Z", "SEQUENCE:3",
        "RECURRENCE-ID:20270112T090000Z", "DTSTART:20270112T100000Z",
        "DTEND:20270112T110000Z", "ORGANIZER:mailto:olivia@gmail.test",
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:dana@external.test", "END:VEVENT",
        "END:VCALENDAR", ""]))
    answer = declinecounter(counter, "olivia@gmail.test", "assistant+t1@example.org", NOW,
                            "no")
    assert (answer.method, answer.recipient, answer.sender) == (
        Method.DECLINECOUNTER, "dana@external.test", "olivia@gmail.test")
    parsed = parse_calendar(answer.ics)
    assert validate(parsed) is Method.DECLINECOUNTER
    event = parsed.walk("VEVENT")[0]
    assert str(event["SEQUENCE"]) == "3"
    assert event.decoded("RECURRENCE-ID") == datetime.datetime(
        2027, 1, 12, 9, tzinfo=datetime.UTC)
    assert event["ORGANIZER"].params["SENT-BY"] == "mailto:assistant+t1@example.org"
    assert "DTSTART" not in event  # the proposal is declined, not repeated


def test_received_message_keeps_what_arrived() -> None:
    parsed = parse_calendar(calendar("DTSTART:20270105T100000Z", "SEQUENCE:4",
                                     "ORGANIZER:mailto:O@X.test"))
    message = received_message(parsed, "MAILTO:Bob@Example.org", "o@x.test")
    assert (message.method, message.recipient, message.uid, message.sequence) == (
        Method.REQUEST, "bob@example.org", "u1", 4)
    assert message.instances == (None,)
    assert parse_calendar(message.ics).walk("VEVENT")[0]["UID"] == "u1"


def test_shared_note_attaches_within_limits_and_names_the_rest() -> None:
    note = shared_note(uid="n1@example.org", subject="Agenda", text="See attached.",
                       sender="Bob@Example.org", sender_name="Bob",
                       files=[SharedFile("a.pdf", "application/pdf", b"%PDF\x00\xff"),
                              SharedFile("big.bin", "application/octet-stream", b"0" * 64),
                              SharedFile(None, "text/plain", b"hello")],
                       now=NOW, max_file_bytes=32, max_total_bytes=10)
    journal = parse_calendar(note.to_ical()).walk("VJOURNAL")[0]
    attachments = journal.get("ATTACH")
    assert not isinstance(attachments, list)
    assert attachments.params["FILENAME"] == "a.pdf"
    assert journal.decoded("ATTACH") == b"%PDF\x00\xff"
    description = str(journal["DESCRIPTION"])
    assert "big.bin (64 bytes)" in description and "attachment-3 (5 bytes)" in description
    assert str(journal["ORGANIZER"]) == "mailto:bob@example.org"
    assert journal["ORGANIZER"].params["CN"] == "Bob"


# -- digests and exit codes -------------------------------------------------------------

MAIL = (b"Received: from a by b; Mon, 1 Jan 2027 00:00:00 +0000\r\n"
        b"From: o@x.test\r\nSubject: hi\r\n\r\nbody\r\n")


def test_a_retry_has_the_same_digest() -> None:
    retried = b"Received: from c by d; Mon, 1 Jan 2027 00:05:00 +0000\r\n" + MAIL.replace(
        b"Received: from a", b"Delivered-To: x@example.org\r\nReceived: from a")
    assert message_digest(MAIL, None) == message_digest(retried, None)
    assert message_digest(MAIL, None) != message_digest(MAIL.replace(b"hi", b"ho"), None)
    # the same Message-ID on two different bodies: two messages
    assert message_digest(MAIL, "m@x") != message_digest(MAIL.replace(b"body", b"other"),
                                                         "m@x")
    assert message_digest(MAIL, "m@x") == message_digest(retried, "m@x")


@pytest.mark.parametrize("codes, expected", [
    ([0], 0), ([65], 65), ([0, 67], 67), ([65, 75, 0], 75), ([67, 65], 67)])
def test_one_exit_code_for_the_mta(codes: list[int], expected: int) -> None:
    results = [Disposition("r%d@x" % n, Code(code), None, "") for n, code in
               enumerate(codes)]
    assert exit_code(results) == expected


def test_read_bounded_drains_the_rest() -> None:
    import io

    stream = io.BytesIO(b"x" * 200_000)
    assert len(read_bounded(stream, 1000)) == 1001
    assert stream.read() == b""
