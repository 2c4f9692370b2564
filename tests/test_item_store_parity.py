"""The database item store answers as the files one (Radicale's own storage) where
Radicale's own test suite found it did not (``scripts/outside-suites``): a vCard's
Content-Type, ``DELETE /``, objects over a lowered ``max_resource_size``. Each test runs
on both item stores, so it states Radicale's answer and checks the database gives it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from radicale import config as radicale_config

from helpers import PLUGIN, write_config
from inprocess import call_wsgi
from radicale_tracks.plugin.application import Application

ITEM_STORES = ["files", "database"]
SMALL_CARD = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:A\r\nN:A;;;;\r\nEND:VCARD\r\n"
BIG_CARD = ("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c2\r\nFN:B\r\nN:B;;;;\r\nNOTE:%s\r\n"
            "END:VCARD\r\n" % ("x" * 400))
EVENT = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//parity//EN\r\nBEGIN:VEVENT\r\n"
         "UID:e1\r\nDTSTAMP:20270101T000000Z\r\nDTSTART:20270301T100000Z\r\n"
         "DURATION:PT1H\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
ADDRESS_BOOK = ('<?xml version="1.0"?><D:mkcol xmlns:D="DAV:" '
                'xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype>'
                '<D:collection/><CR:addressbook/></D:resourcetype></D:prop></D:set>'
                '</D:mkcol>')
MULTIGET = ('<?xml version="1.0"?><CR:addressbook-multiget xmlns:D="DAV:" '
            'xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop>'
            '<D:href>/alice/contacts/small.vcf</D:href>'
            '<D:href>/alice/contacts/big.vcf</D:href></CR:addressbook-multiget>')
CONTENT_TYPE = ('<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>'
                '<D:getcontenttype/></D:prop></D:propfind>')


class Server:
    """The plugin's application on one folder and database, built again by
    :meth:`restart` with other ``[server]``/``[rights]`` options, as an admin would."""

    def __init__(self, tmp_path: Path, item_store: str, database_url: str) -> None:
        self.tmp_path, self.item_store, self.database_url = tmp_path, item_store, database_url
        self.app: Any = None
        self.restart()

    def restart(self, server: str = "", rights: str = "") -> None:
        self.close()
        config = write_config(
            self.tmp_path / "radicale.conf", self.tmp_path / "collections", PLUGIN, 5232,
            {"database_url": self.database_url, "item_store": self.item_store,
             "base_url": "http://127.0.0.1:5232", "outbox_sender": "False"},
            rights_type="radicale_tracks.rights")
        text = config.read_text().replace("[server]\n", "[server]\n" + server, 1)
        config.write_text(text.replace("[rights]\n", "[rights]\n" + rights, 1))
        self.app = Application(radicale_config.load([(str(config), False)]))

    def close(self) -> None:
        if self.app is not None:
            self.app._storage.close()

    def __call__(self, method: str, path: str, body: str = "", depth: str = "",
                 content_type: str = "text/calendar; charset=utf-8"
                 ) -> tuple[int, dict[str, str], str]:
        headers = {"Depth": depth} if depth else {}
        return call_wsgi(self.app, method, path, "alice", body, content_type, **headers)


@pytest.fixture(params=ITEM_STORES)
def server(request: pytest.FixtureRequest, tmp_path: Path, database_url: str
           ) -> Iterator[Server]:
    made = Server(tmp_path, request.param, database_url)
    yield made
    made.close()


def address_book(server: Server) -> None:
    assert server("MKCOL", "/alice/contacts/", ADDRESS_BOOK,
                  content_type="application/xml")[0] == 201
    for name, card in (("small", SMALL_CARD), ("big", BIG_CARD)):
        assert server("PUT", "/alice/contacts/%s.vcf" % name, card,
                      content_type="text/vcard")[0] == 201


def hrefs(multistatus: str) -> set[str]:
    return {e.text or "" for e in ET.fromstring(multistatus).iter("{DAV:}href")}


def test_a_vcard_is_served_as_text_vcard(server: Server) -> None:
    """A vCard's GET and getcontenttype say text/vcard (the database backend said
    text/calendar: an object's kind was taken from its component, which is empty for a
    vCard)."""
    address_book(server)
    status, headers, _ = server("GET", "/alice/contacts/small.vcf")
    assert status == 200 and headers["Content-Type"].startswith("text/vcard"), headers
    status, _, text = server("PROPFIND", "/alice/contacts/small.vcf", CONTENT_TYPE, "0",
                             content_type="application/xml")
    assert status == 207
    assert ET.fromstring(text).findtext(".//{DAV:}getcontenttype", "").startswith(
        "text/vcard"), text


def test_delete_of_the_root_deletes_every_collection(server: Server, tmp_path: Path
                                                     ) -> None:
    """``DELETE /`` (where the rights allow it) leaves nothing (the database backend
    deleted the collections below a path by its prefix, and the root's is empty)."""
    rules = tmp_path / "rights"
    rules.write_text("[all]\nuser: .+\ncollection: .*\npermissions: RrWw\n")
    server.restart(rights="base = from_file\nfile = %s\n" % rules)
    assert server("MKCALENDAR", "/alice/work/")[0] == 201
    assert server("PUT", "/alice/work/e1.ics", EVENT)[0] == 201
    assert server("DELETE", "/")[0] == 200
    assert server("GET", "/alice/work/")[0] == 404
    assert server("GET", "/alice/work/e1.ics")[0] == 404


def test_objects_over_a_lowered_size_limit(server: Server) -> None:
    """After ``max_resource_size`` is lowered below a stored object, GET and multiget
    leave it out while a Depth 1 PROPFIND still lists it — Radicale's file storage
    (the database backend returned it to multiget)."""
    address_book(server)
    server.restart(server="max_resource_size = 100\n")
    assert server("GET", "/alice/contacts/small.vcf")[0] == 200
    assert server("GET", "/alice/contacts/big.vcf")[0] == 404
    status, _, text = server("REPORT", "/alice/contacts/", MULTIGET, "1",
                             content_type="application/xml")
    assert status == 207
    assert hrefs(text) == {"/alice/contacts/small.vcf"}, text
    status, _, text = server("PROPFIND", "/alice/contacts/", CONTENT_TYPE, "1",
                             content_type="application/xml")
    assert status == 207
    assert {"/alice/contacts/small.vcf", "/alice/contacts/big.vcf"} <= hrefs(text), text
