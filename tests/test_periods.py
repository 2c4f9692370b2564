"""Vectors: ``RDATE;VALUE=PERIOD`` (and FREEBUSY periods) wherever we read them.

A PERIOD is ``start/end`` or ``start/duration``, in UTC or with a TZID; icalendar and
vobject hand it back as a tuple. Every reader must see the instance's start, and where it
matters its own end: the readers of RDATE/EXDATE (``core/itip.py``), the signature
(``core/signature.py``), the broker, the summaries, the repair written on the way in
(``core/periods.py``) and the index (``index/extract.py``).
"""

from __future__ import annotations

import datetime
from zoneinfo import ZoneInfo

import pytest
import vobject
from icalendar import Calendar
from radicale import item as radicale_item

from radicale_tracks.core.broker import organizer_messages
from radicale_tracks.core.itip import (
    RecurrenceDate,
    main_components,
    master_of,
    recurrence_dates,
    recurrence_id_for,
    recurrence_values,
)
from radicale_tracks.core.period_values import period_bounds
from radicale_tracks.core.periods import has_periods, periods_as_dates
from radicale_tracks.core.receipt import Outcome, apply_message
from radicale_tracks.core.signature import changed_properties, component_signature
from radicale_tracks.core.summaries import describe_changes, describe_when, meeting_facts
from radicale_tracks.core.track_details import track_copy
from radicale_tracks.index.extract import Expansion, Occurrence, extract_entry

UTC = datetime.UTC
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime.datetime(2027, 1, 4, tzinfo=UTC)


def at(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def series(*rdates: str, extra: str = "", method: str = "") -> Calendar:
    """A weekly Monday 10:00–11:00 Berlin series with the given RDATE lines."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN"]
    lines += ["METHOD:" + method] if method else []
    lines += ["BEGIN:VEVENT", "UID:period@example.org", "DTSTAMP:20270104T080000Z",
              "SEQUENCE:1", "SUMMARY:Design review",
              "DTSTART;TZID=Europe/Berlin:20270111T100000",
              "DTEND;TZID=Europe/Berlin:20270111T110000",
              "RRULE:FREQ=WEEKLY;COUNT=4", "ORGANIZER:mailto:oscar@outlook.test",
              "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:assistant@example.org",
              "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.org", *rdates]
    lines += [line for line in extra.splitlines() if line]
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return Calendar.from_ical("\r\n".join(lines))


EXPLICIT_UTC = "RDATE;VALUE=PERIOD:20270202T130000Z/20270202T134500Z"
DURATION_UTC = "RDATE;VALUE=PERIOD:20270202T130000Z/PT45M"
EXPLICIT_ZONED = "RDATE;VALUE=PERIOD;TZID=Europe/Berlin:20270119T140000/20270119T150000"
DURATION_ZONED = "RDATE;VALUE=PERIOD;TZID=Europe/Berlin:20270119T140000/PT2H"


# -- the one reader ---------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ((at("20270202T130000Z"), datetime.timedelta(minutes=45)),
     (at("20270202T130000Z"), at("20270202T134500Z"))),
    ((at("20270202T130000Z"), at("20270202T134500Z")),
     (at("20270202T130000Z"), at("20270202T134500Z"))),
    ((datetime.datetime(2027, 1, 19, 14), datetime.datetime(2027, 1, 19, 15)),
     (datetime.datetime(2027, 1, 19, 14), datetime.datetime(2027, 1, 19, 15))),
    ((at("20270202T130000Z"), datetime.datetime(2027, 2, 2, 14)), None),  # mixed
    ((datetime.date(2027, 2, 2), datetime.timedelta(days=1)), None),
    (at("20270202T130000Z"), None),
    ("20270202T130000Z/PT45M", None),
])
def test_period_bounds(value: object, expected: object) -> None:
    assert period_bounds(value) == expected


@pytest.mark.parametrize(("line", "expected"), [
    (EXPLICIT_UTC, RecurrenceDate(at("20270202T130000Z"), at("20270202T134500Z"))),
    (DURATION_UTC, RecurrenceDate(at("20270202T130000Z"), at("20270202T134500Z"))),
    (EXPLICIT_ZONED, RecurrenceDate(datetime.datetime(2027, 1, 19, 14, tzinfo=BERLIN),
                                    datetime.datetime(2027, 1, 19, 15, tzinfo=BERLIN))),
    (DURATION_ZONED, RecurrenceDate(datetime.datetime(2027, 1, 19, 14, tzinfo=BERLIN),
                                    datetime.datetime(2027, 1, 19, 16, tzinfo=BERLIN))),
    ("RDATE:20270202T130000Z", RecurrenceDate(at("20270202T130000Z"))),
    ("RDATE;VALUE=DATE:20270202", RecurrenceDate(datetime.date(2027, 2, 2))),
])
def test_recurrence_dates_read_every_form(line: str, expected: RecurrenceDate) -> None:
    master = master_of(series(line))
    assert master is not None
    assert recurrence_dates(master, "RDATE") == [expected]
    # the start is what names the instance, with the property's zone kept
    values = recurrence_values(master, "RDATE")
    assert [v.dt for v in values] == [expected.start]
    assert all("PERIOD" not in str(v.params.get("VALUE", "")) for v in values)
    assert recurrence_id_for(expected.key, master).dt == expected.start


def test_signature_compares_periods_by_start_and_end() -> None:
    explicit, duration = master_of(series(EXPLICIT_UTC)), master_of(series(DURATION_UTC))
    longer = master_of(series("RDATE;VALUE=PERIOD:20270202T130000Z/PT1H"))
    assert explicit is not None and duration is not None and longer is not None
    assert component_signature(explicit) == component_signature(duration)
    assert changed_properties(explicit, longer) == ("RDATE",)


@pytest.mark.parametrize("line", [EXPLICIT_UTC, DURATION_UTC, EXPLICIT_ZONED,
                                  DURATION_ZONED])
def test_core_readers_take_periods(line: str) -> None:
    """Broker, receipt, copies and sentences: no tuple where a date was expected."""
    old, new = series(), series(line)
    organizer = frozenset({"oscar@outlook.test"})
    messages = organizer_messages(old, new, organizer, NOW)
    assert {m.recipient for m in messages} == {"assistant@example.org", "bob@example.org"}
    assert all("RDATE" in m.changes for m in messages)
    assert organizer_messages(None, new, organizer, NOW)
    request = series(line, method="REQUEST")
    assert apply_message(request, None).outcome is Outcome.CREATED
    copy = track_copy(new, lambda address: address.startswith("assistant"))
    assert "RDATE" in copy.to_ical().decode()
    assert describe_when(master_of(new))
    assert meeting_facts(new)["summary"] == "Design review"
    assert describe_changes(old, new, ["RDATE"])


def test_changes_name_the_occurrences_at_their_own_times() -> None:
    old = series()
    new = series(DURATION_UTC, EXPLICIT_ZONED,
                 extra="EXDATE;TZID=Europe/Berlin:20270118T100000")
    sentences = describe_changes(old, new, ["RDATE", "EXDATE"])
    assert sentences == [
        "No meeting on Monday 18 January 2027, 10:00 (Europe/Berlin).",
        "An extra meeting on Tuesday 19 January 2027, 14:00–15:00 (Europe/Berlin).",
        "An extra meeting on Tuesday 2 February 2027, 14:00–14:45 (Europe/Berlin)."]
    # as stored after the repair: an RDATE date-time and an override with the end
    assert describe_changes(old, periods_as_dates(new), ["RDATE", "EXDATE"]) == sentences


# -- written as everyone reads it -------------------------------------------------------

def _stores_in_vobject(calendar: Calendar) -> None:
    """Radicale stores through vobject: it must be able to write the object back."""
    vobject.readOne(calendar.to_ical().decode()).serialize()


def test_a_period_of_the_series_length_becomes_a_plain_rdate() -> None:
    original = series(EXPLICIT_ZONED)
    before = original.to_ical()
    written = periods_as_dates(original)
    assert original.to_ical() == before  # not mutated
    master = master_of(written)
    assert master is not None and not has_periods(master)
    assert recurrence_dates(master, "RDATE") == [
        RecurrenceDate(datetime.datetime(2027, 1, 19, 14, tzinfo=BERLIN))]
    assert "RDATE;TZID=Europe/Berlin:20270119T140000" in written.to_ical().decode()
    assert len(main_components(written)) == 1  # no override needed
    _stores_in_vobject(written)


@pytest.mark.parametrize(("line", "start", "end"), [
    (DURATION_UTC, "20270202T130000Z", "20270202T134500Z"),
    (EXPLICIT_UTC, "20270202T130000Z", "20270202T134500Z"),
    (DURATION_ZONED, "20270119T130000Z", "20270119T150000Z"),
])
def test_a_period_of_another_length_becomes_an_override(line: str, start: str, end: str
                                                        ) -> None:
    written = periods_as_dates(series(line))
    components = main_components(written)
    assert set(components) == {None, start}
    override = components[start]
    assert override.decoded("DTSTART").astimezone(UTC) == at(start)
    assert override.decoded("DTEND").astimezone(UTC) == at(end)
    assert str(override["SUMMARY"]) == "Design review"
    assert "RRULE" not in override and "RDATE" not in override
    assert int(override["SEQUENCE"]) == 1
    _stores_in_vobject(written)


def test_an_override_the_sender_wrote_is_kept() -> None:
    calendar = series(DURATION_UTC)
    calendar.add_component(Calendar.from_ical(
        "BEGIN:VEVENT\r\nUID:period@example.org\r\nDTSTAMP:20270104T080000Z\r\n"
        "RECURRENCE-ID:20270202T130000Z\r\nDTSTART:20270202T130000Z\r\n"
        "DTEND:20270202T140000Z\r\nSUMMARY:Their own\r\nEND:VEVENT\r\n"))
    written = periods_as_dates(calendar)
    overrides = [c for c in written.walk("VEVENT") if c.get("RECURRENCE-ID") is not None]
    assert [str(c["SUMMARY"]) for c in overrides] == ["Their own"]


def test_a_calendar_without_periods_is_returned_as_it_is() -> None:
    calendar = series("RDATE:20270202T130000Z")
    assert periods_as_dates(calendar) is calendar


# -- the index --------------------------------------------------------------------------

def entry_of(text: str):  # type: ignore[no-untyped-def]
    """The index entry of an object stored as ``text`` (read from a file, as Radicale
    does: vobject could not write a PERIOD back)."""
    item = radicale_item.Item(collection_path="alice/calendar", text=text)
    return extract_entry(item, Expansion.around(NOW, 30, 120, 500))


def test_index_takes_period_instances_with_their_own_end() -> None:
    text = series(DURATION_UTC, EXPLICIT_ZONED,
                  extra="EXDATE;TZID=Europe/Berlin:20270118T100000").to_ical().decode()
    occurrences = sorted(entry_of(text).occurrences, key=lambda o: o.start)
    starts = [(o.start, o.end) for o in occurrences]
    ts = lambda text: int(at(text).timestamp())  # noqa: E731
    assert (ts("20270202T130000Z"), ts("20270202T134500Z")) in starts
    assert (ts("20270119T130000Z"), ts("20270119T140000Z")) in starts
    assert (ts("20270118T090000Z"), ts("20270118T100000Z")) not in starts  # EXDATE
    assert len(occurrences) == 5
    assert all(o.fbtype == "BUSY" for o in occurrences)


def test_index_leaves_a_period_instance_to_its_override() -> None:
    text = series(DURATION_UTC).to_ical().decode().replace(
        "END:VCALENDAR", "BEGIN:VEVENT\r\nUID:period@example.org\r\n"
        "DTSTAMP:20270104T080000Z\r\nRECURRENCE-ID:20270202T130000Z\r\n"
        "DTSTART:20270202T150000Z\r\nDTEND:20270202T160000Z\r\nEND:VEVENT\r\n"
        "END:VCALENDAR")
    ts = lambda text: int(at(text).timestamp())  # noqa: E731
    occurrences = entry_of(text).occurrences
    assert Occurrence(ts("20270202T150000Z"), ts("20270202T160000Z"), "BUSY") in occurrences
    assert all(o.start != ts("20270202T130000Z") for o in occurrences)


def test_index_reads_freebusy_periods_in_every_form() -> None:
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VFREEBUSY\r\n"
            "UID:f\r\nDTSTAMP:20270101T000000Z\r\n"
            "FREEBUSY;FBTYPE=BUSY:20270202T080000Z/PT1H,20270202T120000Z/20270202T130000Z\r\n"
            "END:VFREEBUSY\r\nEND:VCALENDAR\r\n")
    assert [(o.start, o.end) for o in entry_of(text).occurrences] == [
        (int(at("20270202T080000Z").timestamp()), int(at("20270202T090000Z").timestamp())),
        (int(at("20270202T120000Z").timestamp()), int(at("20270202T130000Z").timestamp()))]
