"""Radicale's own size limits hold on every path the plugin adds.

``[server] max_content_length`` bounds a request body: Radicale checks it only under its
own built-in server, so under a WSGI server (gunicorn, uWSGI — how the application is
called here, in process) our PUT, PROPFIND, REPORT, PROPPATCH (calendar-availability
included), the outbox's free-busy POST, ``/.tracks/api/slots`` and the pages and API
under ``/.web/`` must refuse a larger body with 413 from its Content-Length, before
reading it: the request body here raises if anything reads it. The JSON APIs answer
JSON naming the limit. ``[server] max_resource_size`` bounds what the storage writes
itself (copies, inbox messages, mail): ``Collection.upload_indexed`` refuses more.

Limits are small (``max_content_length = 100000``, ``max_resource_size = 3000``) so the
bodies stay small.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from databases import fresh_database
from inprocess import InProcessServer

CONTENT_LIMIT = 100_000
RESOURCE_LIMIT = 3000
API_LIMIT = 64 * 1024


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[InProcessServer]:
    """The WSGI application with small limits, called as a WSGI server calls it."""
    with fresh_database(request.param, tmp_path) as url:
        application = InProcessServer(tmp_path, url, web=True, server={
            "max_content_length": CONTENT_LIMIT, "max_resource_size": RESOURCE_LIMIT})
        for user in ("alice", "bob"):  # principals, their boxes and a calendar
            application("PROPFIND", "/%s/" % user, user, Depth="0")
            assert application("MKCALENDAR", "/%s/work/" % user, user)[0] == 201
        yield application


#: every path we add or answer ourselves, with a method that carries a body
PATHS = [
    ("PUT", "/alice/work/big.ics", "text/calendar"),
    ("PROPFIND", "/alice/", "application/xml"),
    ("REPORT", "/alice/work/", "application/xml"),
    ("PROPPATCH", "/alice/work/", "application/xml"),
    ("PROPPATCH", "/alice/schedule-inbox/", "application/xml"),  # calendar-availability
    ("POST", "/alice/schedule-outbox/", "text/calendar"),         # free-busy
    ("POST", "/.tracks/api/slots", "application/json"),  # moved: 308, but bounded first
    ("POST", "/.web/api/slots", "application/json"),
    ("POST", "/.web/book", "application/x-www-form-urlencoded"),
]


@pytest.mark.parametrize("method, path, content_type", PATHS)
def test_a_body_above_max_content_length_is_refused_unread(
        app: InProcessServer, method: str, path: str, content_type: str) -> None:
    status, headers, body = app(method, path, "alice", content_type=content_type,
                                length=CONTENT_LIMIT + 1)
    assert status == 413, body
    if "/api/" in path:
        assert headers["Content-Type"].startswith("application/json")
        answer = json.loads(body)
        assert answer["limit"] == CONTENT_LIMIT and str(CONTENT_LIMIT) in answer["error"]
    else:
        assert str(CONTENT_LIMIT) in body


@pytest.mark.parametrize("path, content_type", [
    ("/.web/api/slots", "application/json"),
    ("/.web/book", "application/x-www-form-urlencoded")])
def test_api_and_form_bodies_are_bounded_below_max_content_length(
        app: InProcessServer, path: str, content_type: str) -> None:
    """A few fields make a request of the pages and APIs: 64 KiB, within
    max_content_length, is refused unread too; the JSON APIs name their limit."""
    status, headers, body = app("POST", path, "alice", content_type=content_type,
                                length=API_LIMIT + 1)
    assert status == 413, body
    if "/api/" in path:
        assert json.loads(body)["limit"] == API_LIMIT
    else:
        assert str(API_LIMIT) in body


def test_a_body_within_the_limit_is_still_answered(app: InProcessServer) -> None:
    """The bound is on size only: the same paths answer a body that fits."""
    status, _, _ = app("POST", "/.web/api/slots", "alice", "{}", content_type="application/json")
    assert status == 400  # read, and refused for what it says (no duration)


def event(uid: str, size: int = 0, attendees: tuple[str, ...] = ()) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
             "UID:" + uid, "DTSTAMP:20260101T000000Z", "DTSTART:20270301T100000Z",
             "DTEND:20270301T110000Z", "SUMMARY:Sizes"]
    if attendees:
        lines.append("ORGANIZER:mailto:alice@example.org")
        lines += ["ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:%s" % a for a in attendees]
    if size:
        lines.append("DESCRIPTION:" + "d" * size)
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def test_the_storage_writes_nothing_a_put_could_not_store(app: InProcessServer) -> None:
    """Copies, inbox messages and mail are written by the server through
    ``upload_indexed``: above max_resource_size it refuses, as Radicale's PUT does."""
    from radicale_tracks.errors import ResourceTooLarge
    from radicale_tracks.plugin.track_calendars import item_from_text

    storage = app.storage
    with storage.acquire_lock("w", "bob"):
        calendar = next(iter(storage.discover("/bob/work/")))
        with pytest.raises(ResourceTooLarge) as refused:
            calendar.upload_indexed("big.ics", item_from_text(
                calendar.path, event("big", RESOURCE_LIMIT)))
        calendar.upload_indexed("small.ics", item_from_text(calendar.path, event("small")))
    assert "max_resource_size" in str(refused.value)
    assert str(RESOURCE_LIMIT) in str(refused.value)
    assert app("GET", "/bob/work/big.ics", "bob")[0] == 404
    assert app("GET", "/bob/work/small.ics", "bob")[0] == 200


def test_radicale_refuses_the_same_object_by_put(app: InProcessServer) -> None:
    """The measure is Radicale's own: the object the storage refused is one a PUT
    cannot store either, and one just within it can be stored both ways."""
    body = event("put-big", RESOURCE_LIMIT)
    assert app("PUT", "/alice/work/put-big.ics", "alice", body)[0] == 412
    fits = event("put-fits", RESOURCE_LIMIT - 400)
    assert app("PUT", "/alice/work/fits.ics", "alice", fits)[0] == 201


def test_a_put_that_grows_above_the_limit_when_its_zones_are_defined_is_refused(
        app: InProcessServer) -> None:
    """A client's TZID without VTIMEZONE gets one generated before Radicale reads the
    body (``client_puts.py``): the object Radicale measures is the one stored, so a PUT
    that grows past the limit is refused as any oversized PUT (412), never a 500."""
    windows = ";TZID=W. Europe Standard Time:"
    text = event("zones", RESOURCE_LIMIT - 600).replace(
        "DTSTART:20270301T100000Z", "DTSTART" + windows + "20270301T100000").replace(
        "DTEND:20270301T110000Z", "DTEND" + windows + "20270301T110000")
    assert len(text) < RESOURCE_LIMIT
    status, _, body = app("PUT", "/alice/work/zones.ics", "alice", text,
                          content_type="text/calendar")
    assert status == 412, body
    assert app("GET", "/alice/work/zones.ics", "alice")[0] == 404


def grown_meeting(uid: str, guests: int, room: int) -> str:
    """alice's meeting with ``guests`` attendees elsewhere, as large as fits ``room``
    characters under the limit once Radicale has serialized it."""
    from radicale_tracks.plugin.track_calendars import item_from_text

    attendees = tuple("guest%d@elsewhere.test" % n for n in range(guests))
    size = RESOURCE_LIMIT
    while len(item_from_text("alice/work", event(uid, size, attendees)).serialize()) > (
            RESOURCE_LIMIT - room):
        size -= 10
    return event(uid, size, attendees)


def test_a_scheduling_object_grown_past_the_limit_by_its_statuses_is_refused(
        app: InProcessServer) -> None:
    """SCHEDULE-STATUS on each attendee pushes alice's object past max_resource_size:
    her write is refused with RFC 4791's precondition and a sentence, nothing is
    stored and no invitation queued — never stored as sent with nobody told."""
    from inprocess import leftovers

    body = grown_meeting("grown", 12, 100)   # 12 × ";SCHEDULE-STATUS=1.1" > 100
    status, headers, text = app("PUT", "/alice/work/grown.ics", "alice", body)
    assert status == 403, text
    assert "max-resource-size" in text and "max_resource_size" in text, text
    assert str(RESOURCE_LIMIT) in text
    assert app("GET", "/alice/work/grown.ics", "alice")[0] == 404
    assert app.mails() == 0
    assert leftovers(app.storage) == {}
    # with room for the statuses it is stored and sent
    status, _, text = app("PUT", "/alice/work/fits.ics", "alice",
                          grown_meeting("fits", 12, 400))
    assert status == 201, text
    assert app.mails() == 12


def test_plain_radicale_answers_400_to_a_put_the_storage_grows_past_the_limit(
        app: InProcessServer) -> None:
    """Under plain ``radicale`` with only the storage plugin, the storage defines the
    zones of the client's object itself (``client_item``) and refuses it when that
    takes it past max_resource_size: a ValueError, which Radicale answers 400 (not
    500), nothing stored."""
    from radicale import Application as RadicaleApplication
    from radicale import config as radicale_config

    from inprocess import call_wsgi

    plain = RadicaleApplication(radicale_config.load([(str(app.config), False)]))
    windows = ";TZID=W. Europe Standard Time:"
    text = event("plain-zones", RESOURCE_LIMIT - 600).replace(
        "DTSTART:20270301T100000Z", "DTSTART" + windows + "20270301T100000").replace(
        "DTEND:20270301T110000Z", "DTEND" + windows + "20270301T110000")
    status, _, body = call_wsgi(plain, "PUT", "/alice/work/plain-zones.ics", "alice", text)
    assert status == 400, body
    assert call_wsgi(plain, "GET", "/alice/work/plain-zones.ics", "alice")[0] == 404
