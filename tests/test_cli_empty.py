"""A command with nothing to show says so in a sentence (bot/cli/tables.py ``show``): on a
new data directory, what there is not yet and the command that fills it; with data, that
nothing matches the filters given. Never a bare table frame (header and borders, no rows);
the exit code stays 0 and ``--json`` stays ``[]``. Run in-process on real data directories."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from conftest import LIBRARY

from bot.cli import run

#: The corners of a table's frame: a header and borders.
FRAME = ("┏", "┗", "└")
NOW = "2026-12-07T09:00"


def siyu(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["--data-dir", str(data), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def said(out: str, sentence: str) -> bool:
    """``sentence`` printed whole on one line (the console does not fold sentences)."""
    return any(sentence in line for line in out.splitlines())


@pytest.fixture(scope="module")
def new_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory nothing was ever put in."""
    return tmp_path_factory.mktemp("new") / "data"


@pytest.fixture(scope="module")
def team_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scripts, a taxonomy, two customers of adviser a1 (no entry code, no referrer, no
    order) and a campaign with a1's code."""
    root = tmp_path_factory.mktemp("team")
    data = root / "data"
    people = root / "people.csv"
    people.write_text(
        "name,adviser_id,phone\n甲,a1,13900000001\n乙,a1,13900000002\n", encoding="utf-8"
    )
    for args in (
        ["scripts", "import", str(LIBRARY / "scripts.csv")],
        ["tags", "import", str(LIBRARY / "tags.yaml")],
        ["customers", "import", str(people)],
        ["campaigns", "add", "双十二", "--channel", "直播", "--start", "2026-12-01"],
    ):
        assert run(["--data-dir", str(data), *args]) == 0, args
    return data


NEW_DIR_SENTENCES = [
    (
        ["users", "list"],
        "还没有控制台用户。添加：siyu users add 用户名 --role manager"
        "（顾问：--role adviser --adviser-id 顾问ID）",
    ),
    (
        ["segments", "list"],
        "还没有保存的分群。保存：siyu segments add 分群名称 --filter tag=有孩子",
    ),
    (
        ["campaigns", "list"],
        "还没有活动。新建：siyu campaigns add 活动名称 --channel 渠道 --start 开始日期",
    ),
    (["kb", "list"], "知识库里还没有文档。导入：siyu kb ingest 文件或文件夹"),
    (["scripts", "list"], "话术库是空的。导入：siyu scripts import 话术文件"),
    (["customers", "list"], "还没有客户。导入：siyu customers import 客户文件"),
    (
        ["tags", "list"],
        "没有待确认的标签：还没有标签体系。导入：siyu tags import 标签体系.yaml",
    ),
    (
        ["advisers", "list"],
        "还没有顾问。添加顾问的控制台账号：siyu users add 用户名 --role adviser",
    ),
    (["fields", "list"], "还没有画像字段。导入：siyu fields import 字段文件.yaml"),
    (["fields", "suggestions"], "没有待确认的字段值"),
    (["fields", "suggestions", "--status", "all"], "还没有从消息里识别出的字段值"),
    (["customers", "merges"], "还没有合并记录（建议合并的客户：siyu customers merge-suggestions）"),
    (["campaigns", "unattributed"], "最近 30 天没有未归因的新客户（看更长时间：--days 天数）"),
    (["report", "scripts"], "还没有话术效果数据"),
    (["report", "attribution"], "还没有转化。导入订单：siyu events import-orders 订单文件"),
    (["scripts", "mine-edits", "--dry-run"], "没有新的话术草稿"),
]


@pytest.mark.parametrize(
    ("args", "sentence"), NEW_DIR_SENTENCES, ids=[" ".join(a) for a, _ in NEW_DIR_SENTENCES]
)
def test_a_new_data_directory_says_what_is_missing_and_how_to_add_it(
    capsys: pytest.CaptureFixture[str], new_dir: Path, args: list[str], sentence: str
) -> None:
    code, out, err = siyu(capsys, new_dir, *args)
    assert code == 0, err
    assert said(out, sentence), out
    assert not any(corner in out for corner in FRAME), out


def test_mine_edits_prints_no_count_of_nothing(
    capsys: pytest.CaptureFixture[str], new_dir: Path
) -> None:
    code, out, _ = siyu(capsys, new_dir, "scripts", "mine-edits", "--dry-run")
    assert code == 0 and "条草稿" not in out and "--min-count" in out


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["report", "funnel", "--now", NOW], "2026-11-08 至 2026-12-07 没有新客户"),
        (["referrals", "report", "--now", NOW], "还没有客户。导入：siyu customers import"),
        (["campaigns", "report", "--now", NOW], "还没有活动。新建：siyu campaigns add"),
        (["report", "quadrants"], "还没有订单。导入订单：siyu events import-orders"),
    ],
)
def test_a_report_of_nothing_says_so_above_its_zero_rows(
    capsys: pytest.CaptureFixture[str], new_dir: Path, args: list[str], sentence: str
) -> None:
    """A report's zeros are its answer (and what its CSV holds), so the rows stay; the
    sentence above them says why they are zero."""
    code, out, _ = siyu(capsys, new_dir, *args)
    assert code == 0 and said(out, sentence), out
    zero = "低频低客单" if "quadrants" in args else "合计"
    assert out.index(sentence) < out.index("┏") < out.index(zero), out


def test_referrals_of_nobody_show_no_empty_referrer_table(
    capsys: pytest.CaptureFixture[str], new_dir: Path
) -> None:
    _, out, _ = siyu(capsys, new_dir, "referrals", "report", "--now", NOW)
    assert out.count("┏") == 1 and "直接介绍" not in out


def test_the_sentences_are_for_people_json_and_csv_are_unchanged(
    capsys: pytest.CaptureFixture[str], new_dir: Path, tmp_path: Path
) -> None:
    code, out, _ = siyu(capsys, new_dir, "tags", "list")
    assert code == 0 and said(out, "没有待确认的标签")
    code, out, _ = siyu(capsys, new_dir, "tags", "list", "--json")
    assert code == 0 and out == "[]\n"
    # the two commands that said so before say it as they did, through ``show`` now
    for args, sentence in (
        (
            ["kb", "search", "理赔要什么材料"],
            "知识库里没有找到相关内容（用 siyu kb list 看已导入的文档）",
        ),
        (["customers", "merge-suggestions"], "没有建议合并的客户"),
    ):
        code, out, _ = siyu(capsys, new_dir, *args)
        assert code == 0 and out == sentence + "\n", out
    path = tmp_path / "funnel.csv"
    code, _, _ = siyu(capsys, new_dir, "report", "funnel", "--now", NOW, "--csv", str(path))
    with path.open(encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    assert code == 0 and rows[0][0] == "分组" and [r[0] for r in rows[1:]] == ["合计"]


def test_a_campaign_without_advisers_says_how_to_give_a_code(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    code, out, _ = siyu(
        capsys, data, "campaigns", "add", "双十二", "--channel", "直播", "--start", "2026-12-01"
    )
    sentence = "活动 #1 还没有渠道码。给顾问发一个：siyu campaigns code 1 --adviser 顾问ID"
    assert code == 0 and said(out, sentence) and "┏" not in out, out
    assert "验证语" not in out  # how a code is used, without any code
    code, out, _ = siyu(capsys, data, "campaigns", "show", "1")
    assert code == 0 and said(out, sentence) and "┏" not in out, out


def test_an_empty_rules_file_says_it_holds_no_rule(
    capsys: pytest.CaptureFixture[str], new_dir: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules: []\n", encoding="utf-8")
    code, out, _ = siyu(capsys, new_dir, "actions", "check", str(rules))
    assert code == 0 and said(out, "里没有规则") and "┏" not in out, out


FILTERED = [
    (
        ["scripts", "list", "--category", "after_sales", "--status", "draft"],
        "没有符合条件的话术（去掉 --category、--status 看全部）",
    ),
    (["customers", "list", "--adviser", "nobody"], "没有符合条件的客户（去掉 --adviser 看全部）"),
    (["tags", "list"], "没有待确认的标签"),
    (["tags", "list", "--status", "rejected"], "没有已拒绝的标签"),
    (["customers", "merges", "--customer", "1"], "客户 1 没有合并记录"),
    (
        ["fields", "suggestions", "--customer", "1", "--status", "rejected"],
        "客户 1 没有已拒绝的字段值",
    ),
    (  # the Chinese name its --help gives (before: refused, 「只能是 suggested、…」)
        ["fields", "suggestions", "--customer", "1", "--status", "已拒绝"],
        "客户 1 没有已拒绝的字段值",
    ),
    (["fields", "show", "1"], "客户 1 的行业还没有画像字段"),
    (
        ["campaigns", "report", "--campaign", "双十二", "--customers", "--now", NOW],
        "「双十二」截至 2026-12-07 没有带来客户",
    ),
    (["report", "scripts", "--since", "2020-01-01"], "2020-01-01 以来没有给顾问的建议"),
    (["report", "attribution", "--since", "2020-01-01"], "2020-01-01 以来没有转化"),
    (["scripts", "examples", "INS-PRC-1"], "INS-PRC-1 重疾险保费多少钱 还没有例句"),
]


@pytest.mark.parametrize(("args", "sentence"), FILTERED, ids=[" ".join(a) for a, _ in FILTERED])
def test_a_filter_that_matches_nothing_says_so(
    capsys: pytest.CaptureFixture[str], team_dir: Path, args: list[str], sentence: str
) -> None:
    code, out, err = siyu(capsys, team_dir, *args)
    assert code == 0, err
    assert said(out, sentence), out
    assert "┏" not in out, out
    assert "标签体系" not in out  # there is one: nothing matched the filter


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (
            ["report", "funnel", "--since", "2020-01-01", "--until", "2020-01-31"],
            "2020-01-01 至 2020-01-31 没有新客户（可用 --since、--until 换个时间段）",
        ),
        (
            ["campaigns", "report", "--since", "2020-01-01", "--until", "2020-01-31"],
            "2020-01-01 至 2020-01-31 没有进行中且发了渠道码的活动",
        ),
        (
            ["campaigns", "report", "--now", NOW],
            "截至 2026-12-07 没有经渠道码添加的客户"
            "（没写渠道码的新客户：siyu campaigns unattributed）",
        ),
        (
            ["referrals", "report", "--since", "2020-01-01", "--until", "2020-01-31"],
            "2020-01-01 至 2020-01-31 没有新客户",
        ),
        (
            ["report", "quadrants", "--since", "2020-01-01", "--until", "2020-01-31"],
            "这段时间没有订单",
        ),
    ],
)
def test_a_period_without_anything_says_so_above_the_zeros(
    capsys: pytest.CaptureFixture[str], team_dir: Path, args: list[str], sentence: str
) -> None:
    code, out, _ = siyu(capsys, team_dir, *args)
    assert code == 0 and said(out, sentence), out
    assert out.index(sentence) < out.index("┏"), out


def test_referrals_without_a_referral_say_how_to_record_one(
    capsys: pytest.CaptureFixture[str], team_dir: Path
) -> None:
    code, out, _ = siyu(capsys, team_dir, "referrals", "report")  # today: 甲 and 乙 are in
    sentence = "没有经转介绍来的客户。登记介绍人：siyu referrals set 客户ID 介绍人"
    assert code == 0 and said(out, sentence), out
    assert out.count("┏") == 1  # the advisers' shares (甲 and 乙), no empty referrer table
    assert out.index("合计") < out.index(sentence)


def test_json_of_a_filter_matching_nothing_stays_an_empty_list(
    capsys: pytest.CaptureFixture[str], team_dir: Path
) -> None:
    code, out, _ = siyu(capsys, team_dir, "tags", "list", "--status", "rejected")
    assert code == 0 and out == "没有已拒绝的标签\n"
    code, out, _ = siyu(capsys, team_dir, "tags", "list", "--status", "rejected", "--json")
    assert code == 0 and out == "[]\n"
