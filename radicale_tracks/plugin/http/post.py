"""POST: free-busy requests to a user's outbox (RFC 6638 §5, ``outbox_freebusy.py``),
the slot API (``/.web/api/slots``) under any ``[web] type``, and the 308 from its former
path ``/.tracks/api/slots``. Other POSTs are Radicale's (its web plugin, sharing)."""

from __future__ import annotations

import datetime
from http import client
from typing import Any

from radicale import httputils, types

from radicale_tracks.plugin.http.answers import json_answer
from radicale_tracks.plugin.http.base import HttpBase
from radicale_tracks.plugin.http.outbox_freebusy import freebusy_post
from radicale_tracks.plugin.schedule_boxes import OUTBOX, box_of

API_PREFIX = "/.tracks/api/"
WEB_API_PREFIX = "/.web/api"
SLOTS_API = WEB_API_PREFIX + "/slots"


class PostPart(HttpBase):
    """POST to an outbox, to the slot API, to the former slot path."""

    def do_POST(self, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
                user_groups: set[str], request_info: dict[str, Any]) -> types.WSGIResponse:
        box = box_of(path)
        storage = self._tracks
        if path.startswith(API_PREFIX):
            return _moved_api(base_prefix, path)
        if path.rstrip("/") == SLOTS_API and self._slot_web is not None:
            answer: types.WSGIResponse = self._slot_web.post(
                environ, base_prefix, path, user, user_groups, request_info)
            return answer
        if box is None or storage is None:
            return super().do_POST(environ, base_prefix, path, user, user_groups,
                                   request_info)
        owner, name = box
        if name != OUTBOX or path.strip("/") != "%s/%s" % (owner, OUTBOX):
            return httputils.METHOD_NOT_ALLOWED
        if not user or owner != user:
            return httputils.NOT_ALLOWED
        raw = self._body(environ)
        if not isinstance(raw, bytes):
            return raw
        max_occurrence = self.configuration.get("reporting", "max_freebusy_occurrence")
        with storage.acquire_lock("r", user):
            status, headers, body = freebusy_post(
                storage, raw, environ.get("CONTENT_TYPE", ""), user, max_occurrence,
                datetime.datetime.now(datetime.UTC))
        return status, headers, body, None


def _moved_api(base_prefix: str, path: str) -> types.WSGIResponse:
    """``POST /.tracks/api/slots`` moved to ``/.web/api/slots`` (docs/web-api.yaml), which
    takes the same question: 308 keeps the method and the body, so a client that follows
    redirects keeps working for this release. Anything else under the prefix is 404."""
    if path.rstrip("/") != API_PREFIX + "slots":
        return json_answer(client.NOT_FOUND, {"error": "no such API: %s" % path})
    location = base_prefix + SLOTS_API
    return json_answer(client.PERMANENT_REDIRECT, {"moved_to": location},
                       [("Location", location)])
