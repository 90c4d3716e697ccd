"""Charts as inline SVG, drawn on the server (no JavaScript chart library, no CDN)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

BAR_HEIGHT = 22
GAP = 8
LABEL_WIDTH = 90
WIDTH = 340


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    unit: str,
    title: str,
    decimals: int = 0,
) -> Markup:
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
            f"{value:.{decimals}f}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


#: Fill colours of the series of a stacked chart (CSS classes chart-s0 … chart-s11): a
#: taxonomy's categories (about a dozen) each get their own.
SERIES = 12


def stacked_columns(
    x_labels: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str
) -> Markup:
    """Vertical columns (one per x label) stacked by series, with a legend below."""
    width, top, plot_h, left = WIDTH, 24, 120, 28
    names = list(series)
    legend_rows = (len(names) + 2) // 3
    height = top + plot_h + 22 + legend_rows * 16
    totals = [sum(series[n][i] for n in names) for i in range(len(x_labels))]
    peak = max(totals, default=0.0) or 1.0
    slot = (width - left) / max(1, len(x_labels))
    col_w = min(36.0, slot * 0.7)
    parts = [
        f'<svg class="chart columns" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="14" class="chart-title">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{width}" y2="{top + plot_h}" '
        f'class="chart-axis"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" class="chart-label">'
        f"{peak:.0f}</text>",
    ]
    if not x_labels or not names:
        parts.append(f'<text x="{left + 6}" y="{top + 40}" class="chart-empty">暂无数据</text>')
    for i, label in enumerate(x_labels):
        x = left + i * slot + (slot - col_w) / 2
        y = float(top + plot_h)
        for k, name in enumerate(names):
            value = series[name][i]
            if value <= 0:
                continue
            h = plot_h * value / peak
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{col_w:.1f}" height="{h:.1f}" '
                f'class="chart-s{k % SERIES}">'
                f"<title>{escape(name)} {escape(label)}：{value:.0f}</title></rect>"
            )
        if totals[i]:
            parts.append(
                f'<text x="{x + col_w / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" '
                f'class="chart-value">{totals[i]:.0f}</text>'
            )
        parts.append(
            f'<text x="{x + col_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
            f'class="chart-label">{escape(label)}</text>'
        )
    for k, name in enumerate(names):
        lx = (k % 3) * (width / 3)
        ly = top + plot_h + 26 + (k // 3) * 16
        parts.append(
            f'<rect x="{lx:.1f}" y="{ly}" width="10" height="10" class="chart-s{k % SERIES}"/>'
            f'<text x="{lx + 14:.1f}" y="{ly + 9}" class="chart-label">{escape(name[:10])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def funnel_chart(stages: Sequence[tuple[str, int]], *, title: str) -> Markup:
    """A centred funnel: one bar per stage, its width the share of the first stage,
    with the count and that share (「成交 3 · 38%」: 3 of the first stage's 8), the one
    rate the tables next to it show (互动率, 成交率 = of 新增)."""
    width, top, bar_h, gap = WIDTH, 24, 30, 6
    height = top + max(1, len(stages)) * (bar_h + gap)
    first = stages[0][1] if stages else 0
    parts = [
        f'<svg class="chart funnel" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="14" class="chart-title">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(stages):
        y = top + i * (bar_h + gap)
        w = max(80.0, width * value / first) if first else 80.0
        x = (width - w) / 2
        step = f" · {share(value, first)}" if i and first else ""
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" rx="3" '
            f'class="chart-s{i % SERIES}"/>'
            f'<text x="{width / 2}" y="{y + 19}" text-anchor="middle" class="chart-funnel">'
            f"{escape(label)} {value}{step}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def share(part: float, whole: float) -> str:
    """「38%」: ``part`` of ``whole``, rounded as the funnel's bars and tables show it
    (「-」 of nothing)."""
    return f"{part / whole:.0%}" if whole else "-"


def target_bars(
    labels: Sequence[str],
    done: Sequence[float],
    targets: Sequence[float | None],
    *,
    title: str,
    unit: str = "",
) -> Markup:
    """Horizontal bars of what was done (目标 vs 完成), each with a tick at its target
    and the share reached; rows without a target show the bar alone."""
    top = 24
    height = top + max(1, len(done)) * (BAR_HEIGHT + GAP)
    peak = max([*done, *(t for t in targets if t)], default=0.0) or 1.0
    span = WIDTH - LABEL_WIDTH - 70
    parts = [
        f'<svg class="chart targets" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="14" class="chart-title">{escape(title)}</text>',
    ]
    if not done:
        parts.append(f'<text x="0" y="{top + 14}" class="chart-empty">暂无数据</text>')
    for i, (label, value, target) in enumerate(zip(labels, done, targets, strict=True)):
        y = top + i * (BAR_HEIGHT + GAP)
        w = max(1.0, span * value / peak)
        note = f"{value:.0f}{escape(unit)}"
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + 15}" text-anchor="end" class="chart-label">'
            f"{escape(label[:8])}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{w:.1f}" height="{BAR_HEIGHT}" rx="3" '
            f'class="chart-bar"/>'
        )
        if target:
            tx = LABEL_WIDTH + span * target / peak
            parts.append(
                f'<line x1="{tx:.1f}" y1="{y - 2}" x2="{tx:.1f}" y2="{y + BAR_HEIGHT + 2}" '
                f'class="chart-target"><title>目标 {target:.0f}{escape(unit)}</title></line>'
            )
            note += f" / {target:.0f}（{value / target:.0%}）"
        parts.append(
            f'<text x="{LABEL_WIDTH + w + 4:.1f}" y="{y + 15}" class="chart-value">{note}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
