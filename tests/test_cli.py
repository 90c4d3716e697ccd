"""The ``siyu`` command line, run in-process on real data directories."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import LIBRARY

from bot.cli import run


def siyu(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["--data-dir", str(data), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir loaded through the CLI itself."""
    data = tmp_path_factory.mktemp("cli") / "data"
    assert run(["--data-dir", str(data), "scripts", "import", str(LIBRARY / "scripts.csv")]) == 0
    assert run(["--data-dir", str(data), "tags", "import", str(LIBRARY / "tags.yaml")]) == 0
    kb = LIBRARY / "kb"
    assert run(["--data-dir", str(data), "kb", "ingest", str(kb), "--industry", "insurance"]) == 0
    return data


def test_suggest_json_follows_the_documented_schema(
    capsys: pytest.CaptureFixture[str], library_dir: Path
) -> None:
    code, out, _ = siyu(
        capsys,
        library_dir,
        "suggest",
        "--text",
        "理赔要准备什么材料",
        "--industry",
        "insurance",
        "--json",
    )
    assert code == 0
    result = json.loads(out)
    assert {"scripts", "knowledge", "tags", "reply", "mode", "latency_ms"} <= set(result)
    top = result["scripts"][0]
    assert set(top) >= {"id", "title", "category", "score", "text"}
    assert top["id"] == "INS-AFS-1"
    assert set(result["knowledge"][0]) >= {"source", "section", "text", "score"}
    assert result["mode"] == "retrieval" and result["reply"] is None
    assert isinstance(result["latency_ms"], float)


def test_json_output_is_plain_json_when_colour_is_forced(library_dir: Path) -> None:
    """A harness (or CI) with FORCE_COLOR=1 parses stdout: before, `suggest --json` and
    `bot --status --json` were highlighted by Rich, ANSI codes inside the JSON."""
    siyu_bin = str(Path(sys.executable).with_name("siyu"))
    env = os.environ | {"FORCE_COLOR": "1", "OPENBLAS_NUM_THREADS": "1"}
    for args in (
        ["suggest", "--text", "理赔要准备什么材料", "--industry", "insurance", "--json"],
        ["bot", "--status", "--json"],
    ):
        done = subprocess.run(
            [siyu_bin, "--data-dir", str(library_dir), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert "\x1b" not in done.stdout
        assert isinstance(json.loads(done.stdout), dict)


def test_the_index_progress_bars_are_named_in_chinese(library_dir: Path) -> None:
    """At a terminal every command that opens the library shows a bar per index while
    they catch up; before, they read 「索引 scripts」「索引 knowledge」「索引 tags」."""
    siyu_bin = str(Path(sys.executable).with_name("siyu"))
    env = os.environ | {"FORCE_COLOR": "1", "OPENBLAS_NUM_THREADS": "1", "COLUMNS": "100"}
    done = subprocess.run(
        [siyu_bin, "--data-dir", str(library_dir), "scripts", "status", "NO-SUCH", "draft"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 1
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", done.stderr)
    assert "索引话术" in plain and "索引知识库" in plain and "索引标签" in plain
    assert not re.search(r"scripts|knowledge|tags", plain)
    assert "错误：话术不存在：NO-SUCH" in plain


def test_stderr_holds_only_what_went_wrong_in_a_pipe(
    capsys: pytest.CaptureFixture[str], library_dir: Path
) -> None:
    """Not at a terminal the progress bars show nothing; before, each still left an empty
    line on stderr, so a script's log or an error read 「\\n错误：…」."""
    code, out, err = siyu(capsys, library_dir, "scripts", "list", "--industry", "insurance")
    assert code == 0 and "INS-AFS-1" in out
    assert err == ""
    code, _, err = siyu(capsys, library_dir, "scripts", "status", "NO-SUCH", "draft")
    assert code == 1
    assert err == "错误：话术不存在：NO-SUCH\n"


def test_suggest_input_given_a_message_points_to_text(
    capsys: pytest.CaptureFixture[str], library_dir: Path
) -> None:
    """`--input` takes a JSONL file; a message typed after it was only 「找不到文件」."""
    code, out, err = siyu(capsys, library_dir, "suggest", "--input", "重疾险多少钱", "--json")
    assert code == 1 and out == ""
    assert "找不到文件：重疾险多少钱（--input 读 JSONL 文件；一条消息请用 --text）" in err


def test_suggest_batch_writes_one_line_per_message(
    capsys: pytest.CaptureFixture[str], library_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "in.jsonl"
    rows = [
        {"id": "a", "text": "重疾险多少钱", "industry": "insurance"},
        {"id": "b", "text": "全程班多少钱", "industry": "kaoyan"},
        {"id": "c", "text": "😀"},
    ]
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    dst = tmp_path / "out.jsonl"
    code, _, _ = siyu(capsys, library_dir, "suggest", "--input", str(src), "--output", str(dst))
    assert code == 0
    out = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
    assert [o["id"] for o in out] == ["a", "b", "c"]
    assert out[0]["scripts"][0]["id"] == "INS-PRC-1"
    assert out[1]["scripts"][0]["id"] == "KY-PRC-1"
    # a repeated id is pointed out (the results could not be told apart), not refused
    rows.append({"id": "a", "text": "在吗", "industry": "insurance"})
    src.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    code, _, err = siyu(capsys, library_dir, "suggest", "--input", str(src), "--output", str(dst))
    assert code == 0 and '第 4 行的 id "a" 与第 1 行重复' in err
    assert [json.loads(line)["id"] for line in dst.read_text("utf-8").splitlines()] == [
        "a",
        "b",
        "c",
        "a",
    ]


def test_bad_batch_file_is_rejected_whole(
    capsys: pytest.CaptureFixture[str], library_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "bad.jsonl"
    deep = "[" * 100_000 + "]" * 100_000  # the JSON parser recurses once per level
    src.write_text(f'{{"id": 1, "text": "ok"}}\nnot json\n{{"id": 3}}\n{deep}\n', encoding="utf-8")
    dst = tmp_path / "out.jsonl"
    code, _, err = siyu(capsys, library_dir, "suggest", "--input", str(src), "-o", str(dst))
    assert code == 1
    assert "第 2 行" in err and "第 3 行" in err and "Traceback" not in err
    assert "第 4 行：JSON 嵌套层数过多" in err
    assert not dst.exists()
    # an unknown industry or customer is found before anything is suggested, by its line
    lines = [
        {"id": 1, "text": "多少钱", "industry": "insurance"},
        {"id": 2, "text": "多少钱", "industry": "nosuch"},
        {"id": 3, "text": "多少钱", "customer": 999},
        {"id": 4, "text": "多少钱", "customer": 2**70},
    ]
    src.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    code, _, err = siyu(capsys, library_dir, "suggest", "--input", str(src), "-o", str(dst))
    assert code == 1 and not dst.exists() and "Traceback" not in err
    assert "第 2 行：未知的行业" in err and "第 4 行" in err
    # the customer asked for is named, as `--customer 999` names it (before: 「客户不存在」)
    assert "第 3 行：客户不存在：999" in err


def test_batch_paths_that_are_folders_or_missing_are_refused_plainly(
    capsys: pytest.CaptureFixture[str], library_dir: Path, tmp_path: Path
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"id": 1, "text": "多少钱", "industry": "insurance"}\n', encoding="utf-8")
    code, _, err = siyu(capsys, library_dir, "suggest", "--input", str(tmp_path))
    assert code == 1 and "是文件夹" in err and "Traceback" not in err
    code, _, err = siyu(capsys, library_dir, "suggest", "--input", str(src), "-o", str(tmp_path))
    assert code == 1 and "是文件夹" in err and "Traceback" not in err
    missing = tmp_path / "nope" / "out.jsonl"
    code, _, err = siyu(capsys, library_dir, "suggest", "--input", str(src), "-o", str(missing))
    assert code == 1 and "文件夹不存在" in err and "Traceback" not in err
    dst = tmp_path / "out.jsonl"
    dst.write_text("an earlier run's results\n", encoding="utf-8")
    assert siyu(capsys, library_dir, "suggest", "--input", str(src), "-o", str(dst))[0] == 0
    assert json.loads(dst.read_text(encoding="utf-8"))["id"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "out.jsonl"]


def test_usage_and_input_errors_have_exit_codes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = siyu(capsys, tmp_path, "suggest")
    assert code == 1 and "--text 和 --input 只能给一个，也必须给一个" in err
    assert siyu(capsys, tmp_path, "no-such-command")[0] == 2
    code, _, err = siyu(capsys, tmp_path, "tagz")
    assert code == 2 and "没有这个命令：tagz（是不是要用 tags？）" in err
    code, _, err = siyu(capsys, tmp_path, "scripts", "import", str(tmp_path / "missing.csv"))
    assert code == 1 and "missing.csv" in err
    bad_cfg = tmp_path / "bad.toml"
    bad_cfg.write_text("[retrieval]\ntop_scripts = -1\n", encoding="utf-8")
    capsys.readouterr()
    code = run(["--config", str(bad_cfg), "--data-dir", str(tmp_path), "scripts", "list"])
    assert code == 1 and "retrieval：top_scripts 不能小于 1" in capsys.readouterr().err


def test_import_with_one_bad_row_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    bad = tmp_path / "bad.csv"
    lines = (LIBRARY / "scripts.csv").read_text(encoding="utf-8").splitlines()
    lines.append("X-1,坏行,not_a_category,convert,insurance,,你好{unknown_var}")
    bad.write_text("\n".join(lines) + "\n", encoding="gb18030")
    code, _, err = siyu(capsys, data, "scripts", "import", str(bad))
    assert code == 1
    assert "not_a_category" in err and "unknown_var" in err and "第 12 行" in err
    code, out, _ = siyu(capsys, data, "scripts", "list")
    assert code == 0 and "话术库是空的。导入：siyu scripts import" in out


def test_export_then_import_round_trips(
    capsys: pytest.CaptureFixture[str], library_dir: Path, tmp_path: Path
) -> None:
    for suffix in (".csv", ".xlsx", ".yaml"):
        target = tmp_path / f"lib{suffix}"
        assert siyu(capsys, library_dir, "scripts", "export", str(target))[0] == 0
        code, out, _ = siyu(capsys, library_dir, "scripts", "import", str(target))
        assert code == 0 and "更新 0" in out and "新增 0" in out
    with (tmp_path / "lib.csv").open(encoding="utf-8-sig") as f:
        assert len(list(csv.DictReader(f))) == 10


def test_lint_reports_and_fails_on_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = siyu(capsys, tmp_path, "scripts", "lint", str(LIBRARY / "scripts.csv"))
    assert good[0] == 0 and "0 个错误" in good[1]
    bad = tmp_path / "dup.csv"
    text = (LIBRARY / "scripts.csv").read_text(encoding="utf-8")
    bad.write_text(text + text.splitlines()[1] + "\n", encoding="utf-8")
    code, out, _ = siyu(capsys, tmp_path, "scripts", "lint", str(bad))
    assert code == 1 and "INS-WEL-1" in out


def test_kb_ingest_skips_unchanged_and_replaces_changed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    kb = tmp_path / "kb"
    shutil.copytree(LIBRARY / "kb", kb)
    assert "新增 2" in siyu(capsys, data, "kb", "ingest", str(kb))[1]
    assert "未变 2" in siyu(capsys, data, "kb", "ingest", str(kb))[1]
    doc = kb / "kaoyan.md"
    doc.write_text(doc.read_text(encoding="utf-8") + "\n## 教材\n教材报名后七天内寄出。\n", "utf-8")
    assert "更新 1" in siyu(capsys, data, "kb", "ingest", str(kb))[1]
    code, out, _ = siyu(capsys, data, "kb", "search", "教材什么时候寄", "-k", "1")
    assert code == 0 and "七天内寄出" in out
    code, _, err = siyu(capsys, data, "kb", "search", "  ")
    assert code == 1 and "请输入要查的问题或关键词" in err
    code, out, _ = siyu(capsys, tmp_path / "empty", "kb", "search", "等待期")
    assert code == 0 and "没有找到相关内容" in out and "┃" not in out
    (kb / "broken.csv").write_bytes(b"\x00\x01\x02binary")
    code, _, err = siyu(capsys, data, "kb", "ingest", str(kb))
    assert code == 1 and "broken.csv" in err


def test_rebuild_after_the_vector_directory_is_deleted(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    siyu(capsys, data, "scripts", "import", str(LIBRARY / "scripts.csv"))
    siyu(capsys, data, "kb", "ingest", str(LIBRARY / "kb"))
    shutil.rmtree(data / "chroma")
    code, out, _ = siyu(capsys, data, "kb", "search", "等待期多久", "-k", "1")
    assert code == 0 and "90天" in out, "the index is rebuilt from SQL at start"
    code, out, _ = siyu(capsys, data, "kb", "rebuild")
    assert code == 0 and "知识库：5 段" in out


def test_tags_review_by_id(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    siyu(capsys, data, "scripts", "import", str(LIBRARY / "scripts.csv"))
    siyu(capsys, data, "tags", "import", str(LIBRARY / "tags.yaml"))
    monkeypatch.setattr("sys.stdin", io.StringIO("我女儿想买医疗险\n/quit\n"))
    code, out, _ = siyu(capsys, data, "chat", "--industry", "insurance", "--name", "周")
    assert code == 0 and "INS-" in out and "你是客户「周」（保险）" in out
    code, out, _ = siyu(capsys, data, "tags", "list")
    assert code == 0 and "有孩子" in out
    code, out, _ = siyu(capsys, data, "tags", "review", "--confirm", "1", "--reject", "2")
    assert code == 0
    confirmed = siyu(capsys, data, "tags", "list", "--status", "confirmed")[1]
    rejected = siyu(capsys, data, "tags", "list", "--status", "rejected")[1]
    assert confirmed.count("已确认") == 1 and rejected.count("已拒绝") == 1
    code, out, _ = siyu(capsys, data, "customers", "show", "1")
    assert code == 0 and "已确认" in out and "我女儿想买医疗险" in out
    assert siyu(capsys, data, "customers", "show", "99")[0] == 1


def test_a_narrow_terminal_wraps_the_profile_instead_of_cutting_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.cli import common

    data = tmp_path / "data"
    siyu(capsys, data, "scripts", "import", str(LIBRARY / "scripts.csv"))
    siyu(capsys, data, "tags", "import", str(LIBRARY / "tags.yaml"))
    monkeypatch.setattr("sys.stdin", io.StringIO("我女儿想买医疗险和重疾险\n/quit\n"))
    assert siyu(capsys, data, "chat", "--industry", "insurance", "--name", "周")[0] == 0
    monkeypatch.setattr(common.out, "width", 36)
    code, out, _ = siyu(capsys, data, "customers", "show", "1")
    assert code == 0
    # the panel's lines read in order, without its border: nothing cropped at the edge
    inside = "".join(line.strip("│ ") for line in out.splitlines())
    assert "标签：重疾险(待确认)医疗险(待确认)有孩子(待确认)" in inside.replace(" ", "")


@pytest.mark.slow
def test_the_profile_shows_what_the_customer_import_filled_in(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """City, product, channel and birthday of an imported customer were on no command's
    output but the export: `customers show` left them out, so an import looked lossy."""
    data = tmp_path / "data"
    people = tmp_path / "people.csv"
    people.write_text(
        "姓名,手机号,城市,意向产品,渠道,生日\n赵女士,13900001111,南京,全包套餐,[b]抖音,1988年5月3日\n",
        encoding="utf-8",
    )
    assert siyu(capsys, data, "customers", "import", str(people))[0] == 0
    code, out, _ = siyu(capsys, data, "customers", "show", "1")
    assert code == 0
    assert "城市 南京 · 意向产品 全包套餐 · 渠道 [b]抖音 · 生日 1988-05-03" in out


def test_demo_plays_the_shipped_conversation_and_reuses_the_index(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    code, first, _ = siyu(capsys, data, "demo")
    assert code == 0
    for expected in ("张丽", "王刚", "陈晓", "客户档案", "知识", "建议标签"):
        assert expected in first
    assert "13812345678" in first, "the adviser sees the customer's own words"
    code, second, _ = siyu(capsys, data, "demo")
    assert code == 0

    def stable(text: str) -> str:  # latency and clock times differ between runs
        return re.sub(r"\s+", " ", re.sub(r"\d+ ms|\d\d-\d\d \d\d:\d\d", "", text))

    assert stable(first) == stable(second), "a second run shows the same suggestions"
    # the team's own taxonomy and persona in the same folder: the demo leaves them alone
    own = tmp_path / "ours.yaml"
    own.write_text(
        "version: 1\ncategories:\n  - name: 需求\n    industry: muying\n"
        "    tags:\n      - name: 奶粉\n        keywords: [奶粉]\n",
        encoding="utf-8",
    )
    assert siyu(capsys, data, "tags", "import", str(own))[0] == 0
    assert siyu(capsys, data, "advisers", "persona", "adviser_li", "--name", "李明")[0] == 0
    code, _, err = siyu(capsys, data, "demo")
    assert code == 1 and "演示会覆盖它们，所以没有运行" in err
    assert "标签体系（1 个你们的标签会停用）" in err and "人设「李明」" in err
    code, out, _ = siyu(capsys, data, "suggest", "--text", "宝宝奶粉怎么选", "--industry", "muying")
    assert code == 0 and "奶粉" in out  # still theirs
    code, _, _ = siyu(capsys, data, "demo", "--force")
    assert code == 0


def test_secrets_are_never_printed_or_logged(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Failing start-ups are where secrets leak (a URL in an error message, a token in a
    connection error): a database password, the puppet token, the LLM key and the web
    secret appear in neither the output nor the logs."""
    import logging

    secrets = {
        "SIYU_LLM_API_KEY": "sk-live-Zq8secretLLMkey",
        "SIYU_WEB_SECRET": "websecret-" + "k" * 40,
        "SIYU_PUPPET_TOKEN": "puppet_service_Tsecret77",
        "TOKEN": "another-token-the-SDK-reads-88",  # logged by the SDK unless masked
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG)
    db_password = "pgPassw0rdSecret"
    monkeypatch.setenv("SIYU_DATABASE_URL", f"postgresql://siyu:{db_password}@127.0.0.1:1/siyu")
    code, out, err = siyu(capsys, tmp_path / "data", "suggest", "--text", "多少钱")
    assert code == 1
    assert "无法连接数据库 postgresql://siyu:***@127.0.0.1:1/siyu" in err.replace("\n", "")
    monkeypatch.setenv(
        "SIYU_DATABASE_URL", f"postgresql://siyu@127.0.0.1:1/siyu?password={db_password}"
    )
    code, query_out, query_err = siyu(capsys, tmp_path / "data", "suggest", "--text", "多少钱")
    assert code == 1 and "无法连接数据库" in query_err
    out, err = out + query_out, err + query_err
    monkeypatch.delenv("SIYU_DATABASE_URL")
    config = tmp_path / "bot.toml"
    config.write_text(
        '[wechaty]\nendpoint = "127.0.0.1:1"\ntoken_env = "SIYU_PUPPET_TOKEN"\n[llm]\nbase_url = "http://127.0.0.1:1/v1"\n'
        'model = "qwen"\n',
        encoding="utf-8",
    )
    capsys.readouterr()
    bot_code = run(["--config", str(config), "--data-dir", str(tmp_path / "d2"), "bot", "--check"])
    check = capsys.readouterr()
    assert bot_code == 1 and "连不上 puppet service" in check.err
    assert "对方拒绝连接" in check.err and "Errno" not in check.err  # port 1: nothing there
    seen = out + err + check.out + check.err + caplog.text
    for secret in [db_password, *secrets.values()]:
        assert secret not in seen


def test_help_keeps_the_config_sections_it_names(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """「配置 [web] port」: the brackets are text, not Rich markup to drop."""
    from typer import rich_utils

    monkeypatch.setattr(rich_utils, "MAX_WIDTH", 240)
    capsys.readouterr()
    assert run(["serve", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "配置 [web] host" in text and "配置 [web] port" in text and "配置 [web] workers" in text
    assert run(["history", "import", "--help"]) == 0
    assert "[assistant] default_industry" in capsys.readouterr().out


def test_help_shows_no_value_type_for_a_flag(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: 「--json  <bool>  输出一个 JSON 对象。」, as if it took `--json true`."""
    from typer import rich_utils

    monkeypatch.setattr(rich_utils, "MAX_WIDTH", 240)
    capsys.readouterr()
    assert run(["suggest", "--help"]) == 0
    rows = {
        line.split()[1]: line for line in capsys.readouterr().out.splitlines() if "│ --" in line
    }
    assert "<bool>" not in rows["--json"] and "<bool>" not in rows["--help"]
    assert re.search(r"--text +-t +消息 ", rows["--text"])
    assert re.search(r"--customer +客户 ", rows["--customer"])


def test_a_password_is_asked_for_in_chinese(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parser's own prompt said Password: / Repeat for confirmation: and warned with a
    GetPassWarning on a pipe."""
    import getpass
    import io

    data = tmp_path / "data"
    typed = iter(
        ["Qz7!harbor-lantern-91", "typo", "Qz7!harbor-lantern-91", "Qz7!harbor-lantern-91"]
    )
    asked: list[str] = []

    def fake_getpass(prompt: str) -> str:
        asked.append(prompt)
        return next(typed)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    monkeypatch.setattr("sys.stdin", Terminal())
    code, _, err = siyu(capsys, data, "users", "add", "lin", "--role", "boss")
    assert code == 1 and "角色只能是 adviser（顾问）、operator（运营）、manager（主管）" in err
    code, out, err = siyu(capsys, data, "users", "add", "lin", "--role", "operator")
    assert code == 0 and "已创建用户 lin" in out
    assert asked == ["密码：", "再输入一次：", "密码：", "再输入一次："]
    assert "两次输入的不一致" in err
    # a pipe: one line, no warning; nothing on it: told how
    monkeypatch.setattr("sys.stdin", io.StringIO("Zr8!quiet-meadow-42\n"))
    code, out, err = siyu(capsys, data, "users", "add", "wang", "--role", "operator")
    assert code == 0 and "Warning" not in err
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = siyu(capsys, data, "users", "password", "wang")
    assert code == 1 and "没有读到新密码：请用 --password 给出" in err


def test_a_user_for_an_adviser_without_a_team_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The README's first `users add … --adviser-id … --team 华东` for an adviser an import
    created: refused with 「顾问 wang 属于团队 （无）」; it has no team yet."""
    data = tmp_path / "data"
    chats = tmp_path / "chats.jsonl"
    chats.write_text(
        '{"msg_id": "h-1", "contact_id": "wm-1", "adviser_id": "wang", "direction": "in",'
        ' "text": "全包多少钱", "sent_at": "2026-11-01T10:00:00+08:00"}\n',
        encoding="utf-8",
    )
    assert siyu(capsys, data, "history", "import", str(chats))[0] == 0
    args = ["users", "add", "alice", "--role", "adviser", "--adviser-id", "wang"]
    code, _, err = siyu(capsys, data, *args, "--team", "华东", "--password", "Zr8!quiet-meadow-42")
    assert code == 1
    assert (
        "顾问 wang 还没有团队，不能在添加用户时改团队；确需调整请用 siyu users team wang 华东"
        in err
    )


def test_an_empty_library_says_where_it_looked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Run from another folder, ./.siyu is a new, empty store: the suggestion says so
    rather than only 「没有匹配的话术」."""
    data = tmp_path / "elsewhere"
    code, out, err = siyu(capsys, data, "suggest", "--text", "太贵了")
    assert code == 0 and "没有匹配的话术" in out
    assert f"这个数据目录（{data}）的话术库是空的" in err.replace("\n", "") and "siyu demo" in err
    siyu(capsys, data, "scripts", "import", str(LIBRARY / "scripts.csv"))
    assert "话术库是空的" not in siyu(capsys, data, "suggest", "--text", "太贵了")[2]
