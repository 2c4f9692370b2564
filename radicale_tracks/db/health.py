"""What a load balancer asks a node: may it take requests, and is its mail flowing.

:func:`check` builds the answer of ``GET /.tracks/health`` (``plugin/http/health.py``)
from three questions to the database — reachable, at the schema revision this code
expects, the outbox's backlog — and nothing else: no storage lock (a long write must
not make a healthy node look dead), no file, nothing about users. A node is ``down``
(503) when the database cannot be reached or its schema is not the one this code needs
(after an upgrade of the code before ``db upgrade``, or of the database before the
code); ``degraded`` (still 200: it answers CalDAV) when mail that is due waits longer
than a lease plus two polls — no sender takes it — or this node's own sender thread
has ended.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError, SQLAlchemyError

from radicale_tracks.db.metadata import SCHEMA_REVISION
from radicale_tracks.outbox.store import Backlog, backlog

logger = logging.getLogger("radicale.tracks.database")

#: seconds a crashed sender elsewhere keeps its rows (``Sender.lease_seconds``)
LEASE_SECONDS = 300


@dataclass(frozen=True)
class Health:
    """One node's answer; :meth:`as_json` is the body, :attr:`http_status` the code."""

    item_store: str
    reachable: bool
    revision: str | None
    outbox: Backlog | None
    reasons: list[str] = field(default_factory=list)
    degraded: bool = False

    @property
    def schema_current(self) -> bool:
        return self.revision == SCHEMA_REVISION

    @property
    def status(self) -> str:
        if not (self.reachable and self.schema_current):
            return "down"
        return "degraded" if self.degraded else "ok"

    @property
    def http_status(self) -> int:
        return 503 if self.status == "down" else 200

    def as_json(self) -> dict[str, Any]:
        outbox = self.outbox
        return {
            "status": self.status,
            "reasons": list(self.reasons),
            "database": {"reachable": self.reachable, "schema_current": self.schema_current,
                         "revision": self.revision, "expected_revision": SCHEMA_REVISION},
            "outbox": None if outbox is None else {
                "pending": outbox.pending,
                "oldest_pending_age_seconds": outbox.oldest_pending_age,
                "lag_seconds": outbox.lag},
            "item_store": self.item_store,
        }


def check(engine: Engine, item_store: str, now: int, poll_interval: int,
          sender_running: bool | None = None) -> Health:
    """The node's health at ``now``. ``sender_running``: whether this node's own sender
    thread runs (None: it has none, ``outbox_sender = false``)."""
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            revision = _revision(connection)
            found = backlog(connection, now) if revision == SCHEMA_REVISION else None
    except SQLAlchemyError as e:
        # the exception text may name the host and user: the log has it, not the answer
        logger.warning("Health: database unreachable: %s", e)
        return Health(item_store, reachable=False, revision=None, outbox=None,
                      reasons=["database unreachable"])
    if revision != SCHEMA_REVISION:
        return Health(item_store, reachable=True, revision=revision, outbox=None,
                      reasons=["database schema at revision %s, this code needs %s: run "
                               "'radicale-tracks db upgrade'" % (revision or "(none)",
                                                                 SCHEMA_REVISION)])
    assert found is not None
    reasons = []
    if found.lag > LEASE_SECONDS + 2 * poll_interval:
        reasons.append("outbox: mail due for %d seconds is not being sent" % found.lag)
    if sender_running is False:
        reasons.append("outbox: this node's sender thread has ended")
    return Health(item_store, reachable=True, revision=revision, outbox=found,
                  reasons=reasons, degraded=bool(reasons))


def _revision(connection: Connection) -> str | None:
    """The stored Alembic revision; None when the database is reachable but has no
    schema of ours (no table, or an empty one)."""
    try:
        row = connection.execute(text("SELECT version_num FROM alembic_version")).first()
    except (OperationalError, ProgrammingError):
        return None
    return str(row[0]) if row else None
