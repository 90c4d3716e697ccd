"""Customer text is printed as typed by every command: a nickname or a message holding
Rich markup (``[/]``, ``[bold]``, ``[link=…]``) neither crashes the command nor renders
(issue 13)."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import RuntimeFactory

from bot.channels.memory import MemoryChannel
from bot.cli import common, run
from bot.store import outcomes
from bot.store.models import FollowUp, Identity

#: A WeChat nickname and a message: "[/]" alone crashes markup, "[link=…]" hides a URL.
NAME = "[/]恶意[bold]昵称[/bold][link=https://evil.example/n]点我[/link]"
TEXT = "[red]红字[/red][link=https://evil.example/t]链接[/link][/]"
#: The nickname as scripts show it when it is replaced: only checked for no crash.
ADVISER = "li"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory with one customer whose name and words are markup."""
    from conftest import load_small_library

    from bot.pipeline.runtime import open_runtime
    from bot.settings import Settings

    data_dir = tmp_path_factory.mktemp("markup") / "data"
    rt = open_runtime(Settings.model_validate({"data_dir": str(data_dir)}))
    try:
        load_small_library(rt)
        ch = MemoryChannel(rt.assistant.handle, adviser_id=ADVISER, adviser_name="李顾问")
        first = ch.receive("wx-evil", f"我女儿想买医疗险{TEXT}", contact_name=NAME)
        twin = ch.receive("wx-twin", "在吗", contact_name=NAME + "2")
        assert first and twin and first.suggestion_id and first.customer_id
        cid = first.customer_id
        with rt.db.session() as s:
            s.add(Identity(customer_id=cid, kind="phone", value="13800138001"))
            s.add(Identity(customer_id=twin.customer_id, kind="phone", value="+86 138-0013-8001"))
            s.add(
                FollowUp(
                    customer_id=cid,
                    adviser_id=ADVISER,
                    due_at=datetime.now(UTC),
                    note=f"回访 {TEXT}",
                    rule="manual",
                )
            )
            for _ in range(5):
                outcomes.add_outcome(
                    session=s,
                    suggestion_id=first.suggestion_id,
                    message_id=None,
                    kind="edited",
                    script_id=first.scripts[0].id,
                    final_text=f"改过的话术{TEXT}",
                    edit_distance=9,
                )
    finally:
        rt.close()
    return data_dir


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Wide consoles, so no table cell wraps the strings looked for."""
    monkeypatch.setattr(common.out, "width", 400)
    monkeypatch.setattr(common.err, "width", 400)


def siyu(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = run(["--data-dir", str(data), *args])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


COMMANDS: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (("customers", "list"), (NAME,)),
    (("customers", "show", "1"), (NAME, TEXT)),
    (("tags", "list"), (NAME,)),
    (("report", "funnel", "--adviser", ADVISER, "--customers"), (NAME,)),
    (("report", "scripts"), (TEXT,)),
    (("customers", "merge-suggestions"), (NAME,)),
    (("followups", "list"), (NAME, TEXT)),
    (("suggest", "--text", "重疾险多少钱", "--customer", "1"), (NAME,)),
    (("events", "add", "--customer", NAME), (NAME,)),
]


@pytest.mark.parametrize(
    ("args", "shown"), COMMANDS, ids=["-".join(a[:2]).replace("--", "") for a, _ in COMMANDS]
)
def test_customer_text_is_printed_as_typed(
    capsys: pytest.CaptureFixture[str], data: Path, args: tuple[str, ...], shown: tuple[str, ...]
) -> None:
    code, printed = siyu(capsys, data, *args)
    assert "Traceback" not in printed and "MarkupError" not in printed
    assert code == (1 if args[0] == "events" else 0), printed
    for text in shown:
        assert text in printed, f"{text!r} not shown as typed"


def test_merges_segments_and_users_print_their_text_as_typed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make_runtime: RuntimeFactory
) -> None:
    data_dir = tmp_path / "data"
    rt = make_runtime(data_dir=data_dir, load=False)
    ch = MemoryChannel(rt.assistant.handle, adviser_id=ADVISER)
    a, b = (
        ch.receive("wx-a", "在吗", contact_name="甲"),
        ch.receive("wx-b", "在", contact_name="乙"),
    )
    assert a and b
    rt.close()
    merged = ("customers", "merge", str(a.customer_id), str(b.customer_id), "--reason", TEXT)
    assert siyu(capsys, data_dir, *merged)[0] == 0
    code, printed = siyu(capsys, data_dir, "customers", "merges")
    assert code == 0 and TEXT in printed
    segment = ("segments", "add", NAME, "-f", f"name={NAME}", "--description", TEXT)
    code, printed = siyu(capsys, data_dir, *segment)
    assert code == 0 and NAME in printed
    code, printed = siyu(capsys, data_dir, "segments", "list")
    assert code == 0 and NAME in printed and TEXT in printed
    user = (
        "users",
        "add",
        "evil",
        "--role",
        "operator",
        "--name",
        NAME,
        "--password",
        "Qz8!vR2#mLp9",
    )
    assert siyu(capsys, data_dir, *user)[0] == 0
    code, printed = siyu(capsys, data_dir, "users", "list")
    assert code == 0 and NAME in printed


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_chat_and_the_interactive_review_print_text_as_typed(
    capsys: pytest.CaptureFixture[str], data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{TEXT}\n/quit\n"))
    code, printed = siyu(capsys, data, "chat", "--name", NAME, "--contact", "wx-chat")
    assert code == 0 and NAME in printed
    monkeypatch.setattr("sys.stdin", Terminal("s\nq\n"))  # asks only at a terminal
    code, printed = siyu(capsys, data, "tags", "review")
    assert code == 0 and NAME in printed and "依据：「我女儿想买医疗险[red]红字" in printed


def test_file_names_and_lint_messages_are_printed_as_typed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "[bold]话术[red].csv"
    bad.write_text(
        "id,title,category,stage,industry,tags,body\n"
        f"X-1,{TEXT},[/]nope,acquire,general,,{{unknown}} {TEXT}\n",
        encoding="utf-8",
    )
    code, printed = siyu(capsys, tmp_path / "data", "scripts", "lint", str(bad))
    assert code == 1 and "Traceback" not in printed
    assert "未知的分类 '[/]nope'" in printed
