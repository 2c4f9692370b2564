"""What a customer reads and who is reminded, as pure vectors: the time in their zone with
the team's in brackets, the join link (only a joinable kind), the people and rooms, the
link's expiry, who gets reminders."""

from __future__ import annotations

import datetime

import pytest
from icalendar import Calendar

from radicale_tracks.bookings.follower import BookingConfig, BookingFollower
from radicale_tracks.bookings.links import (
    VALID_AFTER_END,
    LinkRefused,
    expired,
    make_token,
    read_token,
)
from radicale_tracks.bookings.store import BookingRow
from radicale_tracks.bookings.words import join_link, people_of, when_words
from radicale_tracks.mail.compose import MailTemplates

# Tuesday 24 November 2026, 09:00 UTC
START = int(datetime.datetime(2026, 11, 24, 9, tzinfo=datetime.UTC).timestamp())


@pytest.mark.parametrize("hour, customer, team, expected", [
    (9, "Europe/London", "Europe/Berlin",
     "Tuesday 24 November 2026, 09:00–09:30 (Europe/London) [10:00–10:30 Europe/Berlin]"),
    (9, "Europe/Berlin", "Europe/Berlin",
     "Tuesday 24 November 2026, 10:00–10:30 (Europe/Berlin)"),
    (9, "America/Los_Angeles", "Asia/Tokyo",
     "Tuesday 24 November 2026, 01:00–01:30 (America/Los_Angeles) [18:00–18:30 Asia/Tokyo]"),
    # the team's day differs: their whole time in brackets
    (20, "America/Los_Angeles", "Asia/Tokyo",
     "Tuesday 24 November 2026, 12:00–12:30 (America/Los_Angeles) "
     "[Wednesday 25 November 2026, 05:00–05:30 Asia/Tokyo]"),
    # across midnight where the customer is: the team's whole time, no doubt left
    (22, "Europe/Berlin", "UTC",
     "Tuesday 24 November 2026, 23:00 – Wednesday 25 November 2026, 00:00 (Europe/Berlin) "
     "[Tuesday 24 November 2026, 22:00–23:00 UTC]"),
])
def test_the_time_in_the_customers_zone_and_the_teams(hour: int, customer: str, team: str,
                                                      expected: str) -> None:
    start = START + (hour - 9) * 3600
    length = 3600 if hour == 22 else 1800
    assert when_words(start, start + length, customer, team) == expected


def event(*lines: str) -> Calendar:
    body = "\r\n".join(("BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT",
                        "UID:u1", "DTSTAMP:20261101T000000Z", "DTSTART:20261124T090000Z",
                        "DTEND:20261124T093000Z", "SUMMARY:Intro",
                        "ORGANIZER;CN=Alice:mailto:alice@example.org", *lines,
                        "END:VEVENT", "END:VCALENDAR", ""))
    return Calendar.from_ical(body)


@pytest.mark.parametrize("line, expected", [
    ("CONFERENCE;VALUE=URI:https://meet.example.org/x", "https://meet.example.org/x"),
    ("CONFERENCE;VALUE=URI:tel:+4930123456", "tel:+4930123456"),
    ("CONFERENCE;VALUE=URI:javascript:alert(1)", ""),
    ("CONFERENCE;VALUE=URI:file:///etc/passwd", ""),
    ("DESCRIPTION:Agenda\\nJoin: https://meet.example.org/y", "https://meet.example.org/y"),
    ("DESCRIPTION:Join: data:text/html,<b>x</b>", ""),
    ("DESCRIPTION:no link here", ""),
])
def test_only_a_joinable_link_reaches_the_customer(line: str, expected: str) -> None:
    assert join_link(event(line)) == expected


def row(**changes: object) -> BookingRow:
    values: dict[str, object] = dict(
        id=7, uid="u1", agent="carol", holder="alice", calendar_path="alice/work",
        href="u1.ics", customer_name="Olivia", customer_address="olivia@customer.test",
        customer_zone="Europe/London", agent_zone="Europe/Berlin", subject="Intro",
        details={"members": ["alice", "bob"], "duration": 30}, start=START,
        end=START + 1800, state="confirmed", changed_by=None,
        customer_on_event=True, customer_mailed=True, customer_sees_attendees=True,
        link_version=1, pending_actor=None, pending_note=None, reminders_until=0,
        created_at=0, updated_at=0)
    values.update(changes)
    return BookingRow(**values)  # type: ignore[arg-type]


ATTENDEES = ("ATTENDEE;CN=Alice;PARTSTAT=ACCEPTED:mailto:alice@example.org",
             "ATTENDEE;CN=Bob;PARTSTAT=NEEDS-ACTION:mailto:bob@example.org",
             "ATTENDEE;CN=Dan;PARTSTAT=DECLINED:mailto:dan@example.org",
             "ATTENDEE;CN=Atlas;CUTYPE=ROOM;PARTSTAT=ACCEPTED:mailto:atlas@example.org",
             "ATTENDEE;CN=Olivia;PARTSTAT=NEEDS-ACTION:mailto:olivia@customer.test",
             "ATTENDEE;CUTYPE=RESOURCE:mailto:assistant@example.org")


def test_who_comes_and_where_leaves_out_the_customer_the_assistant_and_no_shows() -> None:
    team, rooms = people_of(event(*ATTENDEES), row(),
                            lambda a: a.startswith("assistant"))
    assert team == ["Alice", "Bob"] and rooms == ["Atlas"]


def follower(recipients: tuple[str, ...] = ("customer", "team")) -> BookingFollower:
    return BookingFollower(
        BookingConfig(base_url="http://x", domain="example.org", from_email="a@example.org",
                      reminder_recipients=recipients),
        MailTemplates, lambda: datetime.datetime.now(datetime.UTC), lambda: "t",
        lambda a: a.startswith("assistant"),
        lambda a: a.split("@")[0] if a.endswith("@example.org") else None,
        lambda *_: ([], True))


def test_reminders_go_to_the_customer_and_the_team_but_not_to_who_declined() -> None:
    calendar = event(*ATTENDEES)
    assert follower()._reminded(row(), calendar) == [
        "olivia@customer.test", "alice@example.org", "bob@example.org"]
    assert follower(("team",))._reminded(row(), calendar) == [
        "alice@example.org", "bob@example.org"]
    # a customer who is not mailed, or who declined, gets none
    assert "olivia@customer.test" not in follower()._reminded(
        row(customer_mailed=False), calendar)
    declined = event(*[a.replace("NEEDS-ACTION:mailto:olivia", "DECLINED:mailto:olivia")
                       for a in ATTENDEES])
    assert "olivia@customer.test" not in follower()._reminded(row(), declined)
    # someone the holder added in their calendar program is no team of the booking
    assert follower(("team",))._reminded(row(details={"members": ["alice"]}), calendar) == [
        "alice@example.org"]


def test_reminders_one_write_plans_are_bounded() -> None:
    """A weekly series with a big team: one write plans at most MAX_REMINDERS, the
    earliest first, and says from when the rest waits for the top-up."""
    from sqlalchemy import create_engine, func, select

    from radicale_tracks.bookings.reminders import MAX_REMINDERS
    from radicale_tracks.outbox.schema import outbox
    from radicale_tracks.tables import load_tables

    tokens = iter(range(10_000))
    team = ["u%d" % n for n in range(40)]
    weeks = [(START + 7 * 86400 * n, START + 7 * 86400 * n + 1800) for n in range(40)]
    attendees = ["ATTENDEE;PARTSTAT=ACCEPTED:mailto:%s@example.org" % u for u in team]
    calendar = event("RRULE:FREQ=WEEKLY", *attendees)
    planner = BookingFollower(
        BookingConfig(base_url="http://x", domain="example.org", from_email="a@example.org"),
        MailTemplates, lambda: datetime.datetime.fromtimestamp(START - 86400 * 3,
                                                                datetime.UTC),
        lambda: "t%d" % next(tokens), lambda a: False,
        lambda a: a.split("@")[0] if a.endswith("@example.org") else None,
        lambda *_: (list(weeks), False))
    engine = create_engine("sqlite://")
    load_tables().create_all(engine)
    with engine.begin() as connection:
        until = planner._plan(connection, row(holder="u0", details={"members": team}),
                              calendar, START - 86400 * 3)
        planned = connection.execute(select(func.count()).select_from(outbox)).scalar_one()
        latest = connection.execute(select(func.max(outbox.c.next_attempt_at))).scalar_one()
    assert 0 < planned <= MAX_REMINDERS
    assert until > latest and until in {start for start, _ in weeks}


def test_a_link_is_signed_and_expires_after_the_meeting_as_it_is_now() -> None:
    secret = b"k" * 32
    token = make_token(secret, 7, 1, START + 1800)
    claim = read_token(secret, token)
    assert (claim.booking_id, claim.version) == (7, 1)
    with pytest.raises(LinkRefused):
        read_token(b"other" * 7, token)
    with pytest.raises(LinkRefused):
        read_token(secret, token.replace(".1.", ".2."))   # another version, same signature
    with pytest.raises(LinkRefused):
        read_token(secret, "7.1.x.abc")
    end = START + 1800
    assert not expired(claim, end, end + VALID_AFTER_END)
    assert expired(claim, end, end + VALID_AFTER_END + 1)
    # moved a month later: the first link keeps opening until after the new end
    assert not expired(claim, end + 30 * 86400, end + VALID_AFTER_END + 1)
