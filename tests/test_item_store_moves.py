"""``radicale-tracks migrate --to database|files``: a real command on real data, a round
trip files → database → files that keeps every collection, property, href, UID and ETag,
and a server on the database answering as the one on the files did."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from databases import BACKENDS, fresh_database
from helpers import USERS, RadicaleServer, run_cli

CALENDAR = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//moves//EN\r\n"
            "BEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20270101T000000Z\r\n"
            "DTSTART:20270301T%02d0000Z\r\nDURATION:PT1H\r\nSUMMARY:%s\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")
CARD = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-1\r\nFN:Dana Doe\r\n"
        "N:Doe;Dana;;;\r\nEND:VCARD\r\n")
#: the modules' servers name their item store themselves
pytestmark = pytest.mark.files_only

MEMBERS = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/>'
           '<D:displayname/><D:resourcetype/></D:prop></D:propfind>')


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


def fill(server: RadicaleServer) -> None:
    """Two users, calendars with properties, events, an address book."""
    for user in ("alice", "bob"):
        session = requests.Session()
        session.auth = (user, USERS[user])
        body = ('<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
                '<D:displayname>%s at work</D:displayname></D:prop></D:set>'
                '</C:mkcalendar>' % user)
        assert session.request("MKCALENDAR", server.url + "/%s/work/" % user,
                               data=body).status_code == 201
        for n in range(5):
            uid = "%s-%d@example.org" % (user, n)
            assert session.put(server.url + "/%s/work/event-%d.ics" % (user, n),
                               data=CALENDAR % (uid, 8 + n, "Meeting %d" % n),
                               headers={"Content-Type": "text/calendar"}
                               ).status_code == 201
    session = requests.Session()
    session.auth = ("alice", USERS["alice"])
    body = ('<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" '
            'xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype>'
            '<D:collection/><CR:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>')
    assert session.request("MKCOL", server.url + "/alice/contacts/",
                           data=body).status_code == 201
    assert session.put(server.url + "/alice/contacts/dana.vcf", data=CARD,
                       headers={"Content-Type": "text/vcard"}).status_code == 201


def snapshot(server: RadicaleServer) -> dict[str, tuple[str, str]]:
    """Per href: ETag and text, for every object of both users; plus each collection's
    displayname (under the collection's href)."""
    found: dict[str, tuple[str, str]] = {}
    for user, collections in (("alice", ("work", "contacts")), ("bob", ("work",))):
        session = requests.Session()
        session.auth = (user, USERS[user])
        for name in collections:
            url = server.url + "/%s/%s/" % (user, name)
            answer = session.request("PROPFIND", url, data=MEMBERS, headers={"Depth": "1"})
            assert answer.status_code == 207
            import xml.etree.ElementTree as ET

            for response in ET.fromstring(answer.text).iter("{DAV:}response"):
                href = response.findtext("{DAV:}href") or ""
                if href.endswith("/"):
                    found[href] = ("", response.findtext(".//{DAV:}displayname") or "")
                    continue
                got = session.get(server.url + href)
                found[href] = (got.headers["ETag"], got.text)
    return found


def _listing(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")
            if p.is_file() and not p.name.startswith(".Radicale.lock")}


def test_files_to_database_and_back_keeps_everything(tmp_path: Path, database: str) -> None:
    files = RadicaleServer(tmp_path / "files", storage_options={
        "database_url": database, "domain": "example.org",
        "base_url": "https://calendar.example.org"}).start()
    try:
        fill(files)
        before = snapshot(files)
    finally:
        files.stop()
    assert files.folder is not None
    source_before = _listing(files.folder)
    moved = run_cli(files.config, "migrate", "--to", "database")
    assert moved.returncode == 0, moved.stderr
    assert _listing(files.folder) == source_before     # nothing written into the source
    # the database now serves item_store = database: a files node (or its reindex, which
    # would overwrite the rows with the files' index) is refused, naming the way out
    refused = run_cli(files.config, "reindex", "--quiet")
    assert refused.returncode == 2
    assert "item_store = database" in refused.stderr and "migrate --to files" in refused.stderr
    assert "moved" in moved.stdout and "objects" in moved.stdout
    assert "item_store = database" in moved.stdout

    on_database = RadicaleServer(tmp_path / "database", folder=tmp_path / "db-folder",
                                 storage_options={"database_url": database,
                                                  "domain": "example.org",
                                                  "base_url": "https://calendar.example.org",
                                                  "item_store": "database"}).start()
    try:
        assert snapshot(on_database) == before
    finally:
        on_database.stop()
    assert run_cli(on_database.config, "verify").returncode == 0
    # nothing another node needs is in the database node's folder
    assert not list((tmp_path / "db-folder").rglob("*.ics"))

    back = run_cli(on_database.config, "migrate", "--to", "files")
    assert back.returncode == 0, back.stderr
    again = RadicaleServer(tmp_path / "again", folder=tmp_path / "db-folder",
                           storage_options={"database_url": database,
                                            "domain": "example.org",
                                            "base_url": "https://calendar.example.org"}
                           ).start()
    try:
        assert snapshot(again) == before
    finally:
        again.stop()
    assert sorted(p.name for p in (tmp_path / "db-folder" / "collection-root" / "alice"
                                   / "work").glob("*.ics")) == [
        "event-%d.ics" % n for n in range(5)]


def test_a_target_with_data_is_refused_naming_it(tmp_path: Path) -> None:
    server = RadicaleServer(tmp_path / "files", storage_options={"domain": "example.org"})
    server.start()
    try:
        fill(server)
    finally:
        server.stop()
    assert run_cli(server.config, "migrate", "--to", "database").returncode == 0
    again = run_cli(server.config, "migrate", "--to", "database")
    assert again.returncode != 0
    assert "already holds calendar data" in again.stderr


def test_a_migration_that_failed_can_be_run_again_once_fixed(tmp_path: Path,
                                                             database: str) -> None:
    """An object Radicale cannot read stops the move, naming it ("fix or remove it, then
    migrate again"); once removed, the move runs again: the database is left as empty
    as it was, never with half the collections that would refuse the next run."""
    server = RadicaleServer(tmp_path / "files", storage_options={
        "domain": "example.org", "database_url": database,
        "base_url": "https://calendar.example.org"})
    server.start()
    try:
        fill(server)
    finally:
        server.stop()
    [work] = [p for p in (tmp_path / "files").rglob("work") if p.parent.name == "bob"]
    broken = work / "broken.ics"
    broken.write_text("BEGIN:VCALENDAR\r\nthis is no calendar\r\n")
    failed = run_cli(server.config, "migrate", "--to", "database")
    assert failed.returncode != 0
    assert "bob/work/broken.ics" in failed.stderr
    broken.unlink()
    again = run_cli(server.config, "migrate", "--to", "database")
    assert again.returncode == 0, again.stderr
    assert "moved 5 collections and 11 objects" in again.stdout
