"""How many attendees the largest instance of a calendar object has, read off its text.

RFC 4791 §5.2.9/§5.3.2.1 ``max-attendees-per-instance``: a server may bound the ATTENDEE
properties of any one instance (a VEVENT, VTODO or VJOURNAL component: the master or an
override). Each invitation of a meeting lists its attendees, so what a write costs grows
with them; the bound has to be checked before anything reads the object — parsing it is
already that cost (vobject takes seconds for 100 000 attendees). So the count is one scan
of the lines with a regular expression: folded continuation lines start with a space and
cannot look like a property, and attendees of an alarm (e-mail alarms) are not counted.

Pure: works on bytes or text, no I/O.
"""

from __future__ import annotations

import re
from typing import AnyStr

#: the components that are instances of an object (RFC 4791 §5.2.9 counts per instance)
INSTANCE_COMPONENTS = frozenset(("VEVENT", "VTODO", "VJOURNAL"))

_LINES = re.compile(r"^(?:(BEGIN|END):([A-Za-z0-9-]+)|ATTENDEE[;:])",
                    re.MULTILINE | re.IGNORECASE)
_LINES_BYTES = re.compile(_LINES.pattern.encode("ascii"), re.MULTILINE | re.IGNORECASE)


def most_attendees_per_instance(data: AnyStr) -> int:
    """The largest number of ATTENDEE properties in one instance component of ``data``
    (iCalendar text or bytes in an ASCII-compatible charset); 0 when there is none."""
    pattern = _LINES_BYTES if isinstance(data, bytes) else _LINES
    stack: list[tuple[str, int]] = []  # (component name, attendees so far)
    most = 0
    for match in pattern.finditer(data):
        keyword = match.group(1)
        if keyword is None:
            if stack and stack[-1][0] in INSTANCE_COMPONENTS:
                name, count = stack[-1]
                stack[-1] = (name, count + 1)
                most = max(most, count + 1)
            continue
        name = _text(match.group(2)).upper()
        if _text(keyword).upper() == "BEGIN":
            stack.append((name, 0))
        elif stack and stack[-1][0] == name:
            stack.pop()
    return most


def too_many_attendees(found: int, limit: int) -> str:
    """The sentence for an object whose largest instance has ``found`` attendees."""
    return ("an instance of this calendar object has %d attendees; this server takes at "
            "most %d per instance (max-attendees-per-instance)" % (found, limit))


def _text(value: str | bytes) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else value
