"""Calendar-user addresses, normalised once (RFC 5545 §3.3.3 CAL-ADDRESS, RFC 6638 §2.4.1).

Clients write ``mailto:``, ``MAILTO:`` or nothing, mix case, and percent-encode ``+`` as
``%2B`` (Outlook). Everything that compares addresses uses :func:`normalize_address`.
"""

from __future__ import annotations

from urllib.parse import unquote


def normalize_address(value: str) -> str:
    """``MAILTO:Bob%2Btag@Example.ORG`` → ``bob+tag@example.org``; other URIs lower-cased."""
    text = value.strip()
    if text[:7].lower() == "mailto:":
        text = text[7:]
    return unquote(text).strip().lower()
