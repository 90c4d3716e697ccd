"""``siyu users``: console users (adviser / operator / manager) and API tokens."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import database, err, out, principal
from bot.cli.tables import show
from bot.errors import InputError
from bot.labels import ROLE_LABELS, choices, label

app = typer.Typer(help="控制台用户（顾问 / 运营 / 主管）和 API token。")


@app.command("add")
def users_add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="登录名。")],
    role: Annotated[
        str, typer.Option(help="adviser（顾问）、operator（运营）或 manager（主管）。")
    ],
    password: Annotated[
        str | None,
        typer.Option(help="密码（不给则在终端里输入两次，不显示）。"),
    ] = None,
    name: Annotated[str, typer.Option(help="显示名称。")] = "",
    adviser_id: Annotated[
        str | None,
        typer.Option(help="仅顾问：其在通道上的顾问 ID，决定能看到哪些客户。"),
    ] = None,
    team: Annotated[str | None, typer.Option(help="团队（主管能看到本团队）。")] = None,
) -> None:
    """创建控制台用户。过弱或常见的密码会被拒绝；已存在的顾问 ID 保留原团队（用 `siyu users team`
    修改）。"""
    from bot.services import users
    from bot.services.access import ROLES

    if role not in ROLES:  # before the database is opened
        raise InputError(f"角色只能是 {choices(ROLE_LABELS, ROLES)}")
    password = password if password is not None else ask_password("密码")
    with database(ctx) as (db, _), db.session() as session:
        user = users.add(
            session,
            principal(ctx),
            username=username,
            password=password,
            role=role,
            display_name=name,
            adviser_id=adviser_id,
            team=team,
        )
    role_name = label(ROLE_LABELS, user.role)
    out.print(f"已创建用户 {user.username}（{role_name}）", highlight=False)


@app.command("token")
def users_token(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="登录名。")],
    name: Annotated[str, typer.Option(help="这个 token 的用途。")] = "",
) -> None:
    """为用户创建一个 API token；只显示这一次。"""
    from bot.services import users

    with database(ctx) as (db, _), db.session() as session:
        token = users.issue_token(session, principal(ctx), username=username, name=name)
    out.print(token, highlight=False, soft_wrap=True)


@app.command("list")
def users_list(ctx: typer.Context) -> None:
    """列出控制台用户。"""
    from bot.services import users

    with database(ctx) as (db, _), db.session() as session:
        rows = users.list_users(session, principal(ctx))
    table = Table("用户名", "姓名", "角色", "顾问 ID", "团队", "状态")
    for u in rows:
        role = label(ROLE_LABELS, u.role)
        state = "正常" if u.active else "已停用"
        table.add_row(u.username, u.display_name, role, u.adviser_id or "-", u.team or "-", state)
    show(
        table,
        empty="还没有控制台用户。添加：siyu users add 用户名 --role manager"
        "（顾问：--role adviser --adviser-id 顾问ID）",
    )


@app.command("deactivate")
def users_deactivate(
    ctx: typer.Context, username: Annotated[str, typer.Argument(help="登录名。")]
) -> None:
    """停用账号：不能登录，所有会话结束，API token 失效。"""
    from bot.services import users

    with database(ctx) as (db, _), db.session() as session:
        users.deactivate(session, principal(ctx), username=username)
    out.print(f"用户 {username} 已停用：登录、会话和 API 令牌均已失效", highlight=False)


@app.command("activate")
def users_activate(
    ctx: typer.Context, username: Annotated[str, typer.Argument(help="登录名。")]
) -> None:
    """重新启用已停用的账号（未吊销的 API token 恢复可用）。"""
    from bot.services import users

    with database(ctx) as (db, _), db.session() as session:
        users.activate(session, principal(ctx), username=username)
    out.print(f"用户 {username} 已启用", highlight=False)


@app.command("password")
def users_password(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument(help="登录名。")],
    password: Annotated[
        str | None,
        typer.Option(help="新密码（不给则在终端里输入两次，不显示）。"),
    ] = None,
) -> None:
    """设置用户密码；该用户的所有会话结束。"""
    from bot.services import users

    password = password if password is not None else ask_password("新密码")
    with database(ctx) as (db, _), db.session() as session:
        users.set_password(session, principal(ctx), username=username, password=password)
    out.print(f"用户 {username} 的密码已更新，原有登录均已失效", highlight=False)


@app.command("revoke-tokens")
def users_revoke_tokens(
    ctx: typer.Context, username: Annotated[str, typer.Argument(help="登录名。")]
) -> None:
    """吊销用户的全部 API token。"""
    from bot.services import users

    with database(ctx) as (db, _), db.session() as session:
        n = users.revoke_tokens(session, principal(ctx), username=username)
    out.print(f"已撤销用户 {username} 的 {n} 个 API 令牌", highlight=False)


@app.command("team")
def users_team(
    ctx: typer.Context,
    adviser_id: Annotated[str, typer.Argument(help="顾问 ID（通道账号）。")],
    team: Annotated[str, typer.Argument(help="新团队；'-' 表示不属于任何团队。")],
) -> None:
    """把顾问（及其控制台用户）调到另一个团队——这是修改顾问团队的唯一方式；
    新团队的主管随后能看到其客户。"""
    from bot.services import users

    new = None if team == "-" else team
    with database(ctx) as (db, _), db.session() as session:
        previous = users.set_team(session, principal(ctx), adviser_id=adviser_id, team=new)
    out.print(
        f"顾问 {adviser_id}：团队 {previous or '（无）'} → {new or '（无）'}", highlight=False
    )


def ask_password(label: str) -> str:
    """A password typed twice at the terminal, not shown, in Chinese (the parser's own
    prompt is English and warns on a pipe); without a terminal, one line of standard
    input (``echo 密码 | siyu users add …``)."""
    import getpass
    import sys

    if not sys.stdin.isatty():
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise InputError(f"没有读到{label}：请用 --password 给出，或在终端里运行后输入")
        return line
    while True:
        first = getpass.getpass(f"{label}：")
        if getpass.getpass("再输入一次：") == first:
            return first
        err.print("两次输入的不一致，请重新输入", markup=False)
