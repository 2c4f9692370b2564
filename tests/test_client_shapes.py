"""Invitations from the calendar programs the first fixtures did not cover.

Lotus Notes (a series as an ``RDATE;VALUE=PERIOD`` list, an instance moved with
``RECURRENCE-ID`` plus a one-period ``RDATE``), Zimbra (lines folded inside
``mailto:``, a resource among the attendees, a CANCEL with the next SEQUENCE), KDE's
KMail/KOrganizer (``method="request"`` in lower case, ``DURATION``, an address in mixed
case) and Evolution (``/freeassociation.sourceforge.net/`` zone names, a CANCEL that keeps
the SEQUENCE). The fixtures in ``tests/fixtures/clients/`` were written for this project
from those clients' documented and observed shapes (see its README). Each one goes
through ``radicale-tracks deliver`` with our MTA's ``Authentication-Results`` stamped on,
and is judged as its sender would judge it: the assistant answers, the track holds the
meeting at the right instants, a follow-up is followed, nobody is dropped.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

from icalendar import Calendar

from helpers import calendar_query, report
from inbound_mta import Inbound, calendar_of, track_events, uid_in

CLIENTS = Path(__file__).parent / "fixtures" / "clients"


def fixture(name: str) -> bytes:
    return (CLIENTS / name).read_bytes()


def found_between(inbound: Inbound, slug: str, start: str, end: str) -> list[str]:  # noqa: F811
    """UIDs of the track's objects with an instance in [start, end), as bob's client asks."""
    answer = report(inbound.server.session("bob"),
                    "%s/assistant/%s/" % (inbound.server.url, slug),
                    calendar_query(start, end))
    assert answer.status_code == 207, answer.text
    uids = []
    data = ET.fromstring(answer.content).iter("{urn:ietf:params:xml:ns:caldav}calendar-data")
    for node in data:
        if node.text:
            uids += [str(e["UID"]) for e in Calendar.from_ical(node.text).walk("VEVENT")
                     if e.get("RECURRENCE-ID") is None]
    return uids


def members_of(detail: str) -> list[str]:
    """The member addresses ``tracks show`` lists."""
    lines = detail.split("\nmembers:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    return [line.split()[2] for line in lines if line.strip()]


def test_lotus_notes_period_series_and_instance_reschedule(inbound: Inbound) -> None:  # noqa: F811
    inbound.sink.take()
    raw = fixture("lotus_notes_request.eml")
    uid = uid_in(raw)
    done = inbound.deliver(raw, "nora@notes.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr
    kinds = {(m.kind, m.recipient) for m in inbound.sink.wait_for(1)}
    assert ("track_created", "nora@notes.test") in kinds
    track = inbound.track_of(uid)
    slug = track["slug"]
    assert "bob@example.org" in members_of(track["detail"])
    # three periods in CEST: 14:00 local is 12:00 UTC, each week
    for day in ("20270405", "20270412", "20270419"):
        assert found_between(inbound, slug, day + "T120000Z", day + "T130000Z") == [uid], day
    assert found_between(inbound, slug, "20270426T000000Z", "20270427T000000Z") == []

    # Notes moves the 12 April instance to 16:00 local
    inbound.sink.settle()
    inbound.sink.take()
    moved = fixture("lotus_notes_reschedule_instance.eml")
    done = inbound.deliver(moved, "nora@notes.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    assert found_between(inbound, slug, "20270412T140000Z", "20270412T150000Z") == [uid]
    assert found_between(inbound, slug, "20270412T120000Z", "20270412T130000Z") == []
    for day in ("20270405", "20270419"):  # the others stay
        assert found_between(inbound, slug, day + "T120000Z", day + "T130000Z") == [uid], day
    copy = track_events(inbound.server, slug)[0]
    overrides = [e for e in copy.walk("VEVENT") if e.get("RECURRENCE-ID") is not None]
    assert len(overrides) == 1
    assert overrides[0].get("RRULE") is None
    # whoever is told names the moved occurrence, in words
    for mail in inbound.sink.settle():
        text = mail.text()
        assert "20270412" not in text and "Traceback" not in text, text
    shown = inbound.cli("tracks", "show", slug).stdout
    assert "failed" not in shown, shown


def test_zimbra_resource_is_no_member_and_cancel_follows(inbound: Inbound) -> None:  # noqa: F811
    inbound.sink.take()
    raw = fixture("zimbra_request.eml")
    uid = uid_in(raw)
    done = inbound.deliver(raw, "zed@zimbra.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr
    mails = inbound.sink.settle()
    kinds = {(m.kind, m.recipient) for m in mails}
    assert ("track_created", "zed@zimbra.test") in kinds
    assert not any(recipient == "beamer3@zimbra.test" for _, recipient in kinds), kinds
    track = inbound.track_of(uid)
    members = members_of(track["detail"])
    assert "dana@external.test" in members
    assert "beamer3@zimbra.test" not in members
    # 09:00 CEST, whatever Zimbra's 1601 zone rules and the fold inside "mailto:"
    assert found_between(inbound, track["slug"], "20270510T070000Z",
                         "20270510T080000Z") == [uid]

    inbound.sink.take()
    done = inbound.deliver(fixture("zimbra_cancel.eml"), "zed@zimbra.test",
                           "assistant@example.org")
    assert done.returncode == 0, done.stderr
    copy = track_events(inbound.server, track["slug"])[0]
    assert str(copy.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    assert "cancelled" in inbound.track_of(uid)["detail"]


def test_kde_lower_case_method_duration_and_address_case(inbound: Inbound) -> None:  # noqa: F811
    inbound.sink.take()
    raw = fixture("kde_kmail_request.eml")
    uid = uid_in(raw)
    done = inbound.deliver(raw, "karl@kde.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr
    kinds = {(m.kind, m.recipient) for m in inbound.sink.wait_for(1)}
    assert ("track_created", "karl@kde.test") in kinds
    track = inbound.track_of(uid)
    members = members_of(track["detail"])
    assert "bob@example.org" in members
    assert not [m for m in members if m != m.lower() or m.startswith("mailto:")], members
    # six Tuesdays, 09:30 CEST for 45 minutes
    assert found_between(inbound, track["slug"], "20270601T073000Z",
                         "20270601T080000Z") == [uid]
    assert found_between(inbound, track["slug"], "20270706T073000Z",
                         "20270706T081500Z") == [uid]
    assert found_between(inbound, track["slug"], "20270713T073000Z",
                         "20270713T081500Z") == []


def test_evolution_cancel_with_the_same_sequence_is_followed(inbound: Inbound) -> None:  # noqa: F811
    inbound.sink.take()
    raw = fixture("evolution_request.eml")
    uid = uid_in(raw)
    done = inbound.deliver(raw, "eve@evolution.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr
    track = inbound.track_of(uid)
    copy = track_events(inbound.server, track["slug"])[0]
    start = copy.walk("VEVENT")[0]["DTSTART"]
    assert start.params["TZID"] == "Europe/Berlin"
    assert found_between(inbound, track["slug"], "20270615T090000Z",
                         "20270615T100000Z") == [uid]

    inbound.sink.settle()
    inbound.sink.take()
    cancel = fixture("evolution_cancel_same_sequence.eml")
    assert calendar_of(cancel).walk("VEVENT")[0]["SEQUENCE"] == \
        calendar_of(raw).walk("VEVENT")[0]["SEQUENCE"]
    done = inbound.deliver(cancel, "eve@evolution.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr
    assert b"stale" not in done.stderr.lower()
    copy = track_events(inbound.server, track["slug"])[0]
    assert str(copy.walk("VEVENT")[0]["STATUS"]) == "CANCELLED"
    assert "cancelled" in inbound.track_of(uid)["detail"]
    # Evolution told dana itself: the assistant does not mail her a second CANCEL
    assert not [m for m in inbound.sink.settle()
                if m.recipient == "dana@external.test" and m.calendar() is not None]


def test_zones_without_vtimezone_by_mail_are_placed_or_refused(inbound: Inbound) -> None:  # noqa: F811
    """A booking script writes ``TZID=Europe/Berlin`` and no VTIMEZONE (as a CalDAV PUT
    may): the assistant places it at 08:00 UTC in July, not at 10:00. A zone nobody can
    place is refused with its name, and the mail is kept."""
    from inbound_mta import invitation

    uid = "bare-zone-%s" % uuid.uuid4().hex
    raw = invitation(uid, "nora@notes.test", "nora@notes.test",
                     ["assistant@example.org", "bob@example.org"],
                     start=";TZID=Europe/Berlin:20270712T100000",
                     end=";TZID=Europe/Berlin:20270712T110000")
    done = inbound.deliver(raw, "nora@notes.test", "assistant@example.org")
    assert done.returncode == 0, done.stderr
    slug = inbound.track_of(uid)["slug"]
    assert found_between(inbound, slug, "20270712T080000Z", "20270712T090000Z") == [uid]
    assert found_between(inbound, slug, "20270712T100000Z", "20270712T110000Z") == []

    unknown = "nowhere-%s" % uuid.uuid4().hex
    raw = invitation(unknown, "nora@notes.test", "nora@notes.test",
                     ["assistant@example.org"], start=";TZID=Ceres Time:20270712T100000",
                     end=";TZID=Ceres Time:20270712T110000")
    done = inbound.deliver(raw, "nora@notes.test", "assistant@example.org")
    assert done.returncode == 65
    reason = done.stderr.decode()
    assert '"Ceres Time"' in reason and len(reason.strip().splitlines()) == 1, reason
    assert "Traceback" not in reason
    assert "nora@notes.test" in inbound.cli("quarantine", "list").stdout
