"""The file backend as its scheduling adapters see it: a storage and its calendars.

The scheduling writer (``scheduling_writes.py``) and the ports' implementations
(``scheduling_calendars.py``, ``track_calendars.py``, ``schedule_boxes.py``) are typed
against these protocols, not against ``storage.py``'s concrete ``Storage`` and
``Collection``: the storage holds the writer and builds the ports, so they cannot import
it back (``tests/test_layers.py``: no import circle). ``storage.py`` implements both.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from radicale import item as radicale_item
from sqlalchemy import Engine

from radicale_tracks.core.freebusy import Estimate
from radicale_tracks.db.session import Database
from radicale_tracks.index.store import IndexStore
from radicale_tracks.settings import Settings

#: what an upload stores: the item, and the one it replaced
Upload = tuple[radicale_item.Item, "radicale_item.Item | None"]
#: (start, end, FBTYPE) as Radicale's free-busy report gives it
FreeBusyPeriod = tuple[datetime.datetime, datetime.datetime, str]


class StoredCalendar(Protocol):
    """One calendar collection of the backend (also a scheduling inbox)."""

    @property
    def path(self) -> str: ...

    @property
    def tag(self) -> str: ...

    def by_age(self) -> list[str]:
        """The hrefs of its objects, oldest write first (an inbox is trimmed by age)."""
        ...

    def meta(self, key: str) -> str | None:
        """One property of the collection (``C:calendar-timezone``, …)."""
        ...

    def set_property(self, key: str, value: str | None) -> None:
        """Set one property (None: remove it), the others kept. Under the write lock."""
        ...

    def item(self, href: str) -> radicale_item.Item | None: ...

    def stored_text(self, href: str) -> str | None:
        """The file's text as stored, read under the write lock; None when missing."""
        ...

    def upload(self, href: str, item: radicale_item.Item) -> Upload:
        """A write as a client's would be (indexed; scheduled when it is the owner's)."""
        ...

    def upload_indexed(self, href: str, item: radicale_item.Item) -> Upload:
        """A server write: stored and indexed, never scheduled."""
        ...

    def delete_indexed(self, href: str | None) -> None: ...

    def forget_history(self, href: str) -> None:
        """Drop an item's sync history (inbox messages: clients fetch deleted members)."""
        ...

    def sync_index_if_folder_changed(self) -> None: ...

    def free_busy(self, start: datetime.datetime, end: datetime.datetime,
                  max_occurrence: int, exclude: frozenset[str] = frozenset(),
                  estimates: list[Estimate] | None = None) -> list[FreeBusyPeriod]: ...


class UserCalendars(Protocol):
    """A user's calendars, as the scheduling engine's port finds them."""

    def user_exists(self, user: str) -> bool: ...

    def calendars_of(self, user: str) -> list[StoredCalendar]: ...


class CalendarStore(Protocol):
    """The backend's storage: settings, the database and index, and its collections."""

    settings: Settings
    database: Database
    index: IndexStore
    engine: Engine
    #: principals whose inbox and outbox exist (cleared when a write that made them
    #: rolls back)
    boxes_ready: set[str]

    def calendar(self, path: str) -> StoredCalendar | None:
        """The collection at ``path`` (``/alice/work/``), None when there is none."""
        ...

    def collections_in(self, path: str) -> Sequence[StoredCalendar]:
        """The collections directly below ``path``."""
        ...

    def exists(self, path: str) -> bool:
        """Whether anything (a collection or an item) is stored at ``path``."""
        ...

    def create_collection(self, href: str,
                          items: Iterable[radicale_item.Item] | None = None,
                          props: Mapping[str, str] | None = None) -> Any: ...

    def principals(self) -> list[str]:
        """Names of the top-level collections (one per principal)."""
        ...
