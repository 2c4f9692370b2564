"""Schedule-Tags (RFC 6638 §3.2.10): kept across inconsequential server changes.

A tag is the object's ETag at its last consequential change. :func:`keep` records the
current tag before the server makes an inconsequential change (it survives the new
ETag); :func:`forget` lets the tag follow the ETag again after a consequential one.
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from radicale_tracks.scheduling.schema import schedule_tags


def object_path(collection_path: str, href: str) -> str:
    return "%s/%s" % (collection_path.strip("/"), href)


def schedule_tag(connection: Connection, path: str, etag: str) -> str:
    """The Schedule-Tag of the object at ``path`` whose current ETag is ``etag``."""
    row = connection.execute(
        select(schedule_tags.c.tag).where(schedule_tags.c.path == path)).first()
    return str(row[0]) if row is not None else etag


def stored_tags(connection: Connection, collection_path: str) -> dict[str, str]:
    """href → kept tag, for the objects of one collection that have one."""
    prefix = collection_path.strip("/") + "/"
    rows = connection.execute(select(schedule_tags.c.path, schedule_tags.c.tag).where(
        schedule_tags.c.path.startswith(prefix, autoescape=True)))
    return {path[len(prefix):]: tag for path, tag in rows if "/" not in path[len(prefix):]}


def forget_collection(connection: Connection, collection_path: str) -> None:
    prefix = collection_path.strip("/") + "/"
    connection.execute(delete(schedule_tags).where(
        schedule_tags.c.path.startswith(prefix, autoescape=True)))


def keep(connection: Connection, path: str, current_etag: str, now: int) -> None:
    """Freeze the current tag: the change about to be stored is inconsequential."""
    exists = connection.execute(
        select(schedule_tags.c.id).where(schedule_tags.c.path == path)).first()
    if exists is None:
        connection.execute(insert(schedule_tags).values(
            path=path, tag=current_etag, updated_at=now))


def forget(connection: Connection, path: str) -> None:
    """The tag follows the ETag again (a consequential change, or the object is gone)."""
    connection.execute(delete(schedule_tags).where(schedule_tags.c.path == path))


def moved(connection: Connection, from_path: str, to_path: str) -> None:
    connection.execute(delete(schedule_tags).where(schedule_tags.c.path == to_path))
    connection.execute(update(schedule_tags).where(schedule_tags.c.path == from_path)
                       .values(path=to_path))
