"""End to end: the JSON API behind the pages, on a real Radicale with the plugins.

Alice is an agent (``web_booking_agents``); bob and carol are team members; Atlas and
Borealis form the pool 3rd-floor. Bookings go through the scheduling path, so the
checks are where a person would look: the calendars (read with the ``caldav`` client),
the mails at a real SMTP server, the Meetings and track answers.
"""

from __future__ import annotations

import datetime
import email
import email.policy
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests

from caldav_clients import attendee_params, stored_event
from databases import BACKENDS
from helpers import USERS, RadicaleServer, put, stored_texts
from mailserver import MailSink, Received
from web_booking import CUSTOMER, booking, slot
from worlds import mail_world, web_server

BERLIN = ZoneInfo("Europe/Berlin")
UTC = datetime.UTC
TODAY = datetime.datetime.now(BERLIN).date()
MONDAY = TODAY + datetime.timedelta(days=7 - TODAY.weekday())
@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[RadicaleServer, MailSink]]:
    """The pages and their API (``worlds.web_server``); ``mail`` of ``conftest.py``."""
    with mail_world(tmp_path_factory.mktemp("web"), request.param,
                    lambda workdir, url, sink: web_server(workdir, url, sink.port)) as world:
        yield world


@pytest.fixture
def server(world: tuple[RadicaleServer, MailSink]) -> RadicaleServer:
    return world[0]


def api(server: RadicaleServer, method: str, path: str, user: str = "alice",
        **kwargs: Any) -> requests.Response:
    return requests.request(method, server.url + "/.web/api/" + path,
                            auth=(user, USERS[user]), timeout=30, **kwargs)


def to_customer(mails: list[Received]) -> list[Received]:
    return [m for m in mails if m.recipient == CUSTOMER["email"]]


# -- login, the admin UI, the directory ------------------------------------------------

def test_pages_and_api_need_a_login_and_radicale_ui_stays(server: RadicaleServer) -> None:
    for path in ("/.web/", "/.web/book", "/.web/api/me"):
        answer = requests.get(server.url + path, timeout=10)
        assert answer.status_code == 401, path
        assert answer.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(server.url + "/.web/api/me", auth=("alice", "wrong"),
                        timeout=10).status_code == 401
    ui = requests.get(server.url + "/.web/index.html", timeout=10)
    assert ui.status_code == 200 and "Radicale" in ui.text
    assert requests.get(server.url + "/.web/js/main.js", timeout=10).status_code == 200
    assert requests.get(server.url + "/.web/static/web.css", timeout=10).status_code == 200
    me = api(server, "GET", "me").json()
    assert me == {"user": "alice", "address": "alice@example.org", "zone": "Europe/Berlin"}


def test_directory_lists_the_team_rooms_and_pools(server: RadicaleServer) -> None:
    found = api(server, "GET", "directory").json()
    assert found["users"] == ["alice", "bob", "carol"]
    assert found["rooms"] == [{"address": "atlas@example.org", "name": "Atlas"},
                              {"address": "borealis@example.org", "name": "Borealis"}]
    assert found["pools"] == [{"name": "3rd-floor", "rooms": ["Atlas", "Borealis"]}]


# -- booking ---------------------------------------------------------------------------

def test_a_booking_lands_in_every_calendar_and_mails_the_customer(
        server: RadicaleServer, mail: MailSink) -> None:
    answer = api(server, "POST", "bookings", json=booking(slot(1, 0, 10)))
    assert answer.status_code == 201, answer.text
    booked = answer.json()
    uid = booked["uid"]
    assert booked["holder"] == "alice" and booked["calendar"] == "/alice/work/"
    assert booked["rooms"] == {"atlas@example.org": "Atlas"}     # the pool's first room
    assert booked["answers"]["atlas@example.org"] == "ACCEPTED"  # if-free, and free
    assert booked["answers"]["assistant@example.org"] == "ACCEPTED"
    assert booked["track"]

    holder = stored_event(server, "alice", uid)
    event = holder.walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == "Onboarding call"
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event["DTSTART"].dt.hour == 10
    assert "Bring the contract draft." in str(event["DESCRIPTION"])
    assert str(event["CONFERENCE"]) == "https://meet.example.org/onboarding"
    people = attendee_params(holder)
    assert set(people) == {"alice@example.org", "bob@example.org", "atlas@example.org",
                           "olivia@customer.test", "assistant@example.org"}
    assert "SCHEDULE-AGENT" not in people["olivia@customer.test"]
    # bob got the invitation in his calendar; the room keeps its booking
    assert str(stored_event(server, "bob", uid).walk("VEVENT")[0]["UID"]) == uid
    assert any(uid in text for text in stored_texts(server, "atlas/calendar"))

    mails = to_customer(mail.wait_for(1) and mail.settle())
    assert len(mails) == 1, [(m.kind, m.recipient) for m in mail.received]
    sent = mails[0].calendar()
    assert sent is not None and str(sent["METHOD"]) == "REQUEST"
    assert set(attendee_params(sent)) >= {"alice@example.org", "bob@example.org"}

    track = api(server, "GET", "tracks/%s" % booked["track"]).json()
    assert [m["uid"] for m in track["upcoming"]] == [uid]
    assert {m["address"] for m in track["members"]} >= {"alice@example.org",
                                                        "bob@example.org"}
    assert track["track_address"].startswith("assistant+")
    stream = api(server, "GET", "meetings", params={"track": booked["track"]}).json()
    assert {m["kind"] for m in stream["meetings"]} >= {"booked", "created"}
    booked_row = next(m for m in stream["meetings"] if m["kind"] == "booked")
    assert booked_row["actor"] == "alice@example.org"
    assert "Olivia Customer" in booked_row["summary"]
    assert any(t["id"] == booked["track"] for t in api(server, "GET", "tracks").json()[
        "tracks"])


@pytest.mark.parametrize("add, send", [(False, True), (True, False), (False, False)])
def test_the_customer_toggles(server: RadicaleServer, mail: MailSink, add: bool,
                              send: bool) -> None:
    hour = {(False, True): 11, (True, False): 12, (False, False): 13}[(add, send)]
    answer = api(server, "POST", "bookings", json=booking(
        slot(1, 1, hour), details={"members": ["alice"], "pools": []},
        notifications={"add_to_event": add, "send_confirmation": send}))
    assert answer.status_code == 201, answer.text
    uid = answer.json()["uid"]
    people = attendee_params(stored_event(server, "alice", uid))
    if add:
        assert people["olivia@customer.test"]["SCHEDULE-AGENT"] == "NONE"
    else:
        assert "olivia@customer.test" not in people
    mails = to_customer(mail.settle())
    if not send:
        assert mails == []
        return
    assert [m.kind for m in mails] == ["booking_confirmation"]
    published = mails[0].calendar()
    assert published is not None and str(published["METHOD"]) == "PUBLISH"
    event = published.walk("VEVENT")[0]
    assert str(event["UID"]) == uid
    assert "DESCRIPTION" not in event and "ATTENDEE" not in event
    assert "contract" not in mails[0].text()


def test_a_customer_who_may_not_see_the_team_sees_only_themselves(
        server: RadicaleServer, mail: MailSink) -> None:
    answer = api(server, "POST", "bookings", json=booking(
        slot(1, 2, 10), details={"pools": []},
        notifications={"customer_sees_attendees": False,
                       "customer_zone": "America/New_York"}))
    assert answer.status_code == 201, answer.text
    mails = to_customer(mail.settle())
    assert len(mails) == 1
    sent = mails[0].calendar()
    assert sent is not None
    assert list(attendee_params(sent)) == ["olivia@customer.test"]
    assert "X-TRACKS-HIDE-ATTENDEES" not in sent.to_ical().decode()
    assert "/.tracks/feed/" not in mails[0].text()   # the track lists everyone
    event = sent.walk("VEVENT")[0]
    assert event["DTSTART"].params["TZID"] == "America/New_York"
    assert event["DTSTART"].dt.hour == 4          # 10:00 Berlin in New York


def test_two_agents_racing_for_one_slot_get_one_booking_and_fresh_slots(
        server: RadicaleServer) -> None:
    start = slot(2, 0, 9)
    answers: list[requests.Response] = []
    barrier = threading.Barrier(2)

    def book(user: str) -> None:
        body = booking(start, details={"members": ["alice", "bob"], "pools": []})
        barrier.wait(10)
        answers.append(api(server, "POST", "bookings", json=body, user=user))

    threads = [threading.Thread(target=book, args=("alice",)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 409).json()
    assert "no longer free" in refused["error"] and "is busy" in refused["error"]
    fresh = refused["slots"]["slots"]
    assert fresh and start not in [s["start_utc"] for s in fresh if s["fit"]]


def test_a_known_conflict_is_booked_only_when_the_agent_accepts_it(
        server: RadicaleServer) -> None:
    start = slot(2, 1, 14)
    end = (datetime.datetime.fromisoformat(start.replace("Z", "+00:00"))
           + datetime.timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")
    busy = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//EN\r\nBEGIN:VEVENT\r\n"
            "UID:bob-dentist\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\n"
            "SUMMARY:Dentist\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % (
                start.replace("-", "").replace(":", ""), end))
    assert put(server.session("bob"), server.url + "/bob/work/dentist.ics",
               busy).status_code == 201
    body = booking(start, details={"pools": []})
    shown = api(server, "POST", "slots", json={
        "details": body["details"], "zone": "Europe/Berlin", "show_conflicts": True,
        "day": start[:10]}).json()
    conflict = next(s for s in shown["slots"] if s["start_utc"] == start)
    assert not conflict["fit"]
    bob = next(a for a in conflict["attendees"] if a["address"] == "bob@example.org")
    assert bob["status"] == "busy" and bob["conflicts"]
    assert "Dentist" not in str(shown)                       # times, never details
    refused = api(server, "POST", "bookings", json=body)
    assert refused.status_code == 409 and "bob@example.org is busy" in refused.json()["error"]
    accepted = api(server, "POST", "bookings",
                   json=dict(body, accepted_conflicts=["bob@example.org"]))
    assert accepted.status_code == 201, accepted.text


@pytest.mark.parametrize("email", ["olivia@", "olivia customer@test.org", "olivia@localhost",
                                   "olivia@@customer.test", "olivia@customer.123"])
def test_a_bad_address_is_refused_and_nothing_is_booked(server: RadicaleServer,
                                                         mail: MailSink, email: str) -> None:
    before = api(server, "GET", "meetings", params={"kind": "booked"}).json()["meetings"]
    for path, body in (("customer", {"name": "Olivia", "email": email}),
                       ("bookings", booking(slot(3, 0, 10),
                                            customer={"name": "Olivia", "email": email}))):
        answer = api(server, "POST", path, json=body)
        assert answer.status_code == 400, answer.text
        assert answer.json()["field"] == "customer.email"
        assert "e-mail address" in answer.json()["error"] or "spaces" in answer.json()[
            "error"]
    after = api(server, "GET", "meetings", params={"kind": "booked"}).json()["meetings"]
    assert after == before
    assert to_customer(mail.settle(quiet=0.5)) == []


def test_only_agents_put_events_into_someone_elses_calendar(server: RadicaleServer) -> None:
    body = booking(slot(3, 1, 10), details={"members": ["alice", "bob"], "pools": []},
                   notifications={"holder": "alice"})
    refused = api(server, "POST", "bookings", json=body, user="bob")
    assert refused.status_code == 400
    assert refused.json()["field"] == "notifications.holder"
    own = api(server, "POST", "bookings", user="bob", json=dict(
        body, notifications={"holder": "bob"}))
    assert own.status_code == 201, own.text
    assert own.json()["calendar"] == "/bob/work/"


def test_requests_from_elsewhere_are_refused(server: RadicaleServer) -> None:
    body = booking(slot(3, 2, 10))
    assert api(server, "POST", "bookings", data="{}",
               headers={"Content-Type": "text/plain"}).status_code == 415
    assert api(server, "POST", "bookings", json=body,
               headers={"Origin": "https://evil.test"}).status_code == 403
    form = requests.post(server.url + "/.web/book", data={"step": "1", "customer_name": "x"},
                         auth=("alice", USERS["alice"]), timeout=10)
    assert form.status_code == 403


def test_tracks_are_private_and_their_feed_can_be_revoked(server: RadicaleServer) -> None:
    answer = api(server, "POST", "bookings", json=booking(
        slot(3, 3, 10), details={"subject": "Feed test", "pools": []}))
    assert answer.status_code == 201, answer.text
    slug = answer.json()["track"]
    assert api(server, "GET", "tracks/%s" % slug, user="carol").status_code == 404
    member = api(server, "GET", "tracks/%s" % slug, user="bob").json()
    assert member["track_address"] is None            # only the organizer sees it
    assert api(server, "POST", "tracks/%s/feed/revoke" % slug, user="bob",
               json={}).status_code == 403
    old = api(server, "GET", "tracks/%s" % slug).json()["feed_url"]
    assert requests.get(old, timeout=10).status_code == 200
    revoked = api(server, "POST", "tracks/%s/feed/revoke" % slug, json={})
    assert revoked.status_code == 200
    new = revoked.json()["feed_url"]
    assert new != old
    assert requests.get(old, timeout=10).status_code == 404
    assert "Feed test" in requests.get(new, timeout=10).text


def test_the_meetings_stream_filters(server: RadicaleServer) -> None:
    api(server, "POST", "bookings", json=booking(
        slot(3, 4, 10), details={"subject": "Filter me", "pools": []}))
    booked = api(server, "GET", "meetings", params={"kind": "booked"}).json()["meetings"]
    assert booked and {m["kind"] for m in booked} == {"booked"}
    found = api(server, "GET", "meetings", params={"q": "filter me"}).json()["meetings"]
    assert found and all("Filter me" in m["summary"] for m in found)
    ids = [m["id"] for m in api(server, "GET", "meetings").json()["meetings"]]
    assert ids == sorted(ids, reverse=True)                  # newest first
    page = api(server, "GET", "meetings", params={"limit": 2}).json()
    older = api(server, "GET", "meetings", params={"before": page["next"]}).json()
    assert older["meetings"][0]["id"] < page["meetings"][-1]["id"]
    bad = api(server, "GET", "meetings", params={"kind": "nonsense"})
    assert bad.status_code == 400 and bad.json()["field"] == "kind"
    assert api(server, "GET", "nothing-here").status_code == 404


def test_the_pages_render_for_their_user(server: RadicaleServer) -> None:
    session = server.session("alice")
    assert "Filter me" in session.get(server.url + "/.web/meetings", timeout=10).text
    tracks = session.get(server.url + "/.web/tracks", timeout=10)
    assert tracks.status_code == 200 and "Onboarding call" in tracks.text
    book = session.get(server.url + "/.web/book", timeout=10)
    assert book.status_code == 200 and 'name="customer_email"' in book.text
    assert "frame-ancestors 'none'" in book.headers["Content-Security-Policy"]
    assert server.session("carol").get(server.url + "/.web/tracks/nope",
                                       timeout=10).status_code == 404


def test_the_track_page_shows_notes_shared_by_mail(server: RadicaleServer) -> None:
    answer = api(server, "POST", "bookings", json=booking(
        slot(3, 4, 14), details={"subject": "Notes test", "pools": []}))
    assert answer.status_code == 201, answer.text
    slug = answer.json()["track"]
    address = api(server, "GET", "tracks/%s" % slug).json()["track_address"]
    token = address.split("+", 1)[1].split("@", 1)[0]
    note = (Path(__file__).parent / "fixtures" / "imip" / "shared_note.eml").read_bytes()
    note = note.replace(b"TRACKTOKEN", token.encode())
    note = (b"Authentication-Results: mx.example.org; dkim=pass header.d=example.org; "
            b"dmarc=pass header.from=example.org\r\n") + note  # as our MTA stamps it
    done = subprocess.run([sys.executable, "-m", "radicale_tracks.cli", "--config",
                           str(server.config), "deliver", "--sender", "bob@example.org",
                           "--recipient", address], input=note, capture_output=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    subject = str(email.message_from_bytes(note, policy=email.policy.default)["Subject"])
    for user in ("alice", "bob"):
        shared = api(server, "GET", "tracks/%s" % slug, user=user).json()["shared"]
        assert [n["summary"] for n in shared] == [subject]
        assert shared[0]["from"] == "bob@example.org"
    page = server.session("alice").get(server.url + "/.web/tracks/%s" % slug, timeout=10)
    assert subject in page.text


def test_a_failure_reads_as_a_sentence_on_the_meetings_page(server: RadicaleServer) -> None:
    """A program error recorded on a track is for the admin (``tracks show``): members
    read that something could not be processed, never the error."""
    from sqlalchemy import create_engine, text

    answer = api(server, "POST", "bookings", json=booking(
        slot(4, 2, 15), details={"subject": "Failure shown", "pools": []}))
    assert answer.status_code == 201, answer.text
    slug = answer.json()["track"]
    engine = create_engine(server.storage_options["database_url"])
    with engine.begin() as connection:
        track_id = connection.execute(text("SELECT id FROM tracks_track WHERE slug = :s"),
                                      {"s": slug}).scalar()
        connection.execute(text(
            "INSERT INTO tracks_activity (at, track_id, uid, kind, actor, summary, detail) "
            "VALUES (:at, :track, 'x', 'failed', 'bob@example.org', "
            "'assistant failed: KeyError: secret-detail', 'Traceback (most recent call)')"),
            {"at": int(datetime.datetime.now(UTC).timestamp()), "track": track_id})
    engine.dispose()
    failed = [m for m in api(server, "GET", "meetings", params={"kind": "failed"}
                             ).json()["meetings"] if m["track"] == slug]
    assert failed and "administrator" in failed[0]["summary"], failed
    assert "KeyError" not in failed[0]["summary"]
    page = server.session("alice").get(server.url + "/.web/meetings", timeout=10).text
    assert "administrator has been told" in page and "secret-detail" not in page
    shown = server.cli("tracks", "show", slug).stdout
    assert "secret-detail" in shown  # the admin keeps the error
