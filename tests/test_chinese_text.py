"""Issue 15's check: no English sentence or raw code reaches what a Chinese user reads.

Every ``siyu`` command's ``--help``, the output of the commands on the demo data (and
their errors), and every message a domain error is raised with (services, store,
pipeline, learning, crm, channels, knowledge/, scripts_lib/) go through
``english.english_leaks``. A console page can be checked the same way:
``english_leaks(visible_text(html))``."""

from __future__ import annotations

import ast
import inspect
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import typer.main
from english import english_leaks, visible_text
from typer import rich_utils

from bot.cli import app, run
from bot.cli import common as cli_common
from bot.crm.oneid import IDENTITY_COLUMNS, OTHER_COLUMNS, PROFILE_COLUMNS
from bot.errors import InputError
from scripts_lib.model import HEADER_LABELS

ROOT = Path(__file__).resolve().parent.parent

#: The codes a command takes as values (`--status suggested`, `--by adviser`) and the
#: columns and JSON keys of the interchange formats: the help names them as typed,
#: each beside its Chinese name.
CLI_VALUES = (
    frozenset(
        [
            "suggested",
            "confirmed",
            "rejected",
            "all",
            "draft",
            "approved",
            "archived",
            "adviser",
            "operator",
            "manager",
            "channel",
            "campaign",
            "purchase",
            "converted",
            "stage_changed",
            "industry",
            "stage",
            "none",
            "customer",
            "tag",
            "msg_id",
            "amount",
            "time",
            "order_id",
            "product",
            "text",
            "sent_at",
            "category",
            "evidence",
            "status",
            "values",
        ]
    )
    | frozenset(HEADER_LABELS)
    | frozenset(PROFILE_COLUMNS + OTHER_COLUMNS)
    | frozenset(IDENTITY_COLUMNS)
)


def _commands() -> Iterator[tuple[list[str], object]]:
    def walk(command: object, path: list[str]) -> Iterator[tuple[list[str], object]]:
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, [*path, name])

    yield from walk(typer.main.get_command(app), [])


def _syntax_words() -> set[str]:
    """What a user types: command names, parameter names and their defaults."""
    words: set[str] = set()
    for path, command in _commands():
        words.update(path)
        for param in getattr(command, "params", []):
            words.add(param.name or "")
            if isinstance(param.default, str):
                words.add(param.default)
    return words


def siyu(data: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = run(["--data-dir", str(data), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def wide_consoles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as they need: a word cut by a narrow column is not a leak."""
    monkeypatch.setattr(cli_common.out, "width", 240)
    monkeypatch.setattr(cli_common.err, "width", 240)


def test_every_help_page_is_chinese(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rich_utils, "MAX_WIDTH", 240)
    allow = _syntax_words() | CLI_VALUES
    leaks = {}
    for path, _ in _commands():
        capsys.readouterr()
        assert run([*path, "--help"]) == 0
        text = capsys.readouterr().out
        assert "用法" in text
        found = english_leaks(text, allow=allow)
        if found:
            leaks[" ".join(path) or "siyu"] = found
    assert leaks == {}


#: Typer's English words for what a parameter takes: its types in angle brackets, click's
#: upper-case metavars, and an argument's code name in the usage line (``{path}``).
ENGLISH_METAVAR = re.compile(
    r"<(?:str|int|float|bool|path|file|dir|datetime|uuid|list\[[^\]]*\]|\w+ range)>"
    r"|\b(?:TEXT|PATH|INTEGER|FLOAT|BOOLEAN|FILENAME|FILE|DIRECTORY|DATETIME|UUID)\b"
)
CODE_ARGUMENT = re.compile(r"[{\[][a-z_]+[}\]]")


def test_every_help_page_says_in_chinese_what_to_write(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A new team's walk: `siyu tags add --help` showed 「--file <path>」, `siyu customers
    import --help` 「[选项] {path}」 with 「path <path>」 in its arguments: Typer's English
    types. Each value now says what to write (文件, 标签, 客户ID …)."""
    monkeypatch.setattr(rich_utils, "MAX_WIDTH", 240)
    english = {}
    for path, _ in _commands():
        capsys.readouterr()
        assert run([*path, "--help"]) == 0
        text = capsys.readouterr().out
        lines = text.splitlines()
        usage = next(line for line in lines if "用法：" in line)
        found = ENGLISH_METAVAR.findall(text) + CODE_ARGUMENT.findall(usage)
        panel = "".join(lines).partition("─ 参数 ")[2].partition("╰")[0]
        for row in panel.split("│"):  # an argument's row: 「*  文件  CSV 或 XLSX 文件…」
            name = row.replace("*", " ").split()[:1]
            if name and re.fullmatch(r"[a-z_]+", name[0]):
                found.append(name[0])
        if found:
            english[" ".join(path) or "siyu"] = found
    assert english == {}
    # what each value is, by its meaning
    for args, rows in {
        ("tags", "add"): {"--file": "文件", "--tag": "标签", "--customer": "客户"},
        ("customers", "import"): {"--actor": "名字"},
        ("report", "funnel"): {"--since": "日期", "--csv": "文件"},
        ("tags", "review"): {"--confirm": "编号…"},
    }.items():
        capsys.readouterr()
        assert run([*args, "--help"]) == 0
        shown = dict(re.findall(r"│ (--\S+)(?: +-\w)? +(\S+)", capsys.readouterr().out))
        assert {option: shown[option] for option in rows} == rows
    capsys.readouterr()
    assert run(["customers", "import", "--help"]) == 0
    assert "用法：siyu customers import [选项] {文件}" in capsys.readouterr().out


def test_a_group_help_lists_each_command_whole_at_80_columns(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`siyu scripts --help` showed 「…文件里没有的列 …」: a help line of Chinese has no
    space to wrap at, and the commands panel cut it with an ellipsis."""
    monkeypatch.setattr(rich_utils, "MAX_WIDTH", 80)
    cut = {}
    for path, command in _commands():
        subcommands = getattr(command, "commands", {})
        if not subcommands:
            continue
        capsys.readouterr()
        assert run([*path, "--help"]) == 0
        shown = re.sub(r"[\s│╭╮╰╯─]", "", capsys.readouterr().out)
        for name, sub in subcommands.items():
            first = inspect.cleandoc(sub.help or "").split("\n\n")[0]
            if re.sub(r"\s", "", first) not in shown:
                cut[" ".join([*path, name])] = first
    assert cut == {}


#: Commands run on the demo data, each with what it prints (errors included).
DEMO_COMMANDS = [
    "scripts list",
    "scripts list --status draft",
    "scripts examples GEN-ICE-001",
    "scripts status GEN-ICE-001 approved",
    "kb list",
    "kb search 等待期",
    "tags list",
    "tags list --status confirmed",
    "customers list",
    "customers show 1",
    "customers show 99",
    "customers merges",
    "customers merge-suggestions",
    "customers lifecycle",
    "followups list",
    "segments list",
    "report funnel",
    "report quadrants",
    "report scripts",
    "report attribution",
    "report funnel --customers --adviser adviser_li",
    "campaigns report --campaign 1 --customers",
    "events add --customer 99 --type purchase --amount 10",
    "users list",
    "campaigns list",
    "campaigns report",
    "referrals report",
    "referrals chain 1",
    "fields list",
    "fields show 1",
    "fields suggestions",
    "actions show 1",
    "advisers list",
    "tags review --confirm 9999",
    "tags review --confirm abc",
    "tags add",
    "tags add --file x.csv --tag 观望",
    "customers show abc",
    "suggest --text 等待期多久",
    # usage errors of the parser
    "suggest 等待期多久",
    "suggest --bogus",
    "customers show",
    "suggest --customer abc",
]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("zh") / "data"
    assert run(["--data-dir", str(data), "demo"]) == 0
    return data


@pytest.mark.slow
def test_every_command_prints_chinese_on_the_demo_data(
    demo_dir: Path, capsys: pytest.CaptureFixture[str], wide_consoles: None, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "id,title,category,stage,industry,tags,body\nX-1,标题,价格,转化,通用,,你好{baby_name}\n",
        encoding="utf-8",
    )
    commands = [
        *DEMO_COMMANDS,
        f"scripts lint {bad}",
        f"scripts export {tmp_path / 'out.csv'}",
        f"customers export-table {tmp_path / 'customers.csv'}",
        f"report funnel --csv {tmp_path / 'funnel.csv'}",
    ]
    leaks = {}
    for command in commands:
        _, text = siyu(demo_dir, *shlex.split(command), capsys=capsys)
        found = english_leaks(text, allow=_syntax_words() | CLI_VALUES)
        if found:
            leaks[command] = found
    assert leaks == {}


def test_the_check_catches_a_planted_english_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check is not blind: an English error raised by a service, English in a
    command's output, a raw code and a raw identity string are all reported."""
    from bot.services import customers

    def planted(*args: object, **kwargs: object) -> object:
        raise InputError("customer 99 not found")

    monkeypatch.setattr(customers, "list_customers", planted)
    _, text = siyu(tmp_path / "data", "customers", "list", capsys=capsys)
    assert english_leaks(text) == ["customer", "not", "found"]
    assert english_leaks("合计 total") == ["total"]
    assert english_leaks("阶段：churn_risk") == ["churn_risk"]
    assert english_leaks("api_contact 10:adviser_li:wx_wangmama") == [
        "10:adviser_li:wx_wangmama",
        "api_contact",
    ]
    assert english_leaks("已写入 scripts.csv（--json，ID INS-PRC-001，{baby_name}）") == []
    assert english_leaks(visible_text('<p title="Save">保存</p><script>var x</script>')) == ["Save"]


#: Exceptions whose message a person reads (the CLI prints it, the console shows it).
USER_ERRORS = {
    "InputError",
    "RejectedInput",
    "NotFoundError",
    "PermissionDenied",
    "Conflict",
    "LLMError",
    "ChannelError",
    "ConfigError",
    "StoreError",
    "RetrievalError",
    "KnowledgeError",
    "ValueError",  # raised in validators of import rows and settings: shown per row
}
#: Where domain errors are raised (the web's own messages belong to the console's check).
SOURCES = ["bot/services", "bot/store", "bot/pipeline", "bot/learning", "bot/crm"]
SOURCES += ["bot/channels", "bot/settings.py", "bot/errors.py", "bot/cli"]
SOURCES += ["knowledge", "scripts_lib"]


def _error_messages() -> Iterator[tuple[str, str]]:
    """(place, the literal text of the message) for every user error raised."""
    files = []
    for source in SOURCES:
        path = ROOT / source
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    for file in files:
        if "migrations" in file.parts:
            continue
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func = node.exc.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name not in USER_ERRORS or not node.exc.args:
                continue
            text = " ".join(_literal_parts(node.exc.args[0]))
            if text.strip():
                yield f"{file.relative_to(ROOT)}:{node.lineno}", text


def _literal_parts(node: ast.expr) -> Iterator[str]:
    """The words written in the code: literal strings and the literal parts of
    f-strings (a value put in is the user's or a record's, shown as it is)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.JoinedStr):
        for value in node.values:
            yield from _literal_parts(value) if isinstance(value, ast.Constant) else [" "]
    elif isinstance(node, ast.BinOp):
        yield from _literal_parts(node.left)
        yield from _literal_parts(node.right)


#: Keys of the documented files (YAML, settings) and words of shell commands that a
#: message quotes as they are written.
FORMAT_KEYS = frozenset(
    [
        "categories",
        "fields",
        "rules",
        "choices",
        "anchor",
        "event",
        "value",
        "accounts",
        "spent",
        "model",
        "endpoint",
        "key",
        "true",
        "install",
        "LISTEN",
        "NOTIFY",
        "NUL",
        "telnetlib",
        "bot",
        "users",
        "team",
        "last_message",
    ]
)

#: Programming errors: an invariant of the code broken, never caused by what a user did
#: (the CLI shows them only as a crash with --debug). Keyed by file and first words.
INTERNAL = {
    ("bot/store/channel_accounts.py", "unknown account state fields"),
    ("bot/store/notify.py", "notification payload of"),
    ("bot/pipeline/prompts.py", "passage refs must be unique"),
    ("bot/pipeline/prompts.py", "history role must be"),
    ("bot/learning/bandit.py", "exploration must be within"),
    ("bot/learning/bandit.py", "no arms to choose from"),
    ("bot/crm/followups.py", "now must be timezone-aware"),
    ("bot/channels/inbox.py", "account"),
    ("bot/channels/wechaty.py", "message"),
    ("knowledge/chunking.py", "max_chars must be"),
    ("knowledge/fusion.py", "k must not be"),
    ("knowledge/fusion.py", "weights must not be"),
    ("knowledge/fusion.py", " "),
    ("knowledge/hybrid.py", "query_vector has shape"),
    ("knowledge/hybrid.py", "an index item has"),
    ("knowledge/hybrid.py", "duplicate index item"),
    ("knowledge/hybrid.py", "item"),
    ("knowledge/lexical.py", "ids and texts differ"),
    ("knowledge/lexical.py", "the lexical index holds"),
    ("knowledge/parallel.py", "embedding worker not"),
    ("knowledge/vectors.py", "expected"),
    ("knowledge/vectors.py", "ids and metadatas differ"),
}


def test_domain_error_messages_are_chinese() -> None:
    messages = list(_error_messages())
    assert len(messages) > 250  # the scan finds the errors
    commands = {word for path, _ in _commands() for word in path}
    allow = CLI_VALUES | FORMAT_KEYS | commands
    leaks = {
        place: found
        for place, text in messages
        if not any(place.startswith(f"{f}:") and text.startswith(w) for f, w in INTERNAL)
        and (found := english_leaks(text, allow=allow))
    }
    assert leaks == {}


@pytest.mark.slow
def test_reports_name_advisers_roles_and_industries(
    demo_dir: Path, capsys: pytest.CaptureFixture[str], wide_consoles: None
) -> None:
    """Names, not codes: the referral report's advisers, the users' roles, the chat's
    industry."""
    _, text = siyu(demo_dir, "referrals", "report", capsys=capsys)
    assert "adviser_li" not in text and "敏姐" in text
    assert (
        siyu(
            demo_dir,
            "users",
            "add",
            "mia",
            "--role",
            "manager",
            "--password",
            "Qz7!harbor-lantern-91",
            capsys=capsys,
        )[0]
        == 0
    )
    _, text = siyu(demo_dir, "users", "list", capsys=capsys)
    assert "主管" in text and "manager" not in text


def test_every_option_and_argument_says_what_it_is() -> None:
    """A blank line in --help leaves a user guessing (scripts export --industry, kb search
    --industry, scripts examples SCRIPT_ID had none)."""
    blank = [
        f"{' '.join(path)} {param.name}"
        for path, command in _commands()
        for param in getattr(command, "params", [])
        if not (getattr(param, "help", None) or "").strip()
    ]
    assert blank == []


def test_file_system_and_port_errors_are_told_in_chinese(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reason of a failed file operation or bind is the user's language (the C
    library's ``strerror`` and uvicorn's bind error were English), and a data directory
    that is a file is an error, not a traceback."""
    data = tmp_path / "data"
    folder = tmp_path / "chats.jsonl"
    folder.mkdir()
    a_file = tmp_path / "siyu-data"
    a_file.write_text("", encoding="utf-8")
    cases = {
        f"history import {folder}": "这是文件夹，不是文件",
        f"history import {tmp_path / 'missing.jsonl'}": "文件不存在",
        f"suggest --input {tmp_path / 'missing.jsonl'}": "找不到文件",
        f"scripts import {tmp_path / 'missing.csv'}": "文件不存在",
    }
    for command, reason in cases.items():
        code, text = siyu(data, *shlex.split(command), capsys=capsys)
        assert code == 1 and reason in text, (command, text)
        assert english_leaks(text, allow=_syntax_words() | CLI_VALUES) == [], command

    for where in (a_file, a_file / "sub"):
        code, text = siyu(where, "customers", "list", capsys=capsys)
        assert code == 1, text
        assert "Traceback" not in text and "数据目录" in text, text
        assert english_leaks(text, allow=_syntax_words() | CLI_VALUES) == []
    assert a_file.is_file()

    monkeypatch.setenv("SIYU_WEB_SECRET", secrets.token_hex(32))
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, text = siyu(data, "serve", "--host", "127.0.0.1", "--port", str(port), capsys=capsys)
        # checked where uvicorn listens: IPv4, even when localhost also names ::1
        named, _ = siyu(data, "serve", "--host", "localhost", "--port", str(port), capsys=capsys)
    assert named == 1
    assert code == 1
    assert f"无法在 127.0.0.1:{port} 上启动控制台：端口已被占用" in text, text
    assert english_leaks(text, allow=_syntax_words() | CLI_VALUES) == []


def test_serve_speaks_chinese_in_the_terminal_and_stops_quietly(tmp_path: Path) -> None:
    """A real `siyu serve`: the terminal shows where the console is and that it stopped,
    in Chinese; not uvicorn's English start-up and request lines, and no traceback when an
    impatient operator presses Ctrl+C twice."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    env = os.environ | {"SIYU_WEB_SECRET": secrets.token_hex(32), "OPENBLAS_NUM_THREADS": "1"}
    siyu_bin = str(Path(sys.executable).with_name("siyu"))
    command = [siyu_bin, "--data-dir", str(tmp_path / "data"), "serve", "--port", str(port)]
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "serve did not start in 120 s"
                time.sleep(0.2)
        assert httpx.get(f"http://127.0.0.1:{port}/nope", timeout=5).status_code == 404
        proc.send_signal(signal.SIGINT)
        proc.send_signal(signal.SIGINT)  # at once: uvicorn cuts its shutdown short
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert stdout.splitlines() == [
        f"思语控制台：http://127.0.0.1:{port}/（API 文档：/docs；按 Ctrl-C 停止）",
        "控制台已停止",
    ], stdout
    assert stderr == "", stderr  # before: INFO: Started server process …, a traceback
