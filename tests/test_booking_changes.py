"""A booked meeting after the booking: the customer's mails in plain words, the signed
link, moves and cancellations by the agent and by the customer, and reminders.

End to end on a real Radicale with the plugins (SQLite and PostgreSQL): the agent uses
the JSON API, the customer the page their link opens (a plain form, no account), the
calendars are read with the ``caldav`` client, and mail arrives at a real SMTP server.
Reminders wait in the outbox for their time; a sender with a test clock sends them
(nobody sleeps).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, select
from sqlalchemy.pool import NullPool

from caldav_clients import attendee_params, stored_event
from databases import BACKENDS
from helpers import USERS, RadicaleServer, put
from inprocess import ThreadedServer
from mailserver import MailSink, Received
from radicale_tracks.bookings.links import LINK_SECRET, _signature, make_token
from radicale_tracks.db.shared_values import read_value
from radicale_tracks.outbox.schema import outbox
from radicale_tracks.outbox.sender import Sender
from radicale_tracks.outbox.store import OutboxStore
from radicale_tracks.outbox.transports import SmtpTransport
from web_booking import CUSTOMER, booking, slot
from worlds import mail_world, web_options


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[RadicaleServer, MailSink, str]]:
    folder = tmp_path_factory.mktemp("changes")
    urls: list[str] = []

    def make(workdir: Any, url: str, sink: MailSink) -> RadicaleServer:
        urls.append(url)
        options = web_options(url, sink.port)
        # a room carol approves by hand, beside the pool
        options["rooms"] += "\n    cedar@example.org: name=Cedar; policy=manual; delegates=carol"
        return ThreadedServer(workdir, storage_options=options,
                              rights_type="radicale_tracks.rights",
                              web_type="radicale_tracks.web").start()

    with mail_world(folder, request.param, make) as (server, sink):
        yield server, sink, urls[0]


@pytest.fixture
def server(world: tuple[RadicaleServer, MailSink, str]) -> RadicaleServer:
    return world[0]


@pytest.fixture
def sink(world: tuple[RadicaleServer, MailSink, str]) -> Iterator[MailSink]:
    world[1].settle()
    world[1].take()
    yield world[1]


def api(server: RadicaleServer, method: str, path: str, user: str = "alice",
        **kwargs: Any) -> requests.Response:
    return requests.request(method, server.url + "/.web/api/" + path,
                            auth=(user, USERS[user]), timeout=30, **kwargs)


def book(server: RadicaleServer, start: str, **changes: Any) -> dict[str, Any]:
    answer = api(server, "POST", "bookings", json=booking(start, **changes))
    assert answer.status_code == 201, answer.text
    found = api(server, "GET", "meetings/upcoming").json()["meetings"]
    row = next(m for m in found if m["uid"] == answer.json()["uid"])
    assert answer.json()["id"] == row["booking"]
    return dict(answer.json())


def _instant(text: str) -> int:
    return int(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def to_customer(mails: list[Received]) -> list[Received]:
    return [m for m in mails if m.recipient == CUSTOMER["email"]]


def link_in(mail: Received) -> str:
    found = re.search(r"(http://\S+/\.web/booking/[0-9a-f.]+)", mail.text())
    assert found, mail.text()
    return found.group(1)


def customer_page(server: RadicaleServer, link: str, **params: str) -> requests.Response:
    path = link[link.index("/.web/"):]
    return requests.get(server.url + path, params=params, timeout=30)


def customer_post(server: RadicaleServer, link: str, **fields: str) -> requests.Response:
    page = customer_page(server, link)
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, page.text
    path = link[link.index("/.web/"):]
    return requests.post(server.url + path, data=dict(fields, csrf=token.group(1)),
                         timeout=30)


def offered(page: str) -> list[str]:
    return re.findall(r'name="slot" value="([^"]+)"', page)


# -- the customer's mail ------------------------------------------------------------------

def test_the_customer_reads_a_confirmation_in_plain_words_with_a_link(
        server: RadicaleServer, sink: MailSink) -> None:
    booked = book(server, slot(2, 1, 10), notifications={
        "customer_zone": "Europe/London"})
    mails = to_customer(sink.settle())
    assert [m.kind for m in mails] == ["booking_invitation"], [
        (m.kind, m.recipient) for m in sink.received]
    text = mails[0].text()
    assert "your meeting with alice is booked" in text
    # their zone first, the team's in brackets
    assert re.search(r"When:  \w+day \d+ \w+ \d{4}, 09:00–09:30 \(Europe/London\) "
                     r"\[10:00–10:30 Europe/Berlin\]", text), text
    assert "Where: Atlas, 3rd floor" in text
    assert "Join:  https://meet.example.org/onboarding" in text
    assert "With:  alice, bob" in text
    assert "Change or cancel here:" in text
    for jargon in ("track", "feed", "assistant", "iTIP"):
        assert jargon not in text.lower(), jargon
    sent = mails[0].calendar()
    assert sent is not None and str(sent["METHOD"]) == "REQUEST"
    page = customer_page(server, link_in(mails[0]))
    assert page.status_code == 200 and "Onboarding call" in page.text
    assert page.headers["X-Robots-Tag"] == "noindex"
    assert "bob" in page.text and "alice" in page.text
    assert offered(page.text), "the customer is offered other times"
    assert booked["id"]


def test_a_customer_who_may_not_see_the_others_is_not_told_them(
        server: RadicaleServer, sink: MailSink) -> None:
    book(server, slot(2, 1, 11), notifications={"customer_sees_attendees": False})
    mail = to_customer(sink.settle())[0]
    assert "With:" not in mail.text() and "bob" not in mail.text()
    page = customer_page(server, link_in(mail))
    assert "bob" not in page.text


# -- the link -----------------------------------------------------------------------------

def test_a_forged_expired_or_revoked_link_gets_a_clear_page(
        server: RadicaleServer, sink: MailSink, world: tuple[Any, Any, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    booked = book(server, slot(2, 1, 12))
    link = link_in(to_customer(sink.settle())[0])
    booking_id, version, expires, signature = link.rsplit("/", 1)[1].split(".")
    forged = link.replace(signature, "0" * len(signature))
    answer = customer_page(server, forged)
    assert answer.status_code == 404 and "not valid" in answer.text
    assert "Traceback" not in answer.text
    other = link.replace("/%s." % booking_id, "/%d." % (int(booking_id) + 1000))
    assert customer_page(server, other).status_code == 404
    engine = create_engine(world[2], poolclass=NullPool)
    try:
        with engine.connect() as connection:
            secret = bytes.fromhex(str(read_value(connection, LINK_SECRET)))
    finally:
        engine.dispose()
    # signed for an earlier end (the meeting moved later since): still opens while
    # the meeting as it is now is ahead
    old = "%s.%s.%d.%s" % (booking_id, version, 1000, _signature(
        secret, int(booking_id), int(version), 1000))
    earlier = customer_page(server, link.rsplit("/", 1)[0] + "/" + old)
    assert earlier.status_code == 200 and "Onboarding call" in earlier.text
    # two weeks after the meeting, no link opens it
    services = server.app._web.services
    later = _instant(booked["end"]) + 15 * 86400
    monkeypatch.setattr(services, "clock", lambda: datetime.datetime.fromtimestamp(
        later, datetime.UTC))
    expired = customer_page(server, link)
    assert expired.status_code == 404 and "expired" in expired.text
    monkeypatch.undo()
    assert make_token(secret, int(booking_id), int(version), int(expires) - 14 * 86400
                      ) == link.rsplit("/", 1)[1]
    revoked = api(server, "POST", "bookings/%d/link/revoke" % booked["id"], json={})
    assert revoked.status_code == 200, revoked.text
    answer = customer_page(server, link)
    assert answer.status_code == 404 and "replaced by a newer one" in answer.text


def test_only_the_team_sees_a_booking(server: RadicaleServer, sink: MailSink) -> None:
    booked = book(server, slot(2, 1, 13))
    assert api(server, "GET", "bookings/%d" % booked["id"], user="bob").status_code == 200
    assert api(server, "GET", "bookings/%d" % booked["id"], user="carol"
               ).status_code == 404
    assert requests.get(server.url + "/.web/api/bookings/%d" % booked["id"],
                        timeout=10).status_code == 401


def test_a_team_member_sees_but_only_the_holders_side_changes(
        server: RadicaleServer, sink: MailSink) -> None:
    """bob is on alice's meeting but may not write alice's calendar: he reads the
    booking, and every change is refused before anything is written."""
    booked = book(server, slot(2, 1, 15))
    path = "bookings/%d" % booked["id"]
    before = api(server, "GET", path).json()
    assert before["may_change"] is True
    seen = api(server, "GET", path, user="bob")
    assert seen.status_code == 200 and seen.json()["may_change"] is False
    assert seen.json()["can_change"] is True            # the meeting itself could change
    for action, body in (("/reschedule", {"start": slot(2, 1, 16)}), ("/cancel", {}),
                         ("/link/revoke", {})):
        refused = api(server, "POST", path + action, user="bob", json=body)
        assert refused.status_code == 403, (action, refused.text)
        assert "alice" in refused.json()["error"]
    assert api(server, "GET", path + "/slots", user="bob").status_code == 403
    page = requests.get(server.url + "/.web/" + path, auth=("bob", USERS["bob"]),
                        timeout=30)
    assert page.status_code == 200 and "Move the meeting" not in page.text
    assert "Cancel the meeting" not in page.text and "only alice" in page.text
    token = re.search(r'name="csrf" value="([^"]+)"', requests.get(
        server.url + "/.web/book", auth=("bob", USERS["bob"]), timeout=30).text)
    posted = requests.post(server.url + "/.web/%s/cancel" % path,
                           auth=("bob", USERS["bob"]), timeout=30,
                           data={"csrf": token.group(1) if token else ""})
    assert posted.status_code == 403, posted.text
    assert "Traceback" not in posted.text
    unchanged = api(server, "GET", path).json()
    assert unchanged["state"] == before["state"] and unchanged["start"] == before["start"]
    # booked into bob's calendar, bob holds it and changes it
    held = book(server, slot(2, 4, 14), notifications={"holder": "bob"})
    assert api(server, "GET", "bookings/%d" % held["id"], user="bob"
               ).json()["may_change"] is True


# -- the agent moves and cancels -----------------------------------------------------------

def test_the_agent_moves_a_booking_and_everyone_follows(
        server: RadicaleServer, sink: MailSink) -> None:
    booked = book(server, slot(2, 2, 10))
    sink.settle()
    sink.take()
    new_start = slot(2, 2, 14)
    slots = api(server, "GET", "bookings/%d/slots" % booked["id"],
                params={"day": new_start[:10]}).json()["slots"]
    starts = {int(datetime.datetime.fromisoformat(s["start"]).timestamp()) for s in slots}
    assert _instant(new_start) in starts
    moved = api(server, "POST", "bookings/%d/reschedule" % booked["id"],
                json={"start": new_start, "note": "Sorry, a clash came up."})
    assert moved.status_code == 200, moved.text
    assert moved.json()["state"] == "rescheduled" and moved.json()["start"] == new_start
    assert moved.json()["changed_by"] == "agent"
    holder = stored_event(server, "alice", booked["uid"]).walk("VEVENT")[0]
    assert holder["DTSTART"].dt.hour == 14 and int(holder["SEQUENCE"]) == 1
    copy = stored_event(server, "bob", booked["uid"]).walk("VEVENT")[0]
    assert copy["DTSTART"].dt.hour == 14
    assert attendee_params(stored_event(server, "alice", booked["uid"]))[
        "atlas@example.org"]["PARTSTAT"] == "ACCEPTED"  # the room answered again
    mails = to_customer(sink.settle())
    assert [m.kind for m in mails] == ["booking_changed"]
    text = mails[0].text()
    assert "alice changed your meeting." in text and "with alice." not in text
    assert "It was " in text and "10:00–10:30" in text and "14:00–14:30" in text
    assert "Sorry, a clash came up." in text
    assert "Change or cancel here:" in text
    # taking the time of someone else's meeting is refused with fresh slots
    other = book(server, slot(2, 3, 9))
    taken = api(server, "POST", "bookings/%d/reschedule" % other["id"],
                json={"start": new_start})
    assert taken.status_code == 409 and "slots" in taken.json()
    listed = api(server, "GET", "meetings/upcoming").json()["meetings"]
    row = next(m for m in listed if m["uid"] == booked["uid"])
    assert row["state"] == "rescheduled" and row["start"] == new_start
    # the track follows: its copy is at the new time
    track = api(server, "GET", "tracks/%s" % booked["track"]).json()
    meeting = next(m for m in track["upcoming"] if m["uid"] == booked["uid"])
    assert meeting["start"] == new_start and meeting["booking"] == booked["id"]


def test_the_agent_cancels_with_a_message(server: RadicaleServer, sink: MailSink) -> None:
    booked = book(server, slot(2, 2, 11))
    sink.settle()
    sink.take()
    answer = api(server, "POST", "bookings/%d/cancel" % booked["id"],
                 json={"note": "We found the answer by mail."})
    assert answer.status_code == 200 and answer.json()["state"] == "cancelled"
    holder = stored_event(server, "alice", booked["uid"]).walk("VEVENT")[0]
    assert str(holder["STATUS"]) == "CANCELLED"
    copy = stored_event(server, "bob", booked["uid"]).walk("VEVENT")[0]
    assert str(copy["STATUS"]) == "CANCELLED"
    mails = to_customer(sink.settle())
    assert [m.kind for m in mails] == ["booking_cancelled"]
    assert "alice cancelled your meeting." in mails[0].text()
    assert "We found the answer by mail." in mails[0].text()
    sent = mails[0].calendar()
    assert sent is not None and str(sent["METHOD"]) == "CANCEL"
    again = api(server, "POST", "bookings/%d/reschedule" % booked["id"],
                json={"start": slot(2, 2, 15)})
    assert again.status_code == 400 and again.json()["field"] == "start"


# -- the customer moves and cancels ------------------------------------------------------------

def test_the_customer_moves_and_then_cancels_from_the_link(
        server: RadicaleServer, sink: MailSink) -> None:
    booked = book(server, slot(2, 3, 10))
    link = link_in(to_customer(sink.settle())[0])
    sink.take()
    page = customer_page(server, link, week=slot(2, 3, 15)[:10])
    choice = next(v for v in offered(page.text) if v.startswith(slot(2, 3, 15)))
    moved = customer_post(server, link, action="reschedule", slot=choice,
                          note="Afternoon suits me better")
    assert moved.status_code == 200, moved.text
    assert "Done: your meeting is now" in moved.text and "15:00" in moved.text
    holder = stored_event(server, "alice", booked["uid"]).walk("VEVENT")[0]
    assert holder["DTSTART"].dt.hour == 15
    mails = to_customer(sink.settle())
    assert [m.kind for m in mails] == ["booking_changed"]
    assert "has changed, as you asked" in mails[0].text()
    row = next(m for m in api(server, "GET", "meetings/upcoming").json()["meetings"]
               if m["uid"] == booked["uid"])
    assert row["state"] == "rescheduled" and row["changed_by"] == "customer"
    page = requests.get(server.url + "/.web/meetings", auth=("alice", USERS["alice"]),
                        timeout=30)
    assert "Rescheduled by the customer" in page.text
    activity = api(server, "GET", "meetings", params={"kind": "rescheduled"}).json()
    line = next(m for m in activity["meetings"] if m["uid"] == booked["uid"])
    assert line["summary"].endswith("(by the customer)")
    sink.take()
    cancelled = customer_post(server, link, action="cancel", note="Solved it myself")
    assert cancelled.status_code == 200 and "is cancelled" in cancelled.text
    assert str(stored_event(server, "bob", booked["uid"]).walk("VEVENT")[0]["STATUS"]
               ) == "CANCELLED"
    mails = to_customer(sink.settle())
    assert [m.kind for m in mails] == ["booking_cancelled"]
    assert "is cancelled, as you asked" in mails[0].text()
    again = customer_page(server, link)
    assert "This meeting is cancelled." in again.text and 'name="slot"' not in again.text


def test_a_customer_form_from_another_site_is_refused(server: RadicaleServer,
                                                        sink: MailSink) -> None:
    book(server, slot(2, 3, 12))
    link = link_in(to_customer(sink.settle())[0])
    path = link[link.index("/.web/"):]
    answer = requests.post(server.url + path, data={"action": "cancel", "csrf": "x"},
                           timeout=30)
    assert answer.status_code == 403
    answer = requests.post(server.url + path, data={"action": "cancel"},
                           headers={"Origin": "http://evil.test"}, timeout=30)
    assert answer.status_code == 403


# -- reminders ------------------------------------------------------------------------------

def _reminders(url: str, uid: str) -> list[Any]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(
                outbox.c.kind, outbox.c.recipient, outbox.c.next_attempt_at,
                outbox.c.status).where(outbox.c.uid == uid,
                                       outbox.c.kind.like("booking_reminder%"))))
    finally:
        engine.dispose()


def _send_at(url: str, port: int, moment: int) -> int:
    """One pass of a sender whose clock says ``moment``: how many it sent."""
    from radicale_tracks.db.engine import shared_engine

    store = OutboxStore(shared_engine(url))
    sender = Sender(store, SmtpTransport("127.0.0.1", port, timeout=10), retry_base=1,
                    give_up_after=86400, clock=lambda: float(moment))
    return sender.run_once().sent


def test_reminders_go_once_at_their_time_and_never_after_a_cancellation(
        server: RadicaleServer, sink: MailSink, world: tuple[Any, Any, str]) -> None:
    url = world[2]
    booked = book(server, slot(1, 0, 10))   # the module's first meeting: its reminders
    sink.settle()                            # are the first due
    sink.take()
    rows = _reminders(url, booked["uid"])
    start = int(datetime.datetime.fromisoformat(
        booked["start"].replace("Z", "+00:00")).timestamp())
    assert sorted((r.kind, r.recipient, start - r.next_attempt_at) for r in rows) == [
        ("booking_reminder", "olivia@customer.test", 3600),
        ("booking_reminder", "olivia@customer.test", 86400),
        ("booking_reminder_team", "alice@example.org", 3600),
        ("booking_reminder_team", "alice@example.org", 86400),
        ("booking_reminder_team", "bob@example.org", 3600),
        ("booking_reminder_team", "bob@example.org", 86400)]
    # a day before: the 24-hour reminders, once, wherever senders run
    assert _send_at(url, sink.port, start - 86400) == 3
    assert _send_at(url, sink.port, start - 86400 + 60) == 0
    mails = [m for m in sink.settle() if m.kind.startswith("booking_reminder")]
    customer = [m for m in mails if m.recipient == CUSTOMER["email"]]
    assert len(customer) == 1 and "in 24 hours" in customer[0].text()
    assert "Change or cancel here:" in customer[0].text()
    team = [m for m in mails if m.recipient == "bob@example.org"]
    assert len(team) == 1 and "Olivia Customer" in team[0].text()
    # moved: the hour-before reminders follow the new time
    new_start = slot(1, 0, 16)
    assert api(server, "POST", "bookings/%d/reschedule" % booked["id"],
               json={"start": new_start}).status_code == 200
    moved_start = start + 6 * 3600
    pending = [r for r in _reminders(url, booked["uid"]) if r.status == "pending"]
    assert {moved_start - r.next_attempt_at for r in pending} == {3600, 86400}
    # cancelled: nothing more goes
    assert api(server, "POST", "bookings/%d/cancel" % booked["id"], json={}
               ).status_code == 200
    assert [r for r in _reminders(url, booked["uid"]) if r.status == "pending"] == []
    sink.settle()
    sink.take()
    assert _send_at(url, sink.port, moved_start - 3600) == 0


def test_a_booked_series_gets_reminders_per_occurrence_planned_ahead(
        server: RadicaleServer, sink: MailSink, world: tuple[Any, Any, str]) -> None:
    """The holder makes the booked meeting weekly in their calendar program: reminders
    for each occurrence within the horizon, none for an occurrence taken out, and the
    senders' periodic pass plans the later ones as time moves on."""
    from radicale_tracks.bookings.reminders import HORIZON
    from radicale_tracks.plugin.booking_reminders import top_up_reminders

    url = world[2]
    booked = book(server, slot(1, 2, 9))
    start = _instant(booked["start"])
    calendar = stored_event(server, "alice", booked["uid"])
    event = calendar.walk("VEVENT")[0]
    event.add("RRULE", {"FREQ": "WEEKLY", "COUNT": 20})
    event["SEQUENCE"] = 1
    path = "%s%s%s" % (server.url, booked["calendar"], booked["href"])
    session = requests.Session()
    session.auth = ("alice", USERS["alice"])
    assert put(session, path, calendar.to_ical().decode()).status_code in (201, 204)
    now = int(datetime.datetime.now(datetime.UTC).timestamp())
    weeks = [start + 7 * 86400 * n for n in range(20)]
    ahead = [w for w in weeks if w - 3600 > now and w < now + HORIZON]
    planned = {r.next_attempt_at + 3600 for r in _reminders(url, booked["uid"])
               if r.recipient == CUSTOMER["email"] and r.status == "pending"
               and (r.next_attempt_at + 3600) in weeks}
    assert planned == set(ahead) and len(ahead) >= 2
    # one occurrence taken out: its reminders go, the others stay
    calendar = stored_event(server, "alice", booked["uid"])
    event = calendar.walk("VEVENT")[0]
    skipped = datetime.datetime.fromtimestamp(ahead[1], datetime.UTC)
    event.add("EXDATE", skipped.astimezone(event["DTSTART"].dt.tzinfo))
    event["SEQUENCE"] = 2
    assert put(session, path, calendar.to_ical().decode()).status_code in (201, 204)
    planned = {r.next_attempt_at + 3600 for r in _reminders(url, booked["uid"])
               if r.recipient == CUSTOMER["email"] and r.status == "pending"
               and (r.next_attempt_at + 3600) in weeks}
    assert planned == set(ahead) - {ahead[1]}
    # four weeks on, the periodic pass plans the occurrences then within the horizon
    later = datetime.datetime.fromtimestamp(now + 28 * 86400, datetime.UTC)
    assert top_up_reminders(server.storage, later) >= 1
    planned = {r.next_attempt_at + 3600 for r in _reminders(url, booked["uid"])
               if r.recipient == CUSTOMER["email"] and r.status == "pending"
               and (r.next_attempt_at + 3600) in weeks}
    expected = {w for w in weeks if w - 3600 > later.timestamp()
                and w < later.timestamp() + HORIZON} - {ahead[1]}
    assert planned == expected and max(planned) > max(ahead)
    assert top_up_reminders(server.storage, later) == 0   # planned: nothing more to do


def test_meetings_lists_past_meetings_with_their_times(server: RadicaleServer,
                                                        sink: MailSink) -> None:
    """A meeting of a track that ended yesterday is past; upcoming ones are not."""
    yesterday = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    start = yesterday.replace(hour=9, minute=0, second=0, microsecond=0)
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        "UID:past-review@example.org\r\nDTSTAMP:%s\r\nDTSTART:%s\r\nDTEND:%s\r\n"
        "SUMMARY:Past review\r\nORGANIZER:mailto:alice@example.org\r\n"
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org\r\n"
        "ATTENDEE;RSVP=TRUE:mailto:assistant@example.org\r\nEND:VEVENT\r\n"
        "END:VCALENDAR\r\n") % (
        start.strftime("%Y%m%dT%H%M%SZ"), start.strftime("%Y%m%dT%H%M%SZ"),
        (start + datetime.timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ"))
    session = requests.Session()
    session.auth = ("alice", USERS["alice"])
    answer = put(session, server.url + "/alice/work/past-review.ics", text)
    assert answer.status_code == 201, answer.text
    past = api(server, "GET", "meetings/past").json()["meetings"]
    row = next(m for m in past if m["uid"] == "past-review@example.org")
    assert row["what"] == "Past review" and row["booking"] is None
    assert _instant(row["start"]) == int(start.timestamp()) and row["track"]
    upcoming = api(server, "GET", "meetings/upcoming").json()["meetings"]
    assert all(m["uid"] != "past-review@example.org" for m in upcoming)
    assert all(_instant(m["start"]) >= int(start.timestamp()) for m in upcoming)
    found = api(server, "GET", "meetings/past", params={"q": "past rev"}).json()
    assert [m["uid"] for m in found["meetings"]] == ["past-review@example.org"]
    assert api(server, "POST", "meetings/past", json={}).status_code == 405


def test_a_booking_awaits_a_room_until_its_delegate_accepts(server: RadicaleServer,
                                                             sink: MailSink) -> None:
    booked = book(server, slot(2, 0, 15), details={"pools": [],
                                                   "rooms": ["cedar@example.org"]})
    assert booked["answers"]["cedar@example.org"] == "NEEDS-ACTION"
    state = api(server, "GET", "bookings/%d" % booked["id"]).json()
    assert state["state"] == "awaiting-room"
    # carol manages the room: she accepts on its copy; the booking is confirmed
    session = requests.Session()
    session.auth = ("carol", USERS["carol"])
    listing = session.request("PROPFIND", "%s/cedar/calendar/" % server.url,
                              headers={"Depth": "1"})
    assert listing.status_code == 207, listing.text
    href = next(h for h in re.findall(r"<(?:\w+:)?href>([^<]+)</(?:\w+:)?href>",
                                      listing.text)
                if h.endswith(".ics") and booked["uid"] in session.get(server.url + h).text)
    answer = put(session, server.url + href, session.get(server.url + href).text.replace(
        "PARTSTAT=NEEDS-ACTION", "PARTSTAT=ACCEPTED"))
    assert answer.status_code in (201, 204), answer.text
    state = api(server, "GET", "bookings/%d" % booked["id"]).json()
    assert state["state"] == "confirmed"


def test_a_change_the_team_must_make_is_explained_to_the_customer_in_their_words(
        server: RadicaleServer, sink: MailSink, monkeypatch: pytest.MonkeyPatch) -> None:
    """The holder made the meeting repeat in their calendar program: the customer cannot
    move it from their page, and reads why without the team's wording."""
    booked = book(server, slot(3, 1, 11))
    link = link_in(to_customer(sink.settle())[0])
    calendar = stored_event(server, "alice", booked["uid"])
    event = calendar.walk("VEVENT")[0]
    event.add("RRULE", {"FREQ": "WEEKLY", "COUNT": 3})
    event["SEQUENCE"] = 1
    session = requests.Session()
    session.auth = ("alice", USERS["alice"])
    assert put(session, "%s%s%s" % (server.url, booked["calendar"], booked["href"]),
               calendar.to_ical().decode()).status_code in (201, 204)
    page = customer_page(server, link, week=slot(3, 2, 9)[:10])
    choice = offered(page.text)[0]       # any time the team offers that week
    answer = customer_post(server, link, action="reschedule", slot=choice)
    assert answer.status_code == 400
    assert "This meeting cannot be changed here. Reply to the e-mail" in answer.text
    assert "calendar program" not in answer.text and "Traceback" not in answer.text
    # a series is over after its last occurrence (weeks 0, 1 and 2 here), and its link
    # opens until two weeks after that one, not the first
    def at(days: int) -> requests.Response:
        moment = _instant(booked["end"]) + days * 86400
        monkeypatch.setattr(server.app._web.services, "clock",
                            lambda: datetime.datetime.fromtimestamp(moment, datetime.UTC))
        return customer_page(server, link)

    assert "is over" not in at(8).text                  # the third one is ahead
    late = at(15 + 7)                                   # past the first's two weeks
    assert late.status_code == 200 and "This meeting is over." in late.text
    assert at(14 + 14 + 1).status_code == 404           # two weeks after the last


def test_a_booking_follows_its_event_to_another_calendar_of_the_holder(
        server: RadicaleServer, sink: MailSink) -> None:
    """The holder's calendar program writes the meeting into another of her calendars:
    the booking's page and changes find it there."""
    booked = book(server, slot(3, 3, 10))
    session = requests.Session()
    session.auth = ("alice", USERS["alice"])
    assert session.request("MKCALENDAR", server.url + "/alice/clients/").status_code in (
        201, 405)
    calendar = stored_event(server, "alice", booked["uid"])
    calendar.walk("VEVENT")[0]["SEQUENCE"] = 1
    assert put(session, server.url + "/alice/clients/kept.ics",
               calendar.to_ical().decode()).status_code == 201
    found = api(server, "GET", "bookings/%d" % booked["id"]).json()
    assert (found["calendar"], found["href"]) == ("/alice/clients/", "kept.ics")
    moved = api(server, "POST", "bookings/%d/cancel" % booked["id"], json={})
    assert moved.status_code == 200 and moved.json()["state"] == "cancelled"
    text = session.get(server.url + "/alice/clients/kept.ics").text
    assert "STATUS:CANCELLED" in text


def test_a_booking_survives_a_move_by_copy_and_delete(server: RadicaleServer,
                                                      sink: MailSink,
                                                      world: tuple[Any, Any, str]) -> None:
    """Thunderbird moves the booked meeting to another of the holder's calendars: the
    copy, then the delete of the original. Nobody is told it was cancelled, the booking
    keeps its state and reminders, and its page finds the copy."""
    booked = book(server, slot(3, 4, 15))
    sink.settle()
    sink.take()
    before = api(server, "GET", "bookings/%d" % booked["id"]).json()
    reminders = sorted(r for r in _reminders(world[2], booked["uid"]) if r.status == "pending")
    session = requests.Session()
    session.auth = ("alice", USERS["alice"])
    # a calendar of hers other than the one the booking went to (her default calendar)
    assert session.request("MKCALENDAR", server.url + "/alice/work-archive/"
                           ).status_code in (201, 405, 409)
    assert booked["calendar"] != "/alice/work-archive/"
    original = server.url + booked["calendar"] + booked["href"]
    answer = session.get(original)
    copy = server.url + "/alice/work-archive/moved-%d.ics" % booked["id"]
    copied = put(session, copy, answer.text, **{"If-None-Match": "*"})
    assert copied.status_code == 201, copied.text
    assert session.delete(original, headers={"If-Match": answer.headers["ETag"]}
                          ).status_code in (200, 204)
    assert sink.settle() == [], "a move between calendars was mailed"
    after = api(server, "GET", "bookings/%d" % booked["id"]).json()
    assert (after["calendar"], after["href"]) == ("/alice/work-archive/",
                                                  "moved-%d.ics" % booked["id"])
    assert (after["state"], after["start"], after["can_change"]) == (
        before["state"], before["start"], True)
    assert sorted(r for r in _reminders(world[2], booked["uid"])
                  if r.status == "pending") == reminders
    bob = stored_event(server, "bob", booked["uid"]).walk("VEVENT")[0]
    assert str(bob.get("STATUS", "CONFIRMED")) != "CANCELLED"


def test_the_right_to_change_a_booking_is_the_right_to_write_its_calendar(
        server: RadicaleServer, sink: MailSink, monkeypatch: pytest.MonkeyPatch) -> None:
    """bob may write alice's default calendar, not the one her booked meeting is in now
    (she moved it there): he may not move or cancel it — it is decided on the calendar
    the change writes, not on the one a new booking would go to."""
    from radicale_tracks.plugin.rights import Rights

    booked = book(server, slot(3, 2, 11))
    default = booked["calendar"].strip("/")
    session = requests.Session()
    session.auth = ("alice", USERS["alice"])
    assert session.request("MKCALENDAR", server.url + "/alice/private-rights/"
                           ).status_code in (201, 405, 409)
    original = server.url + booked["calendar"] + booked["href"]
    answer = session.get(original)
    assert put(session, server.url + "/alice/private-rights/kept.ics", answer.text,
               **{"If-None-Match": "*"}).status_code == 201
    assert session.delete(original).status_code in (200, 204)
    sink.settle()
    plain = Rights.authorization

    def authorization(self: Rights, user: str, groups: set[str], path: str) -> str:
        if user == "bob" and path.strip("/") == default:
            return "rw"
        return plain(self, user, groups, path)

    monkeypatch.setattr(Rights, "authorization", authorization)
    path = "bookings/%d" % booked["id"]
    assert api(server, "GET", path).json()["calendar"] == "/alice/private-rights/"
    seen = api(server, "GET", path, user="bob")
    assert seen.status_code == 200 and seen.json()["may_change"] is False
    refused = api(server, "POST", path + "/cancel", user="bob", json={})
    assert refused.status_code == 403, refused.text
    assert api(server, "GET", path).json()["state"] != "cancelled"
