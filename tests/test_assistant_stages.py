"""The assistant's stages, each alone on vectors: the messages applied to the track's
copy, the organizer's object as stored, the track's copy, and who hears what
(``tracks/assistant_stages.py``, ``tracks/assistant_mails.py``)."""

from __future__ import annotations

import datetime

from icalendar import Calendar

from radicale_tracks.core.broker import organizer_messages
from radicale_tracks.core.itip import (
    ItipMessage,
    Method,
    attendees_of,
    main_components,
    parse_calendar,
)
from radicale_tracks.core.receipt import Outcome, Receipt
from radicale_tracks.core.track_details import TrackDetails
from radicale_tracks.tracks.assistant_mails import People, PlannedMail, TrackChange, decide_mails
from radicale_tracks.tracks.assistant_stages import (
    activity_kind,
    apply_all,
    organizer_version,
    track_copy_of,
)
from radicale_tracks.tracks.store import Track

NOW = datetime.datetime(2027, 1, 4, 8, 0, tzinfo=datetime.UTC)
ALICE = frozenset({"alice@example.org"})
ASSISTANT = "assistant@example.org"
TRACK_ADDRESS = "assistant+k7@example.org"
DETAILS = TrackDetails(slug="planning", title="Planning", track_url="https://dav/p/",
                       track_address=TRACK_ADDRESS, join_url="https://meet/planning")
TRACK = Track(id=7, slug="planning", token="k7", feed_token="f", title="Planning",
              organizer="alice@example.org", organizer_user="alice", status="open",
              created_at=0, updated_at=0)
PEOPLE = People(is_assistant_side=lambda a: a.startswith("assistant"),
                local_user=lambda a: "bob" if a == "bob@example.org" else None,
                zone_for=lambda a: None)


def series(*extra: str, sequence: int = 0, attendees: tuple[str, ...] = (
        ASSISTANT, "bob@example.org", "carol@elsewhere.test"),
        stamp: str = "20270101T000000Z", partstats: dict[str, str] | None = None
           ) -> Calendar:
    partstats = partstats or {}
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
             "UID:weekly@example.org", "DTSTAMP:" + stamp, "DTSTART:20270111T090000Z",
             "DURATION:PT1H", "RRULE:FREQ=WEEKLY;COUNT=4", "SUMMARY:Weekly",
             "SEQUENCE:%d" % sequence, "ORGANIZER;CN=Alice:mailto:alice@example.org"]
    lines += ["ATTENDEE;CN=%s;PARTSTAT=%s:mailto:%s" % (
        a.split("@")[0].title(), partstats.get(a, "NEEDS-ACTION"), a) for a in attendees]
    lines += [*extra, "END:VEVENT", "END:VCALENDAR"]
    return parse_calendar("\r\n".join(lines) + "\r\n")


def to_assistant(old: Calendar | None, new: Calendar | None) -> list[ItipMessage]:
    return [m for m in organizer_messages(old, new, ALICE, NOW) if m.recipient == ASSISTANT]


def param(calendar: Calendar, address: str, name: str) -> str | None:
    value = attendees_of(main_components(calendar)[None])[address].params.get(name)
    return None if value is None else str(value)


def change(old: Calendar | None, new: Calendar | None, receipt: Receipt, copy: Calendar,
           **facts: object) -> TrackChange:
    messages = tuple(organizer_messages(old, new, ALICE, NOW))
    values: dict[str, object] = dict(
        track=TRACK, details=DETAILS, feed_url="https://dav/feed/f.ics",
        message=next(m for m in messages if m.recipient == ASSISTANT), messages=messages,
        receipt=receipt, old=old, new=new, external=False, copy=copy,
        organizer="alice@example.org", organizer_name="Alice", new_members=frozenset(),
        creating=False, new_meeting=False)
    values.update(facts)
    return TrackChange(**values)  # type: ignore[arg-type]


def kinds(mails: list[PlannedMail]) -> list[tuple[str, str, str | None]]:
    return [(m.kind, m.recipient, m.method) for m in mails]


# --- apply -----------------------------------------------------------------------------


def test_every_message_to_the_assistant_is_applied_in_order() -> None:
    """An EXDATE and an RDATE make a CANCEL of one occurrence and a REQUEST of the
    series: the copy takes both, and the change counts as an update."""
    old = series()
    created = apply_all(to_assistant(None, old), None)
    assert created.outcome is Outcome.CREATED and created.calendar is not None
    new = series("EXDATE:20270118T090000Z", "RDATE:20270201T090000Z", sequence=1)
    messages = to_assistant(old, new)
    assert [m.method for m in messages] == [Method.CANCEL, Method.REQUEST]
    receipt = apply_all(messages, created.calendar)
    assert receipt.outcome is Outcome.UPDATED
    assert receipt.calendar is not None
    master = main_components(receipt.calendar)[None]
    assert (master.get("SEQUENCE"), "RDATE" in master, "EXDATE" in master) == (1, True, True)
    assert set(receipt.changes) >= {"EXDATE", "RDATE"}
    # the first message alone would have left the series without its new date
    only_first = apply_all(messages[:1], created.calendar)
    assert only_first.outcome is Outcome.INSTANCE_CANCELLED
    assert only_first.calendar is not None
    assert "RDATE" not in main_components(only_first.calendar)[None]


def test_a_repeat_or_an_older_version_is_stale_and_leaves_no_copy() -> None:
    old = series()
    created = apply_all(to_assistant(None, old), None)
    again = apply_all(to_assistant(None, old), created.calendar)
    assert (again.outcome, again.calendar) == (Outcome.STALE, None)
    newer = apply_all(to_assistant(None, series(sequence=2)), None)
    older = apply_all(to_assistant(None, series(sequence=1)), newer.calendar)
    assert (older.outcome, older.calendar, older.reason) == (
        Outcome.STALE, None, "SEQUENCE 1 is older than stored SEQUENCE 2")


# --- what is stored --------------------------------------------------------------------


def test_the_organizers_object_carries_the_answer_refusals_and_links() -> None:
    new = series(attendees=(ASSISTANT, "assistant+closed@example.org", "bob@example.org"))
    stored = organizer_version(new, ASSISTANT, ["assistant+closed@example.org"], DETAILS)
    assert (param(stored, ASSISTANT, "PARTSTAT"), param(stored, ASSISTANT,
                                                        "SCHEDULE-STATUS")) == ("ACCEPTED",
                                                                                "1.2")
    assert param(stored, "assistant+closed@example.org", "SCHEDULE-STATUS") == "3.7"
    assert param(stored, "bob@example.org", "PARTSTAT") == "NEEDS-ACTION"
    description = str(main_components(stored)[None].get("DESCRIPTION", ""))
    assert "https://dav/p/" in description and "https://meet/planning" in description
    # the organizer's object as written is left alone
    assert param(new, ASSISTANT, "PARTSTAT") == "NEEDS-ACTION"


def test_the_track_copy_keeps_the_organizers_own_stamps() -> None:
    """A mail from an organizer elsewhere is re-authored here (DTSTAMP now): the copy
    keeps the SEQUENCE and DTSTAMP the organizer sent, her next message's yardstick."""
    received = series(sequence=4, stamp="20261224T101500Z")
    applied = series(sequence=4, stamp="20270104T080000Z", partstats={
        ASSISTANT: "ACCEPTED"})
    copy = track_copy_of(applied, DETAILS, PEOPLE.is_assistant_side, received)
    master = main_components(copy)[None]
    assert master.decoded("DTSTAMP") == datetime.datetime(2026, 12, 24, 10, 15,
                                                          tzinfo=datetime.UTC)
    assert "https://meet/planning" in str(master.get("DESCRIPTION", ""))
    local = track_copy_of(applied, DETAILS, PEOPLE.is_assistant_side, None)
    assert main_components(local)[None].decoded("DTSTAMP") == NOW


def test_activity_kinds() -> None:
    assert [activity_kind(Outcome.CREATED, True), activity_kind(Outcome.CREATED, False),
            activity_kind(Outcome.INSTANCE_CANCELLED, False),
            activity_kind(Outcome.STALE, False)] == [
        "created", "added", "instance-cancelled", "stale"]


# --- who hears what --------------------------------------------------------------------


def test_a_new_track_tells_the_organizer_and_invites_by_mail_who_is_not_here() -> None:
    new = series()
    receipt = apply_all(to_assistant(None, new), None)
    assert receipt.calendar is not None
    mails = decide_mails(change(None, new, receipt, receipt.calendar, creating=True,
                                new_meeting=True,
                                new_members=frozenset({"bob@example.org",
                                                       "carol@elsewhere.test"}),
                                local_recipients=frozenset({"bob@example.org"})),
                         PEOPLE, NOW)
    assert kinds(mails) == [("track_created", "alice@example.org", "REPLY"),
                            ("member_added", "bob@example.org", None),
                            ("member_added", "carol@elsewhere.test", "REQUEST")]
    organizer, bob, carol = mails
    assert organizer.itip is not None and "PARTSTAT=ACCEPTED" in organizer.itip
    # the invitation by mail comes from the track (SENT-BY its address)
    assert carol.itip is not None and TRACK_ADDRESS in carol.itip
    # a user here follows the track by CalDAV, someone elsewhere by its feed
    assert bob.context["subscribe"] == {"caldav_url": "https://dav/p/", "feed_url": ""}
    assert carol.context["subscribe"] == {"caldav_url": "",
                                          "feed_url": "https://dav/feed/f.ics"}


def test_answers_alone_make_no_mail() -> None:
    old = series()
    created = apply_all(to_assistant(None, old), None)
    new = series(partstats={"bob@example.org": "ACCEPTED"})
    receipt = Receipt(Outcome.UPDATED, created.calendar, "", (None,), False, ("ATTENDEE",))
    assert created.calendar is not None
    assert decide_mails(change(old, new, receipt, created.calendar), PEOPLE, NOW) == []


def test_an_organizer_elsewhere_invites_herself_new_members_only_learn_the_track() -> None:
    old = series(attendees=(ASSISTANT, "carol@elsewhere.test"))
    created = apply_all(to_assistant(None, old), None)
    new = series(attendees=(ASSISTANT, "carol@elsewhere.test", "dan@elsewhere.test"),
                 sequence=1)
    receipt = apply_all(to_assistant(old, new), created.calendar)
    assert receipt.calendar is not None
    mails = decide_mails(change(old, new, receipt, receipt.calendar, external=True,
                                new_members=frozenset({"dan@elsewhere.test"})),
                         PEOPLE, NOW)
    # no iTIP from the track to anyone: her own calendar sent the invitations
    assert [(kind, to) for kind, to, _ in kinds(mails)] == [
        ("member_added", "dan@elsewhere.test")]
    assert mails[0].itip is None


def test_a_cancelled_meeting_is_confirmed_to_the_organizer_and_cancelled_to_everyone(
        ) -> None:
    old = series()
    created = apply_all(to_assistant(None, old), None)
    assert created.calendar is not None
    receipt = apply_all(to_assistant(old, None), created.calendar)
    assert receipt.outcome is Outcome.CANCELLED and receipt.calendar is not None
    mails = decide_mails(change(old, None, receipt, receipt.calendar,
                                local_recipients=frozenset({"bob@example.org"})),
                         PEOPLE, NOW)
    assert kinds(mails) == [("meeting_cancelled", "alice@example.org", None),
                            ("meeting_cancelled", "bob@example.org", None),
                            ("meeting_cancelled", "carol@elsewhere.test", "CANCEL")]
    assert mails[0].context["to_organizer"] is True
