"""Every message of the iTIP reference corpus through ``radicale-tracks deliver``.

Runs when ``ITIP_CORPUS_DIR`` points to the corpus (``.ci/run`` sets it). Each ``.eml``
is delivered as it is; each ``.ics`` is wrapped in the mail its client would send
(``text/calendar; method=…``). Every address in the corpus is made an address of one
user here, ``corpus``, so each message is delivered to a real schedule inbox and
calendar. Asserted, for every message: valid ones are processed (exit 0), malformed ones
refused with a one-line reason (exit 65), never a traceback, and nothing is lost — each
message has its row in the inbound log, with its raw bytes when it was not acted on.

``deliver`` runs in this process (its ``main``, stdin replaced) so that the ~35 messages
take seconds, not a Python start-up each.
"""

from __future__ import annotations

import email
import email.policy
import io
import os
import re
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from helpers import write_config

CORPUS = os.environ.get("ITIP_CORPUS_DIR")
pytestmark = pytest.mark.skipif(not CORPUS, reason="ITIP_CORPUS_DIR is not set")

FOLDERS_IN_ORDER = ("requests", "emails", "replies", "cancels", "malformed")

#: where the answer differs from the folder's (valid → 0, malformed → 65), and why
EXPECTED = {
    # the corpus stripped ORGANIZER and ATTENDEE from these real Exchange requests: no
    # ORGANIZER, no one to check the sender against (RFC 5546 §3.2.2)
    "requests/exchange2010_request_pacific_standard_time.ics": 65,
    "requests/exchange2010_request_w_europe_teams_recurring.ics": 65,
    # only an empty CLASS and an odd X- parameter: taken, leniently (core/leniency.py)
    "malformed/exchange_cdo_request_numeric_tzid_x_replytime.ics": 0,
}
_ADDRESS = re.compile(r"mailto:([^\s;:\"<>]+@[^\s;:\"<>]+)", re.I)
_ORGANIZER = re.compile(r"^ORGANIZER[^:]*:mailto:(\S+)", re.I | re.M)
_ATTENDEE = re.compile(r"^ATTENDEE[^:]*:mailto:(\S+)", re.I | re.M)
_METHOD = re.compile(r"^METHOD:(\S+)", re.M)


def corpus_files() -> list[Path]:
    if not CORPUS:
        return []
    root = Path(CORPUS)
    found = []
    for folder in FOLDERS_IN_ORDER:
        found += sorted(p for p in (root / folder).glob("*") if p.suffix in (".ics", ".eml"))
    return found


def unfolded(text: str) -> str:
    return re.sub(r"\r?\n[ \t]", "", text)


def every_address() -> set[str]:
    found: set[str] = set()
    for path in corpus_files():
        text = unfolded(path.read_bytes().decode("utf-8", "replace"))
        found.update(a.lower().rstrip(".,") for a in _ADDRESS.findall(text))
        if path.suffix == ".eml":
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            for header in ("From", "To"):
                try:
                    found.update(a.addr_spec.lower() for a in message[header].addresses
                                 if a.addr_spec and "@" in a.addr_spec)
                except (AttributeError, TypeError, IndexError):
                    pass
    return {a for a in found if re.fullmatch(r"[^@\s,]+@[^@\s,]+\.[^@\s,]+", a)}


def envelope(path: Path) -> tuple[bytes, str, str]:
    """(raw mail, envelope sender, recipient) as an MTA would hand them over."""
    data = path.read_bytes()
    if path.suffix == ".eml":
        message = email.message_from_bytes(data, policy=email.policy.default)
        sender = _first_address(message, "From") or "sender@corpus.test"
        recipient = _first_address(message, "To") or "corpus@example.org"
        return data, sender, recipient
    text = unfolded(data.decode("utf-8", "replace"))
    method = (_METHOD.findall(text) or [""])[0].upper()
    organizers = _ORGANIZER.findall(text)
    attendees = _ATTENDEE.findall(text)
    if method in ("REPLY", "COUNTER", "REFRESH"):
        sender = (attendees or ["sender@corpus.test"])[0]
        recipient = (organizers or ["corpus@example.org"])[0]
    else:
        sender = (organizers or ["sender@corpus.test"])[0]
        recipient = (attendees or ["corpus@example.org"])[0]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = "corpus: %s" % path.name
    message["Message-ID"] = "<%s@corpus.test>" % path.stem
    message.set_content("A calendar message from the reference corpus.")
    params = {"method": method} if method else {}
    message.add_attachment(data, maintype="text", subtype="calendar", params=params,
                           disposition="inline")
    return message.as_bytes(policy=email.policy.SMTP), sender.lower(), recipient.lower()


def _first_address(message: EmailMessage, header: str) -> str | None:
    try:
        addresses = message[header].addresses
    except (AttributeError, TypeError, IndexError):
        return None
    return next((a.addr_spec.lower() for a in addresses if "@" in a.addr_spec), None)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("corpus")
    (folder / "collections").mkdir()
    aliases = sorted(every_address() - {"corpus@example.org"})
    path = write_config(folder / "radicale.conf", folder / "collections",
                        "radicale_tracks.storage", 5232, {
                            "domain": "example.org",
                            "addresses": "\n    ".join(["corpus: " + a for a in aliases]),
                            "inbound_allowed_senders": "*",
                            # the corpus is about reading real clients' mail, not trust
                            "inbound_trust_unauthenticated_senders": "True",
                        }, rights_type="owner_only")
    (folder / "collections" / "collection-root" / "corpus").mkdir(parents=True)
    yield path


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: "%s/%s" % (p.parent.name,
                                                                          p.name))
def test_corpus_message_through_deliver(config: Path, path: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from radicale_tracks import cli
    from radicale_tracks.inbound.schema import inbound_mail
    from radicale_tracks.settings import load_settings

    raw, sender, recipient = envelope(path)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    code = cli.main(["--config", str(config), "deliver", "--queue-only",
                     "--sender", sender, "--recipient", recipient])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("radicale-tracks")]
    assert len(lines) == 1 and lines[0].split(": ", 2)[2].strip(), err
    name = "%s/%s" % (path.parent.name, path.name)
    expected = EXPECTED.get(name, 65 if path.parent.name == "malformed" else 0)
    assert code == expected, "%s: expected exit %d: %s" % (name, expected, err)

    _configuration, settings = load_settings(str(config))
    engine = create_engine(settings.database_url)
    with engine.connect() as connection:
        row = connection.execute(select(inbound_mail).where(
            inbound_mail.c.recipient == recipient,
            inbound_mail.c.digest == digest_of(raw))).first()
    engine.dispose()
    assert row is not None, "nothing recorded for %s" % path.name
    if row.status in ("kept", "quarantined"):
        assert row.raw is not None and bytes(row.raw) == raw


def digest_of(raw: bytes) -> str:
    from radicale_tracks.core.imip import MailError, parse_mail
    from radicale_tracks.inbound.reading import message_digest

    try:
        message_id = parse_mail(raw).message_id
    except MailError:
        message_id = None
    return message_digest(raw, message_id)
