"""Two server nodes and a mail worker, separate processes sharing only a PostgreSQL URL
(``item_store = database``): each node has its own empty ``filesystem_folder``; writes
go through either, reads across; scheduling between users whose requests hit different
nodes; the assistant and a track address; mail through ``deliver`` as a third process;
the booking race across nodes; kill -9 of a node in the middle of writes.

Structural assertions only (answers, rows, mails); every wait is bounded."""

from __future__ import annotations

import datetime
import os
import re
import signal
import threading
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from icalendar import Calendar

from databases import fresh_database
from helpers import USERS, RadicaleServer, run_cli
from inbound_mta import AUTHSERV, Inbound, collection_objects, invitation
from mailserver import MailSink
from web_booking import booking, slot
from worlds import web_options

pytestmark = pytest.mark.postgresql

WAIT = 30
BASE_URL = "https://calendar.example.org"
START = datetime.datetime(2027, 3, 1, 9, tzinfo=datetime.UTC)


@dataclass
class Cluster:
    a: RadicaleServer
    b: RadicaleServer
    worker: RadicaleServer
    sink: MailSink
    url: str
    folders: list[Path]

    def session(self, node: RadicaleServer, user: str) -> requests.Session:
        session = requests.Session()
        session.auth = (user, USERS[user])
        return session


def node_options(url: str, smtp_port: int) -> dict[str, str]:
    return dict(web_options(url, smtp_port), item_store="database", base_url=BASE_URL,
                outbox_sender="false", inbound_trusted_authserv_ids=AUTHSERV,
                inbound_allowed_senders="example.org, external.test",
                join_url_template="https://meet.example.org/{track}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("nodes")
    sink = MailSink().start()
    started: list[RadicaleServer] = []
    worker_process = None
    try:
        with fresh_database("postgresql", root) as url:
            sink.watch(url)
            nodes = []
            for name in ("a", "b"):
                node = RadicaleServer(root / name, launcher="tracks",
                                      storage_options=node_options(url, sink.port),
                                      rights_type="radicale_tracks.rights",
                                      web_type="radicale_tracks.web")
                started.append(node)
                nodes.append(node.start())
            # the worker: a third process with its own folder, the same database
            worker = RadicaleServer(root / "worker", launcher="tracks",
                                    storage_options=node_options(url, sink.port))
            import subprocess
            import sys

            worker_process = subprocess.Popen(
                [sys.executable, "-m", "radicale_tracks.cli", "--config",
                 str(worker.config), "worker"],
                stdout=open(root / "worker.log", "ab"), stderr=subprocess.STDOUT)
            for user in USERS:    # each logs in once, on a node of its own
                node = nodes[hash(user) % 2]
                session = requests.Session()
                session.auth = (user, USERS[user])
                assert session.request("MKCALENDAR", node.url + "/%s/work/" % user,
                                       timeout=WAIT).status_code == 201
            yield Cluster(nodes[0], nodes[1], worker, sink, url,
                          [n.folder for n in nodes if n.folder] + [root / "worker"])
    finally:
        if worker_process is not None:
            worker_process.terminate()
            try:
                worker_process.wait(WAIT)
            except Exception:
                worker_process.kill()
        for node in started:
            node.stop()
        sink.stop()


def event(uid: str, summary: str, hour: int, organizer: str = "",
          attendees: tuple[str, ...] = ()) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//nodes//EN",
             "BEGIN:VEVENT", "UID:" + uid, "DTSTAMP:20270101T000000Z",
             "DTSTART:20270301T%02d0000Z" % hour, "DTEND:20270301T%02d3000Z" % hour,
             "SUMMARY:" + summary]
    if organizer:
        lines.append("ORGANIZER:mailto:%s" % organizer)
        lines.append("ATTENDEE;PARTSTAT=ACCEPTED:mailto:%s" % organizer)
        lines += ["ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION:mailto:%s" % a
                  for a in attendees]
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


def put(session: requests.Session, url: str, text: str, **headers: str
        ) -> requests.Response:
    return session.put(url, data=text.encode(), timeout=WAIT,
                       headers={"Content-Type": "text/calendar", **headers})


def members(session: requests.Session, url: str) -> dict[str, str]:
    """href → ETag of a collection's members (PROPFIND Depth 1)."""
    body = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
            '</D:prop></D:propfind>')
    answer = session.request("PROPFIND", url, data=body, headers={"Depth": "1"},
                             timeout=WAIT)
    assert answer.status_code == 207, answer.text
    found = {}
    for response in ET.fromstring(answer.content).iter("{DAV:}response"):
        href = response.findtext("{DAV:}href") or ""
        if not href.endswith("/"):
            found[href] = response.findtext(".//{DAV:}getetag") or ""
    return found


def sync(session: requests.Session, url: str, token: str = "") -> tuple[str, list[str]]:
    body = ('<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>%s'
            '</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop>'
            '</D:sync-collection>' % token)
    answer = session.request("REPORT", url, data=body, headers={"Depth": "1"},
                             timeout=WAIT)
    assert answer.status_code == 207, answer.text
    root = ET.fromstring(answer.content)
    hrefs = [r.findtext("{DAV:}href") or "" for r in root.iter("{DAV:}response")]
    return root.findtext("{DAV:}sync-token") or "", hrefs


# -- writes and reads -------------------------------------------------------------------


def test_writes_through_both_nodes_are_read_on_either(cluster: Cluster) -> None:
    on_a, on_b = (cluster.session(n, "carol") for n in (cluster.a, cluster.b))
    calendar = "/carol/work/"
    token, _ = sync(on_b, cluster.b.url + calendar)
    first = put(on_a, cluster.a.url + calendar + "one.ics", event("one@x", "One", 9))
    second = put(on_b, cluster.b.url + calendar + "two.ics", event("two@x", "Two", 10))
    assert (first.status_code, second.status_code) == (201, 201)
    seen_a = members(on_a, cluster.a.url + calendar)
    seen_b = members(on_b, cluster.b.url + calendar)
    assert seen_a == seen_b
    assert seen_a[calendar + "one.ics"] == first.headers["ETag"]
    assert seen_b[calendar + "two.ics"] == second.headers["ETag"]
    # a token node B gave is understood by node A: the change log is in the database
    new_token, changed = sync(on_a, cluster.a.url + calendar, token)
    assert sorted(changed) == [calendar + "one.ics", calendar + "two.ics"]
    assert on_b.delete(cluster.b.url + calendar + "one.ics", timeout=WAIT).status_code == 200
    _, changed = sync(on_a, cluster.a.url + calendar, new_token)
    assert changed == [calendar + "one.ics"]
    assert on_a.get(cluster.a.url + calendar + "one.ics", timeout=WAIT).status_code == 404


def test_no_node_keeps_calendar_data_in_its_folder(cluster: Cluster) -> None:
    """Nothing another node needs is in a node's filesystem_folder."""
    for folder in cluster.folders:
        kept = [p for p in folder.rglob("*") if p.is_file()
                and (p.suffix in (".ics", ".vcf") or p.name == ".Radicale.props")]
        assert kept == [], folder


# -- busy time: no node trusts its own memory --------------------------------------------


def busy_request(attendee: str) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//nodes//EN",
             "METHOD:REQUEST", "BEGIN:VFREEBUSY", "UID:fb-%s" % uuid.uuid4().hex,
             "DTSTAMP:20270101T000000Z", "DTSTART:20270302T000000Z",
             "DTEND:20270303T000000Z", "ORGANIZER:mailto:alice@example.org",
             "ATTENDEE:mailto:%s" % attendee, "END:VFREEBUSY", "END:VCALENDAR"]
    return ("\r\n".join(lines) + "\r\n").encode()


def busy_lines(node: RadicaleServer) -> list[str]:
    answer = requests.post(node.url + "/alice/schedule-outbox/",
                           data=busy_request("bob@example.org"),
                           auth=("alice", USERS["alice"]), timeout=WAIT,
                           headers={"Content-Type": "text/calendar; method=REQUEST"})
    assert answer.status_code == 200, answer.text
    return [line for line in answer.text.replace("&#13;", "").splitlines()
            if line.startswith("FREEBUSY")]


def test_busy_time_a_node_cached_follows_a_write_on_the_other(cluster: Cluster) -> None:
    """Node B answers bob's busy time (and keeps it in its cache); bob then books an hour
    through node A; node B's next answer has it — its cache is keyed by what the
    database says changed, not by what B saw."""
    before = busy_lines(cluster.b)
    assert busy_lines(cluster.b) == before          # answered from B's cache
    bob = cluster.session(cluster.a, "bob")
    busy = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\n"
            "UID:busy-%s@x\r\nDTSTAMP:20270101T000000Z\r\nDTSTART:20270302T150000Z\r\n"
            "DTEND:20270302T160000Z\r\nSUMMARY:Dentist\r\nEND:VEVENT\r\n"
            "END:VCALENDAR\r\n" % uuid.uuid4().hex)
    assert put(bob, cluster.a.url + "/bob/work/dentist.ics", busy).status_code == 201
    after = busy_lines(cluster.b)
    assert after != before
    assert any("20270302T150000Z/20270302T160000Z" in line for line in after), after


# -- scheduling across nodes ------------------------------------------------------------


def test_an_invitation_on_one_node_is_answered_on_the_other(cluster: Cluster) -> None:
    uid = "cross-%s@example.org" % uuid.uuid4().hex[:8]
    alice = cluster.session(cluster.a, "alice")
    bob = cluster.session(cluster.b, "bob")
    written = put(alice, cluster.a.url + "/alice/work/%s.ics" % uid,
                  event(uid, "Across", 11, "alice@example.org",
                        ("bob@example.org", "dana@external.test")))
    assert written.status_code == 201
    # bob, on node B: the REQUEST in his inbox and the meeting in his calendar
    inbox = collection_objects(cluster.b, "bob", "/bob/schedule-inbox/")
    assert any(str(c.walk("VEVENT")[0]["UID"]) == uid for c in inbox)
    (href, text), = [(h, t) for h, t in _objects(cluster.b, "bob", "/bob/work/")
                     if uid in t]
    unfolded = text.replace("\r\n ", "").replace("\n ", "")
    accepted = "\r\n".join(
        line.replace("PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED")
        if line.startswith("ATTENDEE") and "bob@example.org" in line.lower() else line
        for line in unfolded.splitlines())
    assert accepted != unfolded.replace("\n", "\r\n")
    assert put(bob, cluster.b.url + href, accepted).status_code in (201, 204)
    # alice's copy, read on node A, has his answer
    (_, mine), = [(h, t) for h, t in _objects(cluster.a, "alice", "/alice/work/")
                  if uid in t]
    attendee = next(a for a in _attendees(mine) if "bob@example.org" in a.lower())
    assert "PARTSTAT=ACCEPTED" in attendee
    # dana's invitation left by the worker, with the shared base_url
    mails = [m for m in cluster.sink.settle(quiet=1.0)
             if m.recipient == "dana@external.test" and uid in m.text() + str(
                 m.calendar().to_ical() if m.calendar() else "")]
    assert mails


def _objects(server: RadicaleServer, user: str, path: str) -> list[tuple[str, str]]:
    from inbound_mta import objects_with_hrefs

    return objects_with_hrefs(server, user, path)


def _attendees(text: str) -> list[str]:
    unfolded = text.replace("\r\n ", "").replace("\n ", "")
    return [line for line in unfolded.splitlines() if line.startswith("ATTENDEE")]


def test_the_assistant_and_a_track_address_across_nodes(cluster: Cluster) -> None:
    uid = "track-%s@example.org" % uuid.uuid4().hex[:8]
    alice = cluster.session(cluster.a, "alice")
    assert put(alice, cluster.a.url + "/alice/work/%s.ics" % uid,
               event(uid, "Kickoff", 13, "alice@example.org",
                     ("assistant@example.org",))).status_code == 201
    (_, mine), = [(h, t) for h, t in _objects(cluster.b, "alice", "/alice/work/")
                  if uid in t]
    unfolded = mine.replace("\r\n ", "").replace("\n ", "")
    address = re.search(r"assistant\+[0-9a-f]+@example\.org", unfolded)
    assert address is not None, unfolded
    assert BASE_URL + "/assistant/" in unfolded       # links use base_url
    # carol, on node B, adds her meeting to the same track through its address
    other = "track-2-%s@example.org" % uuid.uuid4().hex[:8]
    carol = cluster.session(cluster.b, "carol")
    assert put(carol, cluster.b.url + "/carol/work/%s.ics" % other,
               event(other, "Follow-up", 14, "carol@example.org",
                     (address.group(0),))).status_code == 201
    slug = re.search(r"/assistant/([0-9a-f]+)/", unfolded)
    assert slug is not None
    shown = run_cli(cluster.a.config, "tracks", "show", slug.group(1))
    assert shown.returncode == 0, shown.stderr
    assert uid in shown.stdout and other in shown.stdout
    kinds = {(m.kind, m.recipient) for m in cluster.sink.settle(quiet=1.0)}
    assert ("track_created", "alice@example.org") in kinds


def test_mail_through_deliver_on_a_third_process(cluster: Cluster) -> None:
    """``deliver`` with the worker's config (its own folder): the invitation reaches bob,
    read on node B."""
    uid = "mailed-%s@external.test" % uuid.uuid4().hex[:8]
    raw = invitation(uid, "evan@external.test", "evan@external.test",
                     ["bob@example.org"], summary="By mail")
    done = Inbound(cluster.worker, cluster.sink).deliver(raw, "evan@external.test",
                                                         "bob@example.org")
    assert done.returncode == 0, done.stderr
    inbox = collection_objects(cluster.b, "bob", "/bob/schedule-inbox/")
    assert any(str(c.walk("VEVENT")[0]["UID"]) == uid for c in inbox)


def test_two_agents_on_two_nodes_race_for_one_slot(cluster: Cluster) -> None:
    start = slot(3, 1, 10)
    answers: list[requests.Response] = []
    barrier = threading.Barrier(2, timeout=WAIT)

    def book(node: RadicaleServer) -> None:
        body = booking(start, details={"members": ["alice", "bob"], "pools": []})
        barrier.wait()
        answers.append(requests.post(node.url + "/.web/api/bookings", json=body,
                                     auth=("alice", USERS["alice"]), timeout=2 * WAIT))

    threads = [threading.Thread(target=book, args=(n,)) for n in (cluster.a, cluster.b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(3 * WAIT)
    assert sorted(a.status_code for a in answers) == [201, 409], [a.text for a in answers]


# -- kill -9 of a node in the middle of writes ------------------------------------------


def test_a_node_killed_mid_writes_loses_no_acknowledged_write(
        cluster: Cluster, tmp_path: Path) -> None:
    """A third node takes concurrent writes and is killed with SIGKILL while they run:
    every write it acknowledged is there, through node A, with its ETag; every object
    stored is whole; node A went on serving throughout."""
    victim = RadicaleServer(tmp_path / "victim", launcher="tracks",
                            storage_options=node_options(cluster.url, cluster.sink.port),
                            rights_type="radicale_tracks.rights").start()
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()
    enough = threading.Event()
    stop = threading.Event()

    def writer(n: int) -> None:
        session = cluster.session(victim, "carol")
        for i in range(200):
            if stop.is_set():
                return
            href = "/carol/work/kill-%d-%d.ics" % (n, i)
            try:
                answer = put(session, victim.url + href,
                             event("kill-%d-%d@x" % (n, i), "Kill %d" % i, 8))
            except requests.RequestException:
                return
            if answer.status_code == 201:
                with lock:
                    acknowledged[href] = answer.headers["ETag"]
                    if len(acknowledged) >= 20:
                        enough.set()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    assert enough.wait(2 * WAIT)
    assert victim.process is not None
    os.kill(victim.process.pid, signal.SIGKILL)
    victim.process.wait(WAIT)
    stop.set()
    for thread in threads:
        thread.join(WAIT)
    victim.process = None
    on_a = cluster.session(cluster.a, "carol")
    stored = members(on_a, cluster.a.url + "/carol/work/")
    for href, etag in acknowledged.items():
        assert stored.get(href) == etag, href
    for href, text in _objects(cluster.a, "carol", "/carol/work/"):
        if "/kill-" in href:
            Calendar.from_ical(text)           # whole: it parses
            assert text.rstrip().endswith("END:VCALENDAR")
    # the other node keeps serving, and writes
    assert put(on_a, cluster.a.url + "/carol/work/after.ics",
               event("after@x", "After", 18)).status_code == 201


def test_a_principal_deleted_on_one_node_is_made_again_by_the_other(
        cluster: Cluster) -> None:
    """Node A remembers that carol's inbox exists (it delivered there); carol
    deletes her whole principal through node B; node A's next delivery makes it again
    rather than trusting what it remembered."""
    alice = cluster.session(cluster.a, "alice")
    first = "first-%s@example.org" % uuid.uuid4().hex[:8]
    assert put(alice, cluster.a.url + "/alice/work/%s.ics" % first,
               event(first, "First", 15, "alice@example.org",
                     ("carol@example.org",))).status_code == 201
    carol = cluster.session(cluster.b, "carol")
    assert carol.delete(cluster.b.url + "/carol/", timeout=WAIT).status_code == 200
    # she comes back (a login makes her principal again) with a calendar, no inbox yet
    assert carol.request("MKCALENDAR", cluster.b.url + "/carol/work/",
                         timeout=WAIT).status_code == 201
    second = "second-%s@example.org" % uuid.uuid4().hex[:8]
    assert put(alice, cluster.a.url + "/alice/work/%s.ics" % second,
               event(second, "Second", 16, "alice@example.org",
                     ("carol@example.org",))).status_code == 201
    inbox = collection_objects(cluster.b, "carol", "/carol/schedule-inbox/")
    assert [str(c.walk("VEVENT")[0]["UID"]) for c in inbox] == [second]
    (_, mine), = [(h, t) for h, t in _objects(cluster.a, "alice", "/alice/work/")
                  if second in t]
    attendee = next(a for a in _attendees(mine) if "carol@example.org" in a.lower())
    assert "SCHEDULE-STATUS=1.2" in attendee
