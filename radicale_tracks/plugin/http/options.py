"""OPTIONS: Radicale's answer, its DAV header naming RFC 6638's
``calendar-auto-schedule`` (§2) — the server schedules on a client's writes."""

from __future__ import annotations

from typing import Any

from radicale import types

from radicale_tracks.plugin.http.base import HttpBase

AUTO_SCHEDULE = "calendar-auto-schedule"


class OptionsPart(HttpBase):
    """OPTIONS with ``calendar-auto-schedule`` (whatever the storage: the header only
    promises what the storage plugin does on its own)."""

    def do_OPTIONS(self, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
                   user_groups: set[str], request_info: dict[str, Any]
                   ) -> types.WSGIResponse:
        status, headers, answer, xml_request = super().do_OPTIONS(
            environ, base_prefix, path, user, user_groups, request_info)
        return status, with_auto_schedule(headers), answer, xml_request


def with_auto_schedule(headers: types.WSGIResponseHeaders) -> types.WSGIResponseHeaders:
    """The DAV header with RFC 6638's ``calendar-auto-schedule`` (§2)."""
    if isinstance(headers, dict) and "DAV" in headers and AUTO_SCHEDULE not in headers["DAV"]:
        return dict(headers, DAV="%s, %s" % (headers["DAV"], AUTO_SCHEDULE))
    return headers
