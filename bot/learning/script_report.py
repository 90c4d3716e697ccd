"""The script effectiveness report (``siyu report scripts``, the operator page):
per-script rates with Wilson intervals, flags, and the A/B variant posteriors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.crm.charts import blank_note, pyplot, save_png
from bot.learning import bandit, effectiveness
from bot.learning.effectiveness import GroupBy, ScriptStats
from bot.settings import RankingSettings
from bot.store import Database
from knowledge import files

#: The header of ``siyu report scripts --csv``, for people (a spreadsheet), in Chinese.
CSV_COLUMNS = (
    "话术编号",
    "分组",
    "标题",
    "变体组",
    "展示",
    "采用",
    "修改",
    "采用率",
    "回复样本",
    "已回复",
    "回复率",
    "回复率区间下限",
    "回复率区间上限",
    "转化样本",
    "转化",
    "转化率",
    "转化率区间下限",
    "转化率区间上限",
    "常被修改",
    "从未采用",
)


@dataclass(frozen=True, slots=True)
class ScriptReport:
    rows: list[ScriptStats]
    often_edited: list[ScriptStats]  # overall, with their common edits
    never_adopted: list[ScriptStats]
    variants: list[bandit.GroupPosterior]
    #: False: the reader may not see the advisers' texts (the edits are counted, not shown).
    edits_shown: bool = True


def build(
    *,
    db: Database,
    settings: RankingSettings,
    by: GroupBy | None = None,
    since: datetime | None = None,
    reply_window: timedelta | None = None,
    adviser_ids: Sequence[str] | None = None,
    redact: effectiveness.Redact | None = None,
    edits_shown: bool = True,
) -> ScriptReport:
    """The report over the suggestions to ``adviser_ids`` (all when None); the advisers'
    final texts through ``redact`` (bot.learning.effectiveness.load)."""
    data = effectiveness.load(db=db, since=since, adviser_ids=adviser_ids, redact=redact)
    window = timedelta(days=settings.conversion_window_days)
    overall = effectiveness.compute(data, conversion_window=window, reply_window=reply_window)
    rows = (
        overall
        if by is None
        else effectiveness.compute(data, by=by, conversion_window=window, reply_window=reply_window)
    )
    stats = {s.script_id: s for s in overall}
    groups: dict[str, list[str]] = {}
    for script_id, (_title, group) in sorted(data.titles.items()):
        if group:
            groups.setdefault(group, []).append(script_id)
    variants = []
    for group, ids in sorted(groups.items()):
        arms = [
            bandit.Arm(
                script_id=i,
                successes=stats[i].replied if i in stats else 0,
                trials=stats[i].reply_n if i in stats else 0,
            )
            for i in ids
        ]
        variants.append(
            bandit.posterior(
                group,
                arms,
                winner_probability=settings.winner_probability,
                min_samples=settings.winner_min_samples,
            )
        )
    return ScriptReport(
        rows=rows,
        often_edited=[s for s in overall if s.often_edited],
        never_adopted=[s for s in overall if s.never_adopted],
        variants=variants,
        edits_shown=edits_shown,
    )


def fmt_rate(rate: float | None, ci: tuple[float, float], n: int) -> str:
    """'38% [30–46%] n=120', or '– n=0'."""
    if rate is None:
        return f"– n={n}"
    return f"{rate:.0%} [{ci[0]:.0%}–{ci[1]:.0%}] n={n}"


def write_csv(rows: Sequence[ScriptStats], path: Path) -> None:
    """The table of ``siyu report scripts --csv`` (text cells formula-protected)."""

    def num(value: float | None) -> float | str:
        return "" if value is None else round(value, 4)

    files.write_csv(
        path,
        CSV_COLUMNS,
        (
            [
                s.script_id,
                s.segment,
                s.title,
                s.variant_group or "",
                s.suggested,
                s.adopted,
                s.edited,
                num(s.adoption_rate),
                s.reply_n,
                s.replied,
                num(s.reply_rate),
                num(s.reply_ci[0]),
                num(s.reply_ci[1]),
                s.conversion_n,
                s.converted,
                num(s.conversion_rate),
                num(s.conversion_ci[0]),
                num(s.conversion_ci[1]),
                "是" if s.often_edited else "否",
                "是" if s.never_adopted else "否",
            ]
            for s in rows
        ),
    )


def write_png(rows: Sequence[ScriptStats], path: Path, *, title: str, limit: int = 20) -> None:
    """Horizontal bars: reply rate per script with its Wilson interval."""
    plt = pyplot()
    shown = [s for s in rows if s.reply_n][:limit]
    if not shown:
        fig, ax = plt.subplots(figsize=(8, 2.5), dpi=100)
        ax.set_title(title)
        ax.set_axis_off()
        blank_note(ax, EMPTY_SCRIPTS)
        save_png(plt, fig, path)
        return
    _draw(plt, shown, path, title)


#: What an empty script chart says.
EMPTY_SCRIPTS = "这段时间没有话术有回复数据（话术被采用或改写后，客户回复与否才会计入）"


def _draw(plt: Any, rows: list[ScriptStats], path: Path, title: str) -> None:
    labels = [
        f"{s.script_id}{' · ' + s.segment if s.segment else ''} (n={s.reply_n})" for s in rows
    ]
    rates = [100 * (s.reply_rate or 0.0) for s in rows]
    low = [r - 100 * s.reply_ci[0] for r, s in zip(rates, rows, strict=True)]
    high = [100 * s.reply_ci[1] - r for r, s in zip(rates, rows, strict=True)]
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.45 * len(rows) + 1.5)), dpi=100)
    ys = list(range(len(rows)))
    ax.barh(ys, rates, xerr=[low, high], color="#4292c6", ecolor="#333333", capsize=3)
    ax.set_yticks(ys, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("回复率 %（95% Wilson 区间）")
    ax.set_title(title)
    fig.tight_layout()
    save_png(plt, fig, path)
