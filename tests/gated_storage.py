"""``[storage] type = gated_storage``: the product's storage with two controls for tests.

Races between writers are decided by the order in which they reach the storage's write
lock. To make one race happen every time rather than now and then, a test sets ``gate``
(a :class:`threading.Barrier`): every PUT and DELETE then waits there, after all its
checks made before the lock and before taking the lock, until the other writers arrived.
``frozen_now`` pins the scheduling engine's clock: writes "within one second" happen
every time, however slow the machine. Nothing else differs from
``radicale_tracks.storage``.
"""

from __future__ import annotations

import contextlib
import datetime
import threading
from collections.abc import Iterator
from typing import Any

from radicale_tracks.plugin.storage import Collection
from radicale_tracks.plugin.storage import Storage as _Storage
from radicale_tracks.settings import PLUGIN_CONFIG_SCHEMA

__all__ = ["Collection", "PLUGIN_CONFIG_SCHEMA", "Storage"]


class Storage(_Storage):
    gate: threading.Barrier | None = None
    frozen_now: datetime.datetime | None = None

    @contextlib.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args: Any,
                     **kwargs: Any) -> Iterator[None]:
        gate = self.gate
        if gate is not None and mode == "w" and kwargs.get("request") in ("PUT", "DELETE"):
            gate.wait()  # the barrier's timeout bounds a test that goes wrong
        with super().acquire_lock(mode, user, *args, **kwargs):
            yield

    @property
    def scheduler(self) -> Any:
        scheduler = super().scheduler
        frozen = self.frozen_now
        if frozen is not None:
            scheduler.clock = lambda: frozen
        return scheduler
