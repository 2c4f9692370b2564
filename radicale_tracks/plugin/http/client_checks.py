"""The checks of a client's PUT or DELETE handed to the storage, which makes them under
its write lock (a tag compared before it would let two writers with one tag both pass).

If-Schedule-Tag-Match (RFC 6638 §3.2.10) — 412 unless it names the object's current
tag, a match merges the server's inconsequential changes — and an attendee naming
another ORGANIZER (403, §3.2.2.1). Only an object can match: 412 at once for anything
else.
"""

from __future__ import annotations

from radicale import httputils, types

from radicale_tracks.plugin.http.base import logger
from radicale_tracks.plugin.schedule_boxes import box_of
from radicale_tracks.plugin.write_request import ClientChecks, current_request


def hand_client_checks(environ: types.WSGIEnviron, path: str) -> types.WSGIResponse | None:
    """Tell the storage (this request's ``WriteRequest``) what to check of its write;
    the 412 of a tag asked of something that is no scheduling object, else None."""
    wanted = environ.get("HTTP_IF_SCHEDULE_TAG_MATCH")
    if wanted is not None and (len(path.strip("/").split("/")) != 3 or box_of(path)):
        logger.info("If-Schedule-Tag-Match %s failed on %r: no scheduling object",
                    wanted, path)
        return httputils.PRECONDITION_FAILED
    current_request().checks = ClientChecks(
        schedule_tag=wanted.strip() if wanted is not None else None)
    return None
