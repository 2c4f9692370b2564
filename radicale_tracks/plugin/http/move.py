"""MOVE: nothing moves into or out of a schedule inbox or outbox (the server writes
them; RFC 6638 §2.1, §2.2), whatever the storage. Everything else is Radicale's."""

from __future__ import annotations

from typing import Any

from radicale import httputils, types

from radicale_tracks.plugin.http.base import HttpBase
from radicale_tracks.plugin.schedule_boxes import INBOX, OUTBOX, box_of


class MovePart(HttpBase):
    """MOVE with the boxes kept out."""

    def do_MOVE(self, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
                user_groups: set[str], request_info: dict[str, Any]) -> types.WSGIResponse:
        destination = environ.get("HTTP_DESTINATION", "")
        if box_of(path) is not None or "/%s/" % INBOX in destination or (
                "/%s/" % OUTBOX in destination):
            return httputils.NOT_ALLOWED
        return super().do_MOVE(environ, base_prefix, path, user, user_groups, request_info)
