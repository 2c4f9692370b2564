"""What one PUT tells the storage never outlives its answer.

The application hands the storage per-request facts in one request value (the merge that a
matching If-Schedule-Tag-Match asks for, a held refusal of an unknown time zone). A WSGI
server with a thread pool (gunicorn's threads, waitress) serves the next request — of any
user — on the same thread, so every answer, also an early refusal, must clear them. The
application is called in process, twice on one thread, as such a server calls it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from inprocess import InProcess, InProcessServer, leftovers
from radicale_tracks.plugin.write_request import ClientChecks, active_request, request_scope

CALENDAR = "/alice/work/"


def meeting(organizer: str, start: str = "20270301T100000Z") -> str:
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
        "UID:state-1", "DTSTAMP:20260101T000000Z", "DTSTART:" + start,
        "DTEND:20270301T110000Z", "SUMMARY:Planning", "ORGANIZER:mailto:" + organizer,
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org",
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:bob@example.org",
        "END:VEVENT", "END:VCALENDAR", ""])


@pytest.mark.files_only   # lays out or breaks files behind the server
def test_an_early_refusal_leaves_no_merge_for_the_next_request(tmp_path: Path) -> None:
    call = InProcess(tmp_path, "sqlite:///%s" % (tmp_path / "tracks.sqlite3"))
    assert call("MKCOL", "/bob/", "bob")[0] in (201, 405)
    status, _, text = call("MKCALENDAR", CALENDAR, "alice")
    assert status == 201, text
    status, _, text = call("PUT", CALENDAR + "state-1.ics", "alice",
                           meeting("alice@example.org"))
    assert status == 201, text

    # bob's copy, with its Schedule-Tag; his client names himself ORGANIZER under a
    # matching If-Schedule-Tag-Match: refused, and the match's merge is not kept
    root = tmp_path / "collections" / "collection-root" / "bob"
    (copy_file,) = [f for f in root.glob("*/*.ics") if f.parent.name != "schedule-inbox"]
    copy_path = "/bob/%s/%s" % (copy_file.parent.name, copy_file.name)
    status, headers, _ = call("GET", copy_path, "bob")
    assert status == 200 and headers.get("Schedule-Tag"), headers
    status, _, text = call("PUT", copy_path, "bob", meeting("bob@example.org"),
                           **{"If-Schedule-Tag-Match": headers["Schedule-Tag"]})
    assert status == 403 and "allowed-attendee-scheduling-object-change" in text, text
    assert call.leftovers() == {}


def assistant_meeting(uid: str) -> str:
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
        "UID:" + uid, "DTSTAMP:20260101T000000Z", "DTSTART:20270301T100000Z",
        "DTEND:20270301T110000Z", "SUMMARY:Review", "ORGANIZER:mailto:alice@example.org",
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org",
        "ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:assistant@example.org",
        "END:VEVENT", "END:VCALENDAR", ""])


def test_a_rolled_back_rewrite_leaves_the_etag_of_the_object_stored_as_sent(
        tmp_path: Path, database_url: str) -> None:
    """The assistant stores the organizer's object with its answer and details, then
    fails (its mail's template names a value nobody gives it): the attempt rolls back
    and the object is stored as sent. The answer's ETag is that object's — the rewrite
    of the attempt that rolled back is no fact of this PUT (RFC 4791 §5.3.4)."""
    templates = tmp_path / "templates"
    templates.mkdir()
    for kind in ("track_created", "member_added"):
        (templates / ("%s.subject.txt" % kind)).write_text("{{ no_such_value }}")
    server = InProcessServer(tmp_path, database_url, scheduling="False",
                             mail_templates=str(templates))
    assert server("MKCALENDAR", CALENDAR, "alice")[0] == 201
    sent = assistant_meeting("rolled-back")
    status, headers, text = server("PUT", CALENDAR + "rolled-back.ics", "alice", sent)
    assert status == 201, text
    status, stored_headers, stored = server("GET", CALENDAR + "rolled-back.ics", "alice")
    assert status == 200 and "X-TRACKS" not in stored, stored   # stored as sent
    assert headers.get("ETag") == stored_headers["ETag"], headers
    assert leftovers(server.storage) == {}


def test_the_request_value_is_reset_whatever_ends_the_request() -> None:
    """The application enters one value per request (``plugin/write_request.py``): an
    error inside leaves nothing entered, and the next request starts empty."""
    with pytest.raises(RuntimeError):
        with request_scope() as request:
            request.checks = ClientChecks(schedule_tag="\"tag\"")
            request.rewritten = True
            request.schedule_tag = "\"tag\""
            assert active_request() is request
            raise RuntimeError("refused early")
    assert active_request() is None
    with request_scope() as fresh:
        assert fresh.left_over() == {}
    assert leftovers() == {}


def test_a_lock_outside_the_application_holds_its_own_request(tmp_path: Path) -> None:
    """Plain ``radicale``, the commands and ``deliver`` take the storage lock with no
    request entered: the lock enters one for its hold (the user of its writes), and
    nothing of it stays afterwards."""
    call = InProcess(tmp_path, "sqlite:///%s" % (tmp_path / "tracks.sqlite3"))
    storage = call.app._storage  # type: ignore[attr-defined]
    with storage.acquire_lock("w", "alice"):
        request = active_request()
        assert request is not None and request.user == "alice"
        assert request.write_hold is not None
        assert storage.current_write_hold() is request.write_hold
    assert active_request() is None and storage.current_write_hold() is None
