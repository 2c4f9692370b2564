"""The HTTP parts (``plugin/http/``) as one application: what they decide once, and an
answer a part gives itself.

Called in process through WSGI on a real Radicale with the storage plugin (and once on
Radicale's own storage), the way a WSGI server calls it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from radicale import config as radicale_config

from helpers import write_config
from inprocess import InProcessServer, call_wsgi
from radicale_tracks.plugin.application import Application


def proppatch(prop: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>%s</D:prop></D:set>'
            '</D:propertyupdate>' % prop)


def test_the_inbox_takes_nothing_but_calendar_availability(tmp_path: Path) -> None:
    """RFC 7953 §7.2.4: the owner may set ``calendar-availability`` on the inbox (and
    RFC 6638 §9.2's ``schedule-default-calendar-URL``) and nothing else of it — a plain
    403 that says so (before the parts were split this answer was malformed and Radicale
    turned it into a 500)."""
    app = InProcessServer(tmp_path, "sqlite:///%s" % (tmp_path / "tracks.sqlite3"))
    assert app("PROPFIND", "/alice/", "alice", Depth="0")[0] == 207   # makes the boxes
    status, headers, text = app("PROPPATCH", "/alice/schedule-inbox/", "alice",
                                proppatch("<D:displayname>Mine</D:displayname>"),
                                content_type="application/xml")
    assert status == 403, text
    assert text == ("only calendar-availability and schedule-default-calendar-URL can be "
                    "changed on the inbox\n")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    status, _, text = app("PROPPATCH", "/bob/schedule-inbox/", "alice",
                          proppatch("<D:displayname>Theirs</D:displayname>"),
                          content_type="application/xml")
    assert status == 403, text


def test_on_radicales_own_storage_the_parts_answer_as_radicale(tmp_path: Path) -> None:
    """Whether the storage is ours is decided when the application is made: on
    Radicale's multifilesystem nothing of the scheduling surface appears (no
    Schedule-Tag, no inbox), only what needs no storage of ours (the DAV header)."""
    path = write_config(tmp_path / "radicale.conf", tmp_path / "collections",
                        "multifilesystem", 5232)
    app = Application(radicale_config.load([(str(path), False)]))
    assert app._tracks is None
    status, headers, _ = call_wsgi(app, "OPTIONS", "/alice/", "alice")
    assert "calendar-auto-schedule" in headers["DAV"]
    assert call_wsgi(app, "MKCALENDAR", "/alice/work/", "alice")[0] == 201
    event = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
        "UID:plain-1", "DTSTAMP:20260101T000000Z", "DTSTART:20270301T100000Z",
        "DTEND:20270301T110000Z", "SUMMARY:Plain", "ORGANIZER:mailto:alice@example.org",
        "ATTENDEE:mailto:bob@example.org", "END:VEVENT", "END:VCALENDAR", ""])
    status, headers, text = call_wsgi(app, "PUT", "/alice/work/plain-1.ics", "alice", event)
    assert status == 201, text
    assert "Schedule-Tag" not in headers and "ETag" in headers
    status, headers, _ = call_wsgi(app, "GET", "/alice/work/plain-1.ics", "alice")
    assert status == 200 and "Schedule-Tag" not in headers
    assert call_wsgi(app, "PROPFIND", "/alice/schedule-inbox/", "alice", Depth="0")[0] == 404


@pytest.mark.files_only   # lays out or breaks files behind the server
def test_an_inbox_delete_names_only_what_a_client_may_name(tmp_path: Path,
                                                           database_url: str) -> None:
    """A user deletes their inbox messages by the names Radicale lets a client use: a
    file the server never wrote there under a name Radicale refuses for a client's path
    (an editor's ``~`` backup, a hidden file) is not found, as Radicale answers — not
    read, not deleted, and no server error."""
    app = InProcessServer(tmp_path, database_url)
    assert app("PROPFIND", "/alice/", "alice", Depth="0")[0] == 207   # makes the boxes
    inbox = tmp_path / "collections" / "collection-root" / "alice" / "schedule-inbox"
    message = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "METHOD:REQUEST",
        "BEGIN:VEVENT", "UID:left-1", "DTSTAMP:20260101T000000Z",
        "DTSTART:20270301T100000Z", "DTEND:20270301T110000Z", "SUMMARY:Left",
        "END:VEVENT", "END:VCALENDAR", ""])
    for name in ("left.ics~", ".left.ics"):
        (inbox / name).write_bytes(message.encode())
        status, _, text = app("DELETE", "/alice/schedule-inbox/" + name, "alice")
        assert status == 404, (name, status, text)
        assert (inbox / name).read_bytes() == message.encode()
