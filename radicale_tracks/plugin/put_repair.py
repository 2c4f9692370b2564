"""A PUT body carrying ``RDATE;VALUE=PERIOD`` rewritten before Radicale reads it.

Radicale stores through vobject, which cannot write a PERIOD RDATE back: vanilla Radicale
answers such a PUT with 400 and a log line about a tuple. The body is rewritten with
``core/periods.periods_as_dates`` (the same instances as RDATE date-times plus
overrides, as for mail), so the object is stored, indexed and scheduled. Bodies without
the substring ``VALUE=PERIOD`` are not parsed; a body that does not parse is left to
Radicale's own answer.
"""

from __future__ import annotations

import io
import logging
from typing import Any, Mapping, MutableMapping

logger = logging.getLogger("radicale.tracks.put")

_MARK = b"VALUE=PERIOD"


def rewrite_periods(environ: Mapping[str, Any], max_length: int) -> bool:
    """Rewrite the request body in ``environ`` when it holds a PERIOD RDATE; answer
    whether it was rewritten (the stored object then differs from what was sent).

    ``environ`` is the WSGI dict (Radicale types it as a Mapping): changed in place.
    Bodies over ``max_length`` (Radicale's ``max_content_length``) are not read."""
    if not isinstance(environ, MutableMapping):
        return False
    if environ.get("HTTP_CONTENT_ENCODING") or not environ.get("CONTENT_LENGTH"):
        return False
    try:
        length = int(environ["CONTENT_LENGTH"])
    except ValueError:
        return False
    if not 0 < length <= max_length:
        return False  # Radicale refuses it (max_content_length) without reading it
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    if _MARK not in body.upper().replace(b"\r\n ", b"").replace(b"\n ", b""):
        return False
    try:
        from icalendar import Calendar

        from radicale_tracks.core.periods import periods_as_dates

        calendar = Calendar.from_ical(body)
        written = periods_as_dates(calendar)
    except Exception:
        logger.info("PUT body with a PERIOD value does not parse; left to Radicale",
                    exc_info=True)
        return False
    if written is calendar:
        return False
    text = written.to_ical()
    environ["wsgi.input"] = io.BytesIO(text)
    environ["CONTENT_LENGTH"] = str(len(text))
    return True


__all__ = ["rewrite_periods"]
