"""A client's PUT made storable: bounded zones, a VTIMEZONE for every TZID, PERIOD RDATEs as
date-times.

Radicale reads a TZID it has no VTIMEZONE for as UTC (Outlook's ``W. Europe Standard
Time``: two hours off in a Berlin July), or — worse — with whatever VTIMEZONE of that
name an earlier request in the same process carried (vobject keeps a process-wide table).
So the zone is resolved before Radicale parses the request, where possible:

- the application (``radicale-tracks serve``) rewrites the request body
  (:func:`repaired_body`, which also writes ``RDATE;VALUE=PERIOD`` as date-times and
  overrides: vobject can neither store nor expand a PERIOD), so Radicale's item, the
  file, the index, the hooks and scheduling all see the resolved object; a zone that
  cannot be resolved is held as a refusal on the request's ``WriteRequest``
  (``write_request.py``) and raised when Radicale gets to store the object — after its
  own access and precondition checks — and answered 403 ``CALDAV:valid-calendar-data``
  naming the TZIDs;
- the storage plugin resolves the client's object again at its first write under the
  PUT's lock (:func:`client_item`, :func:`client_items`): a no-op after the application,
  the whole mechanism for plain ``radicale`` with only the storage plugin, which answers
  Radicale's 400 to a refused upload.

Writes the server makes itself (copies, inbox messages, track calendars) are not touched:
only the first write under the PUT's lock is the client's.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

from radicale import item as radicale_item
from radicale import pathutils

from radicale_tracks.core.periods import periods_as_dates_in_text
from radicale_tracks.core.timezones import UnknownTimezones, define_timezones_in_text
from radicale_tracks.core.zone_limits import UnboundedTimezones, ZoneLimits, bounded_zones_in_text
from radicale_tracks.plugin.track_calendars import item_from_text
from radicale_tracks.plugin.write_request import WriteRequest, active_request

__all__ = ["UnknownTimezones", "UnboundedTimezones", "client_item", "client_items",
           "repaired_body"]


def repaired_body(environ: dict[str, Any], text: str, limits: ZoneLimits) -> bool:
    """Replace the request body by ``text`` made storable; True when it changed.

    First, on the text, VTIMEZONEs whose rules would cost unbounded work are dropped
    (``core/zone_limits``: vobject expands them while it reads the body, before any
    lock; raises :class:`UnboundedTimezones` for a zone nobody can replace). Then every
    TZID gets its VTIMEZONE (``core/timezones.define_timezones``; raises
    :class:`UnknownTimezones`), then PERIOD RDATEs are written as date-times
    (``core/periods.periods_as_dates``). Bodies that need none of it are not parsed. The
    body is sent on as UTF-8 and the request's Content-Type says so, since Radicale
    decodes it by that charset.
    """
    bounded = bounded_zones_in_text(text, limits)
    source = bounded or text
    defined = define_timezones_in_text(source)
    repaired = periods_as_dates_in_text(defined or source) or defined or bounded
    if repaired is None:
        return False
    body = repaired.encode("utf-8")
    media_type = str(environ.get("CONTENT_TYPE", "")).split(";", 1)[0].strip()
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["CONTENT_TYPE"] = "%s; charset=utf-8" % (media_type or "text/calendar")
    return True


def _is_client_write(request: WriteRequest | None) -> bool:
    """True once per PUT: for its first write, which is the client's object."""
    return request is not None and request.take_client_put()


def _defined(request: WriteRequest, collection_path: str, item: radicale_item.Item
             ) -> radicale_item.Item:
    """The item with every TZID defined; the request's held refusal raised, and a
    refusal remembered on the request (the application answers it)."""
    try:
        if request.timezone_refusal is not None:
            raise request.timezone_refusal
        text = define_timezones_in_text(item.serialize())
    except UnknownTimezones as e:
        request.timezones_refused = e
        raise
    if text is None:
        return item
    request.rewritten = True
    return item_from_text(collection_path, text)


def client_item(collection_path: str, item: radicale_item.Item) -> radicale_item.Item:
    """The object a client PUTs, with every TZID defined; other writes as they are."""
    request = active_request()
    if request is None or not _is_client_write(request):
        return item
    return _defined(request, collection_path, item)


def client_items(href: str, items: Iterable[radicale_item.Item] | None
                 ) -> Iterable[radicale_item.Item] | None:
    """The objects of a whole calendar a client PUTs, each with every TZID defined."""
    request = active_request()
    if items is None or request is None or not _is_client_write(request):
        return items
    collection_path = pathutils.strip_path(href)
    return [_defined(request, collection_path, item) for item in items]
