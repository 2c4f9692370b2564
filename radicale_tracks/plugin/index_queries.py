"""Radicale's two full scans answered from the index instead.

- ``has_uid`` (the UID-clash check of every PUT) is one indexed lookup;
- ``get_filtered`` (calendar-query and free-busy-query) reads only the objects that
  have an occurrence in the requested window, and tells Radicale when the index is sure
  so that it does not parse them again.

Anything the index cannot answer exactly falls back to Radicale's own code (handed in
by the collection), so answers stay those of vanilla Radicale.
"""

from __future__ import annotations

import itertools
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator

from radicale import item as radicale_item
from radicale.item import filter as radicale_filter
from radicale.storage import multifilesystem
from sqlalchemy.exc import SQLAlchemyError

from radicale_tracks.index.store import Candidate
from radicale_tracks.plugin import radicale_internals as internals
from radicale_tracks.plugin.folder_index import FolderIndex, stat_files

logger = logging.getLogger("radicale.tracks.storage")

#: Radicale's own ``get_filtered`` of the collection
RadicaleFiltered = Callable[[Iterable[ET.Element]],
                            Iterable[tuple[radicale_item.Item, bool]]]


def has_uid(collection: multifilesystem.Collection, folder_index: FolderIndex, uid: str,
            radicale_has_uid: Callable[[str], bool]) -> bool:
    """Whether an object of the collection has ``uid``; Radicale's scan without the index."""
    try:
        folder_index.sync_if_folder_changed(collection)
        return folder_index.index.has_uid(collection.path, uid)
    except SQLAlchemyError:
        logger.exception("Index unavailable; UID check of %r scans the files",
                         collection.path)
        return radicale_has_uid(uid)


def filtered_items(collection: multifilesystem.Collection, folder_index: FolderIndex,
                   filters: Iterable[ET.Element], radicale_filtered: RadicaleFiltered
                   ) -> Iterator[tuple[radicale_item.Item, bool]]:
    """Radicale's ``get_filtered``: the candidates of the filters' time range from the
    index, each with whether the index is sure it matches."""
    filters = list(filters)
    if collection.tag != "VCALENDAR":
        yield from radicale_filtered(filters)
        return
    tag, start, end, simple = radicale_filter.simplify_prefilters(filters, collection.tag)
    if start <= radicale_filter.TIMESTAMP_MIN and end >= radicale_filter.TIMESTAMP_MAX:
        # no time restriction: every object is a candidate, Radicale's scan is right
        yield from radicale_filtered(filters)
        return
    try:
        scanned = folder_index.refresh(collection)
        found = folder_index.index.candidates(collection.path, tag, start, end)
        first = next(found, None)
    except SQLAlchemyError:
        # the index is an accelerator: without it, answer as Radicale does
        logger.exception("Index unavailable; query of %r reads every file",
                         collection.path)
        yield from radicale_filtered(filters)
        return
    limit = internals.max_resource_size(internals.collection_storage(collection))
    folder = internals.collection_folder(collection)
    edited: list[str] = []
    for candidate in itertools.chain([first] if first else [], found):
        if scanned is not None:
            state = scanned.get(candidate.href)
        else:
            state = stat_files(folder, [candidate.href]).get(candidate.href)
        if state is None or state.size > limit:
            continue
        exact = candidate.exact
        if state == candidate.state:
            item: radicale_item.Item | None = item_from_index(collection, candidate)
        else:
            # edited in place behind Radicale's back since the last full scan: read
            # the file and let Radicale test it; re-index it afterwards
            item = internals.read_item(collection, candidate.href)
            exact = False
            edited.append(candidate.href)
        if item is not None:
            yield item, bool(simple and tag is not None and exact)
    if edited:
        folder_index.reindex_files(collection, edited)


def item_from_index(collection: multifilesystem.Collection, candidate: Candidate
                    ) -> radicale_item.Item:
    """The ``Item`` Radicale's ``_get`` would build, from the row instead of files."""
    last_modified = time.strftime("%a, %d %b %Y %H:%M:%S GMT",
                                  time.gmtime(candidate.state.mtime_ns // 10**9))
    return radicale_item.Item(
        collection=collection, href=candidate.href, last_modified=last_modified,
        etag=candidate.etag, text=candidate.text, uid=candidate.uid, name="VCALENDAR",
        component_name=candidate.component,
        time_range=(candidate.range_start, candidate.range_end))
