"""The value a service hands to the outbox: one rendered message for one recipient.

Rendering (templates, MIME, iMIP parts of RFC 6047) happens before this object exists;
the outbox stores and transmits ``message`` byte for byte, so a retry sends exactly the
mail that was decided in the transaction that caused it. The checks here catch a caller
that breaks that contract while the transaction can still roll back, not at send time.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.parser import HeaderParser


@dataclass(frozen=True)
class OutgoingMail:
    """A complete RFC 5322 message and its SMTP envelope (RFC 5321 MAIL FROM / RCPT TO).

    ``message`` is ASCII (already MIME-encoded), with CRLF or LF line ends; its
    ``Message-ID`` header is ``<message_id>``, and ``message_id`` is unique: the outbox and
    the Maildir transport use it to deliver each mail at most once.
    """

    envelope_from: str
    recipient: str
    kind: str
    subject: str
    message: str
    message_id: str
    track_id: int | None = None
    uid: str | None = None

    def __post_init__(self) -> None:
        for name in ("envelope_from", "recipient"):
            address = getattr(self, name)
            if "@" not in address or address.lower().startswith("mailto:") or any(
                    c.isspace() or c in "<>" for c in address):
                raise ValueError("%s must be a bare address (a@b), not %r"
                                 % (name, address))
        if not self.message_id or any(c.isspace() or c in "<>" for c in self.message_id):
            raise ValueError("message_id must be non-empty, without <> or spaces: %r"
                             % self.message_id)
        if not self.message.isascii():
            raise ValueError("message %s is not ASCII: MIME-encode it before queueing"
                             % self.message_id)
        header = HeaderParser().parsestr(self.message, headersonly=True)["Message-ID"]
        if header is None or header.strip() != "<%s>" % self.message_id:
            raise ValueError("message %s has Message-ID header %r, expected <%s>"
                             % (self.message_id, header, self.message_id))
