"""Calendar-user addresses, read once (RFC 5545 §3.3.3 CAL-ADDRESS, RFC 6638 §2.4.1).

Clients write ``mailto:``, ``MAILTO:`` or nothing, mix case, and percent-encode ``+`` as
``%2B`` (Outlook). :func:`read_address` is the one validator every boundary uses (CalDAV
writes through the scheduling engine, inbound mail, track members, web booking): it
repairs what has one reading and refuses the rest with a reason, so that a stored or
mailed address is always a valid one. Everything that compares addresses uses
:func:`normalize_address` (its answer, or ``""`` when the value cannot be used).

Repaired, because no other address can be meant: letter case, whitespace around the
value, after the scheme and next to ``@``; a repeated ``mailto:`` (``mailto:mailto:``,
seen from clients that prefix what already carries the scheme); %-escapes (RFC 6068);
angle brackets and a display name around the address (``Bob <bob@x.org>``, KDE's
``Bob%20%3Cbob@x.org%3E``); a trailing dot after the domain. Refused, because a guess
could invite a stranger: whitespace anywhere else (a name run into the address, or a
fold inside it), a missing or second ``@``, an empty value (broken line folding),
Lotus Notes names (``Bob Smith/Acme@Acme``), Exchange's ``invalid:nomail`` and X.500
names. Other URIs (``urn:uuid:…``, principal URLs) are kept for the scheduling engine,
which knows whether they name a user here.

:class:`AddressBook` says whose an address is: a local user's (``<user>@<domain>`` and
aliases), the assistant's, or a track's (``assistant+<token>@<domain>``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote

_SCHEME: Final = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_NAME_ADDR: Final = re.compile(r"^(?P<name>[^<>]*)<(?P<address>[^<>]*)>$", re.S)
_AROUND_AT: Final = re.compile(r"\s*@\s*")
#: RFC 5322 atext; non-ASCII letters too (RFC 6531 internationalised addresses)
_ATOM: Final = re.compile(r"^[\w!#$%&'*+/=?^`{|}~-]+$")
_LABEL: Final = re.compile(r"^(?!-)[\w-]{1,63}(?<!-)$")


@dataclass(frozen=True)
class AddressReading:
    """What one written calendar-user address says.

    ``address`` is the normalised address (``bob@example.org``, or another URI lower-
    cased), ``""`` when the value cannot be used; then ``problem`` says why, as a phrase
    a person understands. ``repairs`` names what was put right.
    """

    written: str
    address: str
    kind: str = ""                  # "mail", "uri", or "" when unusable
    problem: str = ""
    repairs: tuple[str, ...] = ()

    @property
    def usable(self) -> bool:
        return bool(self.address)

    @property
    def is_mail(self) -> bool:
        return self.kind == "mail"


def _refused(written: str, problem: str) -> AddressReading:
    return AddressReading(written, "", "", problem)


def _without_mailto(text: str) -> tuple[str, int]:
    """``text`` without leading ``mailto:`` schemes (and the spaces after them)."""
    count = 0
    while text[:7].lower() == "mailto:":
        text = text[7:].strip()
        count += 1
    return text, count


def read_address(value: str) -> AddressReading:
    """Read a written ORGANIZER/ATTENDEE value (or a bare address) — see the module."""
    written = str(value)
    repairs: list[str] = []
    text, schemes = _without_mailto(written.strip())
    if "%" in text:
        text, more = _without_mailto(unquote(text).strip())
        schemes += more
    if "<" in text or ">" in text:
        match = _NAME_ADDR.match(text)
        if match is None:
            return _refused(written, "an angle bracket does not match")
        repairs.append("a display name around the address" if match.group("name").strip()
                       else "angle brackets around the address")
        text, more = _without_mailto(match.group("address").strip())
        schemes += more
    if schemes > 1:
        repairs.append("a doubled mailto: scheme")
    if not text:
        return _refused(written, "the address is empty (often a line of the invitation "
                                 "was broken)")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        return _refused(written, "the address contains control characters")
    scheme = _SCHEME.match(text)
    if schemes == 0 and (scheme is not None or text.startswith("/")):
        return _other_uri(written, text, scheme.group(1).lower() if scheme else "")
    return _mail_address(written, text, repairs)


def _other_uri(written: str, text: str, scheme: str) -> AddressReading:
    if scheme == "invalid":
        return _refused(written, "the sender's calendar has no e-mail address for this "
                                 "person (Exchange writes invalid:nomail)")
    if re.match(r"(?i)^/o=", text):
        return _refused(written, "this is an Exchange (X.500) directory name, not an "
                                 "e-mail address")
    if any(c.isspace() for c in text):
        return _refused(written, "there is a space inside the address")
    return AddressReading(written, text.lower(), "uri")


def _mail_address(written: str, text: str, repairs: list[str]) -> AddressReading:
    joined = _AROUND_AT.sub("@", text)
    if joined != text:
        repairs.append("spaces next to the @")
        text = joined
    local = text.rpartition("@")[0] if "@" in text else text
    if re.match(r"(?i)^/o=", text):
        return _refused(written, "this is an Exchange (X.500) directory name, not an "
                                 "e-mail address")
    if re.match(r"(?i)^cn=", text) or ("/" in local and " " in local):
        return _refused(written, "this is a Lotus Notes name, not an internet e-mail "
                                 "address")
    if text.startswith('"'):
        return _refused(written, "the part before the @ of %r is quoted; this server "
                                 "only writes to plain addresses" % text)
    if "," in text or ";" in text:
        return _refused(written, "%r names more than one address" % text)
    if any(c.isspace() for c in text):
        return _refused(written, "there is a space inside the address")
    if "@" not in text:
        return _refused(written, "there is no @ and domain in %r" % text)
    if text.count("@") > 1:
        return _refused(written, "there is more than one @ in %r" % text)
    local, _, domain = text.partition("@")
    if domain.endswith(".") and not domain.endswith(".."):
        domain = domain[:-1]
        repairs.append("a trailing dot after the domain")
    if (not local or len(local) > 64
            or not all(part and _ATOM.match(part) for part in local.split("."))):
        return _refused(written, "the part before the @ of %r is not valid" % text)
    labels = domain.split(".")
    if (not domain or len(domain) > 253
            or not all(_LABEL.match(label) and "_" not in label for label in labels)):
        return _refused(written, "%r is not a mail domain" % (domain or "(nothing)"))
    return AddressReading(written, ("%s@%s" % (local, domain)).lower(), "mail",
                          repairs=tuple(repairs))


def normalize_address(value: str) -> str:
    """``MAILTO:Bob%2Btag@Example.ORG`` → ``bob+tag@example.org``; other URIs lower-cased;
    ``""`` for a value that cannot be used (see :func:`read_address`)."""
    return read_address(value).address


def as_uri(address: str) -> str:
    """The ``mailto:`` URI written into iCalendar for a normalised address."""
    return "mailto:" + address


@dataclass(frozen=True)
class AddressBook:
    """Who is who by address: local users, the assistant and its track addresses.

    Every user has ``<user>@<domain>`` plus the aliases of the admin's address map.
    Whether a user exists is the storage's knowledge, not this book's: ``user_of``
    answers "whose address this would be".
    """

    domain: str
    assistant: str
    aliases: Mapping[str, str] = field(default_factory=dict)  # address → user

    @classmethod
    def build(cls, domain: str, assistant: str,
              address_map: Iterable[tuple[str, Iterable[str]]] = ()) -> AddressBook:
        aliases = {normalize_address(a): user for user, found in address_map for a in found}
        return cls(domain.lower(), normalize_address(assistant), aliases)

    def addresses_of(self, user: str) -> frozenset[str]:
        own = {"%s@%s" % (user.lower(), self.domain)}
        own.update(a for a, u in self.aliases.items() if u == user)
        return frozenset(own)

    def user_of(self, address: str) -> str | None:
        address = normalize_address(address)
        if address in self.aliases:
            return self.aliases[address]
        local, _, domain = address.rpartition("@")
        if domain != self.domain or not local or self.is_assistant_side(address):
            return None
        return local

    def is_assistant(self, address: str) -> bool:
        return normalize_address(address) == self.assistant

    def track_token(self, address: str) -> str | None:
        """``assistant+<token>@domain`` → token; None for any other address."""
        local, _, domain = normalize_address(address).rpartition("@")
        base, plus, token = local.partition("+")
        assistant_local, _, assistant_domain = self.assistant.rpartition("@")
        if plus and token and base == assistant_local and domain == assistant_domain:
            return token
        return None

    def is_assistant_side(self, address: str) -> bool:
        return self.is_assistant(address) or self.track_token(address) is not None

    def track_address(self, token: str) -> str:
        local, _, domain = self.assistant.rpartition("@")
        return "%s+%s@%s" % (local, token, domain)
