"""Who holds an outbox lease, and whether that process still runs.

A sender killed mid-send leaves its rows leased for ``lease_seconds`` (300). A sender on
the same machine can tell that the holder is gone — no process with its pid, or one
started at another time (the pid was reused), or one killed but not yet reaped by its
parent (a zombie: it sends nothing any more) — and takes the rows over at once; a
sender elsewhere cannot see the process and waits for the lease to expire.

The machine is the host name plus the pid namespace (containers sharing a host name
but not their processes are different machines); the process start is the boot id plus
the start time in clock ticks from ``/proc/<pid>/stat`` (a rebooted machine's old
holders are all gone). Without ``/proc`` a random token stands for the start, and a
holder whose pid is alive is taken to be alive.
"""

from __future__ import annotations

import functools
import os
import secrets
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class LeaseHolder:
    machine: str
    pid: int
    start: str

    def __str__(self) -> str:
        return "%s %d %s" % (self.machine, self.pid, self.start)

    @classmethod
    def parse(cls, text: str | None) -> LeaseHolder | None:
        parts = (text or "").split(" ")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2])


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


@functools.cache
def _machine() -> str:
    try:
        namespace = "".join(c for c in os.readlink("/proc/self/ns/pid") if c.isdigit())
    except OSError:
        namespace = ""
    return "%s/%s" % (socket.gethostname().replace(" ", "_") or "localhost",
                      namespace or "-")


@functools.cache
def _boot_id() -> str | None:
    found = _read("/proc/sys/kernel/random/boot_id")
    return found.replace("-", "")[:12] if found else None


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command (state first); None when no
    such process runs or there is no ``/proc``."""
    stat = _read("/proc/%d/stat" % pid)
    return stat.rpartition(")")[2].split() if stat is not None else None


def _start_of(fields: list[str] | None) -> str | None:
    boot = _boot_id()
    # starttime is field 22 of the whole line, 20th after the command
    return "%s:%s" % (boot, fields[19]) if boot and fields and len(fields) > 19 else None


def process_start(pid: int) -> str | None:
    """The start of process ``pid`` as :attr:`LeaseHolder.start` records it; None when
    no such process runs or ``/proc`` cannot tell."""
    return _start_of(_stat_fields(pid))


@functools.cache
def _holder_of(pid: int) -> LeaseHolder:
    return LeaseHolder(_machine(), pid, process_start(pid) or "r" + secrets.token_hex(6))


def current() -> LeaseHolder:
    """This process as a lease holder (a forked child is another one)."""
    return _holder_of(os.getpid())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: states of a process that will never run again: a zombie (killed or exited, waiting
#: for its parent to reap it) and a dead one
_ENDED_STATES = frozenset({"Z", "X", "x"})


def is_gone(holder_text: str | None) -> bool:
    """Whether the holder of a lease certainly no longer runs (seen from this process)."""
    holder, me = LeaseHolder.parse(holder_text), current()
    if holder is None or holder.machine != me.machine or holder == me:
        return False
    if not _alive(holder.pid):
        return True
    fields = _stat_fields(holder.pid)
    if fields and fields[0] in _ENDED_STATES:
        return True
    start = _start_of(fields)
    return start is not None and not me.start.startswith("r") and start != holder.start
