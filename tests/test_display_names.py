"""People named as people: ``display_names`` in a booking's mails, on the events the web
writes and as the principal's displayname.

End to end on a real Radicale with the plugins and the pages (SQLite and PostgreSQL), mail
to a real SMTP server; alice books into bob's calendar and moves the meeting.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from caldav_clients import stored_event
from databases import BACKENDS
from helpers import USERS, RadicaleServer
from inprocess import ThreadedServer
from mailserver import MailSink
from web_booking import CUSTOMER, booking, slot
from worlds import mail_world, web_options


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[RadicaleServer, MailSink]]:
    def make(workdir: Any, url: str, sink: MailSink) -> RadicaleServer:
        options = web_options(url, sink.port)
        options["display_names"] = "\n    alice: Alice Adams\n    bob: Bob Brown"
        return ThreadedServer(workdir, storage_options=options,
                              rights_type="radicale_tracks.rights",
                              web_type="radicale_tracks.web").start()

    with mail_world(tmp_path_factory.mktemp("names"), request.param, make) as found:
        yield found


def api(server: RadicaleServer, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, server.url + "/.web/api/" + path,
                            auth=("alice", USERS["alice"]), timeout=30, **kwargs)


def test_a_booking_names_the_people_by_their_names(
        world: tuple[RadicaleServer, MailSink]) -> None:
    server, sink = world
    sink.settle()
    sink.take()
    booked = api(server, "POST", "bookings", json=booking(
        slot(1, 1, 10), notifications={"holder": "bob"}))
    assert booked.status_code == 201, booked.text
    event = stored_event(server, "bob", booked.json()["uid"]).walk("VEVENT")[0]
    assert event["ORGANIZER"].params["CN"] == "Bob Brown"
    names = {str(a.params.get("CN")) for a in event["ATTENDEE"]}
    assert "Alice Adams" in names
    confirmation = [m for m in sink.settle() if m.recipient == CUSTOMER["email"]]
    assert confirmation and "Bob Brown" in confirmation[0].text()
    assert not re.search(r"\bbob\b", confirmation[0].text().split("--")[0])

    moved = api(server, "POST", "bookings/%d/reschedule" % booked.json()["id"],
                json={"start": slot(1, 1, 14)})
    assert moved.status_code == 200, moved.text
    changed = [m for m in sink.settle() if m.recipient == CUSTOMER["email"]
               and m.kind == "booking_changed"]
    assert changed and "Alice Adams changed your meeting with Bob Brown." in (
        changed[0].text())


def test_the_principal_is_named_by_its_display_name(
        world: tuple[RadicaleServer, MailSink]) -> None:
    server, _sink = world
    answer = requests.request(
        "PROPFIND", server.url + "/alice/", auth=("alice", USERS["alice"]), timeout=30,
        headers={"Depth": "0"},
        data='<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:displayname/>'
             '</D:prop></D:propfind>')
    assert answer.status_code == 207, answer.text
    name = ET.fromstring(answer.content).find(".//{DAV:}displayname")
    assert name is not None and name.text == "Alice Adams"
