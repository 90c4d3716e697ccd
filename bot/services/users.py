"""Console users and API tokens: log in, who a session or token belongs to, create
users and tokens, list and revoke one's own tokens."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.errors import InputError, NotFoundError
from bot.services import audit
from bot.services.access import (
    ROLES,
    Principal,
    hash_password,
    is_role,
    new_api_token,
    require,
    token_digest,
    user_principal,
    verify_password,
)
from bot.store import audit as audit_repo
from bot.store import users as users_repo

NO_TOKEN = "令牌不存在"
#: Longest actor name the audit log keeps for a failed login.
MAX_ACTOR_CHARS = 64


def _active(user: users_repo.UserRecord | None) -> Principal | None:
    if user is None or not user.active or not is_role(user.role):
        return None
    return user_principal(user)


def login(session: Session, *, username: str, password: str) -> Principal | None:
    """The user, when the password is theirs and the account active; every attempt is
    audited (``login`` / ``login.failed``) under the name given."""
    name = username.strip()
    user = users_repo.get_user_by_username(session=session, username=name)
    ok = user is not None and user.active and verify_password(user.password_hash, password)
    audit_repo.record(
        session=session,
        actor=name[:MAX_ACTOR_CHARS],
        action="login" if ok else "login.failed",
        target_type="user",
        target_id=user.id if user else "",
    )
    return _active(user) if ok else None


def from_token(session: Session, token: str) -> Principal | None:
    """The active user owning an unrevoked API token (and mark the token used)."""
    return _active(users_repo.user_for_token(session=session, digest=token_digest(token)))


def from_user_id(session: Session, user_id: int) -> Principal | None:
    """The active user of a console session."""
    return _active(users_repo.get_user(session=session, user_id=user_id))


def add(
    session: Session,
    principal: Principal,
    *,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
    adviser_id: str | None = None,
    team: str | None = None,
) -> users_repo.UserRecord:
    """Create a console user (an adviser needs the channel's adviser id)."""
    require(principal)
    if not is_role(role):
        raise InputError(f"role must be one of {', '.join(ROLES)}")
    if role == "adviser" and not adviser_id:
        raise InputError("an adviser needs --adviser-id (the adviser account on the channel)")
    user = users_repo.create_user(
        session=session,
        username=username,
        password_hash=hash_password(password),
        role=role,
        display_name=display_name,
        adviser_id=adviser_id,
        team=team,
    )
    audit.record(session, principal, "user.add", "user", user.id, username=username, role=role)
    return user


def issue_token(session: Session, principal: Principal, *, username: str, name: str = "") -> str:
    """A new API token for a user, returned once (only its digest is stored)."""
    require(principal)
    user = users_repo.get_user_by_username(session=session, username=username)
    if user is None:
        raise NotFoundError(f"user {username!r} not found")
    token = new_api_token()
    record = users_repo.create_api_token(
        session=session, user_id=user.id, name=name, digest=token_digest(token)
    )
    audit.record(session, principal, "token.create", "api_token", record.id, user=username)
    return token


def list_users(session: Session, principal: Principal) -> list[users_repo.UserRecord]:
    require(principal)
    return users_repo.list_users(session=session)


def tokens(session: Session, principal: Principal) -> list[users_repo.ApiTokenRecord]:
    """The principal's own API tokens, newest first (revoked ones too)."""
    if principal.user_id is None:
        return []
    return users_repo.list_api_tokens(session=session, user_id=principal.user_id)


def revoke_token(session: Session, principal: Principal, *, token_id: int) -> None:
    """Revoke one of the principal's own tokens (anyone else's does not exist)."""
    if principal.user_id is None or not users_repo.revoke_user_token(
        session=session, user_id=principal.user_id, token_id=token_id
    ):
        raise NotFoundError(NO_TOKEN, ref=token_id)
    audit.record(session, principal, "token.revoke", "api_token", token_id)
