"""``[web] type = radicale_tracks.web``: the pages and the JSON API under ``/.web``.

Radicale hands every ``/.web`` request to its web plugin with the user it authenticated
(HTTP Basic, checked by Radicale's own ``[auth]``, so the login is the same as for
CalDAV). This plugin answers:

* ``/.web/`` … the pages (``pages.py``) and ``/.web/api/`` … the JSON API (``api.py``);
  anonymous requests get a Basic challenge;
* ``/.web/static/`` … its own CSS and JavaScript (nothing is loaded from elsewhere);
* ``/.web/index.html``, ``/.web/css/``, ``/.web/js/``: Radicale's own admin UI, unchanged
  (its script finds the server from ``/.web/index.html`` as it does from ``/.web/``).

The services need the storage: ``radicale-tracks serve`` and the WSGI entry point hand it
over (``attach``); under plain ``radicale`` the pages say so and Radicale's UI stays.

Forms are protected against cross-site requests by a token tied to the user (an HMAC
under a secret kept in the database, ``tracks_setting``, so that every node of a shared
database accepts the tokens of the others) and by checking ``Origin`` when the browser
sends one; the JSON API only takes ``application/json`` bodies, which no cross-site form
can send. The secret used to be a file beside the collections (``.tracks-web-secret``):
a node that finds one while the database has none adopts its value, so forms open in
browsers during the upgrade still submit.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from http import client
from typing import TYPE_CHECKING, Any

from radicale import httputils, types, web
from radicale.web.internal import Web as RadicaleWeb

from radicale_tracks.plugin.size_limits import MAX_API_BODY, too_large_json
from radicale_tracks.web.request import BodyTooLarge, Request

if TYPE_CHECKING:
    from radicale import rights as radicale_rights

    from radicale_tracks.plugin.storage import Storage
    from radicale_tracks.web.services import Services

logger = logging.getLogger("radicale.tracks.web")

_RADICALE_UI = ("/.web/index.html", "/.web/css/", "/.web/js/")
SECRET_FILE = ".tracks-web-secret"


class Web(web.BaseWeb):
    """Radicale's web plugin: our pages and API, Radicale's UI beside them."""

    def __init__(self, configuration: Any) -> None:
        super().__init__(configuration)
        self._radicale_ui = RadicaleWeb(configuration)
        self.services: Services | None = None
        self._secret: bytes | None = None
        self._folder = configuration.get("storage", "filesystem_folder")

    def attach(self, storage: Storage, rights: radicale_rights.BaseRights | None) -> None:
        """Called by the application once its storage exists: the form secret is read
        (or made, or adopted from the old file) now, at the start."""
        from radicale_tracks.web.services import Services

        self.services = Services(storage, rights)
        try:
            self._load_secret()
        except Exception:   # the database is down: tried again on the first form
            logger.exception("Form secret not loaded yet")

    # -- Radicale's entry points --------------------------------------------------------

    def get(self, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
            user_groups: set[str], request_info: dict[str, Any]) -> types.WSGIResponse:
        return self._handle("GET", environ, base_prefix, path, user, user_groups,
                            request_info)

    def post(self, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
             user_groups: set[str], request_info: dict[str, Any]) -> types.WSGIResponse:
        return self._handle("POST", environ, base_prefix, path, user, user_groups,
                            request_info)

    def put(self, environ: types.WSGIEnviron, base_prefix: str, path: str, user: str,
            user_groups: set[str], request_info: dict[str, Any]) -> types.WSGIResponse:
        """The API's PUTs (``/.web/api/working-hours``): Radicale's web plugins know only
        GET and POST, so the application's PUT hands these over (``http/put.py``)."""
        return self._handle("PUT", environ, base_prefix, path, user, user_groups,
                            request_info)

    def _handle(self, method: str, environ: types.WSGIEnviron, base_prefix: str, path: str,
                user: str, groups: set[str], request_info: dict[str, Any]
                ) -> types.WSGIResponse:
        if path.startswith(_RADICALE_UI):
            if method == "GET":
                return self._radicale_ui.get(environ, base_prefix, path, user, groups,
                                             request_info)
            return self._radicale_ui.post(environ, base_prefix, path, user, groups,
                                          request_info)
        if path.startswith("/.web/static/"):
            return httputils.serve_resource("radicale_tracks.web", "static", base_prefix,
                                            path, path_prefix="/.web/static",
                                            index_file="")
        from radicale_tracks.web import answers, api, pages

        request = Request(self, environ, base_prefix, path, user, set(groups), method)
        is_api = path.startswith("/.web/api/") or path == "/.web/api"
        from radicale_tracks.web.booking_pages import (
            customer_page,
            is_customer_path,
            is_team_path,
            team_page,
        )

        if is_customer_path(path):   # no account: the signed link is the credential
            try:
                return customer_page(request)
            except BodyTooLarge as e:
                return _plain(client.REQUEST_ENTITY_TOO_LARGE, "The form is %d bytes; "
                              "the limit is %d bytes.\n" % (e.length, MAX_API_BODY))
        if not user:
            return (answers.unauthorized() if is_api else pages.unauthorized(request))
        if self.services is None:
            return pages.not_attached(request)
        try:
            if is_api:
                return api.handle(request)
            if is_team_path(path):
                return team_page(request)
            return pages.handle(request)
        except BodyTooLarge as e:
            if is_api:
                return answers.json_response(client.REQUEST_ENTITY_TOO_LARGE,
                                         too_large_json(e.length, MAX_API_BODY))
            return _plain(client.REQUEST_ENTITY_TOO_LARGE, "The form is %d bytes; the "
                          "limit is %d bytes.\n" % (e.length, MAX_API_BODY))

    # -- form tokens --------------------------------------------------------------------

    def csrf_token(self, user: str) -> str:
        return hmac.new(self._load_secret(), user.encode("utf-8"), hashlib.sha256
                        ).hexdigest()[:40]

    def csrf_ok(self, user: str, token: str) -> bool:
        return hmac.compare_digest(self.csrf_token(user), token or "")

    def _load_secret(self) -> bytes:
        """The secret every node of the database shares (``db/shared_values.py``)."""
        if self._secret is None:
            from radicale_tracks.db.shared_values import WEB_FORM_SECRET, shared_value

            if self.services is None:
                raise RuntimeError("form tokens need the storage (attach)")
            self._secret = bytes.fromhex(shared_value(
                self.services.storage.engine, WEB_FORM_SECRET, self._first_secret))
        return self._secret

    def _first_secret(self) -> str:
        """The secret to propose when the database has none: the old file's value (its
        tokens keep working), else a new random one."""
        path = os.path.join(self._folder, SECRET_FILE)
        try:
            with open(path, "rb") as f:
                old = f.read()
        except FileNotFoundError:
            old = b""
        if old:
            logger.info("Form secret adopted from %s into the database (this version "
                        "no longer reads the file; remove it once no earlier version "
                        "runs)", path)
            return old.hex()
        return secrets.token_bytes(32).hex()


def _plain(status: int, text: str) -> types.WSGIResponse:
    return status, {"Content-Type": "text/plain; charset=utf-8"}, text.encode("utf-8"), None


