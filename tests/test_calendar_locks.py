"""Locks per calendar (``item_store = database`` on PostgreSQL): writes to different
calendars do not wait for each other, one calendar's writers are ordered, and crossing
writes — each holding the calendar the other needs — cannot deadlock: the one that would
wait out of the global order restarts instead (``plugin/calendar_locks.py``).

Structural only: threads meet at barriers and events, nothing is timed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, create_engine, text

from databases import fresh_database
from helpers import USERS
from radicale_tracks.plugin.calendar_locks import (
    CalendarLockHold,
    LockOrderRestart,
    lock_key,
    lock_unit,
    restarting,
)

pytestmark = pytest.mark.postgresql

WAIT = 30.0   # a bound on every wait: a broken lock fails the test, never hangs it


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    with fresh_database("postgresql", tmp_path) as url:
        created = create_engine(url)
        yield created
        created.dispose()


def ordered_units() -> tuple[str, str]:
    """Two calendars, the first with the lower key."""
    a, b = "alice/work", "bob/work"
    return (a, b) if lock_key(a) < lock_key(b) else (b, a)


def test_a_unit_is_a_calendar_and_its_key_is_the_same_everywhere() -> None:
    assert lock_unit("/alice/work/meeting.ics") == "alice/work"
    assert lock_unit("/alice/work/") == lock_unit("alice/work") == "alice/work"
    assert lock_unit("/alice/") == "alice"
    assert lock_key("alice/work") == lock_key("alice/work") != lock_key("bob/work")
    assert -2**63 <= lock_key("alice/work") < 2**63


def test_writers_of_different_calendars_hold_their_locks_at_once(engine: Engine) -> None:
    low, high = ordered_units()
    first, second = CalendarLockHold(engine, False), CalendarLockHold(engine, False)
    try:
        first.take([high])
        second.take([low])      # would block for ever if locks were per server
        assert set(first.held.values()) == {high}
        assert set(second.held.values()) == {low}
    finally:
        first.release()
        second.release()


def test_one_calendars_second_writer_waits_until_the_first_lets_go(engine: Engine) -> None:
    unit = "alice/work"
    first = CalendarLockHold(engine, False)
    first.take([unit])
    second_has_it = threading.Event()

    def second() -> None:
        hold = CalendarLockHold(engine, False)
        hold.take([unit])
        second_has_it.set()
        hold.release()

    thread = threading.Thread(target=second)
    thread.start()
    # while the first holds it, PostgreSQL says the key is taken (the second waits)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                  {"k": lock_key(unit)}).scalar() is False
    assert not second_has_it.is_set()
    first.release()
    assert second_has_it.wait(WAIT)
    thread.join(WAIT)


def test_crossing_writers_restart_instead_of_deadlocking(engine: Engine) -> None:
    """A holds the lower calendar and needs the higher one; B holds the higher and needs
    the lower. A waits (in order); B only tries, fails, lets go and restarts — then A
    goes on, and B's second attempt takes both in order. No PostgreSQL deadlock error,
    both finish, B restarted exactly once."""
    low, high = ordered_units()
    both_hold = threading.Barrier(2, timeout=WAIT)
    finished: list[str] = []
    attempts: list[int] = []
    errors: list[BaseException] = []

    def writer_a() -> None:
        hold = CalendarLockHold(engine, False)
        try:
            hold.take([low])
            both_hold.wait()
            hold.take([high])            # above everything held: waits for B
            finished.append("A")
        except BaseException as e:       # the test reports it
            errors.append(e)
        finally:
            hold.release()

    def writer_b() -> None:
        def attempt(request: object) -> None:
            attempts.append(1)
            hold = CalendarLockHold(engine, False)
            try:
                hold.take([high] if len(attempts) == 1 else sorted([low, high],
                                                                   key=lock_key))
                if len(attempts) == 1:
                    both_hold.wait()
                hold.take([low])         # below what it holds: tried, never waited
                finished.append("B")
            finally:
                hold.release()

        try:
            restarting(attempt)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=writer_a), threading.Thread(target=writer_b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not errors, errors
    assert sorted(finished) == ["A", "B"]
    assert len(attempts) == 2


def test_a_unit_below_a_free_one_is_taken_without_a_restart(engine: Engine) -> None:
    low, high = ordered_units()
    hold = CalendarLockHold(engine, False)
    try:
        hold.take([high])
        hold.take([low])     # out of order but free: tried and taken
        assert set(hold.held.values()) == {low, high}
    finally:
        hold.release()


def test_a_taken_unit_below_raises_the_restart_with_what_to_lock(engine: Engine) -> None:
    low, high = ordered_units()
    other, hold = CalendarLockHold(engine, False), CalendarLockHold(engine, False)
    try:
        other.take([low])
        hold.take([high])
        with pytest.raises(LockOrderRestart) as restart:
            hold.take([low])
        assert restart.value.units == frozenset({low, high})
    finally:
        hold.release()
        other.release()


# -- through the server: crossing invitations under load ------------------------------


def invitation(uid: str, organizer: str, attendee: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//locks//EN\r\n"
            "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20270101T000000Z\r\n"
            "DTSTART:20270301T100000Z\r\nDTEND:20270301T110000Z\r\nSUMMARY:%s\r\n"
            "ORGANIZER:mailto:%s@example.org\r\n"
            "ATTENDEE;PARTSTAT=ACCEPTED:mailto:%s@example.org\r\n"
            "ATTENDEE;RSVP=TRUE:mailto:%s@example.org\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n" % (uid, uid, organizer, organizer, attendee))


def test_crossing_invitations_under_load_all_land(make_server, tmp_path: Path) -> None:
    """alice invites bob while bob invites alice, many times at once, through one
    database-mode node: every PUT is answered 201, every invitation is in the other's
    inbox and calendar — writes spanning two users' calendars in opposite orders."""
    with fresh_database("postgresql", tmp_path) as url:
        server = make_server("node", database_url=url, domain="example.org",
                             item_store="database", base_url="https://calendar.example.org")
        for user in ("alice", "bob"):
            session = requests.Session()
            session.auth = (user, USERS[user])
            assert session.request("MKCALENDAR", server.url + "/%s/work/" % user,
                                   timeout=WAIT).status_code == 201
        rounds = 12
        statuses: list[int] = []
        start = threading.Barrier(2 * 4, timeout=WAIT)

        def writer(organizer: str, attendee: str, worker: int) -> None:
            session = requests.Session()
            session.auth = (organizer, USERS[organizer])
            start.wait()
            for n in range(worker, rounds, 4):
                uid = "%s-invites-%s-%d" % (organizer, attendee, n)
                statuses.append(session.put(
                    server.url + "/%s/work/%s.ics" % (organizer, uid),
                    data=invitation(uid, organizer, attendee).encode(),
                    headers={"Content-Type": "text/calendar"}, timeout=WAIT).status_code)

        threads = [threading.Thread(target=writer, args=(o, a, w))
                   for o, a in (("alice", "bob"), ("bob", "alice")) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(2 * WAIT)
        assert statuses == [201] * (2 * rounds)
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                for organizer, attendee in (("alice", "bob"), ("bob", "alice")):
                    for where in ("%s/schedule-inbox" % attendee, "%s/work" % attendee):
                        uids = set(connection.execute(text(
                            "SELECT i.uid FROM tracks_item i JOIN tracks_collection c ON"
                            " c.id = i.collection_id WHERE c.path = :p"), {"p": where}
                        ).scalars())
                        assert {"%s-invites-%s-%d" % (organizer, attendee, n)
                                for n in range(rounds)} <= uids, where
        finally:
            engine.dispose()


# -- a collection made by the storage itself, while another writer makes it -----------


def user_whose_calendar_is_locked_last() -> str:
    """A user whose default calendar's key is above their boxes': a write hold that
    meets the boxes first then waits for the calendar (no restart)."""
    for n in range(1000):
        user = "racer%d" % n
        if lock_key("%s/calendar" % user) > max(
                lock_key("%s/schedule-inbox" % user), lock_key("%s/schedule-outbox" % user)):
            return user
    raise AssertionError("no such user among a thousand")


def waiting_for(engine: Engine, key: int) -> bool:
    """Whether a session waits for the advisory lock ``key`` (PostgreSQL splits a
    bigint key into classid, the high half, and objid, the low half)."""
    unsigned = key & (2**64 - 1)
    with engine.connect() as connection:
        return bool(connection.execute(text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND classid = :high AND objid = :low AND objsubid = 1"),
            {"high": unsigned >> 32, "low": unsigned & (2**32 - 1)}).scalar())


def test_a_calendar_another_writer_made_meanwhile_is_not_made_again(
        make_server, tmp_path: Path) -> None:
    """The storage makes a user's default calendar when they have none. Another writer
    (another node) makes it at the same moment and stores an event in it: the first
    finds it there once it has its lock, and keeps it — never replaces it, event
    included, with an empty one (the check whether it exists is made under its lock)."""
    from radicale_tracks.plugin.schedule_boxes import ensure_boxes
    from radicale_tracks.plugin.track_calendars import item_from_text

    with fresh_database("postgresql", tmp_path) as url:
        server = make_server("node", database_url=url, domain="example.org",
                             item_store="database", base_url="https://calendar.example.org")
        storage = server.storage
        user = user_whose_calendar_is_locked_last()
        path = "/%s/calendar/" % user
        ensure_boxes(storage, user)
        engine = create_engine(url)
        other = CalendarLockHold(engine, False)   # the other writer, mid-write
        other.take(["%s/calendar" % user])
        errors: list[BaseException] = []

        def storage_makes_it() -> None:
            try:
                with storage.acquire_lock("w", user):
                    storage.scheduling_calendars.default_calendar(user)
            except BaseException as e:   # the test reports it
                errors.append(e)

        thread = threading.Thread(target=storage_makes_it)
        try:
            thread.start()
            key = lock_key("%s/calendar" % user)
            for _ in range(3000):         # bounded: until the storage waits for it
                if waiting_for(engine, key) or not thread.is_alive():
                    break
                threading.Event().wait(0.01)
            # the other writer makes the calendar and stores an event, then lets go
            storage.create_collection(path, props={"tag": "VCALENDAR"})
            calendar = storage.calendar(path)
            assert calendar is not None
            calendar.upload_indexed("kept.ics", item_from_text(
                calendar.path, invitation("kept", "alice", "bob")))
        finally:
            other.release()
            thread.join(WAIT)
        assert not errors, errors
        calendar = storage.calendar(path)
        assert calendar is not None
        assert [item.href for item in calendar.get_all()] == ["kept.ics"]
        engine.dispose()


def test_a_command_that_meets_a_held_calendar_out_of_order_waits_for_it(
        make_server, tmp_path: Path) -> None:
    """``rooms add`` makes the room's principal, then its inbox (a unit with a lower
    key), outbox and calendar. A writer holds the inbox meanwhile (a delivery to it):
    the command restarts with the inbox locked first and waits for it, as a request
    does — the restart never escapes a command as a crash (with the principal made and
    the rest missing)."""
    import subprocess
    import sys

    with fresh_database("postgresql", tmp_path) as url:
        server = make_server("node", database_url=url, domain="example.org",
                             item_store="database", base_url="https://calendar.example.org")
        room = next("room%d" % n for n in range(1000)
                    if lock_key("room%d/schedule-inbox" % n) < lock_key("room%d" % n))
        engine = create_engine(url)
        other = CalendarLockHold(engine, False)
        other.take(["%s/schedule-inbox" % room])
        command = subprocess.Popen(
            [sys.executable, "-m", "radicale_tracks.cli", "--config", str(server.config),
             "rooms", "add", "%s@example.org" % room],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            key = lock_key("%s/schedule-inbox" % room)
            for _ in range(6000):        # bounded: until it waits, or it ended
                if waiting_for(engine, key) or command.poll() is not None:
                    break
                threading.Event().wait(0.01)
        finally:
            other.release()
            out, err = command.communicate(timeout=300)
        assert command.returncode == 0, err
        assert "room %s@example.org" % room in out
        assert server.storage.calendar("/%s/schedule-inbox/" % room) is not None
        assert server.storage.calendar("/%s/calendar/" % room) is not None
        engine.dispose()
