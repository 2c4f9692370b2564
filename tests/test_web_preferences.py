"""The user's remembered time zone: ``/.web/api/preferences`` on a real server.

The booking wizard keeps the zone an agent works in on the server (table
``tracks_user_setting``), so it follows them to another browser and every node; these
tests keep, change and forget it through the API and check what the rest of the API —
``/me``, the wizard's slots — then answers, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from databases import BACKENDS
from helpers import USERS, RadicaleServer
from worlds import mail_world, web_server


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[RadicaleServer]:
    """The pages and their API (``worlds.web_server``), a fresh database per backend."""
    with mail_world(tmp_path_factory.mktemp("preferences"), request.param,
                    lambda workdir, url, sink: web_server(workdir, url, sink.port)
                    ) as world:
        yield world[0]


def api(server: RadicaleServer, method: str, path: str, user: str = "alice",
        **kwargs: Any) -> requests.Response:
    return requests.request(method, server.url + "/.web/api/" + path,
                            auth=(user, USERS[user]), timeout=30, **kwargs)


def zone_in_use(server: RadicaleServer, user: str) -> str:
    answer = api(server, "GET", "me", user)
    assert answer.status_code == 200, answer.text
    zone = answer.json()["zone"]
    assert isinstance(zone, str)
    return zone


def test_a_kept_zone_is_the_users_until_forgotten(server: RadicaleServer) -> None:
    assert api(server, "GET", "preferences").json() == {"zone": None}
    assert zone_in_use(server, "alice") == "Europe/Berlin"     # the calendars' zone

    kept = api(server, "POST", "preferences", json={"zone": "America/New_York"})
    assert kept.status_code == 200, kept.text
    assert kept.json() == {"zone": "America/New_York"}
    assert api(server, "GET", "preferences").json() == {"zone": "America/New_York"}
    assert zone_in_use(server, "alice") == "America/New_York"
    # bob chose nothing: his stays his calendars'
    assert api(server, "GET", "preferences", "bob").json() == {"zone": None}
    assert zone_in_use(server, "bob") == "Europe/Berlin"

    # the wizard's slots are asked in the kept zone when the question names none
    answer = api(server, "POST", "slots", json={"details": {
        "subject": "Zone check", "duration": 30, "members": ["alice"]}})
    assert answer.status_code == 200, answer.text
    assert answer.json()["zone"] == "America/New_York"

    # a Windows name is kept as the IANA zone it means; a later choice replaces it
    kept = api(server, "POST", "preferences", json={"zone": "Tokyo Standard Time"})
    assert kept.json() == {"zone": "Asia/Tokyo"}
    assert zone_in_use(server, "alice") == "Asia/Tokyo"

    # a body without the field leaves it alone; null forgets it
    assert api(server, "POST", "preferences", json={}).json() == {"zone": "Asia/Tokyo"}
    forgotten = api(server, "POST", "preferences", json={"zone": None})
    assert forgotten.json() == {"zone": None}
    assert zone_in_use(server, "alice") == "Europe/Berlin"


def test_a_bad_preference_is_refused_naming_its_field(server: RadicaleServer) -> None:
    assert api(server, "POST", "preferences", "carol",
               json={"zone": "Europe/Paris"}).status_code == 200
    for body, field in (({"zone": "Mars/Olympus"}, "zone"), ({"zone": 7}, "zone"),
                        ({"zone": ""}, "zone"), ({"colour": "blue"}, "colour")):
        refused = api(server, "POST", "preferences", "carol", json=body)
        assert refused.status_code == 400, body
        assert refused.json()["field"] == field, refused.json()
    assert "Mars/Olympus" in api(server, "POST", "preferences", "carol", json={
        "zone": "Mars/Olympus"}).json()["error"]
    # nothing refused was kept
    assert api(server, "GET", "preferences", "carol").json() == {"zone": "Europe/Paris"}


def test_preferences_need_a_login_json_and_the_same_site(server: RadicaleServer) -> None:
    assert requests.get(server.url + "/.web/api/preferences", timeout=10).status_code == 401
    form = requests.post(server.url + "/.web/api/preferences", auth=("bob", USERS["bob"]),
                         data={"zone": "Asia/Tokyo"}, timeout=10)
    assert form.status_code == 415
    other_site = api(server, "POST", "preferences", "bob", json={"zone": "Asia/Tokyo"},
                     headers={"Origin": "https://evil.example"})
    assert other_site.status_code == 403
    assert api(server, "GET", "preferences", "bob").json() == {"zone": None}

