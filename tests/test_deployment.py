"""The production layout in docs/ (docs/DEPLOYMENT.md, docs/deploy/): the systemd units
parse and run real `siyu` commands with real options, the shared settings file is valid,
nginx passes the event stream through unbuffered, and `siyu serve --workers` refuses
what it cannot do."""

from __future__ import annotations

import re
import secrets
import shlex
import socket
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app, run
from bot.settings import MAX_EVENTS_KEEPALIVE_S, load_settings

DOCS = Path(__file__).parents[1] / "docs"
DEPLOY = DOCS / "deploy"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
#: Sections and keys systemd accepts in these units (a typo would be ignored by systemd
#: with only a log line).
KNOWN = {
    "Unit": {"Description", "After", "Wants", "Requires", "Documentation"},
    "Service": {
        "Type",
        "User",
        "Group",
        "WorkingDirectory",
        "Environment",
        "EnvironmentFile",
        "ExecStart",
        "ExecStartPre",
        "KillSignal",
        "TimeoutStopSec",
        "Restart",
        "RestartSec",
    },
    "Install": {"WantedBy"},
}


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file: sections of keys, each with every value it was given (keys
    may repeat); comments and blank lines skipped, continuation lines joined."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    lines = path.read_text(encoding="utf-8").splitlines()
    joined: list[str] = []
    for line in lines:
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line.strip()
        else:
            joined.append(line)
    for number, line in enumerate(joined, start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        header = re.fullmatch(r"\[(\w+)\]", stripped)
        if header:
            current = sections.setdefault(header.group(1), {})
            continue
        key, sep, value = stripped.partition("=")
        assert sep and current is not None, f"{path.name}:{number}: not a key=value line"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def siyu_args(exec_start: str) -> list[str] | None:
    """The arguments of a `siyu` command line (None for another program)."""
    argv = shlex.split(exec_start.lstrip("-@+!:"))
    if Path(argv[0]).name != "siyu":
        return None
    return argv[1:]


def test_there_is_a_unit_for_the_console_the_bots_and_chroma() -> None:
    assert {u.name for u in UNITS} == {
        "siyu-console.service",
        "siyu-bot@.service",
        "siyu-chroma.service",
    }


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_units_parse_and_use_only_known_keys(unit: Path) -> None:
    sections = parse_unit(unit)
    assert set(sections) == {"Unit", "Service", "Install"}
    for name, keys in sections.items():
        assert set(keys) <= KNOWN[name], f"{unit.name} [{name}]: {set(keys) - KNOWN[name]}"
    (exec_start,) = sections["Service"]["ExecStart"]
    assert Path(shlex.split(exec_start)[0]).is_absolute(), "systemd needs an absolute path"
    assert sections["Service"]["Restart"] == ["on-failure"]


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_units_run_real_siyu_commands_with_real_options(unit: Path) -> None:
    """Every option and command is parsed by the real CLI: `--help` at the end makes it
    stop before running, and an unknown command or option fails the parse (exit 2)."""
    (exec_start,) = parse_unit(unit)["Service"]["ExecStart"]
    args = siyu_args(exec_start)
    if args is None:
        assert shlex.split(exec_start)[1] == "run", "the Chroma server: `chroma run`"
        return
    result = CliRunner().invoke(app, [*args, "--help"])
    assert result.exit_code == 0, f"{unit.name}: siyu {' '.join(args)}\n{result.output}"
    assert "用法：" in result.output
    bad = CliRunner().invoke(app, [*args, "--no-such-option", "--help"])
    assert bad.exit_code == 2, "the check can fail"


def test_the_console_unit_runs_several_workers_and_the_bot_unit_one_group() -> None:
    (console,) = parse_unit(DEPLOY / "systemd" / "siyu-console.service")["Service"]["ExecStart"]
    args = siyu_args(console)
    assert args is not None and args[args.index("serve") + 1 :][:2] == ["--workers", "2"]
    (bot,) = parse_unit(DEPLOY / "systemd" / "siyu-bot@.service")["Service"]["ExecStart"]
    bot_args = siyu_args(bot)
    assert bot_args is not None and bot_args[-1] == "bot"
    assert "%i" in bot, "one unit instance per group of accounts"


def test_the_shared_settings_file_is_valid_and_names_no_secret() -> None:
    path = DEPLOY / "siyu.toml"
    settings = load_settings(path, environ={"SIYU_DATABASE_URL": "postgresql://u@db/siyu"})
    assert settings.vectors.mode == "http"
    assert settings.web.workers > 1 and settings.web.cookie_secure
    assert settings.database_url.startswith("postgresql")
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    assert raw["store"]["url"] == "", "the URL holds a password: it comes from the environment"


def test_nginx_passes_the_event_stream_through_unbuffered() -> None:
    conf = (DEPLOY / "nginx-siyu.conf").read_text(encoding="utf-8")
    events = re.search(r"location = /api/events \{(.*?)\}", conf, re.S)
    assert events is not None
    block = events.group(1)
    assert re.search(r"proxy_buffering\s+off;", block)
    timeout = re.search(r"proxy_read_timeout\s+(\d+)([smh]);", block)
    assert timeout is not None
    seconds = int(timeout.group(1)) * {"s": 1, "m": 60, "h": 3600}[timeout.group(2)]
    assert seconds > 2 * MAX_EVENTS_KEEPALIVE_S, "a quiet stream outlives any keep-alive interval"
    assert re.search(r"proxy_http_version\s+1\.1;", conf)
    assert "X-Forwarded-Proto" in conf


def test_the_deployment_guide_names_every_file_it_ships() -> None:
    guide = (DOCS / "DEPLOYMENT.md").read_text(encoding="utf-8")
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            assert str(path.relative_to(DOCS.parent)) in guide, path


def test_several_workers_need_postgresql_and_no_bot_inside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SIYU_WEB_SECRET", secrets.token_hex(32))
    # the port taken as well (another console running): what the configuration lacks is
    # said first; before, a taken port hid it (the suite failed while 8765 was in use)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        serve = ["--data-dir", str(tmp_path), "serve", "--port", port, "--workers", "2"]
        assert run(serve) == 1
        assert "PostgreSQL" in capsys.readouterr().err
        assert run([*serve, "--with-bot"]) == 1
        assert "siyu bot" in capsys.readouterr().err
    assert not (tmp_path / "siyu.db").exists(), "refused before anything was opened"
