"""Inbound iMIP mail read as facts (RFC 6047 §2, MIME RFC 2045–2047/2231, RFC 3464, RFC 3834).

This module owns the step from the raw bytes an SMTP peer handed over to an
:class:`InboundMail`: who sent it (From, Sender "on behalf", Reply-To), what it says
(subject, a plain-text body), the calendar parts it carries, decoded to text, the other
attachments, and the header facts a mail service needs before acting on it (a delivery
report, Auto-Submitted, Authentication-Results). :meth:`InboundMail.calendar` picks the
one iMIP part to act on. What the calendar *means* (validation, receipt) is
``core/itip.py``, ``core/validation.py`` and ``core/receipt.py``; whether to trust the
sender is the mail service's decision, made with these facts.

Real clients, not RFC 6047 alone, shape the rules here (``tests/fixtures/imip``):

* Google and Thunderbird send the same object twice: ``text/calendar`` inside a
  ``multipart/alternative`` and ``application/ics; name="invite.ics"`` as an attachment;
* METHOD is in the MIME ``method`` parameter, in the body, or both (old Exchange: body
  only; some legacy mailers: parameter only);
* Outlook leaves long lines unfolded and Exchange base64-encodes LF-only text; .NET
  writers prefix a byte-order mark; older mailers label the part ``iso-8859-1``;
* Apple Mail attaches a ``.ics`` file; others attach ``application/octet-stream`` files
  named ``*.ics``;
* a bounce (``multipart/report``) quotes the original invitation in a ``message/rfc822``
  part: read, that would be a second copy of an invitation we sent ourselves, so nothing
  under a report or an embedded message counts as calendar data.

Pure: no I/O, no clock, no logging. Structure is parsed with the ``compat32`` policy and
headers are decoded here, because the header parser of ``email.policy.default`` raises
on inputs mail can contain (IndexError for a Message-ID of ``<<>>``, RecursionError for
nested comments); :func:`parse_mail` raises nothing but :class:`MailError`.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.utils
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from email.policy import compat32
from html import unescape
from html.parser import HTMLParser

from radicale_tracks.core.addresses import normalize_address
from radicale_tracks.errors import TracksError

#: Media types that are iCalendar whatever the part is called (RFC 5545 §8.1, RFC 6047).
CALENDAR_TYPES = frozenset({"text/calendar", "application/ics"})

#: File name endings of iCalendar attachments sent with another media type.
CALENDAR_SUFFIXES = (".ics", ".ical", ".icalendar", ".ifb")

#: Parts that make a message a delivery report (RFC 3464 §2, RFC 6533 §6).
_DELIVERY_STATUS_TYPES = frozenset({"message/delivery-status",
                                    "message/global-delivery-status"})

#: Deeper nesting than any client writes; parts below are ignored, not an error.
_MAX_DEPTH = 32

#: Labels that mean Windows-1252 in practice (so the WHATWG Encoding Standard maps them).
_LATIN1_LABELS = frozenset({"iso-8859-1", "iso8859-1", "iso_8859-1", "latin-1", "latin1",
                            "l1", "windows-1252", "cp1252"})

#: Python text codecs that are no mail charset: a label naming them is ignored.
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode",
                           "undefined", "charmap", "mbcs", "oem"})

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class MailError(TracksError):
    """The message cannot be read as mail at all; ``reason`` is one sentence naming why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CalendarPart:
    """One iCalendar body part, decoded to text; nothing else about it is interpreted.

    ``text`` has the transfer encoding undone, the charset applied, a byte-order mark
    removed and line endings made CRLF — and nothing else: long lines stay unfolded, so
    what a client wrote is what the iCalendar parser sees.
    """

    text: str
    content_type: str
    filename: str | None
    mime_method: str | None
    body_method: str | None

    @property
    def method(self) -> str | None:
        """The MIME ``method`` parameter, else the body's METHOD (RFC 6047 §2.4)."""
        return self.mime_method or self.body_method

    @property
    def methods_disagree(self) -> bool:
        """Both are given and differ: RFC 6047 §2.4 says they MUST match, so be wary."""
        return (self.mime_method is not None and self.body_method is not None
                and self.mime_method != self.body_method)


@dataclass(frozen=True)
class Attachment:
    """A part that is neither a body nor calendar data: a file the sender attached."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass(frozen=True)
class InboundMail:
    """What a received message says, as facts; deciding what to do is the caller's.

    Addresses are :func:`normalize_address`-ed, Message-IDs are without angle brackets,
    header texts are RFC 2047-decoded and unfolded. ``text_body`` is the first
    ``text/plain`` body that is no attachment (else the text of the first HTML body),
    with LF line ends, stripped. Nothing under a ``multipart/report`` or inside an
    embedded ``message/rfc822`` is a calendar part or an attachment.
    """

    message_id: str | None
    from_address: str | None
    from_name: str | None
    sender_address: str | None  # Sender: the mailbox that sent "on behalf of" From
    reply_to: str | None
    subject: str
    text_body: str
    calendar_parts: tuple[CalendarPart, ...]  # every one, in message order
    attachments: tuple[Attachment, ...]
    is_delivery_report: bool  # multipart/report at the top, or a delivery-status part
    auto_submitted: str | None  # RFC 3834 keyword, lower-cased, parameters dropped
    authentication_results: tuple[str, ...]  # every Authentication-Results, newest first
    size: int
    to_addresses: tuple[str, ...] = ()
    cc_addresses: tuple[str, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()

    def calendar(self) -> CalendarPart | None:
        """The iMIP part to act on, or None.

        Parts that hold the same object are one (Google's and Thunderbird's ``invite.ics``
        repeats the ``text/calendar`` part); among the rest a ``text/calendar`` part with
        a MIME method wins, then a ``text/calendar`` part with a METHOD in its body, then
        any part with a method, then the first — parts that are not iCalendar text at
        all come last.
        """
        if not self.calendar_parts:
            return None
        ranked = sorted(enumerate(self.calendar_parts),
                        key=lambda item: (_preference(item[1]), item[0]))
        return ranked[0][1]

    def distinct_calendar_parts(self) -> tuple[CalendarPart, ...]:
        """One part per distinct object, the preferred copy of each, in message order.

        More than one means the mail carries several different objects and
        :meth:`calendar` chose one of them.
        """
        best: dict[str, tuple[tuple[int, int], int, CalendarPart]] = {}
        first_seen: dict[str, int] = {}
        for index, part in enumerate(self.calendar_parts):
            key = _identity(part.text)
            first_seen.setdefault(key, index)
            rank = _preference(part)
            if key not in best or rank < best[key][0]:
                best[key] = (rank, index, part)
        return tuple(best[key][2] for key in sorted(best, key=first_seen.__getitem__))


# --- entry point -------------------------------------------------------------------------


def parse_mail(raw: bytes) -> InboundMail:
    """Read one RFC 5322 message; raise :class:`MailError` only when it is not mail at all.

    Broken headers become None or ``""``, broken parts are skipped or decoded leniently:
    a message is judged by the caller, on facts, not refused here for a defect.
    """
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise MailError("a message is bytes, this is %s" % type(raw).__name__)
    data = bytes(raw)
    if not data.strip():
        raise MailError("the message is empty")
    try:
        return _parse(data)
    except MailError:
        raise
    except Exception as error:  # the email package's corner cases must not escape
        raise MailError("the message cannot be read as MIME (%s)"
                        % type(error).__name__) from error


def _parse(data: bytes) -> InboundMail:
    message: Message[str, str] = email.message_from_bytes(data, policy=compat32)
    headers = _Headers(message)
    if not headers.names:
        raise MailError("the message has no header fields")
    from_name, from_address = _first_address(headers.get("from"))
    _, sender_address = _first_address(headers.get("sender"))
    _, reply_to = _first_address(headers.get("reply-to"))
    auto_submitted = headers.get("auto-submitted")
    if auto_submitted is not None:  # RFC 3834 §5: keyword *( ";" parameter )
        auto_submitted = _strip_comments(auto_submitted).split(";")[0].strip().lower() or None
    reader = _PartReader(message)
    return InboundMail(
        message_id=_message_id(headers.get("message-id")),
        from_address=from_address,
        from_name=from_name,
        sender_address=sender_address,
        reply_to=reply_to,
        subject=_decode_words(headers.get("subject") or "").strip(),
        text_body=reader.text_body,
        calendar_parts=tuple(reader.calendar_parts),
        attachments=tuple(reader.attachments),
        is_delivery_report=reader.is_delivery_report,
        auto_submitted=auto_submitted,
        authentication_results=tuple(v.strip() for v in
                                     headers.get_all("authentication-results")),
        size=len(data),
        to_addresses=_all_addresses(headers.get_all("to")),
        cc_addresses=_all_addresses(headers.get_all("cc")),
        in_reply_to=_message_id(headers.get("in-reply-to")),
        references=tuple(_message_ids(" ".join(headers.get_all("references")))),
    )


# --- headers ----------------------------------------------------------------------------


class _Headers:
    """The top-level header fields, unfolded, raw 8-bit bytes decoded (UTF-8, else 1252)."""

    def __init__(self, message: Message[str, str]) -> None:
        self.fields: list[tuple[str, str]] = []
        try:
            items = list(message.raw_items())
        except Exception:
            items = []
        for name, value in items:
            try:
                text = _unescape(value if isinstance(value, str) else str(value))
            except Exception:
                continue
            self.fields.append((str(name).strip().lower(), _unfold(text)))
        self.names = {name for name, _ in self.fields}

    def get(self, name: str) -> str | None:
        for found, value in self.fields:
            if found == name:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        return [value for found, value in self.fields if found == name]


def _unescape(value: str) -> str:
    """A header the parser read as ASCII + surrogates, as the text the sender meant."""
    if not any("\udc80" <= char <= "\udcff" for char in value):
        return value
    return _decode_text(value.encode("utf-8", "surrogateescape"), None)


def _unfold(value: str) -> str:
    """RFC 5322 §2.2.3: a line break followed by white space is not part of the value."""
    return _LINE_BREAK.sub("", value)


def _strip_comments(value: str) -> str:
    return re.sub(r"\([^()]*\)", " ", value)


def _first_address(value: str | None) -> tuple[str | None, str | None]:
    """(decoded display name or None, normalised address or None) of the first mailbox."""
    if not value:
        return None, None
    try:
        pairs = email.utils.getaddresses([value])
    except Exception:
        return None, None
    for name, address in pairs:
        address = address.strip()
        if address and not any(char.isspace() for char in address):
            return (_decode_words(name).strip() or None), (normalize_address(address) or None)
    return None, None


def _all_addresses(values: list[str]) -> tuple[str, ...]:
    if not values:
        return ()
    try:
        pairs = email.utils.getaddresses(values)
    except Exception:
        return ()
    found: list[str] = []
    for _, address in pairs:
        address = normalize_address(address)
        if address and not any(char.isspace() for char in address) and address not in found:
            found.append(address)
    return tuple(found)


def _message_ids(value: str) -> list[str]:
    return [found.strip() for found in re.findall(r"<([^<>]*)>", value) if found.strip()]


def _message_id(value: str | None) -> str | None:
    """``<abc@host>`` → ``abc@host``; a bare value is taken as it is."""
    if not value:
        return None
    found = _message_ids(value)
    if found:
        return found[0]
    text = value.strip().strip("<>").strip()
    return text.split()[0] if text else None


def _decode_words(text: str) -> str:
    """Decode RFC 2047 encoded words; white space between adjacent words goes (§6.2).

    Adjacent words in the same charset are decoded together: clients split one UTF-8
    character over two words. A word that does not decode stays as written.
    """
    pieces: list[str] = []
    run: list[bytes] = []  # adjacent encoded words in one charset, not yet decoded
    charset = ""
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[position:match.start()]
        position = match.end()
        decoded = _decode_word(match.group(2), match.group(3))
        word_charset = match.group(1).split("*")[0].lower()
        if run and decoded is not None and not between.strip():
            if word_charset == charset:
                run.append(decoded)
                continue
            between = ""
        if run:
            pieces.append(_decode_text(b"".join(run), charset))
            run = []
        pieces.append(between)
        if decoded is None:
            pieces.append(match.group(0))
        else:
            run, charset = [decoded], word_charset
    if position == 0:
        return text
    if run:
        pieces.append(_decode_text(b"".join(run), charset))
    pieces.append(text[position:])
    return "".join(pieces)


def _decode_word(encoding: str, payload: str) -> bytes | None:
    if not payload.isascii():
        return None
    try:
        if encoding in "qQ":
            return binascii.a2b_qp(payload.encode("ascii"), header=True)
        bare = payload.rstrip("=")
        return base64.b64decode((bare + "=" * (-len(bare) % 4)).encode("ascii"),
                                validate=True)
    except (binascii.Error, ValueError):
        return None


# --- body parts ---------------------------------------------------------------------------


class _PartReader:
    """One walk over the MIME tree: bodies, calendar parts, attachments, report facts.

    The walk enters ``multipart/*`` only — never an embedded ``message/rfc822`` — and under a
    ``multipart/report`` it takes the human-readable text and nothing else.
    """

    def __init__(self, message: Message[str, str]) -> None:
        self.calendar_parts: list[CalendarPart] = []
        self.attachments: list[Attachment] = []
        self.is_delivery_report = _content_type(message) == "multipart/report"
        plain: str | None = None
        html: str | None = None
        for part, in_report in _walk(message):
            content_type = _content_type(part)
            if content_type in _DELIVERY_STATUS_TYPES:
                self.is_delivery_report = True
                continue
            if content_type.startswith("multipart/") and part.is_multipart():
                continue
            filename = _filename(part)
            attached = filename is not None or _disposition(part) == "attachment"
            if content_type == "text/plain" and not attached:
                if plain is None:
                    plain = _text(part)
                continue
            if content_type == "text/html" and not attached:
                if html is None:
                    html = _html_to_text(_text(part))
                continue
            if in_report:
                continue
            if content_type in CALENDAR_TYPES or (
                    filename is not None and filename.lower().endswith(CALENDAR_SUFFIXES)):
                self.calendar_parts.append(_calendar_part(part, content_type, filename))
            elif attached or content_type.startswith("message/"):
                self.attachments.append(Attachment(filename, content_type, _payload(part)))
        self.text_body = (plain if plain is not None else (html or "")).strip()


def _walk(message: Message[str, str]) -> Iterator[tuple[Message[str, str], bool]]:
    """Parts in message order with "inside a report"; containers first, depth-bounded."""
    stack: list[tuple[Message[str, str], bool, int]] = [(message, False, 0)]
    while stack:
        part, in_report, depth = stack.pop()
        yield part, in_report
        content_type = _content_type(part)
        if not content_type.startswith("multipart/") or depth >= _MAX_DEPTH:
            continue
        children = part.get_payload() if part.is_multipart() else None
        if not isinstance(children, list):
            continue
        report = in_report or content_type == "multipart/report"
        for child in reversed(children):
            if isinstance(child, Message):
                stack.append((child, report, depth + 1))


def _content_type(part: Message[str, str]) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "application/octet-stream"


def _param(part: Message[str, str], name: str) -> str | None:
    try:
        value = part.get_param(name)
        if value is None:
            return None
        text = email.utils.collapse_rfc2231_value(value)
    except Exception:
        return None
    text = _unescape(str(text)).strip()
    return text or None


def _filename(part: Message[str, str]) -> str | None:
    """Content-Disposition ``filename`` or Content-Type ``name``, RFC 2231/2047 decoded."""
    try:
        value = part.get_filename()
    except Exception:
        value = None
    if value is None:
        value = _param(part, "name")
    if value is None:
        return None
    text = _decode_words(_unescape(_unfold(str(value)))).strip()
    return text or None


def _disposition(part: Message[str, str]) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _payload(part: Message[str, str]) -> bytes:
    """The transfer-decoded bytes; an embedded message as its own raw bytes."""
    try:
        if part.is_multipart():
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return inner[0].as_bytes()
            return b""
        decoded = part.get_payload(decode=True)
    except Exception:
        decoded = None
    if isinstance(decoded, bytes):
        return decoded
    try:
        raw = part.get_payload()
    except Exception:
        return b""
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _text(part: Message[str, str]) -> str:
    text = _decode_text(_payload(part), _param(part, "charset"))
    return _LINE_BREAK.sub("\n", text)


def _calendar_part(part: Message[str, str], content_type: str,
                   filename: str | None) -> CalendarPart:
    text = _normalize_line_endings(_decode_text(_payload(part), _param(part, "charset")))
    mime_method = _param(part, "method")
    return CalendarPart(text=text, content_type=content_type, filename=filename,
                        mime_method=mime_method.upper() if mime_method else None,
                        body_method=_body_method(text))


# --- text --------------------------------------------------------------------------------


def _decode_text(data: bytes, charset: str | None) -> str:
    """Bytes → text: a byte-order mark, else the declared charset, else UTF-8, else 1252.

    A BOM outranks the label (a .NET writer labels UTF-8 text with a BOM as anything).
    ``iso-8859-1`` is read as Windows-1252, as browsers and mail clients do (Outlook
    labels 1252 text that way); a ``us-ascii`` label on 8-bit text falls through to
    UTF-8. Never raises; a leading BOM is removed.
    """
    candidates: list[str] = []
    if data.startswith(codecs.BOM_UTF8):
        candidates.append("utf-8-sig")
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        candidates.append("utf-16")
    label = (charset or "").strip().strip('"').lower()
    if label in _LATIN1_LABELS:
        candidates.append("cp1252")
    elif label:
        candidates.append(label)
    candidates += ["utf-8", "cp1252"]
    for candidate in candidates:
        if not _is_text_codec(candidate):
            continue
        try:
            text = data.decode(candidate)
        except (UnicodeError, LookupError, ValueError, TypeError):
            continue
        return text[1:] if text.startswith("\ufeff") else text
    text = data.decode("latin-1")
    return text[1:] if text.startswith("\ufeff") else text


def _is_text_codec(name: str) -> bool:
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError, TypeError):
        return False
    return bool(getattr(info, "_is_text_encoding", True)) and info.name not in _NOT_CHARSETS


def _normalize_line_endings(text: str) -> str:
    """CR, LF and CRLF line ends → CRLF (RFC 5545 §3.1), nothing else touched."""
    return _LINE_BREAK.sub("\r\n", text)


def _content_lines(text: str) -> Iterator[str]:
    """Unfolded content lines (RFC 5545 §3.1): CRLF + one space or tab continues a line."""
    current: str | None = None
    for line in _LINE_BREAK.split(text):
        if line[:1] in (" ", "\t") and current is not None:
            current += line[1:]
            continue
        if current is not None:
            yield current
        current = line
    if current is not None:
        yield current


def _split_line(line: str) -> tuple[str, str]:
    """(NAME upper-cased, value) of a content line; the value starts after the first ``:``
    outside a quoted parameter value."""
    quoted = False
    name_end: int | None = None
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif not quoted and char in ";:" and name_end is None:
            name_end = index
            if char == ":":
                return line[:index].strip().upper(), line[index + 1:]
        elif not quoted and char == ":":
            return line[:name_end].strip().upper(), line[index + 1:]
    return line.strip().upper(), ""


def _body_method(text: str) -> str | None:
    """METHOD of the first VCALENDAR, upper-cased, or None; a scan, not a parse: a
    calendar the parser refuses still says what it is."""
    depth = 0
    for line in _content_lines(text):
        name, value = _split_line(line)
        if name == "BEGIN":
            if depth == 0 and value.strip().upper() != "VCALENDAR":
                continue
            depth += 1
        elif name == "END" and depth:
            depth -= 1
            if depth == 0:
                return None
        elif depth == 1 and name == "METHOD":
            return value.strip().upper() or None
    return None


def _identity(text: str) -> str:
    """What two copies of one object share: content lines unfolded, blank lines and
    trailing white space ignored."""
    return "\n".join(line.rstrip() for line in _content_lines(text) if line.strip())


def _looks_like_icalendar(text: str) -> bool:
    return "BEGIN:VCALENDAR" in text[:4096].upper()


def _preference(part: CalendarPart) -> tuple[int, int]:
    """Lower is better; see :meth:`InboundMail.calendar`."""
    is_text_calendar = part.content_type == "text/calendar"
    if is_text_calendar and part.mime_method:
        rank = 0
    elif is_text_calendar and part.body_method:
        rank = 1
    elif part.method:
        rank = 2
    else:
        rank = 3
    return (0 if _looks_like_icalendar(part.text) else 1, rank)


class _HtmlText(HTMLParser):
    """Visible text of an HTML body: no head, style or script; blocks end lines."""

    _HIDDEN = frozenset({"head", "style", "script", "title", "template"})
    _BLOCKS = frozenset({"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6",
                         "table", "ul", "ol", "blockquote", "pre", "hr"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag in self._BLOCKS:
            self.pieces.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self._BLOCKS:
            self.pieces.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.pieces.append(data)


def _html_to_text(html: str) -> str:
    """The text of an HTML body: tags removed, entities unescaped, blank runs collapsed."""
    parser = _HtmlText()
    try:
        parser.feed(html)
        parser.close()
        text = "".join(parser.pieces)
    except Exception:
        text = unescape(re.sub(r"<[^>]*>", " ", html))
    lines = [" ".join(line.split()) for line in text.replace("\xa0", " ").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
