"""The scheduling properties (``scheduling_properties.py``) put into the multistatus
Radicale renders for a PROPFIND or a REPORT.

Radicale builds the whole answer and serialises it in ``_xml_response``; the PROPFIND
and REPORT parts name, for the length of Radicale's call, what the request asked for,
and this hook adds our properties to the multistatus just before it is serialised. The
request is held per thread because Radicale's call stack between the two is not ours.
"""

from __future__ import annotations

import contextlib
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

from radicale import xmlutils

from radicale_tracks.plugin.http.base import HttpBase, logger
from radicale_tracks.plugin.http.scheduling_properties import DavRequest, SchedulingProperties

MULTISTATUS = xmlutils.make_clark("D:multistatus")


class PropertiesPart(HttpBase):
    """Adds the scheduling properties to the multistatus of the request being answered."""

    #: the PROPFIND/REPORT being answered on this thread, for ``_xml_response``
    _dav_request = threading.local()

    @contextlib.contextmanager
    def _adding_properties(self, request: DavRequest | None) -> Iterator[None]:
        """Radicale's answer to ``request`` made inside this block gets our properties
        (None: none to add)."""
        self._dav_request.current = request
        try:
            yield
        finally:
            self._dav_request.current = None

    def _xml_response(self, xml_content: ET.Element, request_info: dict[str, Any]) -> bytes:
        request: DavRequest | None = getattr(self._dav_request, "current", None)
        storage = self._tracks
        if request is not None and xml_content.tag == MULTISTATUS and storage is not None:
            self._dav_request.current = None
            try:
                with storage.acquire_lock("r", request.user):
                    SchedulingProperties(storage).augment(xml_content, request)
            except Exception:
                logger.exception("Scheduling properties not added")
        return super()._xml_response(xml_content, request_info)
