"""The README's command reference against the real command line (docs/ARCHITECTURE.md, *How
to add … a command*: "Document it in the README's command table"): every command and every
option of ``siyu`` is named in the README, and every ``siyu …`` the README writes names a
command and options that exist. An option counts as named wherever the README writes it
(``--since`` of one command documents another's): the check is coarse on purpose, the
README documents options in prose as often as beside their command."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from bot.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")

#: Options the README writes on purpose although no command has them.
NOT_OPTIONS = frozenset({"--bogus"})  # the example of a usage error


def _commands() -> dict[tuple[str, ...], Any]:
    """Every command and group by its path: () is ``siyu`` itself."""
    found: dict[tuple[str, ...], Any] = {}

    def walk(cmd: Any, path: tuple[str, ...]) -> None:
        found[path] = cmd
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


COMMANDS = _commands()
LEAVES = {path: cmd for path, cmd in COMMANDS.items() if path and not hasattr(cmd, "commands")}


def _options(cmd: Any) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")}


GLOBAL_OPTIONS = _options(COMMANDS[()]) | {"--help"}


def _named(path: tuple[str, ...]) -> bool:
    """``siyu scripts import``, or the name in a list: ``siyu customers merge\\|unmerge``."""
    *group, name = path
    others = r"(?:[\w-]+\\?\|)*"
    words = "".join(re.escape(g) + " " for g in group)
    return re.search(rf"siyu {words}{others}{re.escape(name)}(?![\w-])", README) is not None


def test_every_command_is_in_the_readme() -> None:
    missing = [" ".join(path) for path in LEAVES if not _named(path)]
    assert missing == []


def test_every_option_is_in_the_readme() -> None:
    missing = sorted(
        f"siyu {' '.join(path)} {option}"
        for path, cmd in LEAVES.items()
        for option in _options(cmd) - GLOBAL_OPTIONS
        if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", README)
    )
    assert missing == []


#: ``siyu`` [global options] command words, then the rest of that invocation: up to a
#: closing backtick, a table cell's end, a shell comment or the next command.
_INVOCATION = re.compile(
    r"(?<![\w./@-])siyu((?: (?:--config|--data-dir|--actor) \S+| --debug)*)"
    r"((?: [a-z][a-z-]*)+)([^`|;#\n]*)"
)


def test_every_command_the_readme_writes_exists() -> None:
    wrong = []
    for number, line in enumerate(README.splitlines(), start=1):
        for match in _INVOCATION.finditer(line):
            words = match.group(2).split()
            path: tuple[str, ...] = ()
            for word in words:
                if (*path, word) not in COMMANDS:
                    break
                path = (*path, word)
            if not path:  # a command that does not exist (「siyu campaign list」)
                wrong.append(f"line {number}: siyu {words[0]} is no command")
                continue
            rest = " ".join(words[len(path) :]) + match.group(3)
            written = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", rest))
            unknown = written - _options(COMMANDS[path]) - GLOBAL_OPTIONS - NOT_OPTIONS
            if unknown:
                wrong.append(f"line {number}: siyu {' '.join(path)} {sorted(unknown)}")
    assert wrong == []


def test_no_shell_example_redirects_by_accident() -> None:
    """A filter such as ``spent>=5000`` written bare in a ```bash block is a redirection
    when pasted into a shell: the command got ``-f spent`` and a file named ``=5000``
    was written. Such words are quoted."""
    wrong = []
    in_shell = False
    for number, line in enumerate(README.splitlines(), start=1):
        if line.startswith("```"):
            in_shell = line.strip() in ("```bash", "```sh")
            continue
        if not in_shell or "siyu " not in line:
            continue
        code = re.sub(r"\s#.*$", "", line)  # a comment
        code = re.sub(r"'[^']*'|\"[^\"]*\"", "", code)  # quoted words
        if re.search(r"[<>]", code):
            wrong.append(f"line {number}: {line.strip()}")
    assert wrong == []
