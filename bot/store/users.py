"""Console users and their API tokens (only token digests are stored)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.errors import InputError, NotFoundError, one_of
from bot.store.models import Adviser, ApiToken, User
from bot.store.records import aware
from bot.vocab import ROLES, Role


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    display_name: str
    role: Role
    adviser_id: str | None
    team: str | None
    active: bool
    password_hash: str
    created_at: datetime
    session_version: int = 0


@dataclass(frozen=True, slots=True)
class ApiTokenRecord:
    id: int
    user_id: int
    name: str
    revoked: bool
    created_at: datetime
    last_used_at: datetime | None


def create_user(
    *,
    session: Session,
    username: str,
    password_hash: str,
    role: str,
    display_name: str = "",
    adviser_id: str | None = None,
    team: str | None = None,
) -> UserRecord:
    """Create a user. An adviser user gets a new adviser record ``adviser_id`` in
    ``team``, or joins an existing one: then ``team`` must be that adviser's team (or
    None, taking it over) — a team changes only by ``set_adviser_team``."""
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise InputError(f"用户 {username} 已存在")
    if adviser_id is not None:
        adviser = session.get(Adviser, adviser_id)
        if adviser is None:
            adviser = Adviser(id=adviser_id, name=display_name or username, team=team)
            session.add(adviser)
        elif team is None:
            team = adviser.team
        elif team != adviser.team:
            now = f"属于团队 {adviser.team}" if adviser.team else "还没有团队"
            raise InputError(
                f"顾问 {adviser_id} {now}，不能在添加用户时改团队；"
                f"确需调整请用 siyu users team {adviser_id} {team}"
            )
    row = User(
        username=username,
        display_name=display_name or username,
        role=one_of(ROLES, role, "role"),  # the CLI passes user input
        password_hash=password_hash,
        adviser_id=adviser_id,
        team=team,
        active=True,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise InputError(f"用户 {username} 已存在") from exc
    return user_record(row)


def _user_named(session: Session, username: str) -> User:
    row = session.scalar(select(User).where(User.username == username))
    if row is None:
        raise NotFoundError("用户不存在", ref=username)
    return row


def set_active(*, session: Session, username: str, active: bool) -> UserRecord:
    """Activate or deactivate a user; deactivation also ends every session."""
    row = _user_named(session, username)
    row.active = active
    if not active:
        row.session_version += 1
    session.flush()
    return user_record(row)


def set_password_hash(*, session: Session, username: str, password_hash: str) -> UserRecord:
    """Replace a user's password; every session of theirs ends."""
    row = _user_named(session, username)
    row.password_hash = password_hash
    row.session_version += 1
    session.flush()
    return user_record(row)


def end_sessions(*, session: Session, user_id: int) -> None:
    """Every console session of the user ends (the version they carry is outdated)."""
    row = session.get(User, user_id)
    if row is not None:
        row.session_version += 1
        session.flush()


def revoke_all_tokens(*, session: Session, user_id: int) -> int:
    """Revoke every unrevoked API token of a user; how many."""
    rows = list(
        session.scalars(
            select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked.is_(False))
        )
    )
    for row in rows:
        row.revoked = True
    session.flush()
    return len(rows)


def set_adviser_team(*, session: Session, adviser_id: str, team: str | None) -> str | None:
    """Move an adviser (and the adviser users of that adviser id) to ``team``; the
    previous team."""
    adviser = session.get(Adviser, adviser_id)
    if adviser is None:
        raise NotFoundError("顾问不存在", ref=adviser_id)
    previous = adviser.team
    adviser.team = team
    for user in session.scalars(
        select(User).where(User.adviser_id == adviser_id, User.role == "adviser")
    ):
        user.team = team
    session.flush()
    return previous


def get_user(*, session: Session, user_id: int) -> UserRecord | None:
    row = session.get(User, user_id)
    return user_record(row) if row else None


def get_user_by_username(*, session: Session, username: str) -> UserRecord | None:
    row = session.scalar(select(User).where(User.username == username))
    return user_record(row) if row else None


def list_users(*, session: Session) -> list[UserRecord]:
    return [user_record(u) for u in session.scalars(select(User).order_by(User.username))]


def team_adviser_ids(*, session: Session, team: str) -> tuple[str, ...]:
    """Ids of the advisers in ``team`` (the adviser records' team)."""
    return tuple(
        session.scalars(select(Adviser.id).where(Adviser.team == team).order_by(Adviser.id))
    )


def create_api_token(*, session: Session, user_id: int, name: str, digest: str) -> ApiTokenRecord:
    if session.get(User, user_id) is None:
        raise NotFoundError(f"用户 {user_id} 不存在")
    row = ApiToken(user_id=user_id, name=name, token_hash=digest)
    session.add(row)
    session.flush()
    return token_record(row)


#: ``last_used_at`` of an API token is updated at most this often.
TOKEN_USE_PRECISION = timedelta(minutes=1)


def user_for_token(*, session: Session, digest: str, touch: bool = True) -> UserRecord | None:
    """The active user owning an unrevoked token with this digest (and, with ``touch``,
    mark it used)."""
    token = session.scalar(
        select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked.is_(False))
    )
    if token is None:
        return None
    user = session.get(User, token.user_id)
    if user is None or not user.active:
        return None
    now = datetime.now(UTC)
    last = token.last_used_at
    # A write per request costs an integration ~2 ms a call: minute precision is enough.
    if touch and (last is None or now - aware(last) >= TOKEN_USE_PRECISION):
        token.last_used_at = now
        session.flush()
    return user_record(user)


def list_api_tokens(*, session: Session, user_id: int) -> list[ApiTokenRecord]:
    """A user's tokens, newest first (revoked ones included, marked)."""
    stmt = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
    return [token_record(row) for row in session.scalars(stmt)]


def revoke_user_token(*, session: Session, user_id: int, token_id: int) -> bool:
    """Revoke one of ``user_id``'s own tokens; False if it is not theirs (or unknown)."""
    row = session.get(ApiToken, token_id)
    if row is None or row.user_id != user_id:
        return False
    row.revoked = True
    session.flush()
    return True


def user_record(row: User) -> UserRecord:
    return UserRecord(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        adviser_id=row.adviser_id,
        team=row.team,
        active=row.active,
        password_hash=row.password_hash,
        created_at=aware(row.created_at),
        session_version=row.session_version,
    )


def token_record(row: ApiToken) -> ApiTokenRecord:
    return ApiTokenRecord(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        revoked=row.revoked,
        created_at=aware(row.created_at),
        last_used_at=aware(row.last_used_at) if row.last_used_at else None,
    )
