"""Radicale's own size limits, applied to every path the plugin adds.

Radicale bounds a request body by ``[server] max_content_length`` (413, checked only by
its own built-in server, before the body is read) and a stored object by
``[server] max_resource_size`` (a PUT of a larger one is refused; the storage skips larger
files when reading). Our application, pages, API, outbox POST and inbound mail must not
take more: a body is refused from its Content-Length before it is read, and an object
the server writes itself (a copy for an attendee, a room or a track, an inbox message, a
mail) is refused before it is stored, measured as Radicale measures a PUT's object.
"""

from __future__ import annotations

from typing import Any

from radicale import item as radicale_item

from radicale_tracks.errors import ResourceTooLarge

#: radicale.app caps max_resource_size at this share of max_content_length
_RESOURCE_SHARE_OF_CONTENT = 0.8

#: largest JSON or form body of our pages and APIs (``/.web/``): what
#: they take is a few fields; ``max_content_length`` still applies when it is smaller
MAX_API_BODY = 64 * 1024


def put_size_limit(configuration: Any) -> int:
    """The largest object (serialized characters) Radicale's PUT stores, capped as
    ``radicale.app.Application`` caps it."""
    resource = int(configuration.get("server", "max_resource_size"))
    content = int(configuration.get("server", "max_content_length"))
    return min(resource, int(content * _RESOURCE_SHARE_OF_CONTENT))


def body_limit(configuration: Any) -> int:
    """The largest request body Radicale takes (``[server] max_content_length``)."""
    return int(configuration.get("server", "max_content_length"))


def declared_length(environ: dict[str, Any]) -> int:
    """The request's Content-Length (0 when absent or unreadable: WSGI then gives no
    body, which is what Radicale reads too)."""
    try:
        return max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0


def too_large_json(length: int, limit: int) -> dict[str, Any]:
    """The JSON error of a body over ``limit``: names the limit, as every API error
    names what is wrong."""
    return {"error": "the request body is %d bytes; the limit is %d bytes" % (
        length, limit), "limit": limit}


def check_object_size(item: radicale_item.Item, limit: int) -> None:
    """Raise :class:`ResourceTooLarge` for an object a PUT could not store."""
    size = len(item.serialize())
    if size > limit:
        raise ResourceTooLarge(size, limit)


__all__ = ["MAX_API_BODY", "body_limit", "check_object_size", "declared_length",
           "put_size_limit", "too_large_json"]
