"""The customer's link to their booking: signed, expiring, revocable, no account.

A link is ``<booking id>.<link version>.<expiry>.<signature>``: the signature is an
HMAC-SHA256 under a secret every node of the database shares (``tracks_setting``), so
a link cannot be made up or altered; it stops when the booking's link version moves on
(the team revoked the links: every mail after that carries a new one); and it stops
:data:`VALID_AFTER_END` after the meeting — after the later of the end it was signed
with and the meeting's end now, so a link from the first mail still opens a meeting
that was moved later (``expired``). One booking has one valid link version at a time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Final

from sqlalchemy import Connection

from radicale_tracks.db.shared_values import _insert_if_absent, read_value

#: the HMAC key of customer links, as hex, in ``tracks_setting``
LINK_SECRET: Final = "booking_link_secret"
#: how long after the meeting's end its link still opens (to see it, not change it)
VALID_AFTER_END: Final = 14 * 86400
#: where the customer's page is, under the server's base URL
LINK_PATH: Final = "/.web/booking/"


class LinkRefused(ValueError):
    """A link that does not open: the words are for the customer."""


@dataclass(frozen=True)
class LinkClaim:
    booking_id: int
    version: int
    expires: int


def link_secret(connection: Connection) -> bytes:
    """The shared secret, made in the caller's transaction when no node made it yet
    (a second connection could wait on the caller's own write on SQLite)."""
    found = read_value(connection, LINK_SECRET)
    if found is None:
        _insert_if_absent(connection, LINK_SECRET, secrets.token_bytes(32).hex())
        found = read_value(connection, LINK_SECRET)
    assert found is not None
    return bytes.fromhex(found)


def _signature(secret: bytes, booking_id: int, version: int, expires: int) -> str:
    message = b"booking-link:%d:%d:%d" % (booking_id, version, expires)
    return hmac.new(secret, message, hashlib.sha256).hexdigest()[:32]


def make_token(secret: bytes, booking_id: int, version: int, meeting_end: int) -> str:
    expires = meeting_end + VALID_AFTER_END
    return "%d.%d.%d.%s" % (booking_id, version, expires,
                            _signature(secret, booking_id, version, expires))


def read_token(secret: bytes, token: str) -> LinkClaim:
    """What a token claims, once its signature holds; whether its version is still the
    booking's and whether it expired are the caller's checks (they need the row:
    :func:`expired`)."""
    parts = token.split(".")
    if len(parts) != 4 or not all(p.isdigit() for p in parts[:3]) or len(token) > 120:
        raise LinkRefused("This link is not complete. Open the link from your most "
                          "recent e-mail about the meeting.")
    booking_id, version, expires = (int(p) for p in parts[:3])
    if not hmac.compare_digest(_signature(secret, booking_id, version, expires),
                               parts[3]):
        raise LinkRefused("This link is not valid. Open the link from your most recent "
                          "e-mail about the meeting.")
    return LinkClaim(booking_id, version, expires)


def expired(claim: LinkClaim, meeting_end: int, now: int) -> bool:
    """Past the signed expiry and past :data:`VALID_AFTER_END` after the meeting's end
    as it is now (a move to a later date keeps older links open)."""
    return now > max(claim.expires, meeting_end + VALID_AFTER_END)


def link_url(base_url: str, token: str) -> str:
    return "%s%s%s" % (base_url.rstrip("/"), LINK_PATH, token)
