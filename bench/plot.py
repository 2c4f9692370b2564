"""Latency against calendar size, vanilla Radicale beside radicale-tracks, as an SVG.

Reads the raw timings ``bench/run.py --json FILE`` wrote and draws the median latency
of each REPORT kind per calendar size on a logarithmic axis (vanilla grows with the
calendar, the index does not), so docs/performance.md can show the shape as well as the
table. Plain SVG written by hand: the bench needs no plotting library.

    .venv/bin/python bench/run.py --sizes 0 1000 2000 5000 10000 --json /tmp/run.json
    .venv/bin/python bench/plot.py /tmp/run.json docs/performance-latency.svg
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from pathlib import Path

WIDTH, HEIGHT = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 70, 200, 40, 60
SERIES = [  # (server, metric, label, colour, dashed)
    ("vanilla", "free_busy", "vanilla: free-busy-query", "#c0392b", False),
    ("tracks", "free_busy", "tracks: free-busy-query", "#1f6fb2", False),
    ("vanilla", "calendar_query", "vanilla: calendar-query", "#c0392b", True),
    ("tracks", "calendar_query", "tracks: calendar-query", "#1f6fb2", True),
    ("tracks", "outbox", "tracks: outbox busy time", "#2e8b57", False),
]


def medians(raw: dict[str, dict[str, dict[str, list[float]]]]
            ) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """(server, metric) → [(events, median ms)] sorted by size."""
    found: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for size, servers in sorted(raw.items(), key=lambda kv: int(kv[0])):
        for server, metric, *_ in SERIES:
            values = servers[server][metric]
            if values:
                found.setdefault((server, metric), []).append(
                    (int(size), statistics.median(values) * 1000))
    return found


def svg(points: dict[tuple[str, str], list[tuple[int, float]]], title: str) -> str:
    sizes = [size for series in points.values() for size, _ in series]
    values = [ms for series in points.values() for _, ms in series]
    x_max = max(sizes) or 1
    low = 10 ** math.floor(math.log10(min(values)))
    high = 10 ** math.ceil(math.log10(max(values)))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(size: int) -> float:
        return LEFT + plot_w * size / x_max

    def y(ms: float) -> float:
        share = (math.log10(ms) - math.log10(low)) / (math.log10(high) - math.log10(low))
        return TOP + plot_h * (1 - share)

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'font-family="sans-serif" font-size="12">' % (WIDTH, HEIGHT),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="22" font-size="14" font-weight="bold">%s</text>' % (LEFT, title)]
    decade = low
    while decade <= high:
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>' % (
            LEFT, LEFT + plot_w, y(decade), y(decade)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%g ms</text>' % (
            LEFT - 6, y(decade) + 4, decade))
        decade *= 10
    for size in sorted(set(sizes)):
        out.append('<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#eee"/>' % (
            x(size), x(size), TOP, TOP + plot_h))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%d</text>' % (
            x(size), TOP + plot_h + 18, size))
    out.append('<text x="%d" y="%d" text-anchor="middle">events in the calendar '
               '(two-week window, median of the runs)</text>' % (
                   LEFT + plot_w // 2, HEIGHT - 16))
    out.append('<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#888"/>' % (
        LEFT, TOP, plot_w, plot_h))
    for number, (server, metric, label, colour, dashed) in enumerate(SERIES):
        series = points.get((server, metric))
        if not series:
            continue
        path = " ".join("%.1f,%.1f" % (x(size), y(ms)) for size, ms in series)
        out.append('<polyline points="%s" fill="none" stroke="%s" stroke-width="2"%s/>' % (
            path, colour, ' stroke-dasharray="6 4"' if dashed else ""))
        for size, ms in series:
            out.append('<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s, %d events: '
                       '%.1f ms</title></circle>' % (x(size), y(ms), colour, label, size, ms))
        legend_y = TOP + 16 + 20 * number
        out.append('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"%s/>' % (
            WIDTH - RIGHT + 12, WIDTH - RIGHT + 36, legend_y, legend_y, colour,
            ' stroke-dasharray="6 4"' if dashed else ""))
        out.append('<text x="%d" y="%d">%s</text>' % (WIDTH - RIGHT + 42, legend_y + 4,
                                                      label))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("timings", type=Path, help="JSON written by bench/run.py --json")
    parser.add_argument("output", type=Path, help="SVG file to write")
    parser.add_argument("--title", default="Busy-time and query latency against calendar size")
    args = parser.parse_args()
    args.output.write_text(svg(medians(json.loads(args.timings.read_text())), args.title))
    print("wrote", args.output)


if __name__ == "__main__":
    main()
