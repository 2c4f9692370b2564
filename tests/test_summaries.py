"""Vectors: the sentences people read about a meeting (core/summaries.py), in words."""

from __future__ import annotations

import re

import pytest
from icalendar import Calendar

from radicale_tracks.core.summaries import (
    describe_changes,
    describe_instance,
    describe_update,
    meeting_facts,
)

BERLIN = "DTSTART;TZID=Europe/Berlin:20270111T100000\r\nDTEND;TZID=Europe/Berlin:20270111T110000"


def calendar(*events: str) -> Calendar:
    body = "".join("BEGIN:VEVENT\r\nUID:w@example.org\r\nDTSTAMP:20270101T000000Z\r\n"
                   "ORGANIZER;CN=Alice:mailto:alice@example.org\r\n%s\r\nEND:VEVENT\r\n"
                   % event.strip() for event in events)
    return Calendar.from_ical("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n"
                              + body + "END:VCALENDAR\r\n")


def series(extra: str = "", summary: str = "Weekly") -> Calendar:
    return calendar("%s\r\nSUMMARY:%s\r\nRRULE:FREQ=WEEKLY;COUNT=5\r\n%s"
                    % (BERLIN, summary, extra))


#: raw iCalendar: property names or basic-format dates
RAW = re.compile(r"\b(DTSTART|DTEND|ATTENDEE|SUMMARY|LOCATION|RRULE|EXDATE|dtstart|dtend|"
                 r"attendee)\b|\d{8}T\d{6}")


def test_a_cancelled_occurrence_is_named_by_its_own_date_in_the_event_zone() -> None:
    assert describe_instance("20270118T090000Z", series()) == (
        "Monday 18 January 2027, 10:00–11:00 (Europe/Berlin)")
    # in the recipient's zone when it is known
    assert describe_instance("20270118T090000Z", series(), "America/New_York") == (
        "Monday 18 January 2027, 04:00–05:00 (America/New_York)")
    # without the calendar: the moment the key names, still in words
    assert describe_instance("20270118T090000Z") == "Monday 18 January 2027, 09:00 (UTC)"
    assert describe_instance("20270118") == "Monday 18 January 2027"


def test_a_moved_meeting_in_words() -> None:
    old = calendar("%s\r\nSUMMARY:Review" % BERLIN.replace("0111", "0118"))
    new = calendar("DTSTART;TZID=Europe/Berlin:20270119T140000\r\n"
                   "DTEND;TZID=Europe/Berlin:20270119T150000\r\nSUMMARY:Review")
    assert describe_changes(old, new, ["DTEND", "DTSTART"]) == [
        "Moved from Monday 18 January 10:00 to Tuesday 19 January 14:00."]
    longer = calendar("DTSTART;TZID=Europe/Berlin:20270118T100000\r\n"
                      "DTEND;TZID=Europe/Berlin:20270118T113000\r\nSUMMARY:Review")
    assert describe_changes(old, longer, ["DTEND"]) == ["Now ends at 11:30 instead of 11:00."]


def test_title_place_people_and_repetition_in_words() -> None:
    old = calendar("%s\r\nSUMMARY:Review\r\nLOCATION:Room 1\r\n"
                   "ATTENDEE;CN=Dana:mailto:dana@external.test" % BERLIN)
    new = calendar("%s\r\nSUMMARY:Design review\r\nLOCATION:Room 2\r\n"
                   "ATTENDEE;CN=Bob:mailto:bob@example.org\r\n"
                   "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=4\r\nURL:https://x.test/" % BERLIN)
    sentences = describe_changes(old, new, ["ATTENDEE", "LOCATION", "RRULE", "SUMMARY",
                                            "URL"])
    assert sentences == ["New title: Design review (was: Review).",
                         "The location is now Room 2 (was: Room 1).",
                         "Bob was added.", "Dana is no longer invited.",
                         "It now repeats every week on Monday, 4 times.",
                         "Also changed: the link."]
    assert not any(RAW.search(s) for s in sentences)


def test_an_override_is_described_for_its_occurrence_not_the_series() -> None:
    # Google: the override of 25 January carries the master's RRULE and a new title
    new = series()
    override = calendar("RECURRENCE-ID;TZID=Europe/Berlin:20270125T100000\r\n%s\r\n"
                        "SUMMARY:Weekly (with guests)\r\nRRULE:FREQ=WEEKLY;COUNT=5"
                        % BERLIN.replace("0111", "0125")).walk("VEVENT")[0]
    new.add_component(override)
    instance, sentences = describe_update(series(), new, ["RRULE", "SUMMARY"],
                                          ["20270125T090000Z"])
    assert instance == "Monday 25 January 2027, 10:00–11:00 (Europe/Berlin)"
    assert sentences == ["New title: Weekly (with guests) (was: Weekly)."]


def test_the_first_occurrence_is_one_that_takes_place() -> None:
    facts = meeting_facts(series("EXDATE;TZID=Europe/Berlin:20270111T100000"))
    assert facts["when"] == ("Monday 18 January 2027, 10:00–11:00 (Europe/Berlin), "
                             "repeats every week, 5 times")
    cancelled_first = series()
    cancelled_first.add_component(calendar(
        "RECURRENCE-ID;TZID=Europe/Berlin:20270111T100000\r\n%s\r\nSTATUS:CANCELLED"
        % BERLIN).walk("VEVENT")[0])
    assert meeting_facts(cancelled_first)["when"].startswith("Monday 18 January 2027")
    assert meeting_facts(series(), "Europe/London")["when"].startswith(
        "Monday 11 January 2027, 09:00–10:00 (Europe/London)")


@pytest.mark.parametrize("names", [["EXDATE"], ["STATUS"], ["X-FOO"],
                                   ["CLASS", "TRANSP"], ["DESCRIPTION"]])
def test_no_property_name_is_ever_shown(names: list[str]) -> None:
    old = series()
    new = series("EXDATE;TZID=Europe/Berlin:20270118T100000\r\nSTATUS:TENTATIVE\r\n"
                 "DESCRIPTION:x\r\nCLASS:PRIVATE\r\nTRANSP:TRANSPARENT\r\nX-FOO:1")
    sentences = describe_changes(old, new, names)
    assert sentences and not any(RAW.search(s) or "X-FOO" in s for s in sentences), sentences


def test_period_rdates_are_dates_in_words() -> None:
    # an instance rescheduled with RDATE;VALUE=PERIOD (Lotus Notes, Exchange)
    new = series("RDATE;VALUE=PERIOD:20270301T090000Z/20270301T100000Z")
    assert meeting_facts(new)["when"].startswith("Monday 11 January 2027, 10:00–11:00")
    assert describe_changes(series(), new, ["RDATE"]) == [
        "An extra meeting on Monday 1 March 2027, 10:00–11:00 (Europe/Berlin)."]
