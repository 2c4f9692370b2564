"""What every HTTP part of the application shares, and the one place it touches
Radicale's application internals.

Each part (``options.py``, ``propfind.py``, ``put.py``, …) is a mixin over
:class:`HttpBase`, as each of Radicale's ``radicale/app/*.py`` is a mixin over its
``ApplicationBase``; ``application.py`` combines them. A part overrides one ``do_*``
method and calls ``super()`` for Radicale's own answer, so the parts never call each
other.

Whether the storage is ours is decided once, here, at construction: :attr:`_tracks` is
the storage when it is radicale-tracks', else None — and then every part answers as
Radicale does (plus what needs no storage of ours: the DAV header, the PROPPATCH of
``schedule-calendar-transp``, the boxes kept out of MOVE, the size limit).

Radicale's private members the parts need (``_storage``, ``_rights``, ``_web``,
``_sharing``, ``_encoding``) are read only in this class, and only through
``plugin/radicale_internals.py``. (The overridden hooks ``_handle_request`` and
``_xml_response``, in ``application.py`` and ``properties.py``, are listed and checked
there too.)
"""

from __future__ import annotations

import io
import logging
import xml.etree.ElementTree as ET
from typing import Any

import defusedxml.ElementTree as DefusedET
from radicale import app as radicale_app
from radicale import config, httputils, types
from radicale.app.base import Access

from radicale_tracks.plugin import radicale_internals as internals
from radicale_tracks.plugin.storage import Storage

#: one log name for every part, the application's as before it was split in parts
logger = logging.getLogger("radicale.tracks.application")


class HttpBase(radicale_app.Application):
    """Radicale's application, knowing once whether its storage is ours."""

    def __init__(self, configuration: config.Configuration) -> None:
        super().__init__(configuration)
        storage = internals.app_storage(self)
        #: the storage when it is ours; None under another ``[storage] type``
        self._tracks: Storage | None = storage if isinstance(storage, Storage) else None
        #: who answers the slot API: the pages' plugin, or — under another ``[web] type``
        #: — one of our own for that path alone, so the slot finder needs no pages
        self._slot_web: Any = None
        if self._tracks is not None:
            web = internals.app_web(self)
            if hasattr(web, "attach"):
                self._slot_web = web   # the pages of radicale_tracks.web
            else:
                from radicale_tracks.web.plugin import Web

                self._slot_web = Web(configuration)
            self._slot_web.attach(self._tracks, internals.app_rights(self))

    # -- Radicale's access checks ----------------------------------------------------

    def _access(self, user: str, user_groups: set[str], path: str,
                permissions: str | None = None) -> Access:
        """Radicale's access check of ``user`` on ``path`` (its ``[rights]``), or with
        a share's ``permissions``."""
        return Access(internals.app_rights(self), user, user_groups, path, permissions)

    def _sharing_enabled(self) -> bool:
        """Whether Radicale's collection sharing is on (its answers then differ from
        ours: we leave them to Radicale)."""
        return internals.sharing_enabled(self)

    def _share_of(self, path: str, user: str, user_groups: set[str]) -> dict[str, Any] | None:
        """The share ``path`` is under for ``user`` (its owner, mapped path and
        permissions), when sharing is on; else None."""
        if not self._sharing_enabled():
            return None
        share: dict[str, Any] | None = internals.app_sharing(self).sharing_collection_resolver(
            path, user, user_groups)
        return share

    def _response_charset(self) -> str:
        """The charset Radicale encodes its answers in (``[encoding] request``)."""
        return internals.app_encoding(self)

    # -- the request body ------------------------------------------------------------

    def _body(self, environ: types.WSGIEnviron) -> bytes | types.WSGIResponse:
        """The request body, or the answer to a body that could not be read."""
        try:
            return httputils.read_raw_request_body(self.configuration, environ)
        except RuntimeError:
            return httputils.BAD_REQUEST
        except TimeoutError:
            return httputils.REQUEST_TIMEOUT

    def _rewound_body(self, environ: types.WSGIEnviron) -> bytes | types.WSGIResponse:
        """The request body, put back for whoever reads it next (Radicale)."""
        raw = self._body(environ)
        if isinstance(raw, bytes):
            put_back(environ, raw)
        return raw

    def _parse(self, raw: bytes, environ: types.WSGIEnviron) -> ET.Element | None:
        """The body as XML, or None when it is not XML (Radicale then answers)."""
        try:
            root: Any = DefusedET.fromstring(
                httputils.decode_request(self.configuration, environ, raw))
        except Exception:
            return None
        return root if isinstance(root, ET.Element) else None


def put_back(environ: types.WSGIEnviron, raw: bytes) -> None:
    """Give Radicale the body again after we read it (WSGI's input reads once)."""
    environ["wsgi.input"] = io.BytesIO(raw)  # type: ignore[index]  # WSGI dict
