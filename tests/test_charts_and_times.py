"""Charts draw Chinese with a CJK font found through fontconfig (or say what to install),
an empty chart says why it is empty, and the command line shows times in the configured
time zone, like the console."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import run
from bot.crm import charts
from bot.crm.reports import EMPTY_FUNNEL, FunnelRow, funnel_figure, write_funnel_png
from bot.domain import IncomingMessage
from bot.errors import InputError
from bot.pipeline.runtime import open_runtime
from bot.settings import Settings

matplotlib = pytest.importorskip("matplotlib")
needs_fontconfig = pytest.mark.skipif(
    shutil.which("fc-list") is None or not charts.fontconfig_cjk_fonts(),
    reason="no CJK font installed through fontconfig on this machine",
)


@needs_fontconfig
def test_charts_use_a_cjk_font_found_through_fontconfig(tmp_path: Path) -> None:
    from matplotlib import font_manager

    plt = charts.pyplot()
    chosen = Path(font_manager.findfont(font_manager.FontProperties(family=["sans-serif"])))
    assert charts.covers_chinese(chosen), chosen
    assert chosen in charts.fontconfig_cjk_fonts()
    rows = [FunnelRow("李敏", 10, 6, 3, 13800.0), FunnelRow("合计", 10, 6, 3, 13800.0)]
    target = tmp_path / "漏斗.png"
    write_funnel_png(rows, target, title="按顾问的漏斗 2026-03-01 至 2026-03-31")
    assert target.read_bytes().startswith(b"\x89PNG"), "drawn without a missing-glyph warning"
    plt.close("all")


def test_without_a_cjk_font_the_chart_is_refused_with_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dejavu = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    assert not charts.covers_chinese(dejavu)
    assert charts.cjk_font(fontconfig=lambda: [], known_fonts=[dejavu]) is None
    monkeypatch.setattr(charts, "cjk_font", lambda: None)
    with pytest.raises(InputError, match="fonts-noto-cjk"):
        charts.pyplot()


@needs_fontconfig
def test_a_blank_funnel_says_why(tmp_path: Path) -> None:
    plt = charts.pyplot()
    fig = funnel_figure(plt, [FunnelRow("合计", 0, 0, 0, 0.0)], title="漏斗")
    assert [t.get_text() for t in fig.axes[0].texts] == [EMPTY_FUNNEL]
    plt.close(fig)
    write_funnel_png([], tmp_path / "empty.png", title="漏斗")
    assert (tmp_path / "empty.png").stat().st_size > 0


def test_customers_list_shows_the_configured_time_zone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    rt = open_runtime(Settings.model_validate({"data_dir": str(data)}))
    try:
        rt.assistant.receive(
            IncomingMessage(
                msg_id="m1",
                channel="memory",
                contact_id="wx-1",
                contact_name="王芳",
                text="你好",
                adviser_id="a1",
                adviser_name="李敏",
                sent_at=datetime(2026, 3, 1, 2, 30, tzinfo=UTC),  # 10:30 in Shanghai
            )
        )
    finally:
        rt.close()
    capsys.readouterr()
    assert run(["--data-dir", str(data), "customers", "list"]) == 0
    out = capsys.readouterr().out
    assert "2026-03-01 10:30" in out and "02:30" not in out
    assert run(["--data-dir", str(data), "customers", "show", "1"]) == 0
    assert "03-01 10:30" in capsys.readouterr().out


def test_a_stack_of_eleven_categories_has_eleven_colours() -> None:
    """The manager's tag chart stacks a taxonomy's categories: 价格敏感度 and 沟通偏好 had
    the same green (six colours for eleven categories)."""
    from bot.web.charts import stacked_columns

    series = {f"分类{i}": [1.0, 2.0] for i in range(11)}
    svg = str(stacked_columns(["一月", "二月"], series, title="标签分布"))
    legend = re.findall(r'width="10" height="10" class="(chart-s\d+)"', svg)
    assert len(legend) == 11 and len(set(legend)) == 11


def _labels(svg: str) -> list[tuple[str, str | None]]:
    """Each bar's label as drawn, and its tooltip (the whole text) when it was cut."""
    return [
        (text, tip or None)
        for text, tip in re.findall(
            r'class="chart-label">([^<]*)(?:<title>([^<]*)</title>)?</text>', svg
        )
    ]


def test_bar_labels_made_from_one_pattern_stay_apart() -> None:
    """Labels were cut to 8 characters: 「表单测试活动1280-94974」 and 「表单测试活动360-95001」
    both read 「表单测试活动12」 (three bars, one label), and the target chart's
    「活动 · 顾问」 lost the adviser. Now a label keeps its start and its end, the longest
    fit whole, and labels still alike are numbered; a cut label has its whole text as
    the tooltip."""
    from bot.web import charts
    from bot.web.charts import bar_chart, target_bars

    names = ["表单测试活动1280-94974", "表单测试活动360-95001", "表单测试活动1280-95012"]
    drawn = _labels(str(bar_chart(names, [3.0, 2.0, 1.0], unit="人", title="新增客户")))
    assert [text for text, _ in drawn] == names  # short enough: whole
    pairs = [f"{n} · {who}" for n in names for who in ("林顾问", "欧阳顾问")]
    drawn = _labels(
        str(target_bars(pairs, [1.0] * 6, [2.0] * 6, title="新增：完成 / 目标", unit="人"))
    )
    texts = [text for text, _ in drawn]
    assert len(set(texts)) == 6, texts
    assert all(charts.text_width(t) <= charts.MAX_LABEL_WIDTH for t in texts), texts
    assert all(t.endswith(("林顾问", "欧阳顾问")) and "…" in t for t in texts), texts
    assert [tip for _, tip in drawn] == pairs
    same = _labels(str(bar_chart(["直播课"] * 2 + ["门店"], [1.0, 2.0, 3.0], unit="", title="t")))
    assert same == [("直播课（1）", "直播课"), ("直播课（2）", "直播课"), ("门店", None)]


def test_a_target_tick_never_crosses_the_number_beside_its_bar() -> None:
    """活动效果 at 1280 px: 「1人 / 12（8%）」 was written just after a short bar, and the red
    tick of its target (far right) crossed it. Now the number starts after the bar or the
    tick, whichever ends further right, and still ends inside the chart."""
    from bot.web import charts
    from bot.web.charts import target_bars

    done = [1.0, 2.0, 12.0, 0.0, 3.0]
    targets: list[float | None] = [12.0, 10.0, 10.0, None, 3.0]
    svg = str(target_bars(["甲"] * 2 + ["乙", "丙", "丁"], done, targets, title="t", unit="人"))
    ticks = {int(y1): float(x) for x, y1 in re.findall(r'<line x1="([\d.]+)" y1="(-?\d+)"', svg)}
    bars = {
        int(y): float(x) + float(w)
        for x, y, w in re.findall(r'<rect x="([\d.]+)" y="(\d+)" width="([\d.]+)"', svg)
    }
    notes = re.findall(r'<text x="([\d.]+)" y="(\d+)" class="chart-value">([^<]*)</text>', svg)
    assert [n for _, _, n in notes] == [
        "1人 / 12（8%）",
        "2人 / 10（20%）",
        "12人 / 10（120%）",
        "0人",
        "3人 / 3（100%）",
    ]
    for x, y, note in notes:
        row = int(y) - 15  # the text's baseline is 15 below its bar's top
        clear_of = max(bars[row], ticks.get(row - 2, 0.0) + 1)  # the tick is 2 wide
        assert float(x) >= clear_of, (note, x, clear_of)
        assert float(x) + charts.text_width(note) <= charts.WIDTH, note


def test_every_chart_is_drawn_at_its_own_size() -> None:
    """A chart stretched to its card: on 转介绍 (two cards, half a page each) its text was
    half again as large as on 数据 (three to a row). Every chart now says its size in
    pixels, one viewBox unit a pixel, so the same font size reads the same everywhere."""
    from bot.web.charts import WIDTH, bar_chart, funnel_chart, stacked_columns, target_bars

    drawn = [
        bar_chart(["李敏"], [1.0], unit="人", title="a"),
        target_bars(["李敏"], [1.0], [2.0], title="b"),
        funnel_chart([("新增", 3), ("成交", 1)], title="c"),
        stacked_columns(["12/7"], {"价格": [1.0]}, title="d"),
    ]
    for svg in map(str, drawn):
        size = re.search(
            r'<svg class="chart[^"]*" width="(\d+)" height="(\d+)" viewBox="0 0 (\d+) (\d+)"', svg
        )
        assert size, svg[:120]
        assert size.group(1) == size.group(3) == str(WIDTH) and size.group(2) == size.group(4)


@needs_fontconfig
def test_charts_count_customers_in_whole_numbers_and_a_blank_campaign_chart_says_why() -> None:
    """Before: a funnel of 2 customers had ticks at 0.25, 0.5 …; a 100% rate was drawn on
    the axes' top edge with its label in the title; a campaign report without customers
    drew axes from -0.08 to 0.08."""
    from bot.crm.campaigns import EMPTY_CAMPAIGNS, ReportRow, campaign_figure

    plt = charts.pyplot()
    rows = [FunnelRow("抖音", 2, 1, 2, 5000.0), FunnelRow("合计", 2, 1, 2, 5000.0)]
    fig = funnel_figure(plt, rows, title="漏斗")
    counts, rates = fig.axes
    assert all(float(t).is_integer() for t in counts.get_yticks())
    assert rates.get_ylim()[1] > 100
    plt.close(fig)
    row = ReportRow("双十二直播", "直播", "wang", "王磊", 2, 0, 1, 1, 4680.0, 3000.0)
    fig = campaign_figure(plt, [row], title="活动效果")
    assert all(float(t).is_integer() for t in fig.axes[0].get_yticks())
    plt.close(fig)
    empty = ReportRow("双十二直播", "直播", "wang", "王磊", 0, 0, 0, 0, 0.0, 3000.0)
    fig = campaign_figure(plt, [empty], title="活动效果")
    assert [t.get_text() for t in fig.axes[0].texts] == [EMPTY_CAMPAIGNS]
    plt.close(fig)
