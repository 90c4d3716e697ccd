"""Console users and API tokens: log in and out, who a session or token belongs to,
create users and tokens, list and revoke one's own tokens; and, for the administrator,
deactivate / activate a user, set a password, revoke all of a user's tokens, and move an
adviser to another team. Everything that changes an account is audited.

A console session carries its user's ``session_version``: logging out, a password
change and deactivation raise it, which ends every session of that user at once."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.errors import InputError, NotFoundError
from bot.labels import ROLE_LABELS, choices
from bot.services import audit
from bot.services.access import (
    Principal,
    check_username,
    hash_password,
    is_role,
    new_api_token,
    require,
    token_digest,
    user_principal,
    verify_nothing,
    verify_password,
)
from bot.store import audit as audit_repo
from bot.store import users as users_repo
from bot.vocab import ROLES

NO_TOKEN = "令牌不存在"
#: Longest actor name the audit log keeps for a failed login.
MAX_ACTOR_CHARS = 64


def _active(user: users_repo.UserRecord | None) -> Principal | None:
    if user is None or not user.active or not is_role(user.role):
        return None
    return user_principal(user)


@dataclass(frozen=True, slots=True)
class Login:
    """A successful login: who, and the session version their cookie must carry."""

    principal: Principal
    session_version: int


def login(session: Session, *, username: str, password: str) -> Login | None:
    """The user, when the password is theirs and the account active; every attempt is
    audited (``login`` / ``login.failed``) under the name given. An unknown or inactive
    user costs one password verification too (``verify_nothing``): the time taken does
    not tell which user names exist."""
    name = username.strip()
    user = users_repo.get_user_by_username(session=session, username=name)
    if user is not None and user.active:
        ok = verify_password(user.password_hash, password)
    else:
        ok = verify_nothing(password)
    audit_repo.record(
        session=session,
        actor=name[:MAX_ACTOR_CHARS],
        action="login" if ok else "login.failed",
        target_type="user",
        target_id=user.id if user else "",
    )
    principal = _active(user) if ok else None
    if principal is None or user is None:
        return None
    return Login(principal=principal, session_version=user.session_version)


def record_throttled(session: Session, *, username: str, client: str) -> None:
    """Audit a login refused by the throttle (once per lock, not per attempt)."""
    name = username.strip()
    audit_repo.record(
        session=session,
        actor=name[:MAX_ACTOR_CHARS],
        action="login.throttled",
        target_type="client",
        target_id=client[:MAX_ACTOR_CHARS],
    )


def logout(session: Session, principal: Principal) -> None:
    """End every console session of the principal (the cookie just used, and any copy
    of it)."""
    if principal.user_id is None:
        return
    users_repo.end_sessions(session=session, user_id=principal.user_id)
    audit.record(session, principal, "logout", "user", principal.user_id)


def from_token(session: Session, token: str, *, touch: bool = True) -> Principal | None:
    """The active user owning an unrevoked API token (and, with ``touch``, mark the token
    used)."""
    digest = token_digest(token)
    return _active(users_repo.user_for_token(session=session, digest=digest, touch=touch))


def from_session(session: Session, user_id: int, session_version: int) -> Principal | None:
    """The active user of a console session, if the session is still current."""
    user = users_repo.get_user(session=session, user_id=user_id)
    if user is None or user.session_version != session_version:
        return None
    return _active(user)


@dataclass(frozen=True, slots=True)
class Credential:
    """What a request proved who it is with: an API token, or a console session (the
    user id and the session version its cookie carries). Kept by a long response (the
    live event stream) to check again later that it still holds."""

    token: str | None = None
    user_id: int | None = None
    session_version: int | None = None


def authenticate(
    session: Session, credential: Credential, *, touch: bool = True
) -> Principal | None:
    """The principal ``credential`` stands for now: None once the token is revoked, the
    session ended (logout, password change, deactivation) or the user is inactive.
    ``touch`` marks a token used (a request); a re-check of an open stream does not."""
    if credential.token is not None:
        return from_token(session, credential.token, touch=touch)
    if credential.user_id is not None and credential.session_version is not None:
        return from_session(session, credential.user_id, credential.session_version)
    return None


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
    check_username(username)
    if not is_role(role):
        raise InputError(f"角色只能是 {choices(ROLE_LABELS, ROLES)}")
    if role == "adviser" and not adviser_id:
        raise InputError("顾问用户需要 --adviser-id（顾问在通道上的账号）")
    user = users_repo.create_user(
        session=session,
        username=username,
        password_hash=hash_password(password, user_inputs=(username, display_name)),
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
        raise NotFoundError("用户不存在", ref=username)
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


def deactivate(session: Session, principal: Principal, *, username: str) -> None:
    """The user can no longer log in; their sessions end and their API tokens stop
    working (they are kept, and work again after ``activate``)."""
    require(principal)
    user = users_repo.set_active(session=session, username=username, active=False)
    audit.record(session, principal, "user.deactivate", "user", user.id, username=username)


def activate(session: Session, principal: Principal, *, username: str) -> None:
    require(principal)
    user = users_repo.set_active(session=session, username=username, active=True)
    audit.record(session, principal, "user.activate", "user", user.id, username=username)


def set_password(session: Session, principal: Principal, *, username: str, password: str) -> None:
    """A new password (the same policy as for a new user); every session of the user
    ends."""
    require(principal)
    found = users_repo.get_user_by_username(session=session, username=username)
    if found is None:
        raise NotFoundError("用户不存在", ref=username)
    password_hash = hash_password(password, user_inputs=(username, found.display_name))
    user = users_repo.set_password_hash(
        session=session, username=username, password_hash=password_hash
    )
    audit.record(session, principal, "user.password", "user", user.id, username=username)


def revoke_tokens(session: Session, principal: Principal, *, username: str) -> int:
    """Revoke every API token of a user; how many were revoked."""
    require(principal)
    user = users_repo.get_user_by_username(session=session, username=username)
    if user is None:
        raise NotFoundError("用户不存在", ref=username)
    n = users_repo.revoke_all_tokens(session=session, user_id=user.id)
    audit.record(
        session, principal, "token.revoke_all", "user", user.id, username=username, count=n
    )
    return n


def set_team(
    session: Session, principal: Principal, *, adviser_id: str, team: str | None
) -> str | None:
    """Move an adviser to ``team`` (None: no team); the previous team. The only way an
    adviser's team changes."""
    require(principal)
    previous = users_repo.set_adviser_team(session=session, adviser_id=adviser_id, team=team)
    audit.record(
        session,
        principal,
        "adviser.team",
        "adviser",
        adviser_id,
        previous=previous,
        team=team,
    )
    return previous
