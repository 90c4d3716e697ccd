"""The imports a new sales team runs as the README says, through ``siyu`` on a real SQLite
store: what a second run of the same file reports, every problem of a line in one run,
and the advisers a customer file and a chat history name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import LIBRARY

from bot.cli import run
from bot.store import Database
from bot.store import advisers as advisers_repo

FIELDS = """version: 1
fields:
  - name: 预算
    type: money
    unit: 元/年
    industry: insurance
    description: 每年愿意投入的保费
  - name: 职业
    type: text
"""
HEADER = "name,adviser_id,industry,phone,tags,city,预算,referred_by"


def siyu(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["--data-dir", str(data), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """A team's data directory with the test taxonomy and two profile fields."""
    data = tmp_path / "data"
    assert siyu(capsys, data, "tags", "import", str(LIBRARY / "tags.yaml"))[0] == 0
    fields = _write(tmp_path / "fields.yaml", FIELDS)
    assert siyu(capsys, data, "fields", "import", str(fields))[0] == 0
    return data


# --- a file imported again ------------------------------------------------------------------


def test_a_customer_file_imported_again_is_unchanged(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path
) -> None:
    """Before: the same file imported a second time said 「更新 2 … 资料字段 1」: every
    line of a customer already stored counted as an update, every value as written."""
    people = _write(
        tmp_path / "people.csv",
        HEADER,
        "张丽,adviser_li,insurance,13800138000,有孩子,上海,5000,",
        "王强,adviser_li,insurance,13900139000,,北京,,13800138000",
    )
    code, out, err = siyu(capsys, data, "customers", "import", str(people))
    assert code == 0, err
    assert "新建 2 · 更新 0 · 未变 0 · 身份 +2 · 标签 +1 · 资料字段 1 · 介绍人 1" in out
    code, out, _ = siyu(capsys, data, "customers", "import", str(people), "--dry-run")
    assert "将新建 0 · 将更新 0 · 未变 2 · 身份 +0 · 标签 +0 · 资料字段 0 · 介绍人 0" in out
    code, out, _ = siyu(capsys, data, "customers", "import", str(people))
    assert code == 0 and "新建 0 · 更新 0 · 未变 2 · 身份 +0 · 标签 +0 · 资料字段 0" in out
    # only a line that changes something is an update: a city …
    _write(
        people,
        HEADER,
        "张丽,adviser_li,insurance,13800138000,有孩子,上海,5000,",
        "王强,adviser_li,insurance,13900139000,,广州,,13800138000",
    )
    code, out, _ = siyu(capsys, data, "customers", "import", str(people))
    assert "新建 0 · 更新 1 · 未变 1 · 身份 +0 · 标签 +0 · 资料字段 0 · 介绍人 0" in out
    # … a profile field's value, a tag
    _write(
        people,
        HEADER,
        "张丽,adviser_li,insurance,13800138000,有孩子,上海,6000,",
        "王强,adviser_li,insurance,13900139000,价格敏感,广州,,13800138000",
    )
    code, out, _ = siyu(capsys, data, "customers", "import", str(people))
    assert "新建 0 · 更新 2 · 未变 0 · 身份 +0 · 标签 +1 · 资料字段 1" in out
    code, out, _ = siyu(capsys, data, "fields", "show", "1")
    assert "6000 元/年" in out


def test_a_profile_fields_file_imported_again_is_unchanged(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path
) -> None:
    """Before: 「新增 0 · 更新 2 · 停用 0」 for the file the team had just imported."""
    fields = _write(tmp_path / "fields.yaml", FIELDS)
    code, out, _ = siyu(capsys, data, "fields", "import", str(fields))
    assert code == 0 and "新增 0 · 更新 0 · 未变 2 · 停用 0" in out
    changed = FIELDS.replace("每年愿意投入的保费", "每年愿意投入的保费（元）")
    code, out, _ = siyu(capsys, data, "fields", "import", str(_write(fields, changed)))
    assert "新增 0 · 更新 1 · 未变 1 · 停用 0" in out
    left_out = changed.split("  - name: 职业")[0]
    code, out, _ = siyu(capsys, data, "fields", "import", str(_write(fields, left_out)))
    assert "新增 0 · 更新 0 · 未变 1 · 停用 1" in out
    code, out, _ = siyu(capsys, data, "fields", "import", str(_write(fields, changed)))
    assert "新增 0 · 更新 1 · 未变 1 · 停用 0" in out  # 职业 is back: a change


# --- every problem of a line ----------------------------------------------------------------


def test_a_line_with_a_bad_date_also_reports_its_unknown_tag(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path
) -> None:
    """Before: 「第 2 行：生日 … 不是日期」 alone: a line the reading refused never reached
    the taxonomy check, so its unknown tag came up only in the next run."""
    people = _write(
        tmp_path / "people.csv",
        "name,industry,phone,tags,birthday",
        "赵六,insurance,13700137000,不存在的标签,1990-13-45",
        "钱七,保险,1360013600x,有孩子;也没有,",
        "孙八,insurance,13500135000,有孩子,abc",
        "周九,insurance,13400134000,还是没有,1990-01-01",
    )
    for dry_run in ([], ["--dry-run"]):
        code, out, err = siyu(capsys, data, "customers", "import", str(people), *dry_run)
        assert code == 1 and out == ""
        said = [line.strip() for line in err.splitlines() if line.strip().startswith("- 第")]
        assert said == [
            "- 第 2 行：生日 '1990-13-45' 不是日期（如 1990-02-28）",
            "- 第 2 行：未知的标签 '不存在的标签'",
            "- 第 3 行：手机号 '1360013600x' 里有不是数字的字符：「x」",
            "- 第 3 行：未知的标签 '也没有'",
            "- 第 4 行：生日 'abc' 不是日期（如 1990-02-28）",
            "- 第 5 行：未知的标签 '还是没有'",
        ], err
    assert "还没有客户" in siyu(capsys, data, "customers", "list")[1]


# --- advisers named alike -------------------------------------------------------------------


def test_both_imports_create_an_adviser_alike_and_keep_a_known_name(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path
) -> None:
    """Before: `customers import` (and `campaigns add --adviser`) created a new adviser
    with their id as the account name (「账号名 adviser_wang」 in `siyu advisers list`, a
    raw code where a name belongs), while `history import` created one without a name.
    All now come through one helper (``ensure_adviser``): a new adviser has no account
    name and is shown by the id until a name is known, and no import renames an adviser
    the team has named; a name only one adviser goes by is read as that adviser."""
    code, _, err = siyu(
        capsys,
        data,
        "users",
        "add",
        "fang",
        "--role",
        "adviser",
        "--adviser-id",
        "adviser_fang",
        "--name",
        "王芳",
        "--password",
        "Qz7!harbor-lantern-91",
    )
    assert code == 0, err
    people = _write(
        tmp_path / "people.csv",
        "name,adviser_id,phone",
        "张丽,adviser_wang,13800138000",
        "王强,王芳,13900139000",  # the name only adviser_fang goes by
        "李雷,adviser_fang,13700137000",
    )
    code, _, err = siyu(capsys, data, "customers", "import", str(people))
    assert code == 0, err
    said = {"direction": "in", "text": "在吗", "sent_at": "2026-03-01T09:00:00+08:00"}
    history = tmp_path / "history.jsonl"
    history.write_text(
        "".join(
            json.dumps(said | {"msg_id": f"m{n}", "contact_id": f"c{n}", "adviser_id": who}) + "\n"
            for n, who in enumerate(("adviser_zhao", "王芳", "adviser_fang"))
        ),
        encoding="utf-8",
    )
    code, _, err = siyu(capsys, data, "history", "import", str(history))
    assert code == 0, err
    # a campaign's codes meet advisers too: by the same helper
    code, _, err = siyu(
        capsys,
        data,
        *("campaigns", "add", "双十二直播", "--channel", "直播", "--start", "2026-12-01"),
        *("--adviser", "adviser_sun", "--adviser", "adviser_fang"),
    )
    assert code == 0, err
    db = Database(f"sqlite:///{data / 'siyu.db'}")
    try:
        with db.session() as session:
            stored = {a.id: a.name for a in advisers_repo.list_advisers(session=session)}
            names = advisers_repo.adviser_names(session=session)
    finally:
        db.dispose()
    # a new adviser from either file: no account name; 王芳 read as adviser_fang, kept
    assert stored == {
        "adviser_fang": "王芳",
        "adviser_sun": "",
        "adviser_wang": "",
        "adviser_zhao": "",
    }
    assert names == {
        "adviser_fang": "王芳",
        "adviser_sun": "adviser_sun",
        "adviser_wang": "adviser_wang",
        "adviser_zhao": "adviser_zhao",
    }
    code, out, _ = siyu(capsys, data, "advisers", "list")
    rows = {line.split()[1]: line.split()[3] for line in out.splitlines() if "adviser_" in line}
    assert rows == {
        "adviser_fang": "王芳",
        "adviser_sun": "-",
        "adviser_wang": "-",
        "adviser_zhao": "-",
    }
    code, out, _ = siyu(capsys, data, "customers", "list")
    shown = {line.split()[3]: line.split()[5] for line in out.splitlines() if "│ " in line[:2]}
    assert shown["张丽"] == "adviser_wang" and shown["王强"] == shown["李雷"] == "王芳"
