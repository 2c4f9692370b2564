"""GET: Schedule-Tag on a scheduling object's answer (RFC 6638 §3.2.10), and the
read-only track feeds under ``/.tracks/feed/``, which Radicale's routing never sees."""

from __future__ import annotations

import re
from http import client
from typing import Any

from radicale import types
from sqlalchemy.exc import SQLAlchemyError

from radicale_tracks.plugin.http.answers import Intermediate, intermediate_plain
from radicale_tracks.plugin.http.base import HttpBase, logger
from radicale_tracks.plugin.schedule_boxes import box_of
from radicale_tracks.plugin.storage import Collection, Storage
from radicale_tracks.tracks.store import track_by_feed_token

FEED_PREFIX = "/.tracks/feed/"
_FEED_TOKEN = re.compile(r"^[0-9a-f]{16,64}$")


class GetPart(HttpBase):
    """GET (and HEAD, which Radicale answers as GET) with Schedule-Tag."""

    def do_GET(self, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
               user_groups: set[str], request_info: dict[str, Any]) -> types.WSGIResponse:
        status, headers, answer, xml_request = super().do_GET(
            environ, base_prefix, path, user, user_groups, request_info)
        storage = self._tracks
        if status == client.OK and isinstance(headers, dict) and storage is not None:
            tag = _schedule_tag(storage, path, user)
            if tag:
                headers = dict(headers, **{"Schedule-Tag": tag})
        return status, headers, answer, xml_request


def _schedule_tag(storage: Storage, path: str, user: str) -> str | None:
    """The Schedule-Tag of the object at ``path``; None for anything else."""
    parts = path.strip("/").split("/")
    if len(parts) != 3 or box_of(path):
        return None
    try:
        with storage.acquire_lock("r", user):
            return storage.schedule_tag_of("%s/%s" % (parts[0], parts[1]), parts[2])
    except Exception:
        logger.exception("Schedule-Tag of %r unknown", path)
        return None


def track_feed(storage: Storage, environ: types.WSGIEnviron, name: str) -> Intermediate:
    """``GET /.tracks/feed/<feed token>.ics``: a track's calendar for subscribers.

    The unguessable token is the credential (members without an account subscribe
    with it from any calendar app); it only ever grants reading that one track.
    """
    method = environ.get("REQUEST_METHOD", "GET").upper()
    token = name[:-4] if name.endswith(".ics") else name
    if method not in ("GET", "HEAD"):
        return intermediate_plain(client.METHOD_NOT_ALLOWED, "read-only feed\n",
                                  [("Allow", "GET, HEAD")])
    if not _FEED_TOKEN.match(token):
        return intermediate_plain(client.NOT_FOUND, "no such feed\n")
    try:
        with storage.database.connect() as connection:
            track = track_by_feed_token(connection, token)
    except SQLAlchemyError:
        logger.exception("Feed lookup failed")
        return intermediate_plain(client.SERVICE_UNAVAILABLE, "try again later\n")
    if track is None:
        return intermediate_plain(client.NOT_FOUND, "no such feed\n")
    with storage.acquire_lock("r", ""):
        collection = next(iter(storage.discover("/%s/%s/" % (
            storage.settings.assistant_principal, track.slug))), None)
        if not isinstance(collection, Collection):
            return intermediate_plain(client.NOT_FOUND, "no such feed\n")
        body = collection.serialize().encode("utf-8")
    logger.info("Feed of track %s served", track.slug)
    return ("200 OK", [("Content-Type", "text/calendar; charset=utf-8"),
                       ("Content-Length", str(len(body))),
                       ("Cache-Control", "private, max-age=300")], [body])
