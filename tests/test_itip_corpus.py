"""Real clients' iTIP objects (``ITIP_CORPUS_DIR``): understood, or refused with a rule.

The folder (``../shared/corpus/itip-reference``, set by ``.ci/run`` when present) holds
messages from Google, Exchange, Apple, Thunderbird, Evolution and others. Every calendar
object in it must either validate and apply to an empty store, or be refused with an
``ItipError`` naming the rule — never another exception. The ``malformed`` ones break
RFC 5545 in ways real servers tolerate (a date without VALUE=DATE, broken folding): being
liberal, we may accept them, as long as what we accept applies cleanly. The mail wrappers
(``.eml``) are the inbound-mail issue's; here only their ``.ics`` siblings count.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from radicale_tracks.core.itip import ItipError, Method, parse_calendar
from radicale_tracks.core.receipt import Outcome, apply_message
from radicale_tracks.core.validation import validate

CORPUS = os.environ.get("ITIP_CORPUS_DIR", "")


def corpus_files() -> list[Path]:
    if not CORPUS or not Path(CORPUS).is_dir():
        return []
    return sorted(Path(CORPUS).rglob("*.ics"))


@pytest.mark.skipif(not corpus_files(), reason="ITIP_CORPUS_DIR is not set")
@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: "%s/%s" % (p.parent.name, p.name))
def test_corpus_object_is_understood_or_refused_with_a_rule(path: Path) -> None:
    data = path.read_bytes()
    try:
        calendar = parse_calendar(data)
        method = validate(calendar)
    except ItipError as e:
        assert "RFC" in str(e), str(e)
        return
    scheduled = any(c.name in ("VEVENT", "VTODO") for c in calendar.subcomponents)
    if method in (Method.REQUEST, Method.PUBLISH, Method.ADD):
        receipt = apply_message(calendar, None)
        if method is Method.REQUEST and scheduled:
            assert receipt.outcome is Outcome.CREATED, receipt.reason
            assert receipt.calendar is not None
            assert "METHOD" not in receipt.calendar
    elif method is Method.CANCEL:
        assert apply_message(calendar, None).outcome is Outcome.IGNORED
