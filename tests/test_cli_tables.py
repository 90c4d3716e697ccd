"""Tables at 80 and 60 columns (bot/cli/tables.py): numbers, ids, dates and rates are never
cut or ellipsized; the text columns wrap instead."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from rich.table import Table

from bot.cli import common, run
from bot.cli.tables import show

TITLE = "客户说预算有限、想先了解一下重疾险和医疗险的区别再决定"
#: Every figure of the table, each of which must appear whole.
FIGURES = ["1,000,000", "999,999", "12,345", "100.0%", "[99.9%–100.0%]", "n=1,000,000"]


def effectiveness_table() -> Table:
    """The shape of `siyu report scripts`: an id over a long Chinese title, counts, rates."""
    table = Table("话术", "展示", "采用", "修改", "采用率", "回复率", "转化率", title="话术效果")
    table.add_row(
        f"INS-PRC-004\n{TITLE}",
        "1,000,000",
        "999,999",
        "12,345",
        "100.0% [99.9%–100.0%] n=1,000,000",
        "100.0% [99.9%–100.0%] n=1,000,000",
        "0.0% [0.0%–0.1%] n=999,999",
    )
    return table


def rendered(table: Table, width: int, *, fitted: bool = True) -> str:
    console = Console(file=io.StringIO(), width=width, markup=False, emoji=False)
    if fitted:
        show(table, empty=None, console=console)
    else:
        console.print(table)
    assert isinstance(console.file, io.StringIO)
    return console.file.getvalue()


def test_rich_alone_cuts_the_numbers_at_80_columns() -> None:
    """Why ``show`` exists: the same table printed as is loses its figures."""
    text = rendered(effectiveness_table(), 80, fitted=False)
    assert "…" in text
    assert not all(figure in text for figure in FIGURES)


@pytest.mark.parametrize("width", [80, 60])
def test_every_figure_appears_whole_and_the_title_wraps(width: int) -> None:
    text = rendered(effectiveness_table(), width)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width  # box characters are one cell each
    for figure in FIGURES:
        assert figure in text, f"{figure} cut at {width} columns:\n{text}"
    assert "INS-PRC-004" in text
    assert "…" not in text
    # the title gave way: folded over several lines, every character still there, in order
    # (in the first column; at 60 columns, where the figures side by side are too wide, in
    # the value column of the row's block)
    rows = [line.split("│") for line in lines if line.startswith("│")]
    columns = ["".join(cells[n].strip() for cells in rows) for n in (1, 2)]
    assert TITLE in columns[0] or TITLE in columns[1]
    if width == 60:
        assert re.search(r"│ 展示\s+│ 1,000,000\s+│", text), text


def test_a_column_of_short_labels_keeps_its_header_on_one_line_when_there_is_room() -> None:
    table = Table("编号", "客户", "最近消息")
    table.add_row("123456", "王刚", "2026-12-07 10:56")
    text = rendered(table, 80)
    assert "最近消息" in text and "2026-12-07 10:56" in text


def test_campaigns_at_80_columns_show_big_amounts_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the CLI: a campaign costing a million with a target of ten million, at the
    width of a terminal that is 80 columns wide (or a pipe)."""
    monkeypatch.setattr(common.out, "width", 80)
    data = ["--data-dir", str(tmp_path / "data")]
    assert (
        run(
            [
                *data,
                "users",
                "add",
                "lin",
                "--role",
                "adviser",
                "--password",
                "Lin-xiao-2024!long",
                "--name",
                "林晓",
                "--adviser-id",
                "ins_lin",
            ]
        )
        == 0
    )
    add = ["campaigns", "add", "2026 双十二老客户转介绍冲刺活动（华东区）", "--channel", "转介绍"]
    assert run([*data, *add, "--start", "2026-12-01", "--cost", "1000000"]) == 0
    target = ["--adviser", "ins_lin", "--added", "1000000", "--revenue", "12345678.9"]
    assert run([*data, "campaigns", "target", "1", *target]) == 0
    capsys.readouterr()
    assert run([*data, "campaigns", "list"]) == 0
    listed = capsys.readouterr().out
    assert "1,000,000.00" in listed and "2026-12-01" in listed and "…" not in listed
    assert run([*data, "campaigns", "report", "--now", "2026-12-10T12:00:00+08:00"]) == 0
    report = capsys.readouterr().out
    assert "…" not in report
    for figure in ("0/1,000,000", "1,000,000.00", "/12,345,678.90"):
        assert figure in report, report
    assert max(len(line) for line in report.splitlines()) <= 80
    assert re.search(r"│\s*0\.00\s*│", report), report  # the revenue so far, whole


def test_an_id_over_a_title_stays_whole_beside_a_second_text_column() -> None:
    """`siyu report scripts` has a second text column, 提示 (「∅ 从未采用」): Rich shared
    the text room between the two evenly and cut 「GEN-ICE-001」 into 「GEN-ICE-」「001」."""
    table = Table("话术", "展示", "采用", "修改", "采用率", "回复率", "转化率", "提示")
    for script_id, title in (
        ("GEN-ICE-001", "客户只发“在吗”：及时回应"),
        ("INS-CARE-003", "得知客户生病住院时的关心"),
    ):
        table.add_row(
            f"{script_id}\n{title}",
            "9",
            "0",
            "0",
            "0% [0%–30%] n=9",
            "– n=0",
            "– n=0",
            "✎ 常被修改 ∅ 从未采用",
        )
    text = rendered(table, 80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "GEN-ICE-001" in text and "INS-CARE-003" in text, text
    assert "0% [0%–30%] n=9" in text, text
    rows = [line.split("│") for line in text.splitlines() if line.startswith("│")]
    flags = "".join(cells[8].strip() for cells in rows)
    assert "✎常被修改∅从未采用" in flags.replace(" ", ""), text
