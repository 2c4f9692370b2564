"""Shared helpers for the iTIP vector tests: loading fixtures and a canonical comparator.

The comparator turns an iCalendar object into sorted, unfolded content lines per
component, so two objects compare equal regardless of line folding, property and
parameter order, component order and line ends. PRODID and DTSTAMP are left out: the
tests check DTSTAMP against the fixed clock separately.
"""

from __future__ import annotations

from pathlib import Path

from icalendar import Calendar, Component

ROOT = Path(__file__).resolve().parent
IGNORED = ("PRODID", "DTSTAMP")


def load(*parts: str) -> Calendar | None:
    """A fixture under tests/vectors/itip/, parsed; None when the file does not exist."""
    path = ROOT.joinpath(*parts)
    if not path.exists():
        return None
    return Calendar.from_ical(path.read_bytes())


def _lines(component: Component) -> list[str]:
    props = []
    for name, value in component.items():
        if str(name).upper() in IGNORED:
            continue
        for prop in value if isinstance(value, list) else [value]:
            props.append(str(component.content_line(name, prop)))
    subs = sorted("\n".join(_lines(sub)) for sub in component.subcomponents)
    return ["BEGIN:%s" % component.name, *sorted(props), *subs, "END:%s" % component.name]


def canonical(data: str | bytes | Calendar | None) -> str:
    """The canonical text of an iCalendar object (see the module docstring)."""
    if data is None:
        return "(none)"
    if isinstance(data, Calendar):
        calendar = data
    else:
        calendar = Calendar.from_ical(data.encode() if isinstance(data, str) else data)
    return "\n".join(_lines(calendar))


def components(calendar: Calendar) -> list[Component]:
    """The VEVENT/VTODO components of a calendar."""
    return [c for c in calendar.subcomponents if c.name in ("VEVENT", "VTODO")]
