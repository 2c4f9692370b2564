"""The JSON answers every part of the API gives: JSON bodies, errors, the Basic
challenge, a slot list (apart from ``api.py``, so the API's parts import them without
importing each other)."""

from __future__ import annotations

import json
from http import client
from typing import Any

from radicale import types

from radicale_tracks.core.slot_report import report_json
from radicale_tracks.web.services import SlotList


def unauthorized() -> types.WSGIResponse:
    status, headers, body, xml = json_response(
        client.UNAUTHORIZED, {"error": "log in with your calendar account"})
    return status, dict(headers, **{
        "WWW-Authenticate": 'Basic realm="Radicale", charset="UTF-8"'}), body, xml


def json_response(status: int, body: Any) -> types.WSGIResponse:
    data = json.dumps(body, indent=1, ensure_ascii=False).encode("utf-8")
    return status, {"Content-Type": "application/json; charset=utf-8",
                    "Cache-Control": "no-store"}, data, None


def error(status: int, message: str, **extra: Any) -> types.WSGIResponse:
    return json_response(status, dict(error=message, **extra))


def slot_json(found: SlotList) -> dict[str, Any]:
    return dict(report_json(found.result, found.zone, found.names, found.estimates),
                window={"start": found.start.isoformat(), "end": found.end.isoformat()})
