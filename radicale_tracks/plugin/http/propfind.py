"""PROPFIND: Radicale's answer plus the RFC 6638 scheduling properties, and a user's
inbox and outbox made before their principal is discovered."""

from __future__ import annotations

from typing import Any

from radicale import types

from radicale_tracks.plugin.http.base import logger, put_back
from radicale_tracks.plugin.http.options import with_auto_schedule
from radicale_tracks.plugin.http.properties import PropertiesPart
from radicale_tracks.plugin.http.scheduling_properties import (
    DavRequest,
    requested_props,
    wants_us,
)
from radicale_tracks.plugin.schedule_boxes import ensure_boxes
from radicale_tracks.plugin.storage import Storage


class PropfindPart(PropertiesPart):
    """PROPFIND with the scheduling properties and ``calendar-auto-schedule``."""

    def do_PROPFIND(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                    user: str, user_groups: set[str], request_info: dict[str, Any]
                    ) -> types.WSGIResponse:
        storage = self._tracks
        if storage is None:
            return super().do_PROPFIND(environ, base_prefix, path, user, user_groups,
                                       request_info)
        raw = self._body(environ)
        if not isinstance(raw, bytes):
            return raw
        _ensure_boxes(storage, user, path)
        request = DavRequest(base_prefix, user, requested_props(
            self._parse(raw, environ)) if raw else None)
        put_back(environ, raw)
        with self._adding_properties(request if wants_us(request) else None):
            status, headers, answer, xml_request = super().do_PROPFIND(
                environ, base_prefix, path, user, user_groups, request_info)
        return status, with_auto_schedule(headers), answer, xml_request


def _ensure_boxes(storage: Storage, user: str, path: str) -> None:
    """A user's inbox and outbox exist before their principal is discovered."""
    if not user or not storage.settings.scheduling:
        return
    if user in storage.boxes_ready or user == storage.settings.assistant_principal:
        return
    if path.strip("/").split("/")[0] != user:
        return
    try:
        with storage.acquire_lock("w", user):
            ensure_boxes(storage, user)
    except Exception:
        logger.exception("Scheduling inbox and outbox of %r not created", user)
