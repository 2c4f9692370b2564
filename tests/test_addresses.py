"""Calendar-user addresses: normalisation, users and aliases, assistant and track addresses."""

from __future__ import annotations

import pytest

from radicale_tracks.core.addresses import AddressBook, normalize_address

BOOK = AddressBook.build("Example.ORG", "MAILTO:Assistant@example.org",
                         [("alice", ["alice.smith@corp.example", "a@example.org"])])


@pytest.mark.parametrize(("raw", "expected"), [
    ("mailto:bob@example.org", "bob@example.org"),
    ("MAILTO:Bob@Example.ORG", "bob@example.org"),
    ("  bob@example.org ", "bob@example.org"),
    ("mailto:assistant%2Babc@example.org", "assistant+abc@example.org"),
    ("MailTo:Assistant%2bABC@EXAMPLE.org", "assistant+abc@example.org"),
], ids=["lower", "upper-scheme", "bare", "percent-plus", "mixed"])
def test_normalize_address(raw: str, expected: str) -> None:
    assert normalize_address(raw) == expected


def test_users_have_their_default_address_and_aliases() -> None:
    assert BOOK.addresses_of("alice") == frozenset(
        {"alice@example.org", "alice.smith@corp.example", "a@example.org"})
    assert BOOK.addresses_of("bob") == frozenset({"bob@example.org"})
    assert BOOK.user_of("MAILTO:Alice.Smith@Corp.Example") == "alice"
    assert BOOK.user_of("a@example.org") == "alice"
    assert BOOK.user_of("bob@example.org") == "bob"
    assert BOOK.user_of("bob@elsewhere.example") is None


@pytest.mark.parametrize(("address", "token"), [
    ("assistant+3f9a@example.org", "3f9a"),
    ("MAILTO:ASSISTANT%2B3F9A@EXAMPLE.ORG", "3f9a"),
    ("assistant@example.org", None),
    ("assistant+@example.org", None),
    ("assistant+3f9a@elsewhere.example", None),
    ("bob+3f9a@example.org", None),
], ids=["plain", "outlook-encoded", "assistant", "empty-token", "other-domain", "other-user"])
def test_track_tokens(address: str, token: str | None) -> None:
    assert BOOK.track_token(address) == token


def test_assistant_side_addresses_are_nobody_s_user() -> None:
    assert BOOK.is_assistant("mailto:ASSISTANT@example.org")
    assert BOOK.is_assistant_side("assistant+x@example.org")
    assert BOOK.user_of("assistant@example.org") is None
    assert BOOK.user_of("assistant+x@example.org") is None
    assert BOOK.track_address("abc") == "assistant+abc@example.org"
