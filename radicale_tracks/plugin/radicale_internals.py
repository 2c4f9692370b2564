"""Every private member of Radicale the package uses, in one place.

Radicale's plugin API does not reach far enough for an index kept in step with the files,
scheduling on writes and the CalDAV scheduling surface: the storage plugin and the
application need a few of Radicale's underscore names. Each is wrapped here, once, and
``tests/test_radicale_internals.py`` checks each against the installed Radicale (the
member exists, its signature is the one assumed, it behaves as assumed) — so a Radicale
release that changes one fails there, by name, and a move to a new Radicale is this
file. Written against Radicale 3.9.

Besides these wrappers, the package overrides four private hooks by name; they are
listed in :data:`OVERRIDDEN_HOOKS` and checked by the same tests:
``multifilesystem.Collection._clean_history`` (``plugin/storage.py``: once per interval),
``multifilesystem.Storage._collection_class`` (our Collection),
``multifilesystem.Collection._get`` and ``_list`` (``plugin/database_storage.py``: rows,
so Radicale's code built on them reads the database),
``radicale.app.Application._handle_request`` and ``_xml_response``
(``plugin/http/application.py``, ``plugin/http/properties.py``).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import vobject
from radicale import config as radicale_config
from radicale import item as radicale_item
from radicale import pathutils
from radicale.app import report as radicale_report
from radicale.storage import multifilesystem

#: (class, name) of the private hooks the package overrides in its subclasses
OVERRIDDEN_HOOKS: tuple[tuple[type, str], ...] = (
    (multifilesystem.Collection, "_clean_history"),
    (multifilesystem.Collection, "_get"),
    (multifilesystem.Collection, "_list"),
    (multifilesystem.Storage, "_collection_class"),
)

#: the cache folder of a collection and its history subfolder (sync-token history)
CACHE_FOLDER = ".Radicale.cache"
HISTORY_SUBFOLDER = "history"

# -- a collection of multifilesystem -------------------------------------------------


def collection_storage(collection: multifilesystem.Collection) -> multifilesystem.Storage:
    """The storage a collection belongs to (Radicale's ``_storage``)."""
    return collection._storage


def collection_folder(collection: multifilesystem.Collection) -> str:
    """The folder holding a collection's item files (``_filesystem_path``)."""
    return collection._filesystem_path


def collection_encoding(collection: multifilesystem.Collection) -> str:
    """The encoding item files are written in (``_encoding``: ``[encoding] stock``)."""
    return collection._encoding


def item_file(collection: multifilesystem.Collection, href: str) -> str:
    """Where Radicale stores ``href`` of a collection (an unsafe href raises as Radicale's
    own ``path_to_filesystem`` does, with its collision rule ``_is_collision_free``)."""
    return pathutils.path_to_filesystem(collection._filesystem_path, href,
                                        collection._is_collision_free)


def read_item(collection: multifilesystem.Collection, href: str,
              verify_href: bool = False) -> radicale_item.Item | None:
    """One item read through Radicale's cache (``_get``); None when it is missing.
    ``verify_href``: refuse an unsafe href (what Radicale does for a client's path)."""
    return collection._get(href, verify_href=verify_href)


def clean_history(collection: multifilesystem.Collection) -> None:
    """Radicale's own clean-up of a collection's sync history (``_clean_history``), for
    an override that runs it less often."""
    multifilesystem.Collection._clean_history(collection)  # type: ignore[no-untyped-call]


def history_folder(collection: multifilesystem.Collection) -> str:
    """The folder of a collection's sync-token history (``_get_collection_cache_subfolder``)."""
    storage = collection._storage
    return storage._get_collection_cache_subfolder(
        collection._filesystem_path, CACHE_FOLDER, HISTORY_SUBFOLDER)


# -- the multifilesystem storage -----------------------------------------------------


def collection_root(storage: multifilesystem.Storage) -> str:
    """The folder of all collections (``_get_collection_root_folder``)."""
    return storage._get_collection_root_folder()


def collection_folder_of(storage: multifilesystem.Storage, href: str) -> str:
    """Where Radicale keeps the collection at ``href`` (``/alice/work/``), with its
    collision rule (``_is_collision_free``); an unsafe path raises as Radicale's does."""
    return pathutils.path_to_filesystem(storage._get_collection_root_folder(),
                                        pathutils.strip_path(href),
                                        storage._is_collision_free)


def storage_folder(storage: multifilesystem.Storage) -> str:
    """``[storage] filesystem_folder`` as Radicale read it (``_filesystem_folder``)."""
    return storage._filesystem_folder


def max_resource_size(storage: multifilesystem.Storage) -> int:
    """``[server] max_resource_size``, as the storage read it (``_max_resource_size``)."""
    return storage._max_resource_size


def max_rrule_occurrences(storage: multifilesystem.Storage) -> int:
    """``[server] max_vevent_rrule_occurrence`` (``_max_vevent_rrule_occurrence``)."""
    value: int = storage._max_vevent_rrule_occurrence
    return value


def holds_write_lock(storage: multifilesystem.Storage) -> bool:
    """Whether Radicale's storage lock (``_lock``, a ``pathutils.RwLock``) is held for
    writing in this process."""
    return storage._lock.locked == "w"


def exclusive_lock(storage: multifilesystem.Storage) -> AbstractContextManager[None]:
    """Radicale's storage lock taken for writing directly (``_lock.acquire("w")``), without
    the hooks and user of ``acquire_lock``: start-up recovery."""
    acquired: AbstractContextManager[None] = storage._lock.acquire("w")
    return acquired


def fsync_enabled(configuration: radicale_config.Configuration) -> bool:
    """``[storage] _filesystem_fsync``: Radicale's private option (tests turn it off)."""
    return bool(configuration.get("storage", "_filesystem_fsync"))


# -- free-busy helpers of radicale.app.report ----------------------------------------


def to_utc(value: datetime.datetime) -> datetime.datetime:
    """Radicale's ``report._to_utc`` (a floating time is taken as UTC)."""
    return radicale_report._to_utc(value)


def fbtype_of(component: vobject.base.Component) -> str | None:
    """Radicale's ``report._fbtype_for_component``: FBTYPE a VEVENT counts as."""
    return radicale_report._fbtype_for_component(component)


# -- radicale.app.Application (for plugin/http/base.py) ------------------------------


def app_storage(app: Any) -> Any:
    """The storage of the application (``_storage``)."""
    return app._storage


def app_rights(app: Any) -> Any:
    """The rights backend of the application (``_rights``)."""
    return app._rights


def app_web(app: Any) -> Any:
    """The web plugin of the application (``_web``)."""
    return app._web


def app_encoding(app: Any) -> str:
    """``[encoding] request`` as the application read it (``_encoding``)."""
    encoding: str = app._encoding
    return encoding


def sharing_enabled(app: Any) -> bool:
    """Whether Radicale's collection sharing is on (``_sharing._enabled``)."""
    return bool(getattr(app._sharing, "_enabled", False))


def app_sharing(app: Any) -> Any:
    """The sharing plugin of the application (``_sharing``)."""
    return app._sharing


def hooks_of_application() -> Iterator[tuple[type, str]]:
    """The private hooks of ``radicale.app.Application`` that the HTTP parts override
    (``plugin/http/application.py``, ``plugin/http/properties.py``)."""
    from radicale import app as radicale_app

    yield radicale_app.Application, "_handle_request"
    yield radicale_app.Application, "_xml_response"
