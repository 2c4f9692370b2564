"""Whether an event's time counts as busy (RFC 5545 §3.8.2.7 TRANSP, §3.8.1.11 STATUS).

Mirrors Radicale's free-busy report, so the index and vanilla Radicale agree on the same
data: transparent events block nothing; cancelled ones are kept as ``FREE`` (Radicale
emits them; availability ignores them); tentative ones are ``BUSY-TENTATIVE``.
"""

from __future__ import annotations

from enum import StrEnum


class FbType(StrEnum):
    """RFC 5545 §3.2.9 FBTYPE values."""

    FREE = "FREE"
    BUSY = "BUSY"
    BUSY_TENTATIVE = "BUSY-TENTATIVE"
    BUSY_UNAVAILABLE = "BUSY-UNAVAILABLE"


def fbtype_for_event(transp: str, status: str) -> FbType | None:
    """The FBTYPE an event occurrence contributes, or None when it blocks no time."""
    if transp.strip().upper() not in ("", "OPAQUE"):
        return None
    status = status.strip().upper()
    if status in ("", "CONFIRMED"):
        return FbType.BUSY
    if status == "CANCELLED":
        return FbType.FREE
    if status == "TENTATIVE":
        return FbType.BUSY_TENTATIVE
    return FbType.BUSY
