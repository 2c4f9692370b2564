"""Render one mail: Jinja2 templates + optional iTIP object → a complete RFC 5322 message.

Shape (RFC 6047 §2.4, and what Gmail and Outlook expect)::

    multipart/mixed
      multipart/alternative
        text/plain                                  (the template's .txt)
        text/html                                   (the template's .html)
        text/calendar; method=REQUEST; charset=utf-8   (when an iTIP object goes along)
      application/ics; name=invite.ics              (the same object as an attachment)

Without calendar data it is just the multipart/alternative. Templates are looked up in
the admin's folder (``mail_templates``) first, then in the built-in ones, by file name:
``<kind>.subject.txt``, ``<kind>.txt``, ``<kind>.html``.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined

from radicale_tracks.outbox.mail import OutgoingMail

TEMPLATE_KINDS = ("track_created", "meeting_ready", "member_added", "meeting_added",
                  "meeting_changed", "meeting_cancelled", "track_refused", "invitation",
                  "cancellation", "reply", "meeting_current", "counter_declined",
                  "booking_confirmation", "change_followed", "booking_invitation",
                  "booking_changed", "booking_cancelled", "booking_reminder",
                  "booking_reminder_team")


class MailTemplates:
    """The template environments (text and HTML), built once per server."""

    def __init__(self, override_folder: str = "") -> None:
        loaders: list[Any] = []
        if override_folder:
            loaders.append(FileSystemLoader(override_folder))
        loaders.append(PackageLoader("radicale_tracks.mail", "templates"))
        loader = ChoiceLoader(loaders)
        self.text = Environment(loader=loader, autoescape=False, undefined=StrictUndefined,
                                keep_trailing_newline=True)
        self.html = Environment(loader=loader, autoescape=True, undefined=StrictUndefined)

    def render(self, kind: str, context: Mapping[str, Any]) -> tuple[str, str, str]:
        """(subject, text, html) of one kind of mail."""
        subject = self.text.get_template("%s.subject.txt" % kind).render(context)
        subject = " ".join(subject.split())[:200]
        full = dict(context, subject=subject)
        text = self.text.get_template("%s.txt" % kind).render(full)
        html = self.html.get_template("%s.html" % kind).render(full)
        return subject, text, html


def compose_mail(templates: MailTemplates, kind: str, context: Mapping[str, Any], *,
                 sender: str, sender_name: str, recipient: str, recipient_name: str | None,
                 message_id: str, now: datetime.datetime, itip: str | None = None,
                 method: str | None = None, reply_to: str | None = None,
                 envelope_from: str | None = None, track_id: int | None = None,
                 uid: str | None = None) -> OutgoingMail:
    subject, text, html = templates.render(kind, context)
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr((sender_name, sender))
    message["To"] = formataddr((recipient_name or "", recipient))
    if reply_to:
        message["Reply-To"] = reply_to
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = "<%s>" % message_id
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to us
    message["X-Tracks-Kind"] = kind
    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    if itip is not None:
        assert method, "an iTIP object needs its METHOD"
        data = itip if itip.endswith("\r\n") else itip.replace("\r\n", "\n").replace(
            "\n", "\r\n")
        message.add_alternative(data.encode("utf-8"), maintype="text", subtype="calendar",
                                cte="base64", params={"method": method, "charset": "utf-8"})
        message.make_mixed()
        message.add_attachment(data.encode("utf-8"), maintype="application", subtype="ics",
                               filename="invite.ics", cte="base64",
                               params={"method": method})
    return OutgoingMail(
        envelope_from=envelope_from or sender, recipient=recipient, kind=kind,
        subject=subject, message=message.as_string(), message_id=message_id,
        track_id=track_id, uid=uid)


def message_id_for(token: str, domain: str) -> str:
    """A Message-ID (without brackets) from a random token the caller drew."""
    return "%s.tracks@%s" % (token, domain or os.uname().nodename)
