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
    """Create a console user."""
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
    out.print(f"user {user.username} ({user.role}) created")


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
