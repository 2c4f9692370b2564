"""What the application and the storage tell each other about one request: one value.

Radicale's own code (its PUT, DELETE, locking) sits between the application and the
storage, so they cannot pass arguments: the application enters a :class:`WriteRequest`
for each HTTP request (:func:`request_scope`), the storage reads and fills the one that
is current. A ``ContextVar`` keeps it per thread (a pooled WSGI thread serves another user
next) and the scope always resets it, also when the request is refused early — nothing
of one request outlives its answer (``tests/test_request_state.py``).

Outside the application (plain ``radicale`` with only the storage plugin, the commands,
``deliver``) the storage's lock enters one for the time it is held.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from radicale_tracks.core.timezones import UnknownTimezones

#: work a caller joins to the transaction of the next scheduling write (a booking's mail)
JoinedWork = Callable[[Any], None]


@dataclass(frozen=True)
class ClientChecks:
    """What the application asks of a client's PUT or DELETE, checked by the storage
    under the write lock — a check made before it could pass for two writers at once.
    Present only for requests through the application, which answers the refusals
    (:class:`~radicale_tracks.errors.WriteRefused`); plain Radicale is not told."""

    #: If-Schedule-Tag-Match (None: not sent): 412 unless it is the current tag; a
    #: match merges the server's inconsequential changes into the write
    schedule_tag: str | None = None


@dataclass
class WriteRequest:
    """The facts of one request, both ways.

    Application → storage: ``checks`` (taken by the first write under the lock: the
    client's) and a held ``timezone_refusal``. Storage → application: whether the stored
    object differs from the request (``rewritten``: no ETag, RFC 4791 §5.3.4), its
    ``schedule_tag``, the refusal it raised (``timezones_refused``). A caller's
    ``joined`` work for the next scheduling transaction. Per hold of the storage lock:
    the ``user``, whether it is a client's PUT (its first write is the client's object),
    and the ``write_hold`` token that journaled file changes belong to."""

    checks: ClientChecks | None = None
    timezone_refusal: UnknownTimezones | None = None
    timezones_refused: UnknownTimezones | None = None
    rewritten: bool = False
    schedule_tag: str | None = None
    joined: JoinedWork | None = None
    #: joined work that runs before the write is scheduled (rows the write reads)
    joined_first: JoinedWork | None = None
    user: str | None = None
    client_put: bool = False
    write_hold: object | None = field(default=None, repr=False)
    #: per-calendar locks (``calendar_locks.py``): the units an earlier attempt of this
    #: request learnt it needs, which attempt this is, and the hold's locks
    lock_plan: frozenset[str] = frozenset()
    attempt: int = 0
    calendar_locks: object | None = field(default=None, repr=False)

    def take_checks(self) -> ClientChecks | None:
        """The application's checks, for the first write that asks (the client's)."""
        checks, self.checks = self.checks, None
        return checks

    def take_client_put(self) -> bool:
        """True once per PUT: for its first write, which is the client's object."""
        client_put, self.client_put = self.client_put, False
        return client_put

    def take_joined(self) -> JoinedWork | None:
        """Work no scheduling transaction took (the caller runs it on its own)."""
        first, joined = self.joined_first, self.joined
        self.joined_first = self.joined = None
        if first is None or joined is None:
            return first or joined
        after = joined

        def both(connection: Any) -> None:
            first(connection)
            after(connection)

        return both

    def forget_joined(self) -> None:
        """The joined work committed with a write."""
        self.joined_first = self.joined = None

    def left_over(self) -> dict[str, Any]:
        """The facts still set (tests: what would leak into another request)."""
        return {name: value for name, value in vars(self).items() if value}


_current: ContextVar[WriteRequest | None] = ContextVar("radicale_tracks_write_request",
                                                       default=None)


def active_request() -> WriteRequest | None:
    """The request being answered on this thread, None outside one."""
    return _current.get()


def current_request() -> WriteRequest:
    """The request being answered; the application entered it (LookupError if not)."""
    request = _current.get()
    if request is None:
        raise LookupError("no request entered (write_request.request_scope)")
    return request


@contextlib.contextmanager
def request_scope() -> Iterator[WriteRequest]:
    """A fresh :class:`WriteRequest` for the code inside, reset whatever happens."""
    request = WriteRequest()
    token = _current.set(request)
    try:
        yield request
    finally:
        _current.reset(token)


@contextlib.contextmanager
def joined_or_new_request() -> Iterator[WriteRequest]:
    """The current request, or a new one for the code inside (a lock taken outside the
    application)."""
    request = _current.get()
    if request is not None:
        yield request
        return
    with request_scope() as request:
        yield request
