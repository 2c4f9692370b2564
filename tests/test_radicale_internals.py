"""Every private member of Radicale the package uses, checked against the installed Radicale.

``plugin/radicale_internals.py`` is the one place that touches them; each wrapper has a
test here that fails by name when Radicale renames, removes or changes the member — the
list to work through on a move to a new Radicale. Plain Radicale's own multifilesystem
storage and application are used (no plugin), so the checks are of Radicale alone.
"""

from __future__ import annotations

import datetime
import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import vobject
from radicale import config as radicale_config
from radicale import item as radicale_item
from radicale import pathutils
from radicale import storage as radicale_storage
from radicale.app import Application as RadicaleApplication
from radicale.storage import multifilesystem

from helpers import VANILLA, write_config
from radicale_tracks.plugin import radicale_internals as internals

EVENT = "\r\n".join([
    "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//tests//EN", "BEGIN:VEVENT",
    "UID:internals-1", "DTSTAMP:20260101T000000Z", "DTSTART:20270301T100000Z",
    "DTEND:20270301T110000Z", "SUMMARY:Check", "TRANSP:TRANSPARENT", "END:VEVENT",
    "END:VCALENDAR", ""])


def configuration(tmp_path: Path, **server: str) -> radicale_config.Configuration:
    path = write_config(tmp_path / "radicale.conf", tmp_path / "collections", VANILLA,
                        5232)
    if server:
        path.write_text(path.read_text().replace("[server]\n", "".join(
            ["[server]\n", *("%s = %s\n" % kv for kv in server.items())]), 1))
    return radicale_config.load([(str(path), False)])


@pytest.fixture
def storage(tmp_path: Path) -> multifilesystem.Storage:
    found = radicale_storage.load(configuration(tmp_path, max_resource_size="12345"))
    assert isinstance(found, multifilesystem.Storage)
    assert type(found) is multifilesystem.Storage   # Radicale's own, no plugin
    return found


@pytest.fixture
def calendar(storage: multifilesystem.Storage) -> Iterator[multifilesystem.Collection]:
    with storage.acquire_lock("w", "alice"):
        storage.create_collection("/alice/")
        storage.create_collection("/alice/work/", props={"tag": "VCALENDAR"})
        found = next(iter(storage.discover("/alice/work/")))
        assert isinstance(found, multifilesystem.Collection)
        item = radicale_item.Item(collection_path="alice/work",
                                  vobject_item=vobject.readOne(EVENT))
        item.prepare()
        found.upload("one.ics", item)
        yield found


def test_collection_storage_and_folder(storage: multifilesystem.Storage,
                                       calendar: multifilesystem.Collection) -> None:
    assert internals.collection_storage(calendar) is storage
    folder = internals.collection_folder(calendar)
    assert folder == os.path.join(internals.collection_root(storage), "alice", "work")
    assert os.path.isfile(os.path.join(folder, "one.ics"))


def test_collection_encoding(calendar: multifilesystem.Collection) -> None:
    assert internals.collection_encoding(calendar) == "utf-8"


def test_item_file_is_where_radicale_stores_an_href(
        calendar: multifilesystem.Collection) -> None:
    path = internals.item_file(calendar, "one.ics")
    assert os.path.isfile(path)
    assert path == os.path.join(internals.collection_folder(calendar), "one.ics")
    assert internals.item_file(calendar, "two.ics") == os.path.join(
        internals.collection_folder(calendar), "two.ics")   # not there yet
    assert pathutils.is_safe_filesystem_path_component("one.ics")


def test_read_item_reads_through_radicales_cache(
        calendar: multifilesystem.Collection) -> None:
    item = internals.read_item(calendar, "one.ics")
    assert item is not None and item.uid == "internals-1" and item.href == "one.ics"
    assert internals.read_item(calendar, "missing.ics") is None
    assert list(inspect.signature(multifilesystem.Collection._get).parameters) == [
        "self", "href", "verify_href"]


def test_clean_history_is_radicales_hook_and_runs(
        calendar: multifilesystem.Collection) -> None:
    """``plugin/storage.py`` overrides ``_clean_history`` (called by Radicale's upload,
    delete and move) and calls Radicale's own through the wrapper."""
    assert (multifilesystem.Collection, "_clean_history") in internals.OVERRIDDEN_HOOKS
    assert list(inspect.signature(
        multifilesystem.Collection._clean_history).parameters) == ["self"]
    for module in ("upload", "delete", "move"):
        source = inspect.getsource(getattr(multifilesystem, module))
        assert "_clean_history()" in source, module
    internals.clean_history(calendar)


def test_history_folder_holds_the_sync_history(calendar: multifilesystem.Collection
                                               ) -> None:
    folder = internals.history_folder(calendar)
    assert folder == os.path.join(internals.collection_folder(calendar),
                                  internals.CACHE_FOLDER, internals.HISTORY_SUBFOLDER)
    assert os.path.isfile(os.path.join(folder, "one.ics"))   # upload wrote it


def test_collection_root_and_folder_of(storage: multifilesystem.Storage,
                                       calendar: multifilesystem.Collection) -> None:
    root = internals.collection_root(storage)
    assert os.path.isdir(os.path.join(root, "alice"))
    assert root.startswith(internals.storage_folder(storage))
    assert internals.collection_folder_of(storage, "/alice/work/") == (
        internals.collection_folder(calendar))
    assert internals.collection_folder_of(storage, "/bob/new/") == os.path.join(
        root, "bob", "new")   # a collection still to create


def test_storage_folder_is_the_configured_one(tmp_path: Path,
                                              storage: multifilesystem.Storage) -> None:
    assert internals.storage_folder(storage) == str(tmp_path / "collections")


def test_limits_as_the_storage_read_them(tmp_path: Path) -> None:
    storage = radicale_storage.load(configuration(
        tmp_path, max_resource_size="12345", max_vevent_rrule_occurrence="77"))
    assert isinstance(storage, multifilesystem.Storage)
    assert internals.max_resource_size(storage) == 12345
    assert internals.max_rrule_occurrences(storage) == 77


def test_the_write_lock(storage: multifilesystem.Storage) -> None:
    assert not internals.holds_write_lock(storage)
    with storage.acquire_lock("r"):
        assert not internals.holds_write_lock(storage)
    with storage.acquire_lock("w"):
        assert internals.holds_write_lock(storage)
    with internals.exclusive_lock(storage):
        assert internals.holds_write_lock(storage)
    assert not internals.holds_write_lock(storage)


def test_fsync_option(tmp_path: Path) -> None:
    config = configuration(tmp_path)
    assert internals.fsync_enabled(config) is True   # Radicale's default
    config.update({"storage": {"_filesystem_fsync": "False"}}, "test", privileged=True)
    assert internals.fsync_enabled(config) is False


def test_collection_class_hook() -> None:
    assert (multifilesystem.Storage, "_collection_class") in internals.OVERRIDDEN_HOOKS
    assert multifilesystem.Storage._collection_class is multifilesystem.Collection
    source = inspect.getsource(multifilesystem)
    assert "_collection_class" in source


def test_freebusy_helpers_of_the_report() -> None:
    floating = datetime.datetime(2027, 3, 1, 10)
    assert internals.to_utc(floating) == datetime.datetime(2027, 3, 1, 10,
                                                           tzinfo=datetime.UTC)
    berlin = datetime.datetime(2027, 3, 1, 10, tzinfo=datetime.timezone(
        datetime.timedelta(hours=1)))
    assert internals.to_utc(berlin) == datetime.datetime(2027, 3, 1, 9,
                                                         tzinfo=datetime.UTC)
    event = vobject.readOne(EVENT).vevent
    assert internals.fbtype_of(event) is None          # TRANSPARENT: nobody busy
    event.transp.value = "OPAQUE"
    assert internals.fbtype_of(event) == "BUSY"


def test_application_members(tmp_path: Path) -> None:
    app: Any = RadicaleApplication(configuration(tmp_path))
    assert isinstance(internals.app_storage(app), multifilesystem.Storage)
    assert internals.app_rights(app) is app._rights and hasattr(
        internals.app_rights(app), "authorization")
    assert hasattr(internals.app_web(app), "get")
    assert internals.app_encoding(app) == "utf-8"
    assert internals.sharing_enabled(app) is False
    assert internals.app_sharing(app) is not None


def test_application_hooks_exist_with_their_signatures() -> None:
    expected = {"_handle_request": ["self", "environ"],
                "_xml_response": ["self", "xml_content", "request_info"]}
    for cls, name in internals.hooks_of_application():
        assert list(inspect.signature(getattr(cls, name)).parameters) == expected[name]


def test_every_private_member_is_used_only_here() -> None:
    """The package reaches Radicale's underscore names through radicale_internals only:
    no other module names one of them (the HTTP parts' overrides of Radicale's hooks
    are the HTTP layer's to route, listed in ``hooks_of_application``)."""
    package = Path(internals.__file__).resolve().parent.parent
    names = ("._get_collection_root_folder", "._get_collection_cache_subfolder",
             "._filesystem_path", "._filesystem_folder", "._is_collision_free",
             "._max_resource_size", "._max_vevent_rrule_occurrence", "._lock.",
             "_filesystem_fsync", "._to_utc", "._fbtype_for_component", "._storage.",
             "._get(href", "._get(candidate", "._get(parts", "._encoding)", "self._storage",
             "self._rights", "self._web", "self._sharing.", "self._sharing,", "self._encoding")
    allowed = {"plugin/radicale_internals.py"}
    for path in package.rglob("*.py"):
        relative = path.relative_to(package).as_posix()
        if relative in allowed:
            continue
        text = path.read_text()
        for name in names:
            assert name not in text, "%s uses %s" % (relative, name)
