"""The inbound processor on Radicale's storage: the ``InboundPorts`` of a delivery.

``deliver`` and ``lmtp`` run outside the server process; they open the same storage
(same folder, same database) and take Radicale's own write lock around each recipient's
delivery — after the mail was read, outside it — so a mail and a client's PUT never
interleave and nobody waits while a big mail is parsed. Writes go through the storage
plugin (indexed in the delivery's transaction) exactly as in the server.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, TypeVar, cast

from sqlalchemy import Connection

from radicale_tracks.core.mail_trust import TrustPolicy
from radicale_tracks.inbound.processor import InboundProcessor
from radicale_tracks.inbound.reading import InboundLimits

if TYPE_CHECKING:
    from radicale_tracks.plugin.storage import Storage
    from radicale_tracks.scheduling.engine import Scheduler
    from radicale_tracks.tracks.assistant import Assistant
    from radicale_tracks.tracks.mailed import AssistantMail

_T = TypeVar("_T")


class StorageInboundPorts:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.book = storage.book
        self._assistant_mail: AssistantMail | None = None

    def write_lock(self, recipient: str) -> AbstractContextManager[None]:
        return cast(AbstractContextManager[None], self.storage.acquire_lock(
            "w", "", path="/.inbound/%s/" % recipient, request="DELIVER"))

    def restartable(self, work: Callable[[], _T]) -> _T:
        return self.storage.restartable(work)

    def begin(self) -> AbstractContextManager[Connection]:
        return self.storage.database.begin()

    def user_exists(self, user: str) -> bool:
        return self.storage.scheduling_calendars.user_exists(user)

    @property
    def scheduler(self) -> Scheduler:
        return self.storage.scheduler

    @property
    def assistant(self) -> Assistant:
        return self.storage.assistant

    @property
    def assistant_mail(self) -> AssistantMail:
        if self._assistant_mail is None:
            from radicale_tracks.tracks.mailed import AssistantMail

            settings = self.storage.settings
            self._assistant_mail = AssistantMail(
                self.storage.assistant,
                lambda connection, user, message: self.storage.scheduler.receive_reply(
                    connection, user, message, self.storage.assistant),
                max_file_bytes=settings.inbound_max_attachment_bytes,
                max_total_bytes=settings.inbound_max_shared_bytes)
        return self._assistant_mail

    def wake_sender(self) -> None:
        if self.storage.sender_thread is not None:
            self.storage.sender_thread.wake()


def open_processor(config_path: str | None, start_sender: bool = False
                   ) -> tuple[Storage, InboundProcessor]:
    """The storage of a config file and a processor on it (for ``deliver``/``lmtp``;
    ``start_sender``: a long-running process sends its answers from a thread)."""
    from radicale_tracks.plugin.backends import open_storage

    storage, settings = open_storage(config_path, start_sender=start_sender)
    policy = TrustPolicy(allowed=settings.inbound_allowed_senders,
                         authserv_ids=settings.inbound_trusted_authserv_ids,
                         trust_unauthenticated=settings.inbound_trust_unauthenticated_senders)
    limits = InboundLimits(
        max_message_bytes=settings.inbound_max_message_bytes,
        max_components=settings.inbound_max_components,
        # never store through mail what a CalDAV PUT would refuse
        max_attendees=min(settings.inbound_max_attendees,
                          settings.max_attendees_per_instance),
        max_instances=settings.inbound_max_instances,
        max_file_bytes=settings.inbound_max_attachment_bytes,
        max_shared_bytes=settings.inbound_max_shared_bytes,
        max_resource_size=storage.put_size_limit,
        max_calendar_bytes=settings.inbound_max_calendar_bytes,
        zones=settings.zone_limits())
    return storage, InboundProcessor(StorageInboundPorts(storage), policy, limits,
                                     clock=_now)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)
