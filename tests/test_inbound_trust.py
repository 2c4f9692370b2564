"""End to end: who inbound mail is believed to be from, with each trust setting.

The forgery of issue 16: ``From: alice@example.org`` (our own domain, on the default
allow-list) sent from anywhere, without any ``Authentication-Results``. Each setting gets
its own config, the real ``radicale-tracks deliver`` (subprocess, as Postfix's pipe runs
it), the real CLI for the quarantine and a real SMTP server (aiosmtpd) for what the
assistant answers. ``deliver`` needs no running server: it opens the storage itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from databases import fresh_database
from helpers import RadicaleServer
from inbound_mta import Inbound, invitation
from mailserver import MailSink
from worlds import server_options

ORGANIZER = "alice@example.org"
TRUSTED = "mx.example.org"
ALIGNED = ("Authentication-Results: %s; dkim=pass header.d=example.org header.s=s1; "
           "dmarc=pass header.from=example.org\r\n")


@pytest.fixture(scope="module")
def sink() -> Iterator[MailSink]:
    sink = MailSink().start()
    yield sink
    sink.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def world(tmp_path: Path, backend: str, sink: MailSink, **trust: str
          ) -> Iterator[Inbound]:
    """A server's config (not started: ``deliver`` and the CLI read it) with ``trust``."""
    with fresh_database(backend, tmp_path) as url:
        sink.watch(url)
        try:
            yield Inbound(RadicaleServer(tmp_path / "server",
                                         storage_options=server_options(sink.port, url,
                                                                        **trust),
                                         rights_type="radicale_tracks.rights"), sink)
        finally:  # the next test starts with an empty sink
            sink.settle()
            sink.take()


@pytest.fixture
def default_trust(tmp_path: Path, backend: str, sink: MailSink) -> Iterator[Inbound]:
    yield from world(tmp_path, backend, sink)


@pytest.fixture
def envelope_trusted(tmp_path: Path, backend: str, sink: MailSink) -> Iterator[Inbound]:
    yield from world(tmp_path, backend, sink, inbound_trust_unauthenticated_senders="True")


@pytest.fixture
def authserv_trusted(tmp_path: Path, backend: str, sink: MailSink) -> Iterator[Inbound]:
    yield from world(tmp_path, backend, sink, inbound_trusted_authserv_ids=TRUSTED)


def forged() -> tuple[str, bytes]:
    """alice's address in From, envelope and ORGANIZER, sent from anywhere: no header."""
    uid = "forged-%s@example.org" % uuid.uuid4().hex
    return uid, invitation(uid, ORGANIZER, "Alice <%s>" % ORGANIZER,
                           ["assistant@example.org", "dana@external.test"],
                           summary="Board meeting")


def deliver(inbound: Inbound, raw: bytes) -> tuple[int, str]:
    done = inbound.deliver(raw, ORGANIZER, "assistant@example.org", authenticated="")
    return done.returncode, done.stderr.decode()


def no_track(inbound: Inbound) -> None:
    listed = inbound.cli("tracks", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("no tracks yet"), listed.stdout


def test_default_settings_keep_a_forged_mail_in_the_quarantine(default_trust: Inbound
                                                                ) -> None:
    inbound = default_trust
    uid, raw = forged()
    code, stderr = deliver(inbound, raw)
    assert code == 65, stderr
    assert len(stderr.strip().splitlines()) == 1 and "Traceback" not in stderr
    assert "sender alice@example.org could not be authenticated" in stderr
    assert "inbound_trusted_authserv_ids" in stderr
    no_track(inbound)
    assert inbound.sink.settle(quiet=1.0) == []  # no confirmation, no invitations

    held = inbound.cli("quarantine", "list")
    (line,) = [line for line in held.stdout.splitlines() if ORGANIZER in line]
    assert "quarantined" in line and "could not be authenticated" in line
    row_id = line.split()[0]
    shown = inbound.cli("quarantine", "show", row_id)
    assert "reason: sender alice@example.org could not be authenticated" in shown.stdout

    released = inbound.cli("quarantine", "release", row_id)
    assert released.returncode == 0, released.stdout + released.stderr
    assert "released" in released.stdout
    assert inbound.track_of(uid)
    kinds = {(m.kind, m.recipient) for m in inbound.sink.wait_for(2)}
    assert ("track_created", ORGANIZER) in kinds


def test_a_forged_authentication_header_changes_nothing_by_default(default_trust: Inbound
                                                                   ) -> None:
    _uid, raw = forged()
    code, stderr = deliver(default_trust, (ALIGNED % "mx.evil.test").encode() + raw)
    assert code == 65 and "could not be authenticated" in stderr, stderr
    no_track(default_trust)


def test_opting_in_to_unauthenticated_senders_processes_it(envelope_trusted: Inbound
                                                           ) -> None:
    inbound = envelope_trusted
    uid, raw = forged()
    code, stderr = deliver(inbound, raw)
    assert code == 0, stderr
    assert inbound.track_of(uid)
    kinds = {(m.kind, m.recipient) for m in inbound.sink.wait_for(2)}
    assert ("track_created", ORGANIZER) in kinds
    assert ("member_added", "dana@external.test") in kinds


def test_both_trust_options_together_are_refused(tmp_path: Path, backend: str,
                                                 sink: MailSink) -> None:
    for inbound in world(tmp_path, backend, sink, inbound_trusted_authserv_ids=TRUSTED,
                         inbound_trust_unauthenticated_senders="True"):
        shown = inbound.cli("info")
        assert shown.returncode == 2 and "inbound_trust_unauthenticated_senders" in (
            shown.stderr), shown.stderr
        code, stderr = deliver(inbound, forged()[1])
        assert code == 75, stderr  # the MTA keeps the mail until the config is fixed


def test_a_trusted_authserv_id_with_aligned_dkim_and_dmarc(authserv_trusted: Inbound
                                                           ) -> None:
    inbound = authserv_trusted
    uid, raw = forged()
    code, stderr = deliver(inbound, (ALIGNED % TRUSTED).encode() + raw)
    assert code == 0, stderr
    assert "created" in stderr
    assert inbound.track_of(uid)
    assert ("track_created", ORGANIZER) in {(m.kind, m.recipient)
                                            for m in inbound.sink.wait_for(2)}


@pytest.mark.parametrize(("header", "reason"), [
    (ALIGNED % "mx.evil.test", "no Authentication-Results from mx.example.org"),
    ("", "no Authentication-Results from mx.example.org"),
    ("Authentication-Results: mx.example.org; dkim=pass header.d=evil.test; "
     "dmarc=fail header.from=example.org\r\n", "dmarc=fail"),
], ids=["untrusted-authserv-id", "no-header", "dkim-of-another-domain"])
def test_a_trusted_authserv_id_refuses_the_rest(authserv_trusted: Inbound, header: str,
                                                reason: str) -> None:
    inbound = authserv_trusted
    _uid, raw = forged()
    code, stderr = deliver(inbound, header.encode() + raw)
    assert code == 65 and reason in stderr, stderr
    no_track(inbound)
    assert inbound.sink.settle(quiet=1.0) == []
