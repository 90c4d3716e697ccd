"""The script library as operators use it: re-importing keeps their decisions, Chinese
headers and names are accepted, the import says what it will do before it writes, dates
in scripts mean what the operator set, and lists keep ids whole at 80 columns."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import RuntimeFactory
from rich.console import Console
from web_helpers import add_users, bearer_client, finish_job, login, web_app

from bot.channels.memory import MemoryChannel
from bot.cli import run
from bot.cli.demo import demo_data_dir, load_conversation
from bot.cli.scripts import script_table
from bot.errors import ConfigError
from bot.pipeline.runtime import Runtime, open_runtime
from bot.services import scripts
from bot.services.access import cli_principal
from bot.settings import Settings, load_settings
from bot.store import customers as customers_repo
from scripts_lib import ScriptRecord, chinese_date, read_scripts, write_scripts
from scripts_lib.lint import lint

ADMIN = cli_principal("operator-test")
HEADER = "id,title,category,stage,industry,tags,body"
ROWS = [
    "MY-OBJ-001,嫌贵：拆到每天,objection,convert,insurance,嫌贵,每天不到一杯奶茶钱。",
    "MY-OBJ-002,怕理赔难,objection,convert,insurance,理赔,理赔全程我来跟进。",
    "MY-PRC-001,保费多少,pricing,convert,insurance,价格,三十岁一年四千六。",
]


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def siyu(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["--data-dir", str(data), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stored(rt: Runtime, script_id: str) -> ScriptRecord:
    return scripts.get(rt, ADMIN, script_id)


# ---------------------------------------------------------------- 1: re-import keeps
def test_reimport_without_status_keeps_archived_and_draft_scripts(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    rt = make_runtime(load=False)
    first = write(
        tmp_path / "v1.csv",
        HEADER + ",status,variant_group",
        *(row + ",approved,g1" for row in ROWS),
    )
    scripts.import_file(rt, ADMIN, path=first)
    scripts.set_status(rt, ADMIN, script_id="MY-OBJ-002", status="archived")
    scripts.set_status(rt, ADMIN, script_id="MY-PRC-001", status="draft")
    changed = ROWS[1].replace("理赔全程我来跟进。", "理赔全程我来跟进，放心。")
    again = write(tmp_path / "v2.csv", HEADER, ROWS[0], changed, ROWS[2])
    stats = scripts.import_file(rt, ADMIN, path=again)
    assert (stats.added, stats.updated, stats.unchanged) == (0, 1, 2)
    assert stored(rt, "MY-OBJ-002").status == "archived", "no status column: kept"
    assert stored(rt, "MY-OBJ-002").body.endswith("放心。")
    assert stored(rt, "MY-PRC-001").status == "draft"
    assert stored(rt, "MY-OBJ-001").variant_group == "g1", "no variant_group column: kept"
    hits = rt.library.search("理赔", k=5, industry="insurance")
    assert "MY-OBJ-002" not in {h.script.id for h in hits}, "archived stays unsuggested"

    # An empty status cell keeps too; an explicit value changes it; an explicit empty
    # variant_group cell clears the group.
    explicit = write(
        tmp_path / "v3.csv",
        HEADER + ",status,variant_group",
        ROWS[0] + ",,",
        changed + ",approved,g1",
        ROWS[2] + ",,g1",
    )
    scripts.import_file(rt, ADMIN, path=explicit)
    assert stored(rt, "MY-OBJ-001").status == "approved"
    assert stored(rt, "MY-OBJ-001").variant_group is None
    assert stored(rt, "MY-OBJ-002").status == "approved"
    assert stored(rt, "MY-PRC-001").status == "draft"


def test_reimport_of_a_yaml_item_without_a_key_keeps_its_value(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    rt = make_runtime(load=False)
    first = tmp_path / "lib.yaml"
    first.write_text(
        "- {id: Y-1, title: 早鸟, category: follow_up, stage: convert, industry: kaoyan,"
        " tags: [早鸟], body: '早鸟优惠{deadline}截止。', deadline: 2031-03-31,"
        " status: archived}\n",
        encoding="utf-8",
    )
    scripts.import_file(rt, ADMIN, path=first)
    second = tmp_path / "again.yaml"
    second.write_text(
        "- {id: Y-1, title: 早鸟, category: follow_up, stage: convert, industry: kaoyan,"
        " tags: [早鸟], body: '早鸟优惠{deadline}截止！'}\n",
        encoding="utf-8",
    )
    scripts.import_file(rt, ADMIN, path=second)
    record = stored(rt, "Y-1")
    assert (record.status, record.deadline) == ("archived", date(2031, 3, 31))


def test_console_edit_keeps_the_variant_group_and_deadline(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    rt = make_runtime(load=False)
    path = write(
        tmp_path / "v.csv",
        HEADER + ",variant_group,deadline",
        ROWS[0] + ",g1,2031-01-01",
    )
    scripts.import_file(rt, ADMIN, path=path)
    edited = ScriptRecord(
        id="MY-OBJ-001",
        title="嫌贵",
        category="objection",
        stage="convert",
        industry="insurance",
        body="每天不到一杯奶茶钱～",
        status="draft",
    )
    scripts.save(rt, ADMIN, record=edited, is_new=False)
    record = stored(rt, "MY-OBJ-001")
    assert (record.status, record.variant_group, record.deadline) == (
        "draft",
        "g1",
        date(2031, 1, 1),
    )


# ---------------------------------------------------------------- 13: dry run counts
def test_dry_run_counts_new_updated_unchanged_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    assert (
        siyu(capsys, data, "scripts", "import", str(write(tmp_path / "a.csv", HEADER, *ROWS[:2])))[
            0
        ]
        == 0
    )
    both = write(tmp_path / "b.csv", HEADER, ROWS[0], ROWS[1].replace("跟进。", "跟进！"), ROWS[2])
    code, out, _ = siyu(capsys, data, "scripts", "import", str(both), "--dry-run")
    assert code == 0
    assert "将新增 1 · 将更新 1 · 未变 1" in out and "未写入" in out
    code, out, _ = siyu(capsys, data, "scripts", "list")
    assert "共 2 条话术" in out, "a dry run writes nothing"
    code, out, _ = siyu(capsys, data, "scripts", "import", str(both))
    assert "新增 1 · 更新 1 · 未变 1" in out


def test_plan_is_what_the_console_upload_report_shows(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    rt = make_runtime(load=False)
    scripts.import_file(rt, ADMIN, path=write(tmp_path / "a.csv", HEADER, ROWS[0]))
    plan = scripts.plan_import(rt, ADMIN, path=write(tmp_path / "b.csv", HEADER, *ROWS))
    assert (plan.stats.added, plan.stats.updated, plan.stats.unchanged) == (2, 0, 1)
    assert [r.id for r in plan.records] == ["MY-OBJ-001", "MY-OBJ-002", "MY-PRC-001"]
    assert len(scripts.list_scripts(rt, ADMIN)) == 1


def test_script_list_keeps_the_id_whole_at_80_columns() -> None:
    records = [
        ScriptRecord(
            id="INSURANCE-OBJECTION-0042",
            title="客户说“再考虑考虑”的时候怎么回应比较自然又不会让人有压力",
            category="objection",
            stage="convert",
            industry="insurance",
            body="…",
        )
    ]
    console = Console(width=80, file=io.StringIO(), color_system=None)
    console.print(script_table(records))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "INSURANCE-OBJECTION-0042" in text, text
    assert "异议处理" in text and "转化" in text, "names, not codes"


# ---------------------------------------------------------------- 7: Chinese headers
def test_chinese_headers_and_names_are_accepted(tmp_path: Path) -> None:
    path = write(
        tmp_path / "中文.csv",
        "编号,标题,分类,阶段,行业,标签,内容,状态,截止日期",
        "Z-1,报价,价格/报价,转化,保险业,价格,三十岁一年四千六。,草稿,",
        "Z-2,临门一脚,促成,转化,通用,成交,今天定下来吧。,已审核,2031年3月31日",
        "Z-3,价格,价格,引流,全部,价格,先了解一下。,归档,",
    )
    parsed = read_scripts(path)
    assert [i for i in lint(parsed) if i.severity == "error"] == []
    got = [(p.record.category, p.record.stage, p.record.status) for p in parsed]
    assert got == [
        ("pricing", "convert", "draft"),
        ("closing", "convert", "approved"),
        ("pricing", "acquire", "archived"),
    ]
    assert [p.record.industry for p in parsed] == ["保险业", "general", "general"]
    assert parsed[1].record.deadline == date(2031, 3, 31)


def test_export_keeps_codes_unless_chinese_headers_are_asked_for(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    siyu(capsys, data, "scripts", "import", str(write(tmp_path / "a.csv", HEADER, *ROWS)))
    plain, chinese = tmp_path / "plain.csv", tmp_path / "chinese.csv"
    assert siyu(capsys, data, "scripts", "export", str(plain))[0] == 0
    assert siyu(capsys, data, "scripts", "export", str(chinese), "--chinese-headers")[0] == 0
    with plain.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:3] == ["id", "title", "category"] and rows[0]["category"] == "objection"
    with chinese.open(encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:3] == ["编号", "标题", "分类"]
    assert (rows[0]["分类"], rows[0]["阶段"], rows[0]["状态"]) == ("异议处理", "转化", "已审核")
    for path in (plain, chinese):  # both round trips are exact
        code, out, _ = siyu(capsys, data, "scripts", "import", str(path))
        assert code == 0 and "新增 0 · 更新 0 · 未变 3" in out


def test_list_and_export_filters_take_the_chinese_names_their_help_shows(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The help says 「只要这个分类（如 报价）」 and 「草稿 / 已审核 / 已归档」: those (and the
    import's synonyms, 价格) matched nothing, and a misspelt value said 「没有符合条件的话术」
    as if the library had none."""
    data = tmp_path / "data"
    siyu(capsys, data, "scripts", "import", str(write(tmp_path / "a.csv", HEADER, *ROWS)))
    assert siyu(capsys, data, "scripts", "status", "MY-OBJ-002", "draft")[0] == 0
    for option, value, shown in (
        ("--category", "报价", "MY-PRC-001"),
        ("--category", "价格", "MY-PRC-001"),
        ("--status", "草稿", "MY-OBJ-002"),
        ("--status", "待审核", "MY-OBJ-002"),
    ):
        code, out, _ = siyu(capsys, data, "scripts", "list", option, value)
        assert code == 0 and shown in out and "共 1 条话术" in out, (value, out)
        exported = tmp_path / "x.csv"
        code, out, _ = siyu(capsys, data, "scripts", "export", str(exported), option, value)
        assert code == 0 and "1 条话术已写入" in out, (value, out)
    code, _, err = siyu(capsys, data, "scripts", "list", "--category", "报假")
    assert code == 1 and "未知的分类「报假」" in err and "pricing（报价）" in err, err
    code, _, err = siyu(capsys, data, "scripts", "export", str(exported), "--status", "审过")
    assert code == 1 and "未知的状态「审过」" in err and "draft（草稿）" in err, err
    code, _, err = siyu(capsys, data, "scripts", "export", str(exported), "--industry", "保健")
    assert code == 1 and "未知的行业「保健」" in err, err


@pytest.mark.parametrize("suffix", [".yaml", ".xlsx"])
def test_chinese_headers_round_trip_in_every_format(tmp_path: Path, suffix: str) -> None:
    record = ScriptRecord(
        id="Z-9",
        title="截止提醒",
        category="follow_up",
        stage="convert",
        industry="kaoyan",
        body="早鸟优惠{deadline}截止。",
        tags=("早鸟",),
        status="draft",
        variant_group="g",
        deadline=date(2031, 3, 31),
    )
    path = tmp_path / f"z{suffix}"
    write_scripts([record], path, chinese=True)
    assert [p.record for p in read_scripts(path)] == [record]


# ---------------------------------------------------------------- 3: dates
def test_date_is_a_lint_warning_telling_what_to_write(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.csv", HEADER, "D-1,早鸟,follow_up,convert,kaoyan,早鸟,早鸟优惠{date}截止。"
    )
    issues = lint(read_scripts(path))
    assert [i.severity for i in issues] == ["warning"]
    assert "{deadline}" in issues[0].message and "{today}" in issues[0].message


def test_a_deadline_without_its_year_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path / "d.csv",
        HEADER + ",deadline",
        "D-1,早鸟,follow_up,convert,kaoyan,早鸟,早鸟优惠{deadline}截止。,12月6日",
    )
    issues = lint(read_scripts(path))
    assert [(i.field, i.severity) for i in issues] == [("deadline", "error")]
    assert "年份" in issues[0].message


def test_suggestions_fill_deadline_and_today_never_date_with_today(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    rt = make_runtime(load=False)
    # the team's today (the `timezone` setting, Shanghai by default), not the machine's
    today = datetime.now(ZoneInfo(rt.settings.timezone)).date()
    soon = today + timedelta(days=40)
    path = write(
        tmp_path / "d.csv",
        HEADER + ",deadline",
        f"D-1,早鸟截止,follow_up,convert,kaoyan,早鸟,早鸟优惠{{deadline}}就截止了，今天{{today}}。,{soon}",
        "D-2,老写法,follow_up,convert,kaoyan,早鸟,早鸟优惠{date}就截止了。,",
        "D-3,过期,follow_up,convert,kaoyan,早鸟,报名优惠{deadline}截止。,2020-01-01",
    )
    scripts.import_file(rt, ADMIN, path=path)
    result = rt.assistant.suggest("早鸟优惠什么时候截止", industry="kaoyan")
    texts = {s.id: s.text for s in result.scripts}
    shown = chinese_date(soon, today=today)
    assert texts["D-1"] == f"早鸟优惠{shown}就截止了，今天{today.month}月{today.day}日。"
    assert texts["D-2"] == "早鸟优惠【待填:日期】就截止了。", "never the day of sending"
    assert texts["D-3"] == "报名优惠【待填:截止日期】截止。", "a passed deadline is not stated"


# ---------------------------------------------------------------- 4: adviser name, preview
@pytest.fixture(scope="module")
def greetings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, set[str]]]:
    """A runtime holding the shipped demo scripts that use ``{adviser_name}`` (only those:
    embedding the whole demo library takes a while)."""
    folder = tmp_path_factory.mktemp("greetings")
    lines = (demo_data_dir() / "scripts.csv").read_text(encoding="utf-8").splitlines()
    path = write(
        folder / "greetings.csv", lines[0], *(x for x in lines[1:] if "{adviser_name}" in x)
    )
    rt = open_runtime(Settings.model_validate({"data_dir": str(folder / "data")}))
    scripts.import_file(rt, ADMIN, path=path)
    ids = {r.id for r in scripts.list_scripts(rt, ADMIN)}
    yield rt, ids
    rt.close()


@pytest.mark.parametrize("wechat_name", ["", "顾问", "老师"])
def test_an_adviser_without_a_name_never_doubles_the_role(
    greetings: tuple[Runtime, set[str]], wechat_name: str
) -> None:
    rt, with_name = greetings
    assert len(with_name) >= 4, "the demo library greets with the adviser's name"
    adviser = f"a-{len(wechat_name)}"
    channel = MemoryChannel(rt.assistant.handle, adviser_id=adviser, adviser_name=wechat_name)
    channel.receive(f"wx-{adviser}", "在吗", industry="insurance")
    with rt.db.session() as session:
        [customer] = customers_repo.list_customers(session=session, adviser_id=adviser)
    result = rt.assistant.suggest("你好，朋友推荐加的你", customer_id=customer.id, new_contact=True)
    greeting = [s.text for s in result.scripts if s.id in with_name]
    assert greeting, [s.id for s in result.scripts]
    assert all("【待填:顾问称呼】" in t for t in greeting), greeting
    assert not [t for t in greeting if "顾问顾问" in t or "老师老师" in t]


def test_the_demo_adviser_reads_naturally(greetings: tuple[Runtime, set[str]]) -> None:
    rt, _ = greetings
    adviser, _ = load_conversation(demo_data_dir() / "conversation.yaml")
    channel = MemoryChannel(
        rt.assistant.handle, adviser_id=adviser["id"], adviser_name=adviser["name"]
    )
    result = channel.receive(
        "wx-demo", "你好，朋友推荐加的你", industry="insurance", contact_name="张丽"
    )
    assert result is not None
    welcome = next(s.text for s in result.scripts if s.category == "welcome")
    assert f"保险顾问{adviser['name']}" in welcome and "顾问李顾问" not in welcome


def test_a_role_word_is_refused_as_the_configured_adviser_name(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[assistant]\nadviser_name = "顾问"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="保险顾问顾问"):
        load_settings(cfg, environ={})
    cfg.write_text('[assistant]\nadviser_name = "李敏"\n', encoding="utf-8")
    assert load_settings(cfg, environ={}).assistant.adviser_name == "李敏"


@pytest.mark.parametrize(
    ("industry", "product"),
    [
        ("母婴", "婴儿有机奶粉"),
        ("kaoyan", "考研全程班"),
        ("insurance", "安心保重疾险"),
        ("宠物", "【待填:产品】"),
    ],
)
def test_preview_uses_the_scripts_own_industry(
    shared_runtime: Runtime, industry: str, product: str
) -> None:
    record = ScriptRecord(
        id="P-1",
        title="介绍",
        category="product_intro",
        stage="engage",
        industry=industry,
        body="{customer_name}，给您介绍一下{product}。",
    )
    preview = scripts.preview(shared_runtime, ADMIN, record)
    assert product in preview.text
    assert industry == "insurance" or "安心保" not in preview.text


# ---------------------------------------------------------------- 13: console upload
def test_console_upload_report_counts_before_writing(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(load=False)
    add_users(rt)
    scripts.import_file(rt, ADMIN, path=write(rt.settings.data_dir / "a.csv", HEADER, ROWS[0]))
    body = "\n".join([HEADER, ROWS[0], ROWS[1].replace("跟进。", "跟进！"), ROWS[2]]) + "\n"
    with bearer_client(web_app(rt)) as c:
        csrf = login(c, "olivia")
        res = c.post(
            "/scripts/upload",
            data={"csrf_token": csrf},
            files={"file": ("s.csv", io.BytesIO(body.encode()), "text/csv")},
        )
        res = c.get(finish_job(c, res)["next_url"])
        assert res.status_code == 200
        assert "确认后：新增 2 条，更新 0 条，未变 1 条" in res.text
    assert len(scripts.list_scripts(rt, ADMIN)) == 1, "nothing written before confirming"
