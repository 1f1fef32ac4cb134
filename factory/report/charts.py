"""Charts as inline SVG, drawn at report time by a few lines of our own: no JavaScript, no CDN, no plotting
library.

Why our own: the report must open from a file URL on a phone with scripts off, and the charts it needs —
horizontal bars, stacked bars, a funnel, histograms, a line with interval whiskers — are each a loop over
rectangles. Every chart is well-formed XML (a test parses it), scales with its ``viewBox`` to the screen's
width, carries a ``<title>`` for screen readers and a ``<title>`` per mark for the exact number, and escapes
every label (repository names and reasons come from the store). The numbers also stand in a table next
to each chart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

from factory.report.queries import Histogram

WIDTH = 640
ROW = 22
PALETTE = {
    "valid": "#2e7d32", "rejected": "#c62828", "build_failed": "#ef6c00", "error": "#6a1b9a", "pending": "#9e9e9e",
    "bar": "#1565c0", "band": "#90caf9",
}
SERIES_COLORS = ["#1565c0", "#2e7d32", "#c62828", "#ef6c00", "#6a1b9a", "#00838f", "#5d4037", "#455a64"]


def _fmt(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def _short(text: str, n: int = 34) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _svg(title: str, height: int, body: list[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" font-family="sans-serif" font-size="12">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _empty(title: str) -> Markup:
    return _svg(title, 30, ['<text x="4" y="20" fill="#666">nothing to show yet</text>'])


def bars(items: Sequence[tuple[str, float]], title: str, fmt: Callable[[float], str] = _fmt,
         color: str = PALETTE["bar"]) -> Markup:
    """Horizontal bars, one per ``(label, value)``, longest = the largest value."""
    if not items:
        return _empty(title)
    top = max(v for _, v in items) or 1
    left, right = 230, 70
    span = WIDTH - left - right
    body = []
    for i, (label, value) in enumerate(items):
        y = 6 + i * ROW
        w = span * value / top
        body.append(
            f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{escape(_short(label))}</text>'
            f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{ROW - 6}" fill="{color}">'
            f"<title>{escape(label)}: {escape(fmt(value))}</title></rect>"
            f'<text x="{left + w + 4:.1f}" y="{y + 14}">{escape(fmt(value))}</text>'
        )
    return _svg(title, 12 + len(items) * ROW, body)


def stacked(rows: Sequence[tuple[str, Sequence[float]]], series: Sequence[str], title: str) -> Markup:
    """Horizontal stacked bars (one per row, one segment per series), with a legend; longest = largest total."""
    if not rows:
        return _empty(title)
    top = max(sum(values) for _, values in rows) or 1
    left, right = 230, 60
    span = WIDTH - left - right
    body = []
    x = left
    for name in series:  # legend
        body.append(f'<rect x="{x}" y="4" width="10" height="10" fill="{PALETTE.get(name, "#777")}"/>'
                    f'<text x="{x + 14}" y="13">{escape(name)}</text>')
        x += 14 + 8 * len(name) + 12
    for i, (label, values) in enumerate(rows):
        y = 24 + i * ROW
        body.append(f'<text x="{left - 6}" y="{y + 14}" text-anchor="end">{escape(_short(label))}</text>')
        x = float(left)
        for name, value in zip(series, values, strict=True):
            if value:
                w = span * value / top
                body.append(f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{ROW - 6}" '
                            f'fill="{PALETTE.get(name, "#777")}"><title>{escape(label)} {escape(name)}: '
                            f"{escape(_fmt(value))}</title></rect>")
                x += w
        body.append(f'<text x="{x + 4:.1f}" y="{y + 14}">{escape(_fmt(sum(values)))}</text>')
    return _svg(title, 30 + len(rows) * ROW, body)


def funnel(steps: Sequence[tuple[str, int]], title: str) -> Markup:
    """Centred bars narrowing from the first step, each with its count and share of the first."""
    if not steps or not steps[0][1]:
        return _empty(title)
    first = steps[0][1]
    h = 34
    body = []
    for i, (label, n) in enumerate(steps):
        w = (WIDTH - 20) * n / first
        x = (WIDTH - w) / 2
        y = 4 + i * h
        share = f"{100 * n / first:.0f}%"
        body.append(
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{h - 6}" fill="{PALETTE["band"]}">'
            f'<title>{escape(label)}: {n:,} ({share})</title></rect>'
            f'<text x="{WIDTH / 2}" y="{y + 19}" text-anchor="middle" fill="#000">{escape(label)}: {n:,} '
            f"({share})</text>"
        )
    return _svg(title, 8 + len(steps) * h, body)


def histogram(hist: Histogram, title: str, unit: str = "s") -> Markup:
    """Vertical bars over equal-width bins, the bin edges on the x axis."""
    if not hist.counts:
        return _empty(title)
    left, bottom, top_pad, height = 40, 36, 14, 200
    span = WIDTH - left - 10
    top = max(hist.counts) or 1
    w = span / len(hist.counts)
    body = [f'<line x1="{left}" y1="{height - bottom}" x2="{WIDTH - 10}" y2="{height - bottom}" stroke="#444"/>',
            f'<text x="{left - 4}" y="{top_pad + 4}" text-anchor="end">{top:,}</text>']
    for i, n in enumerate(hist.counts):
        bh = (height - bottom - top_pad) * n / top
        x = left + i * w
        lo, hi = hist.edges[i], hist.edges[i + 1]
        body.append(f'<rect x="{x + 1:.1f}" y="{height - bottom - bh:.1f}" width="{max(w - 2, 1):.1f}" '
                    f'height="{bh:.1f}" fill="{PALETTE["bar"]}"><title>{_fmt(lo)}–{_fmt(hi)} {escape(unit)}: '
                    f"{n:,}</title></rect>")
    step = max(1, -(-len(hist.edges) // 7))  # at most 7 labels, so they never overlap
    for i in range(0, len(hist.edges), step):
        x = left + i * w
        body.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{_fmt(hist.edges[i])}</text>')
    body.append(f'<text x="{WIDTH - 10}" y="{height - 4}" text-anchor="end">{escape(unit)}</text>')
    return _svg(title, height, body)


def lines(series: dict[str, Sequence[tuple[float, float, float, float]]], title: str, xlabel: str,
          ylabel: str = "resolve rate") -> Markup:
    """Lines over (x, y, low, high) points with interval whiskers; y from 0 to 1."""
    points = [p for s in series.values() for p in s]
    if not points:
        return _empty(title)
    left, bottom, top_pad, height, right = 44, 40, 20, 240, 16
    xs = [p[0] for p in points]
    x0, x1 = min(xs), max(xs)
    xspan = (x1 - x0) or 1

    def px(x: float) -> float:
        return left + (WIDTH - left - right) * ((x - x0) / xspan if x1 > x0 else 0.5)

    def py(y: float) -> float:
        return height - bottom - (height - bottom - top_pad) * y

    body = [f'<line x1="{left}" y1="{py(0)}" x2="{WIDTH - right}" y2="{py(0)}" stroke="#444"/>',
            f'<line x1="{left}" y1="{py(0)}" x2="{left}" y2="{py(1)}" stroke="#444"/>']
    for tick in (0, 0.25, 0.5, 0.75, 1):
        body.append(f'<text x="{left - 4}" y="{py(tick) + 4:.1f}" text-anchor="end">{tick:g}</text>'
                    f'<line x1="{left}" y1="{py(tick):.1f}" x2="{WIDTH - right}" y2="{py(tick):.1f}" stroke="#ddd"/>')
    for x in sorted(set(xs)):
        body.append(f'<text x="{px(x):.1f}" y="{height - bottom + 16}" text-anchor="middle">{_fmt(x)}</text>')
    body.append(f'<text x="{WIDTH / 2}" y="{height - 6}" text-anchor="middle">{escape(xlabel)}</text>'
                f'<text x="{left}" y="12">{escape(ylabel)}</text>')
    for k, (name, pts) in enumerate(series.items()):
        color = SERIES_COLORS[k % len(SERIES_COLORS)]
        pts = sorted(pts)
        path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y, _, _ in pts)
        body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y, lo, hi in pts:
            body.append(f'<line x1="{px(x):.1f}" y1="{py(lo):.1f}" x2="{px(x):.1f}" y2="{py(hi):.1f}" '
                        f'stroke="{color}" opacity="0.5" stroke-width="6"/>'
                        f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="4" fill="{color}"><title>{escape(name)} '
                        f"{_fmt(x)}: {y:.2f} [{lo:.2f}, {hi:.2f}]</title></circle>")
        body.append(f'<text x="{WIDTH - right}" y="{14 + 14 * k}" text-anchor="end" fill="{color}">'
                    f"{escape(name)}</text>")
    return _svg(title, height, body)
