"""Industries: an unknown one is refused with the known ones listed, a known one may be
named in Chinese, every synonym of "every industry" means general (taxonomy, scripts,
knowledge), and an industry nothing uses is warned about."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from conftest import LIBRARY, RuntimeFactory
from sqlalchemy import update

from bot.cli import run
from bot.errors import InputError
from bot.pipeline.runtime import Runtime
from bot.services import knowledge, suggestions, tags
from bot.services.access import cli_principal
from bot.services.industries import resolve
from bot.store import fields as fields_repo
from bot.store import industries as industries_repo
from bot.store import scripts as scripts_repo
from bot.store import tags as tags_repo
from bot.store.models import ProfileField, Script, TagCategory

ADMIN = cli_principal("operator-test")


def siyu(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["--data-dir", str(data), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_unknown_industry_is_refused_naming_the_known_ones(shared_runtime: Runtime) -> None:
    with pytest.raises(InputError) as info:
        suggestions.suggest(shared_runtime, ADMIN, text="重疾险多少钱", industry="保健")
    message = str(info.value)
    assert "未知的行业「保健」" in message
    assert "insurance（保险）" in message and "kaoyan（考研）" in message


def test_a_known_industry_by_its_chinese_name_and_general_synonyms(
    shared_runtime: Runtime,
) -> None:
    by_name = suggestions.suggest(shared_runtime, ADMIN, text="重疾险多少钱", industry="保险")
    by_code = suggestions.suggest(shared_runtime, ADMIN, text="重疾险多少钱", industry="insurance")
    assert [s.id for s in by_name.scripts] == [s.id for s in by_code.scripts]
    assert by_name.scripts[0].id.startswith("INS-")
    with shared_runtime.db.session() as session:
        for word in ("all", "通用", "全部", "所有", "General", "通用行业"):
            assert resolve(session, word) == "general", word


def test_suggest_and_chat_refuse_an_unknown_industry_from_the_cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    siyu(capsys, data, "scripts", "import", str(LIBRARY / "scripts.csv"))
    code, _, err = siyu(capsys, data, "suggest", "--text", "多少钱", "--industry", "保健")
    assert code == 1 and "未知的行业「保健」" in err and "insurance" in err
    code, _, err = siyu(capsys, data, "chat", "--industry", "保健")
    assert code == 1 and "未知的行业" in err
    code, _, err = siyu(capsys, data, "scripts", "list", "--industry", "保健")
    assert code == 1 and "未知的行业" in err


def taxonomy(path: Path, industry: str) -> Path:
    path.write_text(
        "version: 1\ncategories:\n"
        f"  - name: 顾虑\n    industry: {industry}\n"
        "    tags:\n      - name: 价格敏感\n        keywords: [贵, 便宜点]\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("word", ["all", "通用", "全部", "所有", "general", "通用行业"])
def test_a_taxonomy_category_for_all_industries_is_suggested_everywhere(
    make_runtime: RuntimeFactory, tmp_path: Path, word: str
) -> None:
    rt = make_runtime(load=False)
    rt.library.import_file(LIBRARY / "scripts.csv")
    tags.import_taxonomy(rt, ADMIN, path=taxonomy(tmp_path / "t.yaml", word))
    for industry in ("insurance", "kaoyan"):
        result = suggestions.suggest(rt, ADMIN, text="太贵了", industry=industry)
        assert [t.name for t in result.tags] == ["价格敏感"], (word, industry)


def test_an_industry_nothing_uses_is_warned_about(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    rt: Runtime = make_runtime(load=False)
    rt.library.import_file(LIBRARY / "scripts.csv")
    stats = tags.import_taxonomy(rt, ADMIN, path=taxonomy(tmp_path / "t.yaml", "保健"))
    assert len(stats.warnings) == 1 and "「保健」" in stats.warnings[0]
    assert "insurance" in stats.warnings[0]
    assert (
        tags.import_taxonomy(rt, ADMIN, path=taxonomy(tmp_path / "u.yaml", "kaoyan")).warnings == ()
    )
    doc = tmp_path / "faq.md"
    doc.write_text("# 问题\n回答。\n", encoding="utf-8")
    report = knowledge.ingest(rt, ADMIN, path=doc, industry="保健品")
    assert [w for w in report.warnings if "「保健品」" in w]
    assert knowledge.ingest(rt, ADMIN, path=doc, industry="全部").warnings == []
    with rt.db.session() as session:
        assert [d.industry for d in knowledge.documents(session, ADMIN)] == ["general"]


def test_the_cli_prints_the_warning(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "data"
    siyu(capsys, data, "scripts", "import", str(LIBRARY / "scripts.csv"))
    code, _, err = siyu(capsys, data, "tags", "import", str(taxonomy(tmp_path / "t.yaml", "保健")))
    assert code == 0 and "「保健」" in err


def test_a_script_file_with_a_new_industry_is_warned_about(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    siyu(capsys, data, "scripts", "import", str(LIBRARY / "scripts.csv"))
    typo = tmp_path / "typo.csv"
    typo.write_text(
        "id,title,category,stage,industry,tags,body\n"
        "T-1,报价,pricing,convert,insurence,价格,三十岁一年四千六。\n",
        encoding="utf-8",
    )
    code, out, err = siyu(capsys, data, "scripts", "import", str(typo), "--dry-run")
    assert code == 0 and "将新增 1" in out
    assert "「insurence」" in err and "第 2 行" in err
    # the warnings in line order: before, the industry's came after every other one
    typo.write_text(
        "id,title,category,stage,industry,tags,body\n"
        "T-1,报价,pricing,convert,insurence,价格,三十岁一年四千六。\n"
        "T-2,问候,welcome,engage,insurance,,Hello there\n",
        encoding="utf-8",
    )
    code, out, err = siyu(capsys, data, "scripts", "import", str(typo), "--dry-run")
    assert code == 0 and "将新增 2" in out
    assert err.index("「insurence」") < err.index("内容里没有中文"), err


def test_a_customer_file_naming_an_industry_in_chinese_files_them_under_the_known_one(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """保险 in a customer file made a second industry beside insurance: those customers
    got only the general scripts and no tags."""
    from bot.services import customers
    from bot.store import customers as customers_repo
    from bot.store.conversions import resolve_customer

    rt: Runtime = make_runtime(load=False)
    rt.library.import_file(LIBRARY / "scripts.csv")
    path = tmp_path / "customers.csv"
    path.write_text("name,phone,industry\n王女士,13800138000,保险\n李先生,13900139000,保健\n")
    with rt.db.session() as session:
        stats = customers.import_file(session, ADMIN, path=path, timezone="Asia/Shanghai")
        found = {
            phone: customers_repo.get_customer(
                session=session, customer_id=resolve_customer(session=session, ref=phone)
            ).industry
            for phone in ("13800138000", "13900139000")
        }
    assert found == {"13800138000": "insurance", "13900139000": "保健"}
    assert len(stats.warnings) == 1 and "「保健」" in stats.warnings[0]


def test_documents_scripts_and_tags_named_in_chinese_reach_that_industry(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """A document uploaded for 保险 was stored as 「保险」 beside insurance: no insurance
    customer ever got it (and scripts and tag categories the same)."""
    from bot.services import scripts

    rt: Runtime = make_runtime(load=False)
    doc = tmp_path / "退保说明.md"
    doc.write_text("# 退保\n犹豫期过后退保只退现金价值，犹豫期内全额退。\n", encoding="utf-8")
    # first, before anything names insurance: still stored as insurance
    report = knowledge.ingest(rt, ADMIN, path=doc, industry="保险")
    assert report.warnings == []
    rt.library.import_file(LIBRARY / "scripts.csv")
    with rt.db.session() as session:
        assert [d.industry for d in knowledge.documents(session, ADMIN)] == ["insurance"]
    found = knowledge.search(rt, ADMIN, query="犹豫期过后退保退多少", k=3, industry="insurance")
    assert found and found[0].source == "退保说明.md"
    table = tmp_path / "more.csv"
    table.write_text(
        "id,title,category,stage,industry,tags,body\nT-1,退保,after_sales,retain,保险,退保,犹豫期内全额退。\n",
        encoding="utf-8",
    )
    assert [w.message for w in scripts.plan_import(rt, ADMIN, path=table).warnings] == []
    scripts.import_file(rt, ADMIN, path=table)
    assert rt.library.get(["T-1"])["T-1"].industry == "insurance"
    record = rt.library.get(["T-1"])["T-1"]
    scripts.save(rt, ADMIN, record=replace(record, id="T-2", industry="考研"), is_new=True)
    assert rt.library.list_scripts(industry="kaoyan")[-1].id == "T-2"
    tags.import_taxonomy(rt, ADMIN, path=taxonomy(tmp_path / "t.yaml", "保险"))
    result = suggestions.suggest(rt, ADMIN, text="太贵了", industry="insurance")
    assert [t.name for t in result.tags] == ["价格敏感"]


def test_data_stored_under_the_chinese_name_before_still_reaches_that_industry(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """Rows written before imports stored the code hold 「保险」 (a walkthrough's data kept
    its 退保说明 under it): a message of insurance reaches them, and one of 保险 the
    insurance rows."""
    rt: Runtime = make_runtime(load=False)
    rt.library.import_file(LIBRARY / "scripts.csv")
    doc = tmp_path / "退保说明.md"
    doc.write_text("# 退保\n犹豫期过后退保只退现金价值，犹豫期内全额退。\n", encoding="utf-8")
    rt.kb.ingest(doc, industry="保险")  # the pipeline itself: stored as written
    with rt.db.session() as session:
        assert [d.industry for d in knowledge.documents(session, ADMIN)] == ["保险"]
    found = rt.kb.search("犹豫期过后退保退多少", k=3, industry="insurance")
    assert found and found[0].source == "退保说明.md"
    scripts_for_label = rt.library.search("重疾险多少钱", k=3, industry="保险")
    assert scripts_for_label and scripts_for_label[0].script.id.startswith("INS-")


def test_an_industry_stored_under_both_names_is_listed_once_and_filters_both(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """Rows written before imports stored the code hold 「保险」 beside ``insurance``:
    lists named the industry twice (two 「保险」 in the console's filter), and filtering
    the scripts, tags or profile fields by one name missed the other's rows."""
    rt: Runtime = make_runtime(load=False)
    rt.library.import_file(LIBRARY / "scripts.csv")
    tags.import_taxonomy(rt, ADMIN, path=taxonomy(tmp_path / "t.yaml", "insurance"))
    with rt.db.session() as session:
        legacy = session.get_one(Script, "INS-PRC-1")
        legacy.industry = "保险"
        session.execute(update(TagCategory).values(industry="保险"))
        session.add(ProfileField(name="保额", type="number", industry="保险", position=1))
    with rt.db.session() as session:
        assert industries_repo.known(session=session) == {"insurance", "kaoyan"}
        listed = {s.id for s in scripts_repo.list_scripts(session=session, industry="insurance")}
        assert "INS-PRC-1" in listed and "INS-AFS-1" in listed
        assert not any(i.startswith("KY-") for i in listed)
        assert [t.name for t in tags_repo.list_tags(session=session, industry="insurance")]
        assert [f.name for f in fields_repo.list_fields(session=session, industry="insurance")] == [
            "保额"
        ]
    assert rt.library.industries() == {"general", "insurance", "kaoyan"}
    assert resolve_in(rt, "保险") == "insurance"


def resolve_in(rt: Runtime, value: str) -> str | None:
    with rt.db.session() as session:
        return resolve(session, value)


def test_a_known_industry_named_in_chinese_is_shown_in_chinese(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A team of 家装 ingests a document with `--industry 保险`: the warning named the
    code alone, 「文档的行业「insurance」没有任何…」, not what the user typed. Now it names
    the code with its Chinese name, as the list of known industries does."""
    data = tmp_path / "data"
    home = tmp_path / "home.csv"
    home.write_text(
        "id,title,category,stage,industry,tags,body\n"
        "H-1,报价,pricing,convert,家装,价格,全包每平米一千二起。\n",
        encoding="utf-8",
    )
    siyu(capsys, data, "scripts", "import", str(home))
    doc = tmp_path / "售后.txt"
    doc.write_text("保修两年。\n", encoding="utf-8")
    code, _, err = siyu(capsys, data, "kb", "ingest", str(doc), "--industry", "保险")
    assert code == 0 and "文档的行业「insurance（保险）」没有任何" in err
    code, _, err = siyu(capsys, data, "kb", "search", "保修", "--industry", "考研")
    assert code == 1 and "未知的行业「考研」" in err  # as typed
