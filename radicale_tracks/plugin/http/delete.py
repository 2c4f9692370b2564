"""DELETE: a user removes their own inbox messages (RFC 6638 §2.1: DAV:unbind) and
nothing else of the boxes; an object's delete carries If-Schedule-Tag-Match and the
attendee check to the storage, which schedules the cancellation or the decline."""

from __future__ import annotations

from http import client
from typing import Any

from radicale import httputils, types

from radicale_tracks.errors import WriteRefused
from radicale_tracks.plugin.http.answers import refused_write
from radicale_tracks.plugin.http.base import HttpBase
from radicale_tracks.plugin.http.client_checks import hand_client_checks
from radicale_tracks.plugin.schedule_boxes import INBOX, box_of, remove_message
from radicale_tracks.plugin.storage import Collection, Storage


class DeletePart(HttpBase):
    """DELETE of inbox messages, and of objects with the client's checks."""

    def do_DELETE(self, environ: types.WSGIEnviron, base_prefix: str, path: str,
                  user: str, user_groups: set[str], request_info: dict[str, Any]
                  ) -> types.WSGIResponse:
        storage = self._tracks
        if storage is None:
            return super().do_DELETE(environ, base_prefix, path, user, user_groups,
                                     request_info)
        box = box_of(path)
        if box is not None:
            return _delete_from_box(storage, box, path, user)
        refused = hand_client_checks(environ, path)
        if refused is not None:
            return refused
        try:
            return super().do_DELETE(environ, base_prefix, path, user, user_groups,
                                     request_info)
        except WriteRefused as e:
            return refused_write("DELETE", path, e)


def _delete_from_box(storage: Storage, box: tuple[str, str], path: str,
                     user: str) -> types.WSGIResponse:
    """Users delete their own inbox messages; the boxes themselves stay."""
    owner, name = box
    parts = path.strip("/").split("/")
    if not user or owner != user or name != INBOX or len(parts) != 3:
        return httputils.NOT_ALLOWED
    with storage.acquire_lock("w", user):
        inbox = next(iter(storage.discover("/%s/%s/" % (owner, INBOX))), None)
        if not isinstance(inbox, Collection) or inbox.item(parts[2], verify_href=True) is None:
            return httputils.NOT_FOUND
        remove_message(inbox, parts[2])
    return client.NO_CONTENT, {}, None, None
