"""What the bench scripts share: the tests' harness on ``sys.path``, time stamps, the
free-busy request of an outbox POST, a process's memory and CPU time from ``/proc``, the machine a
run was measured on, and results put between a document's markers.

The servers themselves are the tests' (``tests/helpers.RadicaleServer``), so a bench
measures exactly what the end-to-end tests run.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))


def stamp(value: datetime.datetime) -> str:
    return value.strftime("%Y%m%dT%H%M%SZ")


def outbox_request(start: str, end: str, organizer: str, attendees: list[str],
                   uid: str = "bench-fb") -> bytes:
    """A VFREEBUSY REQUEST for ``POST /<organizer>/schedule-outbox/`` (RFC 6638 §5)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//bench//EN", "METHOD:REQUEST",
             "BEGIN:VFREEBUSY", "UID:" + uid, "DTSTAMP:20260101T000000Z",
             "DTSTART:" + start, "DTEND:" + end, "ORGANIZER:mailto:" + organizer]
    lines += ["ATTENDEE:mailto:" + attendee for attendee in attendees]
    return ("\r\n".join(lines + ["END:VFREEBUSY", "END:VCALENDAR"]) + "\r\n").encode()


def _status_kib(pid: int, key: str) -> int:
    try:
        text = Path("/proc/%d/status" % pid).read_text()
    except OSError:   # gone (or a zombie without memory lines)
        return 0
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def peak_kib(pid: int) -> int:
    """Peak resident memory of a running process (``VmHWM``), 0 once it is gone."""
    return _status_kib(pid, "VmHWM")


def rss_kib(pid: int) -> int:
    """Resident memory of a running process now (``VmRSS``), 0 once it is gone."""
    return _status_kib(pid, "VmRSS")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """CPU time (user + system) a process has used so far, from ``/proc``; 0 once it is
    gone or where there is no ``/proc``. ``children``: with that of its children that
    ended and were waited for."""
    try:
        fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    # after the command's name: state is field 3; utime, stime, cutime, cstime 14–17
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
    return used / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time used so far by this machine's PostgreSQL server: every live process
    (its backends, and the processes it runs in the background), plus what the backends
    that already ended used — the server's main process waits for each, so its
    children's time holds theirs. A backend that lives only between two readings is
    counted too (a connection opened and closed per request). Nothing else may use that
    server during a measurement."""
    total = 0.0
    for entry in Path("/proc").iterdir() if Path("/proc").is_dir() else ():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "postgres":
                continue
        except OSError:
            continue
        total += cpu_seconds(int(entry.name), children=True)
    return total


def environment() -> str:
    """The machine and versions a run was measured on, for the line under its table."""
    import radicale

    return "Python %s, Radicale %s, %s, %d CPUs, %s" % (
        platform.python_version(), radicale.VERSION, platform.machine(), os.cpu_count() or 0,
        datetime.date.today().isoformat())


def replace_between(document: Path, begin: str, end: str, text: str) -> None:
    """``text`` in place of what stands between the ``begin`` and ``end`` markers (a
    run's ``--write-doc``: the prose around the figures stays the author's)."""
    doc = document.read_text()
    head, rest = doc.split(begin, 1)
    _old, tail = rest.split(end, 1)
    document.write_text(head + begin + "\n" + text + "\n" + end + tail)
