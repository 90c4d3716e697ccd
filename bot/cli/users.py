"""``siyu users``: console users (adviser / operator / manager) and API tokens."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import database, out, principal
from bot.errors import InputError

app = typer.Typer(help="Console users (adviser / operator / manager) and API tokens.")


@app.command("add")
def users_add(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument()],
    role: Annotated[str, typer.Option(help="adviser, operator or manager.")],
    password: Annotated[
        str,
        typer.Option(prompt=True, hide_input=True, confirmation_prompt=True, help="Password."),
    ],
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    adviser_id: Annotated[
        str | None,
        typer.Option(help="For an adviser: the channel's adviser id whose customers they see."),
    ] = None,
    team: Annotated[str | None, typer.Option(help="Team (managers see their team).")] = None,
) -> None:
    """Create a console user. Weak or common passwords are refused; an existing
    adviser id keeps its team (change it with `siyu users team`)."""
    from bot.services import users
    from bot.services.access import ROLES

    if role not in ROLES:  # before the database is opened
        raise InputError(f"role must be one of {', '.join(ROLES)}")
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
    out.print(f"user {user.username} ({user.role}) created", highlight=False)


@app.command("token")
def users_token(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "",
) -> None:
    """Create an API token for a user; it is shown once."""
    from bot.services import users

    with database(ctx) as (db, _), db.session() as session:
        token = users.issue_token(session, principal(ctx), username=username, name=name)
    out.print(token, highlight=False, soft_wrap=True)


@app.command("list")
def users_list(ctx: typer.Context) -> None:
    """List console users."""
    from bot.services import users

    with database(ctx) as (db, _), db.session() as session:
        rows = users.list_users(session, principal(ctx))
    table = Table("用户名", "姓名", "角色", "顾问 id", "团队")
    for u in rows:
        table.add_row(u.username, u.display_name, u.role, u.adviser_id or "-", u.team or "-")
    out.print(table)


@app.command("deactivate")
def users_deactivate(ctx: typer.Context, username: Annotated[str, typer.Argument()]) -> None:
    """Shut an account off: no login, every session ends, API tokens stop working."""
    from bot.services import users

    with database(ctx) as (db, _), db.session() as session:
        users.deactivate(session, principal(ctx), username=username)
    out.print(f"用户 {username} 已停用：登录、会话和 API 令牌均已失效", highlight=False)


@app.command("activate")
def users_activate(ctx: typer.Context, username: Annotated[str, typer.Argument()]) -> None:
    """Turn a deactivated account back on (its unrevoked API tokens work again)."""
    from bot.services import users

    with database(ctx) as (db, _), db.session() as session:
        users.activate(session, principal(ctx), username=username)
    out.print(f"用户 {username} 已启用", highlight=False)


@app.command("password")
def users_password(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument()],
    password: Annotated[
        str,
        typer.Option(
            prompt="新密码", hide_input=True, confirmation_prompt=True, help="New password."
        ),
    ],
) -> None:
    """Set a user's password; every session of theirs ends."""
    from bot.services import users

    with database(ctx) as (db, _), db.session() as session:
        users.set_password(session, principal(ctx), username=username, password=password)
    out.print(f"用户 {username} 的密码已更新，原有登录均已失效", highlight=False)


@app.command("revoke-tokens")
def users_revoke_tokens(ctx: typer.Context, username: Annotated[str, typer.Argument()]) -> None:
    """Revoke every API token of a user."""
    from bot.services import users

    with database(ctx) as (db, _), db.session() as session:
        n = users.revoke_tokens(session, principal(ctx), username=username)
    out.print(f"已撤销用户 {username} 的 {n} 个 API 令牌", highlight=False)


@app.command("team")
def users_team(
    ctx: typer.Context,
    adviser_id: Annotated[str, typer.Argument(help="The adviser id (channel account).")],
    team: Annotated[str, typer.Argument(help="The new team; '-' for none.")],
) -> None:
    """Move an adviser (and their console users) to another team — the only way an
    adviser's team changes; managers of the new team then see their customers."""
    from bot.services import users

    new = None if team == "-" else team
    with database(ctx) as (db, _), db.session() as session:
        previous = users.set_team(session, principal(ctx), adviser_id=adviser_id, team=new)
    out.print(
        f"顾问 {adviser_id}：团队 {previous or '（无）'} → {new or '（无）'}", highlight=False
    )
