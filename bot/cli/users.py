"""``siyu users``: console users (adviser / operator / manager) and API tokens."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bot.cli.common import (
    out,
)
from bot.errors import InputError

if TYPE_CHECKING:
    pass

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
    from bot.services.access import ROLES, hash_password
    from bot.store import Database, users

    if role not in ROLES:
        raise InputError(f"role must be one of {', '.join(ROLES)}")
    if role == "adviser" and not adviser_id:
        raise InputError("an adviser needs --adviser-id (the adviser account on the channel)")
    settings = ctx.obj.settings()
    db = Database.from_settings(settings)
    try:
        db.migrate()
        with db.session() as session:
            user = users.create_user(
                session=session,
                username=username,
                password_hash=hash_password(password),
                role=role,
                display_name=name,
                adviser_id=adviser_id,
                team=team,
            )
    finally:
        db.dispose()
    out.print(f"user {user.username} ({user.role}) created")


@app.command("token")
def users_token(
    ctx: typer.Context,
    username: Annotated[str, typer.Argument()],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "",
) -> None:
    """Create an API token for a user; it is shown once."""
    from bot.errors import NotFoundError
    from bot.services.access import new_api_token, token_digest
    from bot.store import Database, users

    settings = ctx.obj.settings()
    db = Database.from_settings(settings)
    token = new_api_token()
    try:
        db.migrate()
        with db.session() as session:
            user = users.get_user_by_username(session=session, username=username)
            if user is None:
                raise NotFoundError(f"user {username!r} not found")
            users.create_api_token(
                session=session, user_id=user.id, name=name, digest=token_digest(token)
            )
    finally:
        db.dispose()
    out.print(token, highlight=False, soft_wrap=True)


@app.command("list")
def users_list(ctx: typer.Context) -> None:
    """List console users."""

    from bot.store import Database, users

    db = Database.from_settings(ctx.obj.settings())
    try:
        db.migrate()
        with db.session() as session:
            rows = users.list_users(session=session)
    finally:
        db.dispose()
    table = Table("用户名", "姓名", "角色", "顾问 id", "团队")
    for u in rows:
        table.add_row(u.username, u.display_name, u.role, u.adviser_id or "-", u.team or "-")
    out.print(table)
