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


# -- what real clients write, read by the one validator ------------------------------------

from radicale_tracks.core.addresses import read_address  # noqa: E402

REPAIRED = [
    # (written, address, what was repaired)
    ("MAILTO:Bob.Smith@Outlook.TEST", "bob.smith@outlook.test", ()),          # Outlook
    ("mailto:mailto:bob@example.org", "bob@example.org", ("scheme",)),
    ("MAILTO:mailto:Bob@Example.org", "bob@example.org", ("scheme",)),
    ("mailto:mailto:mailto:bob@example.org", "bob@example.org", ("scheme",)),
    ("mailto: bob@example.org", "bob@example.org", ()),                         # CDO fold
    (" MAILTO:MHMN002@notes.test", "mhmn002@notes.test", ()),                   # CDO ':' line
    ("mailto:bob@zimbra.test  ", "bob@zimbra.test", ()),                        # Zimbra
    ("mailto:bob @ example.org", "bob@example.org", ("@",)),
    ("mailto:<bob@example.org>", "bob@example.org", ("brackets",)),
    ("<mailto:bob@example.org>", "bob@example.org", ("brackets",)),
    ("mailto:Bob Smith <bob@kde.test>", "bob@kde.test", ("display name",)),
    ("mailto:Bob%20Smith%20%3Cbob@kde.test%3E", "bob@kde.test", ("display name",)),  # KDE
    ('mailto:"Smith, Bob" <bob@example.org>', "bob@example.org", ("display name",)),
    ("mailto:bob%40example.org", "bob@example.org", ()),                        # RFC 6068
    ("mailto:assistant%2Btoken@example.org", "assistant+token@example.org", ()),
    ("mailto:bob@example.org.", "bob@example.org", ("dot",)),
    ("mailto:jörg@müller.test", "jörg@müller.test", ()),                        # RFC 6531
    ("bob@localhost", "bob@localhost", ()),
]


@pytest.mark.parametrize(("written", "address", "repairs"), REPAIRED,
                         ids=[r[0] for r in REPAIRED])
def test_unambiguous_faults_are_repaired(written: str, address: str,
                                         repairs: tuple[str, ...]) -> None:
    reading = read_address(written)
    assert (reading.address, reading.problem, reading.kind) == (address, "", "mail")
    assert normalize_address(written) == address
    for word in repairs:
        assert any(word in repair for repair in reading.repairs), reading.repairs
    if not repairs:
        assert reading.repairs == ()


REFUSED = [
    # (written, a word of the reason)
    ("", "empty"),
    ("mailto:", "empty"),
    ("MAILTO:  ", "empty"),
    ("mailto:mailto:", "empty"),
    ("mailto:bob", "no @"),
    ("mailto:bob smith@example.org", "space"),                   # a name run into it
    ("mailto:bob@exam ple.org", "space"),                        # a fold inside the domain
    ("mailto:bob@@example.org", "more than one @"),
    ("mailto:a%40b@example.org", "more than one @"),
    ("mailto:@example.org", "before the @"),
    ("mailto:bob.@example.org", "before the @"),
    ('mailto:"bob smith"@example.org', "before the @"),
    ("mailto:bob@", "domain"),
    ("mailto:bob@-example.org", "domain"),
    ("mailto:bob@example..org", "domain"),
    ("mailto:bob@[192.0.2.1]", "domain"),
    ("mailto:bob@example.org,carol@example.org", "more than one address"),
    ("mailto:Bob Smith/Acme@Acme", "Lotus Notes"),              # Notes hierarchical name
    ("mailto:CN=Bob Smith/O=Acme@Acme", "Lotus Notes"),
    ("CN=Bob Smith/OU=Sales/O=Acme", "Lotus Notes"),
    ("invalid:nomail", "no e-mail address"),                    # Exchange, no SMTP address
    ("mailto:/O=EXCHANGELABS/OU=EXCHANGE ADMINISTRATIVE GROUP/CN=RECIPIENTS/CN=BOB",
     "Exchange"),
    ("/O=EXCHANGELABS/OU=FYDIBOHF23SPDLT/CN=RECIPIENTS/CN=bob", "Exchange"),
    ("mailto:Bob Smith <bob@example.org", "angle bracket"),
    ("mailto:bob@example.org>", "angle bracket"),
    ("mailto:<>", "empty"),
    ("mailto:bob\x00@example.org", "control"),
    ("mailto:" + "b" * 65 + "@example.org", "before the @"),
]


@pytest.mark.parametrize(("written", "word"), REFUSED, ids=[r[0][:40] for r in REFUSED])
def test_everything_else_is_refused_with_a_reason(written: str, word: str) -> None:
    reading = read_address(written)
    assert reading.address == "" and reading.kind == ""
    assert word.lower() in reading.problem.lower(), reading.problem
    assert normalize_address(written) == ""


@pytest.mark.parametrize("written", [
    "urn:uuid:00000000-0000-0000-0000-000000000000",           # Apple
    "/bob/", "https://cal.example.org/bob/", "urn:x-uid:ABC"])
def test_other_calendar_user_uris_are_uris(written: str) -> None:
    reading = read_address(written)
    assert reading.kind == "uri" and reading.address == written.lower()
