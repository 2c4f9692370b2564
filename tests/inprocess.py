"""A real Radicale with the plugin in the test process: called through WSGI, or served
over HTTP by a thread.

For tests where a server process adds nothing: no process start, no imports per server,
the storage, its database and its settings are at hand, and a test can count what a
request makes the server do. ``call_wsgi``/``InProcessServer`` call the application the
way a WSGI server does; ``ThreadedServer`` serves it on 127.0.0.1 for HTTP clients
(``requests``, ``caldav``) and for the CLI and ``deliver`` processes, which read its
config file.
"""

from __future__ import annotations

import base64
import io
import json
import select
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from radicale import config as radicale_config
from radicale.app import Application as RadicaleApplication
from radicale.server import ParallelHTTPServer, RequestHandler
from sqlalchemy import func
from sqlalchemy import select as sql_select

from helpers import PLUGIN, USERS, RadicaleServer, write_config
from radicale_tracks.outbox.schema import outbox
from radicale_tracks.plugin.application import Application


class Unread(io.BytesIO):
    """A request body that fails the test if anything reads it."""

    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("the over-limit body was read")

    readline = read


def call_wsgi(app: Any, method: str, path: str, user: str, body: str | bytes = "",
              content_type: str = "text/calendar; charset=utf-8",
              length: int | None = None, **headers: str) -> tuple[int, dict[str, str], str]:
    """One request to a WSGI ``app`` as ``user`` (Basic), the way a WSGI server calls it:
    (status, headers, body as text). ``headers`` are HTTP headers, ``If-Match=…``.
    ``length`` set: that Content-Length is declared and the body must stay unread."""
    raw = body.encode() if isinstance(body, str) else body
    token = base64.b64encode(("%s:%s" % (user, USERS[user])).encode()).decode()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method, "PATH_INFO": path, "SCRIPT_NAME": "",
        "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "5232",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http", "wsgi.errors": io.StringIO(),
        "wsgi.input": Unread() if length is not None else io.BytesIO(raw),
        "CONTENT_LENGTH": str(length if length is not None else len(raw)),
        "CONTENT_TYPE": content_type, "HTTP_AUTHORIZATION": "Basic " + token,
        "HTTP_HOST": "127.0.0.1:5232"}
    environ.update({"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()})
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(response_headers)

    text = b"".join(app(environ, start_response)).decode("utf-8", "replace")
    return answer["status"], answer["headers"], text


def leftovers(storage: Any = None) -> dict[str, Any]:
    """What the last request told the storage on this thread and is still there: a pooled
    WSGI thread serves another user next, so every answer must leave nothing — no
    request value entered (``plugin/write_request.py``), nothing set on one. ``storage``
    is not needed any more (the request value is the one place) and kept for callers."""
    from radicale_tracks.plugin.write_request import active_request

    request = active_request()
    if request is None:
        return {}
    return dict(request.left_over(), entered=True)


class InProcess:
    """The WSGI application, called the way a threaded WSGI server calls it."""

    def __init__(self, tmp_path: Path, database_url: str) -> None:
        path = write_config(tmp_path / "radicale.conf", tmp_path / "collections", PLUGIN,
                            5232, {"database_url": database_url, "domain": "example.org"},
                            rights_type="radicale_tracks.rights")
        configuration = radicale_config.load([(str(path), False)])
        self.app = Application(configuration)

    def __call__(self, method: str, path: str, user: str, body: str = "",
                 **headers: str) -> tuple[int, dict[str, str], str]:
        # ``headers`` may carry call_wsgi's content_type too (a JSON body)
        return call_wsgi(self.app, method, path, user, body,
                         **headers)  # type: ignore[arg-type]

    def leftovers(self) -> dict[str, Any]:
        return leftovers(self.app._storage)


class InProcessServer:
    """``Application`` on a fresh folder; ``outbox_sender`` off, so mail stays queued."""

    def __init__(self, tmp_path: Path, database_url: str, web: bool = False,
                 server: dict[str, int] | None = None, **options: str) -> None:
        """``server``: options of Radicale's ``[server]`` section (its size limits)."""
        self.config = write_config(
            tmp_path / "radicale.conf", tmp_path / "collections", PLUGIN, 5232,
            {"database_url": database_url, "domain": "example.org", "outbox_sender": "False",
             **options}, rights_type="radicale_tracks.rights",
            web_type="radicale_tracks.web" if web else "")
        if server:
            self.config.write_text(self.config.read_text().replace("[server]\n", "".join(
                ["[server]\n", *("%s = %s\n" % kv for kv in server.items())]), 1))
        self.app: Any = Application(radicale_config.load([(str(self.config), False)]))

    @property
    def storage(self) -> Any:
        return self.app._storage

    def __call__(self, method: str, path: str, user: str, body: str | bytes = "",
                 content_type: str = "text/calendar; charset=utf-8",
                 length: int | None = None, **headers: str
                 ) -> tuple[int, dict[str, str], str]:
        return call_wsgi(self.app, method, path, user, body, content_type, length,
                         **headers)

    def post_json(self, path: str, user: str, data: Any) -> tuple[int, Any]:
        status, _, text = self("POST", path, user, json.dumps(data),
                               content_type="application/json")
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def mails(self) -> int:
        """Rows in the outbox (nothing is sent: ``outbox_sender`` is off)."""
        with self.storage.database.connect() as connection:
            return int(connection.execute(sql_select(func.count()).select_from(outbox)).scalar())


class _ThreadedHTTPServer(ParallelHTTPServer):
    """Radicale's own threaded HTTP server, run by :meth:`serve_forever` in a thread.

    Radicale's ``serve`` loop closes the socket pair it opens per connection once the
    connection's thread is done; ``serve_forever`` calls :meth:`service_actions`
    instead, which does the same here, so a long test does not run out of files.
    """

    def service_actions(self) -> None:
        super().service_actions()
        if self.worker_sockets:
            finished, _, _ = select.select(list(self.worker_sockets), [], [], 0)
            for worker_socket in finished:
                worker_socket.close()
                self.worker_sockets.discard(worker_socket)


@dataclass
class ThreadedServer(RadicaleServer):
    """The same server as :class:`helpers.RadicaleServer` (its config file, folder,
    port, sessions and CLI), served over HTTP by a thread of the test process.

    Radicale's request handler and threaded server with the application class
    ``radicale-tracks serve`` runs (plain Radicale's for ``launcher="radicale"``): the
    server needs no process start and no imports, and a test reaches its storage.
    ``stop`` ends the outbox sender and closes the socket, as ending the process
    would; ``start`` again builds a new application on the same port and files, as a
    restart does. Where the process itself matters (``env``, kill -9, a configuration
    that must make it exit) use :class:`helpers.RadicaleServer`.
    """

    app: Any = None
    httpd: _ThreadedHTTPServer | None = None
    thread: threading.Thread | None = None

    def start(self, timeout: float = 30.0) -> ThreadedServer:
        if self.env:
            raise ValueError("environment variables need a process: use RadicaleServer")
        configuration = radicale_config.load([(str(self.config), False)])
        configuration.update({"server": {"_internal_server": "True"}}, "server",
                             privileged=True)
        application = Application if self.launcher == "tracks" else RadicaleApplication
        self.app = application(configuration)
        self.httpd = _ThreadedHTTPServer(configuration, socket.AF_INET,
                                         ("127.0.0.1", self.port), RequestHandler)
        self.httpd.set_app(self.app)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       name="radicale-%d" % self.port, daemon=True)
        self.thread.start()
        return self

    @property
    def storage(self) -> Any:
        return self.app._storage

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        if self.thread is not None:
            self.thread.join(10)
            self.thread = None
        if self.app is not None:
            close = getattr(self.app._storage, "close", None)
            if close is not None:
                close(10)     # its outbox sender, which the sharing storage shares
            self.app = None
