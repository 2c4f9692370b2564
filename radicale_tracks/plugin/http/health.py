"""``GET /.tracks/health``: whether this node may take requests, for load balancers.

Answered before Radicale's routing (no authentication: a load balancer has no account)
with JSON that says nothing about users, addresses or URLs: the status, why, the
database's reachability and schema revision, the outbox's backlog and the item store.
200 when the database is reachable at the schema this code needs (``ok``, or
``degraded`` when mail is not flowing), 503 otherwise. It takes no storage lock
(``db/health.py``): a node busy with a long write is not a dead one.
"""

from __future__ import annotations

import json
import time
from http import client

from radicale import types

from radicale_tracks.db.health import check
from radicale_tracks.plugin.http.answers import Intermediate, intermediate_plain
from radicale_tracks.plugin.storage import Storage

HEALTH_PATH = "/.tracks/health"


def health(storage: Storage, environ: types.WSGIEnviron) -> Intermediate:
    method = environ.get("REQUEST_METHOD", "GET").upper()
    if method not in ("GET", "HEAD"):
        return intermediate_plain(client.METHOD_NOT_ALLOWED, "GET or HEAD\n",
                                  [("Allow", "GET, HEAD")])
    settings = storage.settings
    thread = storage.sender_thread
    report = check(storage.engine, settings.item_store, int(time.time()),
                   settings.outbox_poll_interval,
                   None if thread is None else thread.is_alive())
    body = (json.dumps(report.as_json(), indent=2, sort_keys=True) + "\n").encode()
    status = "%d %s" % (report.http_status, client.responses[report.http_status])
    return (status, [("Content-Type", "application/json"),
                     ("Content-Length", str(len(body))),
                     ("Cache-Control", "no-store")], [b"" if method == "HEAD" else body])
