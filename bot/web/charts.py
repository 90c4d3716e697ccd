"""Charts as inline SVG, drawn on the server (no JavaScript chart library, no CDN)."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

BAR_HEIGHT = 22
GAP = 8
#: The room for the labels left of the bars: at least this, more for longer labels up
#: to ``MAX_LABEL_WIDTH``; a longer label is cut in the middle (``fit``).
LABEL_WIDTH = 90
MAX_LABEL_WIDTH = 150
WIDTH = 340
#: The charts' font size in viewBox units (svg.chart in bot/web/static/app.css).
FONT_PX = 11.0
ELLIPSIS = "…"


def text_width(text: str) -> float:
    """About how wide ``text`` is drawn: a Chinese (wide) character is one em, the others
    about 0.6 em."""
    return sum(
        FONT_PX if unicodedata.east_asian_width(ch) in ("W", "F") else FONT_PX * 0.6 for ch in text
    )


def fit(label: str, width: float) -> str:
    """``label`` if it fits in ``width``, else its start and its end with 「…」 between:
    names made from one pattern (「表单测试活动1280-94974」, 「表单测试活动360-95001」)
    differ at the end, which a cut at the end threw away."""
    if text_width(label) <= width:
        return label
    budget = width - text_width(ELLIPSIS)
    tail = ""
    for ch in reversed(label):
        if text_width(ch + tail) > budget * 0.6:
            break
        tail = ch + tail
    head = ""
    for ch in label:
        if text_width(head + ch) > budget - text_width(tail):
            break
        head += ch
    return head + ELLIPSIS + tail


def bar_labels(labels: Sequence[str]) -> tuple[list[str], float]:
    """The labels as drawn, and the room they take: each fitted to at most
    ``MAX_LABEL_WIDTH``, then numbered (「（2）」) where two still read the same, so that
    no two bars carry one label."""
    room = min(MAX_LABEL_WIDTH, max([LABEL_WIDTH - 6, *(text_width(x) for x in labels)]))
    shown = [fit(x, room) for x in labels]
    repeated = {x for x, n in Counter(shown).items() if n > 1}
    numbered = [i for i, x in enumerate(shown) if x in repeated]
    if not numbered:
        return shown, room + 6
    suffix_width = text_width("（99）")
    room = min(
        MAX_LABEL_WIDTH, max([room, *(text_width(labels[i]) + suffix_width for i in numbered)])
    )
    seen: Counter[str] = Counter()
    for i, label in enumerate(labels):
        if i not in numbered:
            shown[i] = fit(label, room)
            continue
        seen[shown[i]] += 1
        suffix = f"（{seen[shown[i]]}）"
        shown[i] = fit(label, room - text_width(suffix)) + suffix
    return shown, room + 6


def _svg_open(kind: str, height: int, title: str) -> str:
    """A chart's ``<svg>`` and its title. Every chart is drawn ``WIDTH`` px wide, one
    viewBox unit a CSS pixel, so its text is ``FONT_PX`` on every page: a chart used to
    stretch to its card, and the two charts of 转介绍 (half a page each) drew their text
    half again as large as the KPI charts (a third of a page). It shrinks, never grows,
    in a card narrower than that (``max-width:100%`` in bot/web/static/app.css)."""
    return (
        f'<svg class="{f"chart {kind}".strip()}" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><text x="0" y="14" class="chart-title">'
        f"{escape(title)}</text>"
    )


def _label(x: float, y: float, shown: str, full: str) -> str:
    """A label left of its bar; the whole text as its tooltip when it was cut."""
    tip = f"<title>{escape(full)}</title>" if shown != full else ""
    return (
        f'<text x="{x:.1f}" y="{y}" text-anchor="end" class="chart-label">'
        f"{escape(shown)}{tip}</text>"
    )


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
    shown, label_width = bar_labels(labels)
    span = WIDTH - label_width - 50
    parts = [
        _svg_open("", height, title),
    ]
    if not values:
        parts.append(f'<text x="0" y="{top + 14}" class="chart-empty">暂无数据</text>')
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = top + i * (BAR_HEIGHT + GAP)
        w = max(1.0, span * value / peak)
        parts.append(
            _label(label_width - 6, y + 15, shown[i], label)
            + f'<rect x="{label_width:.1f}" y="{y}" width="{w:.1f}" height="{BAR_HEIGHT}" '
            f'rx="3" class="chart-bar"/>'
            f'<text x="{label_width + w + 4:.1f}" y="{y + 15}" class="chart-value">'
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
        _svg_open("columns", height, title),
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
            f'<text x="{lx + 14:.1f}" y="{ly + 9}" class="chart-label">'
            f"{escape(fit(name, width / 3 - 16))}</text>"
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
        _svg_open("funnel", height, title),
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
    and the share reached; rows without a target show the bar alone. The number is
    written after the bar or the tick, whichever ends further right (a tick beyond a
    short bar used to cross it), in room kept for the longest one."""
    top = 24
    height = top + max(1, len(done)) * (BAR_HEIGHT + GAP)
    peak = max([*done, *(t for t in targets if t)], default=0.0) or 1.0
    shown, label_width = bar_labels(labels)
    notes = [
        f"{value:.0f}{unit}" + (f" / {target:.0f}（{value / target:.0%}）" if target else "")
        for value, target in zip(done, targets, strict=True)
    ]
    span = WIDTH - label_width - max([50.0, *(text_width(n) + 8 for n in notes)])
    parts = [
        _svg_open("targets", height, title),
    ]
    if not done:
        parts.append(f'<text x="0" y="{top + 14}" class="chart-empty">暂无数据</text>')
    for i, (label, value, target) in enumerate(zip(labels, done, targets, strict=True)):
        y = top + i * (BAR_HEIGHT + GAP)
        w = max(1.0, span * value / peak)
        end = label_width + w
        parts.append(
            _label(label_width - 6, y + 15, shown[i], label)
            + f'<rect x="{label_width:.1f}" y="{y}" width="{w:.1f}" height="{BAR_HEIGHT}" '
            f'rx="3" class="chart-bar"/>'
        )
        if target:
            tx = label_width + span * target / peak
            end = max(end, tx + 1)  # the tick is 2 wide
            parts.append(
                f'<line x1="{tx:.1f}" y1="{y - 2}" x2="{tx:.1f}" y2="{y + BAR_HEIGHT + 2}" '
                f'class="chart-target"><title>目标 {target:.0f}{escape(unit)}</title></line>'
            )
        parts.append(
            f'<text x="{end + 4:.1f}" y="{y + 15}" class="chart-value">{escape(notes[i])}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
