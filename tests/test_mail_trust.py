"""Inbound mail trust: Authentication-Results parsing (RFC 8601) and the sender verdict."""

from __future__ import annotations

import pytest

from radicale_tracks.core.mail_trust import (
    AuthResult,
    TrustPolicy,
    allowed_entry,
    judge_sender,
    parse_authentication_results,
)

# --- Authentication-Results --------------------------------------------------------------

GMAIL = ("mx.google.com; dkim=pass header.i=@gmail.test header.s=20230601 header.b=Ab3+/x=; "
         "spf=pass (google.com: domain of olivia@gmail.test designates 192.0.2.10 as "
         "permitted sender) smtp.mailfrom=olivia@gmail.test; dmarc=pass (p=NONE sp=QUARANTINE "
         "dis=NONE) header.from=gmail.test")
MICROSOFT = ("mx.microsoft.test 1; spf=pass (sender ip is 192.0.2.7) smtp.mailfrom=contoso.test; "
             "dkim=pass (signature was verified) header.d=contoso.test;dmarc=pass action=none "
             "header.from=contoso.test;compauth=pass reason=100")


@pytest.mark.parametrize(("value", "expected"), [
    ("mail.example.test 1; none", ("mail.example.test", ())),
    ("mail.example.test; none", ("mail.example.test", ())),
    ("mail.example.test; spf=pass smtp.mailfrom=sender.test",
     ("mail.example.test", (AuthResult("spf", "pass", {"smtp.mailfrom": "sender.test"}),))),
    ("mail.example.test; auth=pass (cram-md5) smtp.auth=sender@sender.test;\r\n"
     "\tspf=pass smtp.mailfrom=sender.test",
     ("mail.example.test", (AuthResult("auth", "pass", {"smtp.auth": "sender@sender.test"}),
                            AuthResult("spf", "pass", {"smtp.mailfrom": "sender.test"})))),
    ("(edge) mail.example.test (v) 1 (x) ; (a) dkim (b) = (c) pass (d) header (e) . (f) d "
     "(g) = (h) sender.test (i (nested)) ",
     ("mail.example.test", (AuthResult("dkim", "pass", {"header.d": "sender.test"}),))),
    ('mail.example.test; dkim=fail reason="bad; (really) \\"bad\\"" header.d=sender.test',
     ("mail.example.test", (AuthResult("dkim", "fail", {
         "reason": 'bad; (really) "bad"', "header.d": "sender.test"}),))),
    ('"mail.example.test"; dkim/1=neutral header.d=sender.test',
     ("mail.example.test", (AuthResult("dkim", "neutral", {"header.d": "sender.test"}),))),
    ("MAIL.Example.TEST; DKIM=Pass Header.D=Sender.TEST",
     ("mail.example.test", (AuthResult("dkim", "pass", {"header.d": "Sender.TEST"}),))),
    ('mail.example.test; auth=pass smtp.auth="first last"@sender.test;',
     ("mail.example.test", (
         AuthResult("auth", "pass", {"smtp.auth": "first last@sender.test"}),))),
    (GMAIL, ("mx.google.com", (
        AuthResult("dkim", "pass", {"header.i": "@gmail.test", "header.s": "20230601",
                                    "header.b": "Ab3+/x="}),
        AuthResult("spf", "pass", {"smtp.mailfrom": "olivia@gmail.test"}),
        AuthResult("dmarc", "pass", {"header.from": "gmail.test"})))),
    (MICROSOFT, ("mx.microsoft.test", (
        AuthResult("spf", "pass", {"smtp.mailfrom": "contoso.test"}),
        AuthResult("dkim", "pass", {"header.d": "contoso.test"}),
        AuthResult("dmarc", "pass", {"action": "none", "header.from": "contoso.test"}),
        AuthResult("compauth", "pass", {"reason": "100"})))),
], ids=["none-versioned", "none", "spf", "two-results-folded", "comments-everywhere",
        "quoted-reason", "quoted-id-method-version", "case", "quoted-local-part", "gmail",
        "microsoft"])
def test_parse_authentication_results(value: str, expected: tuple[str, tuple[AuthResult, ...]]
                                      ) -> None:
    assert parse_authentication_results(value) == expected


@pytest.mark.parametrize("value", [
    "", "   ", "(only a comment)", "(unterminated comment", 'mail.example.test; dkim="x',
    "mail.example.test dkim=pass", "mail.example.test; dkim=", "mail.example.test; =pass",
    "mail.example.test;; dkim=pass", "mail.example.test; dkim=pass header.d",
    # Microsoft 365 writes no authserv-id: such a header vouches for nothing.
    "spf=pass (sender IP is 192.0.2.7) smtp.mailfrom=contoso.test; "
    "dkim=pass header.d=contoso.test",
])
def test_garbage_authentication_results(value: str) -> None:
    assert parse_authentication_results(value) == ("", ())


# --- the verdict -------------------------------------------------------------------------

OURS = "mx.example.org"
POLICY = TrustPolicy(allowed=("gmail.test", "bob@partner.test", "*.corp.test"),
                     authserv_ids=(OURS,))
ANYONE = TrustPolicy(allowed=("*",), authserv_ids=(OURS,))
GOOGLE_BOUNCE = "xyz123@calendar-server.bounces.google.test"


def ar(results: str, authserv_id: str = OURS) -> str:
    return "%s; %s" % (authserv_id, results)


DKIM_GMAIL = ar("dkim=pass header.i=@gmail.test header.s=s1 header.b=abc; "
                "spf=pass smtp.mailfrom=calendar-server.bounces.google.test; "
                "dmarc=pass header.from=gmail.test")


def test_google_invitation_matches_by_from() -> None:
    verdict = judge_sender(POLICY, envelope_sender=GOOGLE_BOUNCE,
                           from_address="Olivia@Gmail.test",
                           expected=["MAILTO:olivia@gmail.test"],
                           authentication_results=[DKIM_GMAIL])
    assert verdict.trusted
    assert verdict.matched == "olivia@gmail.test"
    assert "olivia@gmail.test (From) is the ORGANIZER" in verdict.reason
    assert "dkim=pass header.d=gmail.test" in verdict.reason
    assert OURS in verdict.reason


def test_match_by_envelope_sender_only_when_the_envelope_is_trusted() -> None:
    policy = TrustPolicy(allowed=("gmail.test",), authserv_ids=(), trust_unauthenticated=True)
    verdict = judge_sender(policy, envelope_sender="olivia@gmail.test",
                           from_address="calendar-notification@gmail.test",
                           expected=["mailto:olivia@gmail.test"], authentication_results=[])
    assert verdict.trusted
    assert verdict.matched == "olivia@gmail.test"
    assert "(envelope sender)" in verdict.reason


def test_an_envelope_sender_match_is_not_authenticated_by_dkim() -> None:
    """DKIM and DMARC authenticate the From header, never the envelope: a message a
    gmail.test user had signed (From: themselves, ORGANIZER: olivia) and replayed with
    MAIL FROM olivia@gmail.test must not pass as olivia's."""
    verdict = judge_sender(POLICY, envelope_sender="olivia@gmail.test",
                           from_address="mallory@gmail.test",
                           expected=["mailto:olivia@gmail.test"],
                           authentication_results=[ar(
                               "dkim=pass header.d=gmail.test; dmarc=pass "
                               "header.from=gmail.test")])
    assert not verdict.trusted and verdict.matched is None
    assert verdict.reason == (
        "From mallory@gmail.test is not the ORGANIZER olivia@gmail.test: only the From "
        "address can be authenticated (DKIM, DMARC), the envelope sender cannot")


def test_from_is_preferred_when_both_match() -> None:
    verdict = judge_sender(POLICY, envelope_sender="assistant@gmail.test",
                           from_address="olivia@gmail.test",
                           expected=["mailto:olivia@gmail.test", "mailto:assistant@gmail.test"],
                           authentication_results=[DKIM_GMAIL])
    assert verdict.matched == "olivia@gmail.test"


def test_sent_by_may_send() -> None:
    verdict = judge_sender(POLICY, envelope_sender="assistant@gmail.test",
                           from_address="assistant@gmail.test",
                           expected=["mailto:boss@gmail.test", "MAILTO:Assistant@gmail.test"],
                           authentication_results=[DKIM_GMAIL])
    assert verdict.trusted
    assert verdict.matched == "assistant@gmail.test"
    assert "(From and envelope sender)" in verdict.reason


def test_reply_from_the_attendee() -> None:
    verdict = judge_sender(POLICY, envelope_sender="bob@partner.test",
                           from_address="bob@partner.test", expected=["mailto:bob@partner.test"],
                           authentication_results=[ar("dkim=pass header.d=partner.test")],
                           role="replying ATTENDEE")
    assert verdict.trusted
    assert verdict.matched == "bob@partner.test"
    assert "is the replying ATTENDEE and on the allow-list as bob@partner.test" in verdict.reason


def test_reply_from_someone_else() -> None:
    verdict = judge_sender(POLICY, envelope_sender="carol@partner.test",
                           from_address="carol@partner.test", expected=["mailto:bob@partner.test"],
                           authentication_results=[ar("dkim=pass header.d=partner.test")],
                           role="replying ATTENDEE")
    assert not verdict.trusted
    assert verdict.matched is None
    assert verdict.reason == ("neither the envelope sender carol@partner.test nor From "
                              "carol@partner.test is the replying ATTENDEE bob@partner.test")


def test_mismatch_is_refused() -> None:
    verdict = judge_sender(POLICY, envelope_sender="mallory@evil.test",
                           from_address="mallory@evil.test",
                           expected=["mailto:olivia@gmail.test", "mailto:assistant@gmail.test"],
                           authentication_results=[ar("dkim=pass header.d=evil.test")])
    assert not verdict.trusted
    assert verdict.reason == ("neither the envelope sender mallory@evil.test nor From "
                              "mallory@evil.test is the ORGANIZER olivia@gmail.test or "
                              "assistant@gmail.test")


def test_no_organizer_is_refused() -> None:
    verdict = judge_sender(POLICY, envelope_sender="olivia@gmail.test",
                           from_address="olivia@gmail.test", expected=[],
                           authentication_results=[DKIM_GMAIL])
    assert not verdict.trusted
    assert "names no ORGANIZER" in verdict.reason


@pytest.mark.parametrize(("allowed", "address", "trusted"), [
    (("gmail.test",), "olivia@gmail.test", True),
    (("gmail.test",), "olivia@mail.gmail.test", False),
    (("GMAIL.test",), "olivia@gmail.test", True),
    (("bob@partner.test",), "bob@partner.test", True),
    (("bob@partner.test",), "alice@partner.test", False),
    (("*",), "anyone@anywhere.test", True),
    (("*.corp.test",), "a@eu.corp.test", True),
    (("*.corp.test",), "a@x.eu.corp.test", True),
    (("*.corp.test",), "a@corp.test", False),
    (("*.corp.test",), "a@evilcorp.test", False),
    (("corp.test", "*.corp.test"), "a@corp.test", True),
    ((), "olivia@gmail.test", False),
], ids=["domain", "domain-not-subdomain", "domain-case", "address", "other-address",
        "anyone", "subdomain", "deep-subdomain", "subdomain-rule-not-apex", "lookalike",
        "apex-and-subdomains", "empty-list"])
def test_allow_list(allowed: tuple[str, ...], address: str, trusted: bool) -> None:
    verdict = judge_sender(TrustPolicy(allowed=allowed, authserv_ids=(),
                                       trust_unauthenticated=True),
                           envelope_sender=address, from_address=address,
                           expected=["mailto:" + address], authentication_results=[])
    assert verdict.trusted is trusted
    if not trusted:
        assert verdict.reason.startswith(
            "sender %s is not on the allow-list (inbound_allowed_senders" % address)
    else:
        assert verdict.reason.endswith("; not authenticated: the envelope and From are "
                                       "believed (inbound_trust_unauthenticated_senders)")


# --- no trusted authserv-id --------------------------------------------------------------

FORGED_FROM_US = dict(envelope_sender="alice@example.org", from_address="alice@example.org",
                      expected=["mailto:alice@example.org"])
NOT_AUTHENTICATED = ("sender alice@example.org could not be authenticated: this server "
                     "believes mail only when its mail server vouches for the sender "
                     "(inbound_trusted_authserv_ids is not set)")


@pytest.mark.parametrize("headers", [
    [],
    ["mx.evil.test; dkim=pass header.d=example.org; dmarc=pass header.from=example.org"],
    ["mx.example.org; dkim=pass header.d=example.org"],
], ids=["no-header", "forged-header", "header-of-an-id-nobody-named"])
def test_without_a_trusted_authserv_id_nothing_is_believed_by_default(
        headers: list[str]) -> None:
    policy = TrustPolicy(allowed=("example.org",), authserv_ids=())
    verdict = judge_sender(policy, authentication_results=headers, **FORGED_FROM_US)
    assert not verdict.trusted and verdict.matched is None
    assert verdict.reason == NOT_AUTHENTICATED


def test_the_default_policy_trusts_nobody_unauthenticated() -> None:
    assert TrustPolicy(allowed=("*",), authserv_ids=()).trust_unauthenticated is False


def test_opting_in_believes_the_addresses_as_given() -> None:
    policy = TrustPolicy(allowed=("example.org",), authserv_ids=(), trust_unauthenticated=True)
    verdict = judge_sender(policy, authentication_results=[], **FORGED_FROM_US)
    assert verdict.trusted and verdict.matched == "alice@example.org"
    assert "not authenticated" in verdict.reason
    # the allow-list and the identity rule still apply
    assert not judge_sender(policy, envelope_sender="eve@evil.test",
                            from_address="eve@evil.test", expected=["mailto:eve@evil.test"],
                            authentication_results=[]).trusted


def test_allow_list_is_checked_on_the_matched_address() -> None:
    verdict = judge_sender(POLICY, envelope_sender=GOOGLE_BOUNCE,
                           from_address="olivia@elsewhere.test",
                           expected=["mailto:olivia@elsewhere.test"],
                           authentication_results=[DKIM_GMAIL])
    assert verdict.reason == ("sender olivia@elsewhere.test is not on the allow-list "
                              "(inbound_allowed_senders)")


@pytest.mark.parametrize(("address", "results", "trusted"), [
    ("olivia@gmail.test", "dkim=pass header.d=gmail.test", True),
    ("olivia@gmail.test", "dkim=pass header.i=olivia@gmail.test", True),
    ("olivia@eu.corp.test", "dkim=pass header.d=corp.test", True),
    ("olivia@eu.corp.test", "dkim=pass header.i=@corp.test", True),
    ("olivia@corp.test", "dkim=pass header.d=eu.corp.test", False),
    ("olivia@gmail.test", "dkim=pass header.d=evil.test; dmarc=fail header.from=gmail.test",
     False),
    ("olivia@gmail.test", "dkim=pass header.d=ail.test", False),
    ("olivia@gmail.test", "dkim=fail header.d=gmail.test", False),
    ("olivia@gmail.test", "dkim=pass", False),
    ("olivia@gmail.test", "dkim=fail header.d=gmail.test; dmarc=pass header.from=gmail.test",
     True),
    ("olivia@gmail.test", "dmarc=pass header.from=evil.test", False),
    ("olivia@gmail.test", "dmarc=pass", True),
    ("olivia@gmail.test", "spf=pass smtp.mailfrom=gmail.test", False),
    ("olivia@gmail.test", "none", False),
    ("alice@example.org", "dkim=pass header.d=example.org; dmarc=pass header.from=example.org",
     True),
    ("alice@example.org", "dkim=pass header.d=example.org.evil.test", False),
    ("alice@example.org", "dkim=pass header.d=evil.test; dmarc=pass header.from=evil.test",
     False),
    ("alice@example.org", "dkim=pass header.d=org", False),
    ("alice@example.org", "dkim=pass header.d=example.org.", True),
    ("alice@example.org", "dkim=pass header.i=@org", False),
], ids=["dkim-same-domain", "dkim-header-i", "dkim-parent-domain", "dkim-parent-header-i",
        "dkim-child-domain", "dkim-unrelated", "dkim-lookalike-suffix", "dkim-fail",
        "dkim-no-domain", "dmarc-pass", "dmarc-other-domain", "dmarc-without-header-from",
        "spf-is-not-enough", "none", "dkim-and-dmarc-aligned", "dkim-domain-as-prefix",
        "dkim-and-dmarc-of-the-forger", "dkim-top-level-domain", "dkim-trailing-dot",
        "dkim-header-i-top-level-domain"])
def test_authentication(address: str, results: str, trusted: bool) -> None:
    verdict = judge_sender(ANYONE, envelope_sender=None, from_address=address,
                           expected=["mailto:" + address], authentication_results=[ar(results)])
    assert verdict.trusted is trusted, verdict.reason
    assert (verdict.matched == address) is trusted


def test_dkim_for_an_unrelated_domain_names_what_was_found() -> None:
    results = ar("dkim=pass header.d=evil.test; dmarc=fail header.from=gmail.test")
    verdict = judge_sender(ANYONE, envelope_sender=None, from_address="olivia@gmail.test",
                           expected=["mailto:olivia@gmail.test"],
                           authentication_results=[results])
    assert verdict.reason == ("Authentication-Results from mx.example.org: dkim=pass "
                              "(header.d=evil.test), dmarc=fail (header.from=gmail.test) "
                              "for gmail.test")


def test_dmarc_without_header_from_does_not_vouch_for_the_envelope_sender() -> None:
    verdict = judge_sender(ANYONE, envelope_sender="olivia@gmail.test",
                           from_address="noreply@other.test",
                           expected=["mailto:olivia@gmail.test"],
                           authentication_results=[ar("dmarc=pass")])
    assert not verdict.trusted


def test_trusting_the_envelope_does_not_skip_a_configured_check() -> None:
    """With a trusted authserv-id the opt-in has nothing to add: the settings refuse both
    together, and the verdict still wants the header."""
    policy = TrustPolicy(allowed=("gmail.test",), authserv_ids=(OURS,),
                         trust_unauthenticated=True)
    verdict = judge_sender(policy, envelope_sender=None, from_address="olivia@gmail.test",
                           expected=["mailto:olivia@gmail.test"], authentication_results=[])
    assert not verdict.trusted


def test_no_header_from_the_trusted_authserv_id() -> None:
    verdict = judge_sender(POLICY, envelope_sender=GOOGLE_BOUNCE, from_address="olivia@gmail.test",
                           expected=["mailto:olivia@gmail.test"], authentication_results=[])
    assert verdict.reason == ("no Authentication-Results from mx.example.org "
                              "(the trusted authserv-id)")


def test_a_header_only_from_an_untrusted_authserv_id_is_ignored() -> None:
    verdict = judge_sender(POLICY, envelope_sender=GOOGLE_BOUNCE, from_address="olivia@gmail.test",
                           expected=["mailto:olivia@gmail.test"],
                           authentication_results=[GMAIL, ar("dkim=pass header.d=gmail.test",
                                                             "mx.forger.test")])
    assert not verdict.trusted
    assert verdict.reason == ("no Authentication-Results from mx.example.org (the trusted "
                              "authserv-id); found only mx.google.com, mx.forger.test")


def test_garbage_from_the_trusted_authserv_id_counts_as_missing() -> None:
    verdict = judge_sender(POLICY, envelope_sender=None, from_address="olivia@gmail.test",
                           expected=["mailto:olivia@gmail.test"],
                           authentication_results=["mx.example.org; dkim=pass (oops"])
    assert not verdict.trusted
    assert verdict.reason.startswith("no Authentication-Results from mx.example.org")


def test_a_forged_header_below_ours_is_not_read() -> None:
    forged = ar("dkim=pass header.d=gmail.test; dmarc=pass header.from=gmail.test")
    ours = ar("dkim=fail header.d=gmail.test; dmarc=fail header.from=gmail.test")
    verdict = judge_sender(POLICY, envelope_sender="mallory@evil.test",
                           from_address="olivia@gmail.test",
                           expected=["mailto:olivia@gmail.test"],
                           authentication_results=[ours, forged])
    assert not verdict.trusted
    assert verdict.reason == ("Authentication-Results from mx.example.org: dkim=fail "
                              "(header.d=gmail.test), dmarc=fail (header.from=gmail.test) "
                              "for gmail.test")


def test_a_forged_failure_below_ours_does_not_spoil_a_pass() -> None:
    verdict = judge_sender(POLICY, envelope_sender=GOOGLE_BOUNCE, from_address="olivia@gmail.test",
                           expected=["mailto:olivia@gmail.test"],
                           authentication_results=[DKIM_GMAIL,
                                                   ar("dkim=fail header.d=gmail.test")])
    assert verdict.trusted


def test_an_untrusted_pass_above_ours_does_not_count() -> None:
    verdict = judge_sender(POLICY, envelope_sender=GOOGLE_BOUNCE, from_address="olivia@gmail.test",
                           expected=["mailto:olivia@gmail.test"],
                           authentication_results=[GMAIL, ar("dkim=fail header.d=gmail.test")])
    assert not verdict.trusted
    assert verdict.reason == ("Authentication-Results from mx.example.org: dkim=fail "
                              "(header.d=gmail.test) for gmail.test")


def test_any_of_several_trusted_authserv_ids() -> None:
    policy = TrustPolicy(allowed=("gmail.test",), authserv_ids=("mx1.example.org",
                                                                "mx2.example.org"))
    verdict = judge_sender(policy, envelope_sender=None, from_address="olivia@gmail.test",
                           expected=["mailto:olivia@gmail.test"],
                           authentication_results=[ar("dkim=pass header.d=gmail.test",
                                                      "MX2.example.org")])
    assert verdict.trusted
    missing = judge_sender(policy, envelope_sender=None, from_address="olivia@gmail.test",
                           expected=["mailto:olivia@gmail.test"], authentication_results=[])
    assert missing.reason == ("no Authentication-Results from mx1.example.org or "
                              "mx2.example.org (the trusted authserv-ids)")


@pytest.mark.parametrize("null", [None, "", "<>"], ids=["none", "empty", "brackets"])
def test_null_envelope_sender(null: str | None) -> None:
    verdict = judge_sender(POLICY, envelope_sender=null, from_address="olivia@gmail.test",
                           expected=["mailto:olivia@gmail.test"],
                           authentication_results=[DKIM_GMAIL])
    assert verdict.trusted
    assert verdict.matched == "olivia@gmail.test"
    nobody = judge_sender(POLICY, envelope_sender=null, from_address=None,
                          expected=["mailto:olivia@gmail.test"],
                          authentication_results=[DKIM_GMAIL])
    assert not nobody.trusted
    assert nobody.reason == ("neither the envelope sender (null) nor From (none) is the "
                             "ORGANIZER olivia@gmail.test")


# --- allow-list entries ------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("Example.ORG", "example.org"),
    (" example.org. ", "example.org"),
    ("*.Example.org", "*.example.org"),
    ("Bob@Example.com", "bob@example.com"),
    ("mailto:Bob%2Btag@example.com", "bob+tag@example.com"),
    ("*", "*"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("localhost", "localhost"),
])
def test_allowed_entry(value: str, expected: str) -> None:
    assert allowed_entry(value) == expected


@pytest.mark.parametrize(("value", "hint"), [
    ("", "empty"),
    ("@example.org", "'example.org'"),
    ("*@example.org", "'example.org'"),
    (".example.org", "'*.example.org'"),
    ("ex*ample.org", "leading"),
    ("**", "leading"),
    ("*.", "not a domain"),
    ("exa mple.org", "not a domain"),
    ("example..org", "not a domain"),
    ("-bad.example", "not a domain"),
    ("bücher.example", "xn--"),
    ("a b@example.org", "not an e-mail address"),
    ("a@b@example.org", "not an e-mail address"),
    ("bob@", "not a domain"),
])
def test_allowed_entry_refuses_garbage(value: str, hint: str) -> None:
    with pytest.raises(ValueError, match="(?i)" + hint.replace("*", r"\*").replace(".", r"\.")):
        allowed_entry(value)
