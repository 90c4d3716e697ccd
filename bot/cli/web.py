"""``siyu serve`` and ``siyu users``: registered on the main CLI by ``bot.cli``.

Only typer is imported here; FastAPI, uvicorn and argon2 load inside the commands."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

users_app = typer.Typer(help="Console users (adviser / operator / manager) and API tokens.")
out = Console()


def serve_command(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Listen address (default [web] host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default [web] port).")] = None,
    with_bot: Annotated[
        bool,
        typer.Option("--with-bot", help="Also run the Wechaty channel in this process."),
    ] = False,
) -> None:
    """Start the web console and its JSON API (OpenAPI at /docs)."""
    import uvicorn

    from bot.crm.scheduler import FollowupScheduler
    from bot.pipeline.runtime import open_runtime
    from bot.web.app import create_app

    settings = ctx.obj.settings()
    secret = settings.web.secret()  # fail before the slow start-up if it is missing
    runtime = open_runtime(settings)
    runtime.resume_pending()
    channel = None
    scheduler = FollowupScheduler(db=runtime.db, settings=settings)
    try:
        scheduler.start()
        if with_bot:
            from bot.cli.wechaty import BackgroundChannel

            channel = BackgroundChannel(runtime)
            channel.start()
        app = create_app(runtime, secret=secret)
        h, p = host or settings.web.host, port or settings.web.port
        out.print(f"思语 console on http://{h}:{p}/  (API docs: /docs)")
        uvicorn.run(app, host=h, port=p, log_level="info", timeout_graceful_shutdown=3)
    finally:
        scheduler.stop()
        if channel is not None:
            channel.stop()
        runtime.close()


@users_app.command("add")
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
    from bot.errors import InputError
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


@users_app.command("token")
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


@users_app.command("list")
def users_list(ctx: typer.Context) -> None:
    """List console users."""
    from rich.table import Table

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
