"""Radicale's own size limits hold on every path the plugin adds.

``[server] max_content_length`` bounds a request body: Radicale checks it only under its
own built-in server, so under a WSGI server (gunicorn, uWSGI — how the application is
called here, in process) our PUT, PROPFIND, REPORT, PROPPATCH (calendar-availability
included), the outbox's free-busy POST, ``/.tracks/api/slots`` and the pages and API
under ``/.web/`` must refuse a larger body with 413 from its Content-Length, before
reading it: the request body here raises if anything reads it. The JSON APIs answer
JSON naming the limit. ``[server] max_resource_size`` bounds what the storage writes
itself (copies, inbox messages, mail): ``Collection._upload_indexed`` refuses more.

Limits are small (``max_content_length = 100000``, ``max_resource_size = 3000``) so the
bodies stay small.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any, Iterator

import pytest
from radicale import config as radicale_config

from conftest import fresh_database
from helpers import PLUGIN, USERS, write_config
from radicale_tracks.plugin.application import Application

CONTENT_LIMIT = 100_000
RESOURCE_LIMIT = 3000
API_LIMIT = 64 * 1024


class Unread(io.BytesIO):
    """A request body that fails the test if anything reads it."""

    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("the over-limit body was read")

    readline = read  # type: ignore[assignment]


class App:
    """The WSGI application with small limits, called as a WSGI server calls it."""

    def __init__(self, folder: Path, database_url: str) -> None:
        path = write_config(folder / "radicale.conf", folder / "collections", PLUGIN, 5232,
                            {"database_url": database_url, "domain": "example.org",
                             # no sender thread to outlive the test's database
                             "outbox_sender": "False"},
                            rights_type="radicale_tracks.rights",
                            web_type="radicale_tracks.web")
        path.write_text(path.read_text().replace("[server]\n", (
            "[server]\nmax_content_length = %d\nmax_resource_size = %d\n" % (
                CONTENT_LIMIT, RESOURCE_LIMIT)), 1))
        self.app = Application(radicale_config.load([(str(path), False)]))

    def __call__(self, method: str, path: str, body: bytes = b"", user: str = "alice",
                 content_type: str = "application/xml", length: int | None = None,
                 **headers: str) -> tuple[int, dict[str, str], bytes]:
        """``length`` set: that Content-Length is declared and the body must stay unread."""
        token = base64.b64encode(("%s:%s" % (user, USERS[user])).encode()).decode()
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "",
            "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "5232",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http", "wsgi.errors": io.StringIO(),
            "wsgi.input": Unread() if length is not None else io.BytesIO(body),
            "CONTENT_LENGTH": str(length if length is not None else len(body)),
            "CONTENT_TYPE": content_type, "HTTP_AUTHORIZATION": "Basic " + token,
            "HTTP_HOST": "127.0.0.1:5232"}
        environ.update({"HTTP_" + k.upper(): v for k, v in headers.items()})
        answer: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
            answer["status"] = int(status.split()[0])
            answer["headers"] = dict(response_headers)

        data = b"".join(self.app(environ, start_response))
        return answer["status"], answer["headers"], data


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    with fresh_database(request.param, tmp_path) as url:
        application = App(tmp_path, url)
        for user in ("alice", "bob"):  # principals, their boxes and a calendar
            application("PROPFIND", "/%s/" % user, user=user, HTTP_DEPTH="0")
            assert application("MKCALENDAR", "/%s/work/" % user, user=user)[0] == 201
        yield application


#: every path we add or answer ourselves, with a method that carries a body
PATHS = [
    ("PUT", "/alice/work/big.ics", "text/calendar"),
    ("PROPFIND", "/alice/", "application/xml"),
    ("REPORT", "/alice/work/", "application/xml"),
    ("PROPPATCH", "/alice/work/", "application/xml"),
    ("PROPPATCH", "/alice/schedule-inbox/", "application/xml"),  # calendar-availability
    ("POST", "/alice/schedule-outbox/", "text/calendar"),         # free-busy
    ("POST", "/.tracks/api/slots", "application/json"),
    ("POST", "/.web/api/slots", "application/json"),
    ("POST", "/.web/book", "application/x-www-form-urlencoded"),
]


@pytest.mark.parametrize("method, path, content_type", PATHS)
def test_a_body_above_max_content_length_is_refused_unread(
        app: App, method: str, path: str, content_type: str) -> None:
    status, headers, body = app(method, path, content_type=content_type,
                                length=CONTENT_LIMIT + 1)
    assert status == 413, body
    if "/api/" in path:
        assert headers["Content-Type"].startswith("application/json")
        answer = json.loads(body)
        assert answer["limit"] == CONTENT_LIMIT and str(CONTENT_LIMIT) in answer["error"]
    else:
        assert str(CONTENT_LIMIT).encode() in body


@pytest.mark.parametrize("path, content_type", [
    ("/.tracks/api/slots", "application/json"), ("/.web/api/slots", "application/json"),
    ("/.web/book", "application/x-www-form-urlencoded")])
def test_api_and_form_bodies_are_bounded_below_max_content_length(
        app: App, path: str, content_type: str) -> None:
    """A few fields make a request of the pages and APIs: 64 KiB, within
    max_content_length, is refused unread too; the JSON APIs name their limit."""
    status, headers, body = app("POST", path, content_type=content_type,
                                length=API_LIMIT + 1)
    assert status == 413, body
    if "/api/" in path:
        assert json.loads(body)["limit"] == API_LIMIT
    else:
        assert str(API_LIMIT).encode() in body


def test_a_body_within_the_limit_is_still_answered(app: App) -> None:
    """The bound is on size only: the same paths answer a body that fits."""
    status, _, _ = app("POST", "/.tracks/api/slots", b"{}", content_type="application/json")
    assert status == 400  # read, and refused for what it says (no attendees)


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


def test_the_storage_writes_nothing_a_put_could_not_store(app: App) -> None:
    """Copies, inbox messages and mail are written by the server through
    ``_upload_indexed``: above max_resource_size it refuses, as Radicale's PUT does."""
    from radicale_tracks.errors import ResourceTooLarge
    from radicale_tracks.plugin.track_calendars import item_from_text

    storage = app.app._storage
    with storage.acquire_lock("w", "bob"):
        calendar = next(iter(storage.discover("/bob/work/")))
        with pytest.raises(ResourceTooLarge) as refused:
            calendar._upload_indexed("big.ics", item_from_text(
                calendar.path, event("big", RESOURCE_LIMIT)))
        calendar._upload_indexed("small.ics", item_from_text(calendar.path, event("small")))
    assert "max_resource_size" in str(refused.value)
    assert str(RESOURCE_LIMIT) in str(refused.value)
    assert app("GET", "/bob/work/big.ics", user="bob")[0] == 404
    assert app("GET", "/bob/work/small.ics", user="bob")[0] == 200


def test_radicale_refuses_the_same_object_by_put(app: App) -> None:
    """The measure is Radicale's own: the object the storage refused is one a PUT
    cannot store either, and one just within it can be stored both ways."""
    body = event("put-big", RESOURCE_LIMIT).encode()
    assert app("PUT", "/alice/work/put-big.ics", body, content_type="text/calendar")[0] == 412
    fits = event("put-fits", RESOURCE_LIMIT - 400).encode()
    assert app("PUT", "/alice/work/fits.ics", fits, content_type="text/calendar")[0] == 201


def test_a_put_that_grows_above_the_limit_when_its_zones_are_defined_is_refused(
        app: App) -> None:
    """A client's TZID without VTIMEZONE gets one generated before Radicale reads the
    body (``client_puts.py``): the object Radicale measures is the one stored, so a PUT
    that grows past the limit is refused as any oversized PUT (412), never a 500."""
    windows = ";TZID=W. Europe Standard Time:"
    text = event("zones", RESOURCE_LIMIT - 600).replace(
        "DTSTART:20270301T100000Z", "DTSTART" + windows + "20270301T100000").replace(
        "DTEND:20270301T110000Z", "DTEND" + windows + "20270301T110000")
    assert len(text) < RESOURCE_LIMIT
    status, _, body = app("PUT", "/alice/work/zones.ics", text.encode(),
                          content_type="text/calendar")
    assert status == 412, body
    assert app("GET", "/alice/work/zones.ics")[0] == 404
