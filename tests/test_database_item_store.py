"""``item_store = database`` answers as Radicale's files do: what a client sees of
sync-collection, items and collections is the same on both item stores. Real servers in
process over HTTP, real SQLite and PostgreSQL."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest
import requests

from helpers import USERS, RadicaleServer, mkcalendar, put

ServerFactory = Callable[..., RadicaleServer]

STORES = ["files", "database"]


def session(user: str) -> requests.Session:
    found = requests.Session()
    found.auth = (user, USERS[user])
    return found


def node(make_server: ServerFactory, database_url: str, store: str) -> RadicaleServer:
    options = dict(database_url=database_url, domain="example.org", outbox_sender="False")
    if store == "database":
        options.update(item_store="database", base_url="https://calendar.example.org")
    return make_server("node-%s" % store, **options)


def sync(client: requests.Session, url: str, token: str = "") -> tuple[str, dict[str, int]]:
    """sync-collection: the new token and per href its status (200 or 404)."""
    body = ('<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:">'
            '<D:sync-token>%s</D:sync-token><D:sync-level>1</D:sync-level>'
            '<D:prop><D:getetag/></D:prop></D:sync-collection>' % token)
    response = client.request("REPORT", url, data=body, timeout=60,
                              headers={"Content-Type": "application/xml"})
    assert response.status_code == 207, response.text
    root = ET.fromstring(response.text)
    found: dict[str, int] = {}
    for answer in root.iter("{DAV:}response"):
        href = answer.findtext("{DAV:}href") or ""
        status = answer.findtext("{DAV:}status") or answer.findtext(
            "{DAV:}propstat/{DAV:}status") or ""
        found[href.rsplit("/", 1)[-1]] = int(status.split()[1])
    return root.findtext("{DAV:}sync-token") or "", found


def invitation(uid: str) -> str:
    return "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", "BEGIN:VEVENT",
        "UID:%s" % uid, "DTSTAMP:20270101T000000Z", "DTSTART:20270301T090000Z",
        "DTEND:20270301T100000Z", "SUMMARY:Review", "ORGANIZER:mailto:alice@example.org",
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:alice@example.org",
        "ATTENDEE;RSVP=TRUE:mailto:bob@example.org",
        "END:VEVENT", "END:VCALENDAR", ""])


@pytest.mark.parametrize("store", STORES)
def test_a_deleted_inbox_message_is_reported_to_a_client_that_synced_before(
        make_server: ServerFactory, database_url: str, store: str) -> None:
    """RFC 6578: a member removed since the client's token is reported (404) — an inbox
    message deleted on one device disappears on the others (the history is forgotten
    only so that an *initial* sync does not list it)."""
    server = node(make_server, database_url, store)
    alice, bob = session("alice"), session("bob")
    for client, user in ((alice, "alice"), (bob, "bob")):
        assert client.request("PROPFIND", server.url + "/%s/" % user, timeout=60,
                              headers={"Depth": "1"}).status_code == 207
    mkcalendar(alice, server.url + "/alice/work/")
    assert put(alice, server.url + "/alice/work/review.ics",
               invitation("review-1")).status_code == 201
    inbox = server.url + "/bob/schedule-inbox/"
    token, members = sync(bob, inbox)
    [message] = [href for href, status in members.items() if status == 200]
    assert bob.delete(inbox + message, timeout=60).status_code in (200, 204)
    _later, changes = sync(bob, inbox, token)
    assert changes == {message: 404}
    _fresh, initial = sync(bob, inbox)
    assert initial == {}


ADDRESS_BOOK = ('<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype>'
                '<D:collection/><C:addressbook/></D:resourcetype></D:prop></D:set></D:mkcol>')
VCARD = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-1\r\nFN:Dana Doe\r\nN:Doe;Dana;;;\r\n"
         "EMAIL:dana@example.net\r\nEND:VCARD\r\n")


@pytest.mark.parametrize("store", STORES)
def test_a_contact_is_served_as_a_vcard(
        make_server: ServerFactory, database_url: str, store: str) -> None:
    """An address book's object is ``text/vcard`` on GET and in PROPFIND, as Radicale
    serves it (CardDAV clients read the type)."""
    server = node(make_server, database_url, store)
    alice = session("alice")
    assert alice.request("MKCOL", server.url + "/alice/book/", data=ADDRESS_BOOK,
                         timeout=60).status_code == 201
    assert alice.put(server.url + "/alice/book/dana.vcf", data=VCARD, timeout=60,
                     headers={"Content-Type": "text/vcard"}).status_code == 201
    got = alice.get(server.url + "/alice/book/dana.vcf", timeout=60)
    assert got.status_code == 200
    assert got.headers["Content-Type"].startswith("text/vcard")
    listed = alice.request("PROPFIND", server.url + "/alice/book/", timeout=60,
                           headers={"Depth": "1"}, data='<?xml version="1.0"?>'
                           '<D:propfind xmlns:D="DAV:"><D:prop><D:getcontenttype/>'
                           '</D:prop></D:propfind>')
    assert listed.status_code == 207
    types = {answer.findtext("{DAV:}href"): answer.findtext(
        "{DAV:}propstat/{DAV:}prop/{DAV:}getcontenttype")
        for answer in ET.fromstring(listed.text).iter("{DAV:}response")}
    assert types["/alice/book/dana.vcf"].startswith("text/vcard")
