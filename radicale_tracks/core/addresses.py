"""Calendar-user addresses, normalised once (RFC 5545 §3.3.3 CAL-ADDRESS, RFC 6638 §2.4.1).

Clients write ``mailto:``, ``MAILTO:`` or nothing, mix case, and percent-encode ``+`` as
``%2B`` (Outlook). Everything that compares addresses uses :func:`normalize_address`.
:class:`AddressBook` says whose an address is: a local user's (``<user>@<domain>`` and
aliases), the assistant's, or a track's (``assistant+<token>@<domain>``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping
from urllib.parse import unquote


def normalize_address(value: str) -> str:
    """``MAILTO:Bob%2Btag@Example.ORG`` → ``bob+tag@example.org``; other URIs lower-cased."""
    text = value.strip()
    if text[:7].lower() == "mailto:":
        text = text[7:]
    return unquote(text).strip().lower()


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
              address_map: Iterable[tuple[str, Iterable[str]]] = ()) -> "AddressBook":
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
