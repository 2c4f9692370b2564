"""``radicale-tracks lmtp``: inbound mail over LMTP (RFC 2033), answered per recipient.

An MTA that delivers by LMTP (Postfix ``lmtp:``, Exim's ``lmtp`` transport) gets, after
DATA, one reply per accepted recipient — the same decisions as ``deliver``: 250 done,
550 5.6.0 refused with the reason, 451 4.3.0 try again later. Unknown recipients are
refused at RCPT (550 5.1.1), before the message is even sent.

Deliveries run one at a time on a worker thread: they take Radicale's storage lock
anyway, and the event loop stays free to talk to the MTA.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import signal
from typing import Any

from aiosmtpd.lmtp import LMTP

from radicale_tracks.inbound.processor import Disposition, InboundProcessor
from radicale_tracks.inbound.reading import Code

logger = logging.getLogger("radicale.tracks.inbound")


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` → (host, port); ValueError names the problem."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("--listen %r: expected HOST:PORT" % value)
    return host.strip("[]") or "127.0.0.1", int(port)


def reply_line(result: Disposition) -> str:
    """The LMTP reply for one recipient (RFC 2033 §4.2, RFC 3463 enhanced codes)."""
    reason = " ".join(result.reason.split())[:400].encode("ascii", "replace").decode()
    if result.code is Code.OK:
        return "250 2.0.0 <%s> %s" % (result.recipient, reason)
    if result.code is Code.NO_USER:
        return "550 5.1.1 <%s> %s" % (result.recipient, reason)
    if result.code is Code.TEMPORARY:
        return "451 4.3.0 <%s> %s" % (result.recipient, reason)
    return "550 5.6.0 <%s> %s" % (result.recipient, reason)


class LmtpHandler:
    """aiosmtpd handler: recipients checked at RCPT, the message processed at DATA."""

    def __init__(self, processor: InboundProcessor) -> None:
        self.processor = processor
        self.worker = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="tracks-lmtp")

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        loop = asyncio.get_running_loop()
        try:
            known = await loop.run_in_executor(self.worker, self.processor.knows, address)
        except Exception:
            logger.exception("LMTP: could not look up %s", address)
            return "451 4.3.0 <%s> temporary failure, try again later" % address
        if not known:
            return "550 5.1.1 <%s> no such recipient here" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        loop = asyncio.get_running_loop()
        recipients = list(envelope.rcpt_tos)
        raw = envelope.original_content or b""
        try:
            results = await loop.run_in_executor(
                self.worker, self.processor.process, raw, envelope.mail_from or "",
                recipients)
        except Exception:
            logger.exception("LMTP: delivery failed")
            return "\r\n".join("451 4.3.0 <%s> temporary failure, try again later" % r
                               for r in recipients)
        return "\r\n".join(reply_line(result) for result in results)


def serve_until_signal(processor: InboundProcessor, host: str, port: int) -> None:
    """Listen on ``host:port`` until SIGTERM or SIGINT."""
    asyncio.run(_serve(processor, host, port))


async def _serve(processor: InboundProcessor, host: str, port: int) -> None:
    handler = LmtpHandler(processor)
    loop = asyncio.get_running_loop()
    limit = processor.limits.max_message_bytes
    server = await loop.create_server(
        lambda: LMTP(handler, data_size_limit=limit, enable_SMTPUTF8=True,
                     ident="radicale-tracks LMTP"), host=host, port=port)
    stopping = asyncio.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stopping.set)
    logger.warning("LMTP server listening on %s", ", ".join(
        "%s:%d" % sock.getsockname()[:2] for sock in server.sockets))
    async with server:
        await stopping.wait()
    handler.worker.shutdown(wait=True)
