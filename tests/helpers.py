"""Test harness: real Radicale servers on 127.0.0.1, raw HTTP, answer normalisation."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

USERS = {"alice": "alice-secret", "bob": "bob-secret", "carol": "carol-secret"}
PLUGIN = "radicale_tracks.storage"
VANILLA = "multifilesystem"
#: ``database`` runs every plugin server of the tests with ``item_store = database``
ITEM_STORE_VARIABLE = "TRACKS_TEST_ITEM_STORE"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(path: Path, folder: Path, storage_type: str, port: int,
                 storage_options: dict[str, str] | None = None,
                 rights_type: str = "owner_only", web_type: str = "",
                 users: dict[str, str] | None = None) -> Path:
    """A Radicale config at ``path`` and its htpasswd file beside it (``users``: name to
    password, alice, bob and carol by default; a bench adds its own clients)."""
    users_file = path.parent / "users"
    users_file.write_text("".join("%s:%s\n" % kv for kv in (users or USERS).items()))
    # Radicale answers a refused login (401, 403) and a 5xx a second late by default, to
    # slow down password guessing: a test server answers at once (clients such as
    # ``caldav`` first ask without credentials, so every new client met it)
    lines = [
        "[server]", "hosts = 127.0.0.1:%d" % port, "delay_on_error = 0", "",
        "[auth]", "type = htpasswd", "htpasswd_filename = %s" % users_file,
        "htpasswd_encryption = plain", "delay = 0", "",
        "[rights]", "type = %s" % rights_type, "",
        "[storage]", "type = %s" % storage_type, "filesystem_folder = %s" % folder,
    ]
    options = dict(storage_options or {})
    if storage_type == PLUGIN and os.environ.get(ITEM_STORE_VARIABLE):
        # the suite again with calendar data in the database (make test runs both)
        options.setdefault("item_store", os.environ[ITEM_STORE_VARIABLE])
        # a database node on PostgreSQL must be told its public address
        options.setdefault("base_url", "http://127.0.0.1:%d" % port)
    for key, value in options.items():
        lines.append("%s = %s" % (key, value))
    if web_type:
        lines += ["", "[web]", "type = %s" % web_type]
    level = os.environ.get("TRACKS_TEST_LOG_LEVEL", "warning")
    lines += ["", "[logging]", "level = %s" % level, ""]
    path.write_text("\n".join(lines))
    return path


@dataclass
class RadicaleServer:
    """``python -m radicale`` in a subprocess, as an admin would run it."""

    workdir: Path
    storage_type: str = PLUGIN
    storage_options: dict[str, str] = field(default_factory=dict)
    folder: Path | None = None
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    #: "tracks" runs ``radicale-tracks serve`` (the product), "radicale" plain Radicale
    launcher: str = ""
    rights_type: str = "owner_only"
    #: "radicale_tracks.web" for the pages and their API under /.web
    web_type: str = ""
    #: environment variables added for the process (the test-only crash points)
    env: dict[str, str] = field(default_factory=dict)
    #: the htpasswd users (name to password): alice, bob and carol unless a bench adds more
    users: dict[str, str] = field(default_factory=lambda: dict(USERS))

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.folder = self.folder or self.workdir / "collections"
        self.port = free_port()
        self.config = write_config(self.workdir / "radicale.conf", self.folder,
                                   self.storage_type, self.port, self.storage_options,
                                   self.rights_type, self.web_type, self.users)
        self.log = self.workdir / "server.log"
        if not self.launcher:
            self.launcher = "tracks" if self.storage_type == PLUGIN else "radicale"

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def start(self, timeout: float = 30.0) -> RadicaleServer:
        log = open(self.log, "ab")
        if self.launcher == "tracks":
            command = [sys.executable, "-m", "radicale_tracks.cli", "--config",
                       str(self.config), "serve"]
        else:
            command = [sys.executable, "-m", "radicale", "--config", str(self.config)]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                        cwd=self.workdir, env={**os.environ, **self.env})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("radicale exited with %s:\n%s" % (
                    self.process.returncode, self.log.read_text()))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("radicale did not listen within %ss" % timeout)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def session(self, user: str = "alice") -> requests.Session:
        session = requests.Session()
        session.auth = (user, self.users[user])
        return session

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(self.config, *args)


def run_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "radicale_tracks.cli", "--config", str(config), *args],
        capture_output=True, text=True, timeout=300)


# -- answers ------------------------------------------------------------------

_VOLATILE_ICAL = re.compile(r"^(DTSTAMP|PRODID):.*$", re.M)


def normalize_ical(text: str) -> str:
    """Calendar text without the lines that differ between two honest servers."""
    return _VOLATILE_ICAL.sub("", text.replace("\r\n", "\n"))


def normalize_multistatus(text: str, drop: tuple[str, ...] = ("sync-token",)) -> Any:
    """A multistatus as a sorted structure: response order is not meaningful."""
    root = ET.fromstring(text)
    if os.environ.get(ITEM_STORE_VARIABLE) == "database":
        # a collection's ETag hashes its objects in the order the backend lists them:
        # a folder's order on disk, href order in the database (opaque either way)
        for response in root.iter("{DAV:}response"):
            if (response.findtext("{DAV:}href") or "").endswith("/"):
                for prop in response.iter("{DAV:}prop"):
                    for etag in prop.findall("{DAV:}getetag"):
                        etag.text = "collection-etag"

    def canon(element: ET.Element) -> Any:
        tag = element.tag.split("}")[-1]
        if tag in drop:
            return (tag,)
        body = (element.text or "").strip()
        if tag == "calendar-data":
            body = normalize_ical(body)
        children = sorted((canon(child) for child in element), key=repr)
        return (tag, body, tuple(children))

    return canon(root)


def response_hrefs(text: str) -> list[str]:
    """The hrefs of a multistatus, in answer order."""
    return [e.text or "" for e in ET.fromstring(text).iter("{DAV:}href")]


def report(session: requests.Session, url: str, body: str, depth: str = "1"
           ) -> requests.Response:
    return session.request("REPORT", url, data=body.encode(), headers={
        "Depth": depth, "Content-Type": "application/xml; charset=utf-8"})


def calendar_query(start: str, end: str, component: str = "VEVENT",
                   expand: bool = False, extra_filter: str = "") -> str:
    expand_xml = '<C:expand start="%s" end="%s"/>' % (start, end) if expand else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        '<D:prop><D:getetag/><C:calendar-data>%s</C:calendar-data></D:prop>'
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="%s">'
        '<C:time-range start="%s" end="%s"/>%s'
        '</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>'
        % (expand_xml, component, start, end, extra_filter))


def free_busy_query(start: str, end: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>'
            '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
            '<C:time-range start="%s" end="%s"/></C:free-busy-query>' % (start, end))


def mkcalendar(session: requests.Session, url: str) -> None:
    response = session.request("MKCALENDAR", url)
    assert response.status_code == 201, (response.status_code, response.text)


def put(session: requests.Session, url: str, text: str, **headers: str) -> requests.Response:
    return session.put(url, data=text.encode(), headers={
        "Content-Type": "text/calendar; charset=utf-8", **headers})


def postgres_admin_url() -> str | None:
    return os.environ.get("TRACKS_TEST_DATABASE_URL") or None


def stored_texts(server: Any, collection: str) -> list[str]:
    """The texts of the objects stored in ``collection`` (``alice/work``), read behind
    the server's back: its files, or its rows when the test runs in database mode."""
    if os.environ.get(ITEM_STORE_VARIABLE) == "database":
        from sqlalchemy import create_engine, text

        from radicale_tracks.settings import load_settings

        _configuration, settings = load_settings(str(server.config))
        engine = create_engine(settings.database_url)
        try:
            with engine.connect() as connection:
                return [row[0] for row in connection.execute(text(
                    "SELECT i.text FROM tracks_item i JOIN tracks_collection c"
                    " ON c.id = i.collection_id WHERE c.path = :path"),
                    {"path": collection})]
        finally:
            engine.dispose()
    folder = Path(server.folder) / "collection-root" / collection
    return [p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.ics"))]
