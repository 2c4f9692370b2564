"""Writers of one scheduled event, one after another and at once (issue 17, items 7 and 8).

The server runs in this process behind a threaded WSGI server on 127.0.0.1 (the way
``radicale-tracks serve`` and gunicorn's threads serve it), with ``gated_storage``: the
product's storage plus a barrier before the write lock and a pinned scheduling clock, so
that "two writers at once" and "three writes within one second" happen on every run.

- Deliveries the server makes from a local organizer's writes follow the order of those
  writes: three PUTs within one second (one DTSTAMP for all their messages) leave every
  attendee's copy equal to the organizer's last version.
- Three writers racing on one event, twenty rounds, meeting at the storage's gate
  before the write lock: after each round every local attendee has an active copy
  equal to the organizer's final version if and only if the final version invites them.
- Two writers with the same If-Schedule-Tag-Match: exactly one succeeds, the other is
  answered 412 — the check and the write are one step under the write lock.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterator
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests
from icalendar import Calendar
from radicale import config as radicale_config

from helpers import USERS, write_config
from radicale_tracks.plugin.application import Application

pytestmark = pytest.mark.files_only   # the files item store itself

DOMAIN = "example.org"
ROUNDS = 20
#: one second for every message of a test: the writes happen "within one second"
FROZEN = datetime.datetime(2027, 1, 5, 9, 30, 0, 123456, tzinfo=datetime.UTC)


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Served:
    """The application with ``gated_storage``, served on a free port by a thread."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        path = write_config(tmp_path / "radicale.conf", tmp_path / "collections",
                            "gated_storage", 5232, {"database_url": database_url,
                                                 "domain": DOMAIN},
                            rights_type="radicale_tracks.rights")
        self.root = tmp_path / "collections" / "collection-root"
        self.app = Application(radicale_config.load([(str(path), False)]))
        self.storage: Any = self.app._storage
        self.httpd = make_server("127.0.0.1", 0, self.app, server_class=_ThreadingServer,
                                 handler_class=_QuietHandler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def session(self, user: str) -> requests.Session:
        session = requests.Session()
        session.auth = (user, USERS[user])
        return session

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self.storage.sender_thread is not None:
            self.storage.sender_thread.stop(10)


def copy_of(root: Path, user: str, uid: str) -> Calendar | None:
    """``user``'s copy of ``uid`` as stored (the file is the truth), inbox left out;
    ``root``: the storage's ``collection-root``."""
    found = [f for f in root.glob("%s/*/*.ics" % user)
             if f.parent.name != "schedule-inbox"
             and ("UID:%s\r\n" % uid).encode() in f.read_bytes()]
    assert len(found) <= 1, found
    return Calendar.from_ical(found[0].read_bytes()) if found else None


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[Served]:
    server = Served(tmp_path, database_url)
    try:
        for user in USERS:
            answer = server.session(user).request(
                "MKCALENDAR", "%s/%s/work/" % (server.url, user))
            assert answer.status_code == 201, answer.text
        yield server
    finally:
        server.close()


def version(uid: str, summary: str, attendees: list[str], start: str = "20270301T100000Z"
            ) -> str:
    """alice's event, SEQUENCE 0 and the client's DTSTAMP in every version (as Evolution,
    or Outlook for minor edits, writes them); ``role:name`` gives an attendee a ROLE."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
             "UID:" + uid, "DTSTAMP:20270101T000000Z", "SEQUENCE:0",
             "DTSTART:" + start, "DTEND:20270301T110000Z", "SUMMARY:" + summary,
             "ORGANIZER;CN=Alice:mailto:alice@%s" % DOMAIN,
             "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@%s" % DOMAIN]
    for attendee in attendees:
        role, _, name = attendee.rpartition(":")
        lines.append("ATTENDEE;PARTSTAT=NEEDS-ACTION;ROLE=%s:mailto:%s@%s" % (
            role or "REQ-PARTICIPANT", name, DOMAIN))
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def _event(calendar: Calendar) -> Any:
    return calendar.walk("VEVENT")[0]


def _attendees(calendar: Calendar) -> dict[str, str]:
    """address → ROLE of the event's attendees."""
    props = _event(calendar).get("ATTENDEE", [])
    props = props if isinstance(props, list) else [props]
    return {str(p).lower().removeprefix("mailto:"): str(p.params.get("ROLE", ""))
            for p in props}


def out_of_step(root: Path, uid: str) -> list[str]:
    """What differs between the organizer's stored version and bob's and carol's copies:
    a copy is active and shows the organizer's summary, start and attendees if and only
    if the organizer's version invites its owner."""
    final = copy_of(root, "alice", uid)
    assert final is not None
    wanted = _attendees(final)
    problems = []
    for user in ("bob", "carol"):
        copy = copy_of(root, user, uid)
        active = copy is not None and str(_event(copy).get("STATUS", "")) != "CANCELLED"
        invited = "%s@%s" % (user, DOMAIN) in wanted
        if invited != active:
            problems.append("%s: %s, but the organizer's version %s them" % (
                user, "active" if active else "no active copy",
                "invites" if invited else "does not invite"))
        elif invited:
            assert copy is not None
            for name in ("SUMMARY", "DTSTART"):
                if _event(copy).get(name).to_ical() != _event(final).get(name).to_ical():
                    problems.append("%s: %s differs" % (user, name))
            if _attendees(copy) != wanted:
                problems.append("%s: attendees %s, the organizer's %s" % (
                    user, _attendees(copy), wanted))
    return problems


# -- item 7: deliveries in the order of the organizer's writes ---------------------------


@pytest.mark.parametrize("versions", [
    pytest.param([["bob", "carol"], ["carol"], ["carol", "OPT-PARTICIPANT:bob"]],
                 id="bob-in-out-in"),
    pytest.param([["carol", "bob"], ["carol", "OPT-PARTICIPANT:bob"], ["carol"]],
                 id="carol-sees-who-else"),
])
def test_three_writes_within_one_second_leave_every_copy_at_the_last(
        served: Served, versions: list[list[str]]) -> None:
    served.storage.frozen_now = FROZEN
    alice = served.session("alice")
    url = "%s/alice/work/same-second.ics" % served.url
    for attendees in versions:
        answer = alice.put(url, data=version("same-second", "Planning", attendees),
                           headers={"Content-Type": "text/calendar"})
        assert answer.status_code in (201, 204), answer.text
    assert out_of_step(served.root, "same-second") == []


def test_three_writers_racing_leave_every_copy_at_the_final_version(served: Served
                                                                   ) -> None:
    alice = [served.session("alice") for _ in range(3)]
    # only who is invited differs (bob in, out, optional): nothing a clock could order
    versions = [["bob", "carol"], ["carol"], ["carol", "OPT-PARTICIPANT:bob"]]
    failed: list[str] = []
    for round_ in range(ROUNDS):
        uid = "race-%d" % round_
        url = "%s/alice/work/%s.ics" % (served.url, uid)
        answer = alice[0].put(url, data=version(uid, "start", ["bob", "carol"]),
                              headers={"Content-Type": "text/calendar"})
        assert answer.status_code == 201, answer.text
        # the three writers pass everything done before the write lock, then meet at
        # the storage's gate, so they reach the lock together however loaded the
        # machine (a barrier in the clients let them arrive one after another)
        served.storage.gate = threading.Barrier(len(versions), timeout=30)
        statuses: list[int] = []

        def write(session: requests.Session, url: str, uid: str, attendees: list[str],
                  statuses: list[int]) -> None:
            statuses.append(session.put(url, data=version(uid, "start", attendees),
                                        headers={"Content-Type": "text/calendar"}
                                        ).status_code)

        writers = [threading.Thread(target=write,
                                    args=(session, url, uid, attendees, statuses))
                   for session, attendees in zip(alice, versions, strict=True)]
        try:
            for writer in writers:
                writer.start()
            for writer in writers:
                writer.join(60)
        finally:
            served.storage.gate = None
        assert sorted(statuses) == [204, 204, 204], statuses
        failed += ["round %d: %s" % (round_, p) for p in out_of_step(served.root, uid)]
    assert failed == []


# -- item 8: If-Schedule-Tag-Match and the write are one step -----------------------------


@pytest.mark.parametrize("second", ["PUT", "DELETE"])
def test_two_writers_with_one_schedule_tag_one_wins_one_412(served: Served,
                                                            second: str) -> None:
    alice = served.session("alice")
    url = "%s/alice/work/tagged.ics" % served.url
    answer = alice.put(url, data=version("tagged", "Planning", ["bob"]),
                       headers={"Content-Type": "text/calendar"})
    assert answer.status_code == 201, answer.text
    tag = alice.get(url).headers["Schedule-Tag"]

    # both writers pass everything done before the write lock, then meet at the gate
    served.storage.gate = threading.Barrier(2, timeout=30)
    results: dict[str, int] = {}

    def put() -> None:
        results["PUT"] = served.session("alice").put(
            url, data=version("tagged", "Planning", ["bob"], start="20270302T100000Z"),
            headers={"Content-Type": "text/calendar", "If-Schedule-Tag-Match": tag}
        ).status_code

    def other() -> None:
        session = served.session("alice")
        headers = {"If-Schedule-Tag-Match": tag}
        if second == "DELETE":
            results["other"] = session.delete(url, headers=headers).status_code
        else:
            results["other"] = session.put(
                url, data=version("tagged", "Moved", ["bob"], start="20270303T100000Z"),
                headers=dict(headers, **{"Content-Type": "text/calendar"})).status_code

    writers = [threading.Thread(target=put), threading.Thread(target=other)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    served.storage.gate = None
    assert sorted(results.values()) in ([200, 412], [204, 412]), results  # DELETE: 200
    # what the winner wrote is what bob has
    if (served.root / "alice" / "work" / "tagged.ics").exists():
        assert out_of_step(served.root, "tagged") == []
