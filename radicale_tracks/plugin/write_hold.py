"""The storage's write lock as the request sees it: who holds it, and for which write.

Radicale's lock knows nothing of requests; the request (``write_request.py``) remembers
the user for the writes made under a hold, whether it is a client's PUT (``client_puts``:
its first write is the client's), and a new object per write hold — a transaction
journals files only within the hold it began in (``Database.changing``). A transaction
still open when the hold ends is rolled back inside the lock, never after it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from radicale_tracks.db.session import Database
from radicale_tracks.plugin.write_request import active_request, joined_or_new_request


@contextlib.contextmanager
def holding(database: Database, lock: contextlib.AbstractContextManager[None], mode: str,
            user: str, client_put: bool) -> Iterator[None]:
    """Radicale's ``lock`` (taken in ``mode``) held for the current request, or for a new
    one when the lock is taken outside the application."""
    with joined_or_new_request() as request:
        request.user = user
        request.client_put = client_put
        try:
            with lock:
                # a new object per hold: a transaction journals files only within
                # the hold it began in (Database.changing)
                request.write_hold = object() if mode == "w" else None
                try:
                    yield
                except BaseException:
                    end_hold(database, refuse=False)
                    raise
                end_hold(database, refuse=True)
        finally:
            request.user = None
            request.client_put = False
            request.write_hold = None


def current_write_hold() -> object | None:
    """This thread's hold of the write lock (None outside it)."""
    request = active_request()
    return request.write_hold if request is not None else None


def end_hold(database: Database, refuse: bool) -> None:
    """Still inside the lock. A transaction that changed files and is still open
    would outlive it (entered and left out of order): whoever takes the lock next
    would finish its journal as a dead process's, and its rollback would put files
    back outside the lock. It is rolled back here, files included, and — unless the
    body already failed (``refuse`` False: its error goes on) — refused."""
    request = active_request()
    if request is not None:
        request.write_hold = None
    if database.journal_open:
        database.abandon()
        if refuse:
            raise RuntimeError("a transaction that changed files outlived the "
                               "storage's write lock; it was rolled back")
