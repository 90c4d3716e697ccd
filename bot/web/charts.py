"""Charts as inline SVG, drawn on the server (no JavaScript chart library, no CDN)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

BAR_HEIGHT = 22
GAP = 8
LABEL_WIDTH = 90
WIDTH = 340


def bar_chart(labels: Sequence[str], values: Sequence[float], *, unit: str, title: str) -> Markup:
    """A horizontal bar chart that scales to its container (viewBox, width 100%)."""
    top = 24
    height = top + max(1, len(values)) * (BAR_HEIGHT + GAP)
    peak = max(values, default=0.0) or 1.0
    span = WIDTH - LABEL_WIDTH - 50
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="14" class="chart-title">{escape(title)}</text>',
    ]
    if not values:
        parts.append(f'<text x="0" y="{top + 14}" class="chart-empty">暂无数据</text>')
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * (BAR_HEIGHT + GAP)
        w = max(1.0, span * value / peak)
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end" class="chart-label">'
            f"{escape(label[:8])}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{w:.1f}" height="{BAR_HEIGHT}" rx="3" '
            f'class="chart-bar"/>'
            f'<text x="{LABEL_WIDTH + w + 4:.1f}" y="{y + 15}" class="chart-value">'
            f"{value:.0f}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
