"""One request to the pages or the API (``web/pages.py``, ``web/api.py``), apart from
the plugin that makes it (``web/plugin.py``), so the handlers need not import the plugin
and the plugin imports the handlers without a circle."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, urlsplit

from radicale import types

from radicale_tracks.plugin.size_limits import MAX_API_BODY, declared_length

if TYPE_CHECKING:
    from radicale_tracks.web.services import Services


class Site(Protocol):
    """What a request needs of the web plugin (``web.plugin.Web``)."""

    services: Services | None

    def csrf_token(self, user: str) -> str: ...

    def csrf_ok(self, user: str, token: str) -> bool: ...


class Request:
    """One request to the pages or the API, with what every handler needs."""

    def __init__(self, plugin: Site, environ: types.WSGIEnviron, base_prefix: str,
                 path: str, user: str, groups: set[str], method: str) -> None:
        self.plugin = plugin
        self.environ = environ
        self.base_prefix = base_prefix
        self.path = path
        self.user = user
        self.groups = groups
        self.method = method
        self.query = parse_qs(environ.get("QUERY_STRING", ""))
        self._body: bytes | None = None

    @property
    def services(self) -> Services:
        services = self.plugin.services
        assert services is not None
        return services

    def url(self, path: str) -> str:
        return "%s/.web/%s" % (self.base_prefix, path.lstrip("/"))

    def body(self) -> bytes:
        """The form or JSON body, refused from its Content-Length before it is read
        when above ``MAX_API_BODY`` (``max_content_length`` was checked before)."""
        if self._body is None:
            length = declared_length(self.environ)  # type: ignore[arg-type]  # WSGI dict
            if length > MAX_API_BODY:
                raise BodyTooLarge(length)
            self._body = self.environ["wsgi.input"].read(length) if length else b""
        return self._body

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body().decode("utf-8", "replace"), keep_blank_values=True)

    def json(self) -> Any:
        return json.loads(self.body() or b"{}")

    def csrf_token(self) -> str:
        return self.plugin.csrf_token(self.user)

    def same_origin(self) -> bool:
        """False when the browser says the request comes from another site."""
        origin = self.environ.get("HTTP_ORIGIN")
        if origin and origin != "null":
            host = self.environ.get("HTTP_X_FORWARDED_HOST") or self.environ.get(
                "HTTP_HOST", "")
            if urlsplit(origin).netloc != host:
                return False
        site = self.environ.get("HTTP_SEC_FETCH_SITE")
        return site in (None, "", "same-origin", "none")


class BodyTooLarge(Exception):
    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length
