"""What every ``siyu`` command shares: the global options, who is acting (the principal
every service call takes), the two consoles (stdout for results, stderr for progress and
errors), progress bars, and opening the runtime or only the database. Heavy modules load
inside the functions, so ``--help`` stays instant.

Customer text is printed as typed: the consoles read no Rich markup and no emoji codes, so
a nickname such as ``[/]`` or ``[link=…]`` is shown as written, never parsed, wherever it
is printed (a table cell, a line, a title). A line that is styled is built with
``styled``, which escapes the values it is given."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from bot.errors import InputError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from bot.pipeline.runtime import Runtime
    from bot.services.access import Principal
    from bot.settings import Settings
    from bot.store import Database

# Lines are not folded at the console's width (80 when piped: a summary split mid-number
# in a log); the terminal wraps them. Tables still fit the width.
out = Console(markup=False, emoji=False, soft_wrap=True)
err = Console(stderr=True, markup=False, emoji=False, soft_wrap=True)

ACTOR_HELP = "谁在操作（记入审计日志；默认：全局 --actor 或你的登录名）。"
Actor = Annotated[str | None, typer.Option("--actor", help=ACTOR_HELP)]
NowOpt = Annotated[
    str | None,
    typer.Option("--now", help="假定现在是这个时间（ISO 日期时间；默认：现在）。"),
]


@dataclass
class Options:
    config: Path | None
    data_dir: Path | None
    debug: bool
    #: The global ``--actor`` (None: the operating-system user).
    actor: str | None = None

    def settings(self) -> Settings:
        from bot.settings import load_settings

        return load_settings(self.config, data_dir=self.data_dir)


def principal(ctx: typer.Context, actor: str | None = None) -> Principal:
    """Who runs this command: an administrator (every permission, every customer), named
    by the command's own ``--actor`` (or ``--reviewer``), else the global ``--actor``,
    else the operating-system user."""
    from bot.services.access import cli_principal

    return cli_principal(actor or ctx.obj.actor)


def styled(template: str, *values: object) -> Text:
    """A styled line: ``template`` is Rich markup written in the code, each ``{}`` in it
    a value shown as typed (escaped: customer text never becomes markup)."""
    return Text.from_markup(template.format(*(escape(str(v)) for v in values)), emoji=False)


def progress() -> Progress:
    """Progress bars on stderr, at a terminal only: elsewhere (a pipe, a log file) they
    show nothing, and Rich would still end them with an empty line."""
    return Progress(
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


#: What each index the runtime brings up to date is called on its progress bar.
INDEX_NAMES = {"scripts": "话术", "knowledge": "知识库", "tags": "标签"}


@contextmanager
def runtime(ctx: typer.Context) -> Iterator[Runtime]:
    """Open the runtime with a progress bar while the indexes catch up with SQL."""
    from bot.pipeline.runtime import open_runtime

    settings: Settings = ctx.obj.settings()
    with progress() as bars:
        tasks: dict[str, Any] = {}

        def on_progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bars.add_task(f"索引{INDEX_NAMES.get(name, name)}", total=total)
            bars.update(tasks[name], completed=done, total=total)

        rt = open_runtime(settings, progress=on_progress)
    try:
        yield rt
    finally:
        rt.close()


def bar(progress: Progress, description: str) -> Callable[[int, int], None]:
    task = progress.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return update


@contextmanager
def database(ctx: typer.Context) -> Iterator[tuple[Database, Settings]]:

    from bot.store import Database

    settings: Settings = ctx.obj.settings()
    settings.ensure_data_dir()
    db = Database.from_settings(settings)
    try:
        db.migrate()
        yield db, settings
    finally:
        db.dispose()


def adviser_names(session: Session, principal: Principal) -> dict[str, str]:
    """The advisers' names the principal may see, by id (to show names, not ids): as
    colleagues call them (bot/store/advisers.py), the id only when there is no name."""
    from bot.services import advisers

    return advisers.names(session, principal)


def parse_now(value: str | None, timezone: str) -> datetime:
    if not value:
        return datetime.now(UTC)
    from bot.crm.dates import parse_datetime

    try:
        return parse_datetime(value, ZoneInfo(timezone))
    except ValueError as exc:
        raise InputError(f"--now {value!r} 不是日期或 ISO 日期时间") from exc


def local_time(value: datetime | None, timezone: str, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (UTC) time as people read it: in the configured ``timezone``; ``-`` for
    none. Every time a command prints goes through here."""
    if value is None:
        return "-"
    if value.tzinfo is None:  # the store keeps UTC; SQLite may hand it back naive
        value = value.replace(tzinfo=UTC)
    return value.astimezone(ZoneInfo(timezone)).strftime(fmt)


def day_start(day: date, timezone: str) -> datetime:
    """Local midnight of ``day`` (in UTC, as the store keeps times)."""
    from bot.crm.followups import start_of_day

    return start_of_day(day, ZoneInfo(timezone))


#: Where a report of a period without anything in it points (options of every report).
OTHER_PERIOD = "可用 --since、--until 换个时间段"
#: A list or report of customers when there is none at all: where they come from.
NO_CUSTOMERS = "还没有客户。导入：siyu customers import 客户文件（或 siyu history import 聊天记录）"


def during(first: date | None, last: date) -> str:
    """A report's period in a sentence: 「2026-12-01 至 2026-12-07」, or 「截至 2026-12-07」
    from the beginning."""
    return f"{first} 至 {last}" if first else f"截至 {last}"


def parse_day(value: str | None, default: date, option: str) -> date:
    if not value:
        return default
    from bot.crm.dates import parse_date

    try:
        return parse_date(value)
    except ValueError as exc:
        raise InputError(f"{option} {value!r} 不是日期（如 2026-01-31）") from exc
