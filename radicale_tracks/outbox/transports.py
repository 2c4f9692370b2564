"""Transports: hand one stored outbox row to the world, and say how it went.

The only module of the outbox that touches smtplib or the file system. A transport either
returns (the mail was accepted) or raises :class:`TemporaryFailure` (try again later) or
:class:`PermanentFailure` (retrying cannot help); the sender turns that into row state.

* :class:`SmtpTransport` submits to a relay (RFC 5321; STARTTLS RFC 3207; implicit TLS
  RFC 8314; AUTH RFC 4954). Replies 4xx are temporary, 5xx permanent (RFC 5321 4.2.1).
* :class:`MaildirTransport` drops the mail into a Maildir (a local sink for one machine
  and for tests), at most once per Message-ID.
"""

from __future__ import annotations

import hashlib
import os
import smtplib
import ssl
from typing import Protocol

from radicale_tracks.errors import TracksError
from radicale_tracks.outbox.store import OutboxRow
from radicale_tracks.settings import Settings


class DeliveryError(TracksError):
    """A transport did not deliver a row; ``code`` is the SMTP reply code, if any."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class TemporaryFailure(DeliveryError):
    """Worth another try later: server unreachable, timeout, 4xx reply."""


class PermanentFailure(DeliveryError):
    """Retrying cannot help: a 5xx reply (unknown recipient, refused sender, bad AUTH)."""


class Transport(Protocol):
    """Delivers one row's message to its envelope recipient, or raises a DeliveryError."""

    def deliver(self, row: OutboxRow) -> None: ...


def crlf_bytes(message: str) -> bytes:
    """The message as SMTP wants it on the wire: ASCII, every line ended by CRLF."""
    text = message.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    return text.replace("\n", "\r\n").encode("ascii")


class MaildirTransport:
    """Writes each mail into ``path``/new as a Maildir delivery agent would.

    The file name is a hash of the Message-ID, so delivering a row again (a sender crashed
    after writing but before marking it sent) finds the file in ``new/`` or ``cur/`` and
    writes nothing. ``Return-Path`` and ``Delivered-To`` are prepended, as local delivery
    does, so a reader knows the envelope of each file.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    @staticmethod
    def file_name(message_id: str) -> str:
        return "tracks-%s" % hashlib.sha256(message_id.encode()).hexdigest()[:40]

    def delivered(self, message_id: str) -> bool:
        """Whether a file of this Message-ID is in ``new/`` or (read, renamed) ``cur/``."""
        name = self.file_name(message_id)
        if os.path.exists(os.path.join(self.path, "new", name)):
            return True
        try:
            with os.scandir(os.path.join(self.path, "cur")) as entries:
                return any(e.name == name or e.name.startswith(name + ":") for e in entries)
        except FileNotFoundError:
            return False

    def deliver(self, row: OutboxRow) -> None:
        try:
            for folder in ("tmp", "new", "cur"):
                os.makedirs(os.path.join(self.path, folder), exist_ok=True)
            if self.delivered(row.message_id):
                return
            self._write(row)
        except OSError as e:
            raise TemporaryFailure("maildir %s: %s" % (self.path, e)) from e

    def _write(self, row: OutboxRow) -> None:
        name = self.file_name(row.message_id)
        text = "Return-Path: <%s>\nDelivered-To: %s\n%s" % (
            row.envelope_from, row.recipient,
            row.message.replace("\r\n", "\n").replace("\r", "\n"))
        if not text.endswith("\n"):
            text += "\n"
        tmp = os.path.join(self.path, "tmp", "%s.%d" % (name, os.getpid()))
        new = os.path.join(self.path, "new", name)
        try:
            with open(tmp, "wb") as f:
                f.write(text.encode("ascii"))
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, new)  # never replaces: a concurrent delivery wins once
            except FileExistsError:
                pass
            except OSError:
                os.replace(tmp, new)  # a file system without hard links
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


class SmtpTransport:
    """Submits each mail in its own SMTP session to one relay."""

    def __init__(self, server: str, port: int, security: str = "none",
                 verify_mode: str = "REQUIRED", username: str = "", password: str = "",
                 timeout: float = 30) -> None:
        if security not in ("none", "starttls", "tls"):
            raise ValueError("security must be none, starttls or tls, not %r" % security)
        self.server = server
        self.port = port
        self.security = security
        self.verify_mode = verify_mode
        self.username = username
        self.password = password
        self.timeout = timeout

    def __repr__(self) -> str:  # no password in logs
        return "SmtpTransport(%s:%d, %s)" % (self.server, self.port, self.security)

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.verify_mode != "REQUIRED":
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def deliver(self, row: OutboxRow) -> None:
        try:
            self._submit(row)
        except smtplib.SMTPRecipientsRefused as e:
            code, text = e.recipients.get(row.recipient) or next(
                iter(e.recipients.values()), (0, b"recipient refused"))
            raise _reply_failure("RCPT TO", code, text) from e
        except smtplib.SMTPServerDisconnected as e:
            raise TemporaryFailure("SMTP %s:%d disconnected: %s" % (
                self.server, self.port, e)) from e
        except smtplib.SMTPResponseException as e:
            # SMTPSenderRefused, SMTPDataError, SMTPAuthenticationError, SMTPConnectError…
            raise _reply_failure(_stage(e), e.smtp_code, e.smtp_error) from e
        except smtplib.SMTPException as e:
            raise TemporaryFailure("SMTP %s:%d: %s" % (self.server, self.port, e)) from e
        except OSError as e:  # refused, unreachable, timeout, TLS handshake
            raise TemporaryFailure("SMTP %s:%d connection failed: %s" % (
                self.server, self.port, e or type(e).__name__)) from e

    def _submit(self, row: OutboxRow) -> None:
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.server, self.port, timeout=self.timeout,
                                    context=self.ssl_context())
        else:
            smtp = smtplib.SMTP(self.server, self.port, timeout=self.timeout)
        try:
            smtp.ehlo()
            if self.security == "starttls":
                if not smtp.has_extn("starttls"):
                    raise TemporaryFailure("SMTP %s:%d does not offer STARTTLS" % (
                        self.server, self.port))
                smtp.starttls(context=self.ssl_context())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password)
            smtp.sendmail(row.envelope_from, [row.recipient], crlf_bytes(row.message))
        finally:
            _close(smtp)


def _close(smtp: smtplib.SMTP) -> None:
    """QUIT politely; the mail is already accepted, so a bad goodbye changes nothing."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _stage(error: smtplib.SMTPResponseException) -> str:
    if isinstance(error, smtplib.SMTPSenderRefused):
        return "MAIL FROM"
    if isinstance(error, smtplib.SMTPDataError):
        return "DATA"
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return "AUTH"
    if isinstance(error, smtplib.SMTPConnectError):
        return "greeting"
    if isinstance(error, smtplib.SMTPHeloError):
        return "EHLO"
    return "reply"


def _reply_failure(stage: str, code: int, text: bytes | str) -> DeliveryError:
    """5xx is permanent, anything else temporary; the reason names code and text."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    reason = "SMTP %d %s (%s)" % (code, " ".join(text.split()), stage)
    if 500 <= code < 600:
        return PermanentFailure(reason, code)
    return TemporaryFailure(reason, code)


def transport_from_settings(settings: Settings) -> Transport:
    """The transport ``[storage] mail_transport`` names."""
    if settings.mail_transport == "smtp":
        return SmtpTransport(settings.smtp_server, settings.smtp_port,
                             settings.smtp_security, settings.smtp_ssl_verify_mode,
                             settings.smtp_username, settings.smtp_password)
    return MaildirTransport(settings.maildir)
