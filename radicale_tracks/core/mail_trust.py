"""Whether to believe who an inbound iTIP mail says it is from (RFC 6047 §3, RFC 8601).

Anyone can write ``From: the-boss@example.com`` and an ORGANIZER to match; an iMIP
REQUEST or CANCEL that we believed blindly would put meetings in, or take them out of,
our users' calendars. RFC 6047 §3 leaves the check to the receiver; ours has three rules,
applied in this order, and the first one that fails is the verdict:

1. *identity*: the envelope sender (SMTP MAIL FROM) or the From header is one of the
   addresses allowed to send this message: the ORGANIZER or its SENT-BY for a REQUEST
   or CANCEL, the replying ATTENDEE for a REPLY. Google sends from the organizer with an
   envelope sender at ``calendar-server.bounces.google.com``; Outlook from the organizer.
   When both match, the From header is the one checked below;
2. *allow-list*: that address, or its domain, is on the admin's allow-list;
3. *authentication*: the admin names the authserv-ids of the MTAs they trust, and the
   topmost Authentication-Results header (RFC 8601) carrying one of those ids shows
   ``dkim=pass`` for the From domain or a parent of it (not a bare top-level domain),
   or ``dmarc=pass`` for that domain. DKIM and DMARC authenticate the From header only
   — never the envelope, which a replayed signed message may carry anything in — so
   here the From header itself must be the expected address. Headers from other ids
   are ignored: anyone can write them. A missing header from a trusted id is a refusal
   too: the mail did not pass our MTA's checks.

   Without a trusted authserv-id nothing is authenticated, so nothing is believed —
   unless the admin opts into believing the addresses as the MTA hands them over
   (``trust_unauthenticated``), e.g. behind an MTA that already refuses forged mail.

The topmost header is the one our MTA added last; RFC 8601 §5 asks it to delete or
rename headers that claim its id on arrival, so one forged below ours is never read, and
one forged above ours cannot come from outside.

Allow-list entries (:func:`allowed_entry` validates them for the config parser):
``example.org`` is that domain only, ``*.example.org`` its subdomains (any depth, not
the domain itself: list both for both), ``bob@example.org`` one address, ``*`` anyone.

Pure: no I/O, no clock, no logging; the :class:`Verdict` says in one sentence why.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from radicale_tracks.core.addresses import normalize_address

#: The config option the allow-list comes from, named in refusals so admins find it.
ALLOW_LIST_OPTION = "inbound_allowed_senders"

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_NOT_IN_LOCAL_PART = set(' \t\r\n<>()[],;:\\"@')


#: The config options named in refusals when nothing could be authenticated.
AUTHSERV_OPTION = "inbound_trusted_authserv_ids"
UNAUTHENTICATED_OPTION = "inbound_trust_unauthenticated_senders"


@dataclass(frozen=True)
class TrustPolicy:
    """The admin's choices: who may send (rule 2), whose authentication we read (rule 3),
    and whether, with no authserv-id to read, unauthenticated addresses are believed."""

    allowed: tuple[str, ...]
    authserv_ids: tuple[str, ...]  # lower-cased; empty: nothing can be authenticated
    trust_unauthenticated: bool = False  # only read when authserv_ids is empty


@dataclass(frozen=True)
class Verdict:
    """``reason`` is one sentence for logs, bounces and the quarantine: which rule failed
    with which values, or, when trusted, what matched."""

    trusted: bool
    reason: str
    matched: str | None  # the expected address that matched; None when not trusted


@dataclass(frozen=True)
class AuthResult:
    """One ``method=result`` of an Authentication-Results header (RFC 8601 §2.2).

    ``properties`` holds ``ptype.property`` values (``header.d``, ``smtp.mailfrom``) and
    the bare ones some MTAs write (``reason``, Microsoft's ``action``), names lower-cased,
    the first of each kept.
    """

    method: str
    result: str
    properties: dict[str, str] = field(hash=False)


# --- Authentication-Results --------------------------------------------------------------


class _Garbage(Exception):
    """The header value does not follow RFC 8601 §2.2 where it matters."""


class _Reader:
    """A cursor over one header value; CFWS (RFC 5322 §3.2.2) is skipped between items."""

    _TOKEN_STOP = set(' \t\r\n()<>@,;:\\"/[]?=')
    _PVALUE_STOP = set(' \t\r\n();"')

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_cfws(self) -> None:
        while not self.at_end():
            char = self.peek()
            if char in " \t\r\n":
                self.pos += 1
            elif char == "(":
                self._skip_comment()
            else:
                return

    def _skip_comment(self) -> None:
        depth = 0
        while not self.at_end():
            char = self.peek()
            self.pos += 1
            if char == "\\":
                self.pos += 1
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
                if depth == 0:
                    return
        raise _Garbage("unterminated comment")

    def expect(self, char: str) -> None:
        if self.peek() != char:
            raise _Garbage("expected %r at %d" % (char, self.pos))
        self.pos += 1

    def quoted(self) -> str:
        self.expect('"')
        out = []
        while not self.at_end():
            char = self.peek()
            self.pos += 1
            if char == "\\":
                out.append(self.peek())
                self.pos += 1
            elif char == '"':
                return "".join(out)
            else:
                out.append(char)
        raise _Garbage("unterminated quoted string")

    def run(self, stop: set[str]) -> str:
        start = self.pos
        while not self.at_end() and self.peek() not in stop:
            self.pos += 1
        return self.text[start:self.pos]

    def value(self) -> str:
        """RFC 2045 ``value``: a token or a quoted string."""
        if self.peek() == '"':
            return self.quoted()
        token = self.run(self._TOKEN_STOP)
        if not token:
            raise _Garbage("expected a value at %d" % self.pos)
        return token

    def keyword(self) -> str:
        start = self.pos
        while not self.at_end() and (self.peek().isalnum() or self.peek() in "-_"):
            self.pos += 1
        if start == self.pos:
            raise _Garbage("expected a keyword at %d" % self.pos)
        return self.text[start:self.pos]

    def pvalue(self) -> str:
        """A property value: a value, or ``[local-part] "@" domain``, read leniently
        (DKIM ``header.b`` holds ``/``, ``+`` and ``=``) up to CFWS or ``;``."""
        parts = []
        while not self.at_end() and self.peek() not in " \t\r\n();":
            parts.append(self.quoted() if self.peek() == '"' else self.run(self._PVALUE_STOP))
        return "".join(parts)


def parse_authentication_results(value: str) -> tuple[str, tuple[AuthResult, ...]]:
    """RFC 8601 §2.2 header value → (authserv-id lower-cased, results).

    Handles comments, quoted strings, a version after the authserv-id or a method,
    ``none``, ``reason=`` and properties. Garbage gives ``("", ())``, never an exception:
    to the caller, an unreadable header is a header that vouches for nothing.
    """
    reader = _Reader(value)
    try:
        reader.skip_cfws()
        authserv_id = reader.value().lower()
        reader.skip_cfws()
        if reader.peek().isdigit():
            reader.run(set(" \t\r\n(;"))
            reader.skip_cfws()
        results: list[AuthResult] = []
        while not reader.at_end():
            reader.expect(";")
            reader.skip_cfws()
            if reader.at_end():
                break  # a trailing ";" is common enough to forgive
            results.extend(_resinfo(reader))
    except _Garbage:
        return "", ()
    return authserv_id, tuple(results)


def _resinfo(reader: _Reader) -> list[AuthResult]:
    """One ``method[/version]=result [reason=…] [ptype.property=value …]``; ``none`` is none."""
    method = reader.keyword().lower()
    reader.skip_cfws()
    if method == "none" and (reader.at_end() or reader.peek() == ";"):
        return []
    if reader.peek() == "/":
        reader.pos += 1
        reader.skip_cfws()
        reader.keyword()
        reader.skip_cfws()
    reader.expect("=")
    reader.skip_cfws()
    result = reader.keyword().lower()
    reader.skip_cfws()
    properties: dict[str, str] = {}
    while not reader.at_end() and reader.peek() != ";":
        name = reader.keyword().lower()
        reader.skip_cfws()
        if reader.peek() == ".":
            reader.pos += 1
            reader.skip_cfws()
            name += "." + reader.keyword().lower()
            reader.skip_cfws()
        reader.expect("=")
        reader.skip_cfws()
        properties.setdefault(name, reader.pvalue())
        reader.skip_cfws()
    return [AuthResult(method, result, properties)]


# --- the verdict -------------------------------------------------------------------------


def judge_sender(policy: TrustPolicy, *, envelope_sender: str | None,
                 from_address: str | None, expected: Iterable[str],
                 authentication_results: Sequence[str],
                 role: str = "ORGANIZER") -> Verdict:
    """Apply the three rules of this module, in order; the first failure is the verdict.

    ``expected``: the addresses that may send this message (ORGANIZER and its SENT-BY, or
    the replying ATTENDEE) in any form (``MAILTO:X``). ``envelope_sender``/``from_address``
    are plain addresses; None, ``""`` or ``<>`` is the null sender. ``authentication_results``
    are the header values in message order, topmost first (as ``Message.get_all`` gives
    them). ``role`` names ``expected`` in the reason ("replying ATTENDEE" for a REPLY).
    """
    wanted = list(dict.fromkeys(a for a in (_plain(x) for x in expected) if a))
    envelope, sender = _plain(envelope_sender), _plain(from_address)
    if not wanted:
        return _refuse("the calendar data names no %s to compare the sender with" % role)
    if sender in wanted:
        matched, via = sender, "From" if envelope != sender else "From and envelope sender"
    elif envelope in wanted:
        matched, via = envelope, "envelope sender"
    else:
        return _refuse("neither the envelope sender %s nor From %s is the %s %s" % (
            envelope or "(null)", sender or "(none)", role, " or ".join(wanted)))

    entry = _allowed_by(policy.allowed, matched)
    if entry is None:
        return _refuse("sender %s is not on the allow-list (%s%s)" % (
            matched, ALLOW_LIST_OPTION, "" if policy.allowed else " is empty"))
    identity = "%s (%s) is the %s and on the allow-list as %s" % (matched, via, role, entry)

    trusted_ids = tuple(i.lower() for i in policy.authserv_ids)
    if not trusted_ids:
        if policy.trust_unauthenticated:
            return Verdict(True, identity + "; not authenticated: the envelope and From "
                           "are believed (%s)" % UNAUTHENTICATED_OPTION, matched)
        return _refuse("sender %s could not be authenticated: this server believes mail "
                       "only when its mail server vouches for the sender (%s is not set)"
                       % (matched, AUTHSERV_OPTION))
    if sender != matched:
        return _refuse("From %s is not the %s %s: only the From address can be "
                       "authenticated (DKIM, DMARC), the envelope sender cannot" % (
                           sender or "(none)", role, matched))
    domain = _domain(matched)
    seen: list[str] = []
    for header in authentication_results:
        authserv_id, results = parse_authentication_results(header)
        if authserv_id not in trusted_ids:
            if authserv_id:
                seen.append(authserv_id)
            continue
        proof = _proof(results, domain)
        if proof is None:
            return _refuse("Authentication-Results from %s: %s for %s" % (
                authserv_id, _summary(results), domain or matched))
        return Verdict(True, "%s, %s at %s" % (identity, proof, authserv_id), matched)
    ids = " or ".join(trusted_ids)
    plural = "s" if len(trusted_ids) > 1 else ""
    only = "; found only %s" % ", ".join(dict.fromkeys(seen)) if seen else ""
    return _refuse("no Authentication-Results from %s (the trusted authserv-id%s)%s" % (
        ids, plural, only))


def _refuse(reason: str) -> Verdict:
    return Verdict(False, reason, None)


def _plain(address: str | None) -> str | None:
    """A normalised address, or None for the null sender (``""``, ``<>``)."""
    if not address:
        return None
    text = normalize_address(address.strip().strip("<>"))
    return text or None


def _domain(address: str) -> str:
    return address.rpartition("@")[2].rstrip(".")


def _allowed_by(entries: Iterable[str], address: str) -> str | None:
    """The first allow-list entry that admits ``address``, or None."""
    domain = _domain(address)
    for raw in entries:
        entry = raw.strip().lower()
        if entry == "*":
            return entry
        if "@" in entry:
            if normalize_address(entry) == address:
                return entry
        elif entry.startswith("*."):
            if domain.endswith(entry[1:]):
                return entry
        elif domain and domain == entry.rstrip("."):
            return entry
    return None


def _proof(results: Sequence[AuthResult], domain: str) -> str | None:
    """The result that vouches for the From ``domain``, written for the reason, or None.

    DKIM: a passing signature aligned with ``domain``: the domain itself or a parent of
    it (``header.d``, else the domain of ``header.i``), never a bare top-level domain.
    DMARC: a pass for ``header.from`` = ``domain``, or without ``header.from`` (DMARC is
    about the From header, which the caller has checked is the expected address).
    """
    if not domain:
        return None
    for result in results:
        if result.method != "dkim" or result.result != "pass":
            continue
        signer = _signing_domain(result)
        if "." in signer and (domain == signer or domain.endswith("." + signer)):
            return "dkim=pass header.d=%s" % signer
    for result in results:
        if result.method != "dmarc" or result.result != "pass":
            continue
        header_from = result.properties.get("header.from", "").lower().rstrip(".")
        if header_from in (domain, ""):
            return "dmarc=pass header.from=%s" % domain
    return None


def _signing_domain(result: AuthResult) -> str:
    signer = result.properties.get("header.d") or _domain(result.properties.get("header.i", ""))
    return signer.lower().rstrip(".")


def _summary(results: Sequence[AuthResult]) -> str:
    """``dkim=pass (header.d=other.test), dmarc=fail (header.from=x.test)``, or a note."""
    parts = []
    for result in results:
        if result.method not in ("dkim", "dmarc"):
            continue
        detail = (_signing_domain(result) if result.method == "dkim"
                  else result.properties.get("header.from", "").lower())
        key = "header.d" if result.method == "dkim" else "header.from"
        parts.append("%s=%s" % (result.method, result.result)
                     + (" (%s=%s)" % (key, detail) if detail else ""))
    return ", ".join(parts) if parts else "no dkim or dmarc result"


# --- configuration -----------------------------------------------------------------------


def allowed_entry(value: str) -> str:
    """One allow-list entry checked and lower-cased, for the config parser.

    Raises ValueError naming the entry and what to write instead; spellings that look
    plausible but mean something else here (``@example.org``, ``.example.org``,
    ``*@example.org``) are refused rather than guessed.
    """
    entry = value.strip().lower()
    if not entry:
        raise ValueError("empty allow-list entry")
    if entry == "*":
        return entry
    if "@" in entry:
        address = normalize_address(entry) or entry   # unusable: the checks say why
        local, _, domain = address.rpartition("@")
        if local in ("", "*"):
            raise ValueError("allow-list entry %r: write %r to allow the whole domain"
                             % (value, domain))
        if set(local) & _NOT_IN_LOCAL_PART:
            raise ValueError("allow-list entry %r: not an e-mail address" % value)
        return "%s@%s" % (local, _checked_domain(domain, value))
    if entry.startswith("*."):
        return "*." + _checked_domain(entry[2:], value)
    if entry.startswith("."):
        raise ValueError("allow-list entry %r: write %r for its subdomains"
                         % (value, "*" + entry))
    if "*" in entry:
        raise ValueError("allow-list entry %r: '*' is allowed alone or as a leading '*.'"
                         % value)
    return _checked_domain(entry, value)


def _checked_domain(domain: str, value: str) -> str:
    name = domain.rstrip(".")
    if not name.isascii():
        raise ValueError("allow-list entry %r: write an internationalised domain in its "
                         "xn-- form" % value)
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise ValueError("allow-list entry %r: %r is not a domain name" % (value, domain))
    return name
