"""Who is acting and what they may do: roles, passwords (argon2), API tokens, and the
customer scope. Every service function takes a ``Principal`` and calls ``require`` /
``check_customer`` / ``scope_of`` from here; nothing here knows about HTTP or the terminal.

The rule for customer data lives here, in one place: an adviser sees their own customers,
a manager those of every adviser in their team (all customers when the manager has no
team), an operator none (operators manage scripts and knowledge). The command line is run
by an administrator (``ADMIN``): every permission, every customer, named in the audit log
by ``--actor`` or the operating-system user (``cli_principal``).
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeGuard

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from bot.errors import InputError, NotFoundError, PermissionDenied
from bot.labels import ROLE_LABELS
from bot.store import audit as audit_repo
from bot.store import inbox as inbox_repo
from bot.store import users as users_repo
from bot.vocab import ROLES as ROLES
from bot.vocab import Role as Role

#: Who curates the script library, the taxonomy and the knowledge base.
CURATORS: Final[tuple[Role, ...]] = ("operator", "manager")
#: Who sees customers (each within their scope).
CUSTOMER_VIEWERS: Final[tuple[Role, ...]] = ("adviser", "manager")
#: The role of the command line's operator (not a console user).
Admin = Literal["admin"]
ADMIN: Final[Admin] = "admin"
#: What the web answers (403) when a role may not do something.
NO_PERMISSION: Final = "没有权限访问此页面"
#: What a customer out of scope looks like: the same as one that does not exist.
NO_CUSTOMER: Final = "客户不存在"
MIN_PASSWORD_CHARS = 8
#: Longest password taken (argon2 takes any length; zxcvbn's cost grows with it).
MAX_PASSWORD_CHARS = 128
#: zxcvbn's score (0-4) a password needs: 3 is "safely unguessable" (about 10^8 guesses
#: and more); common passwords, keyboard walks, repeats, dates and the user's own name
#: score lower.
MIN_PASSWORD_SCORE = 3
WEAK_PASSWORD = (
    "密码太简单或太常见（如 password、12345678、用户名加数字），请换一个更长、更不规律的密码"
)
#: User names: letters (Chinese too), digits and ``_ . @ -``; no spaces or markup.
USERNAME = re.compile(r"[\w.@-]{1,64}")
BAD_USERNAME = "用户名只能由字母、汉字、数字和 _ . @ - 组成，长度 1–64"
#: Prefix of API tokens, so a leaked one is recognisable in logs and scanners.
TOKEN_PREFIX = "siyu_"
#: The actor's name when neither ``--actor`` nor the operating-system user is known.
FALLBACK_ACTOR = "cli"

_hasher = PasswordHasher()


def is_role(value: str) -> TypeGuard[Role]:
    return value in ROLES


def check_username(username: str) -> str:
    """``username`` when it is a valid user name, else ``InputError``."""
    if not USERNAME.fullmatch(username):
        raise InputError(BAD_USERNAME)
    return username


def check_password(password: str, *, user_inputs: Sequence[str] = ()) -> None:
    """``InputError`` for a password too short, too long, common or too simple (zxcvbn,
    which knows the common-password lists, words, names, keyboard walks, dates and
    repeats; ``user_inputs`` such as the user name count as known words)."""
    from zxcvbn import zxcvbn

    if len(password) < MIN_PASSWORD_CHARS:
        raise InputError(f"密码至少 {MIN_PASSWORD_CHARS} 个字符")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InputError(f"密码最多 {MAX_PASSWORD_CHARS} 个字符")
    inputs = [i for i in user_inputs if i]
    if int(zxcvbn(password, user_inputs=inputs)["score"]) < MIN_PASSWORD_SCORE:
        raise InputError(WEAK_PASSWORD)


def hash_password(password: str, *, user_inputs: Sequence[str] = ()) -> str:
    """The argon2 hash of an acceptable password (``check_password``)."""
    check_password(password, user_inputs=user_inputs)
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    """The hash of a random password nobody knows, made once, with the same parameters
    as every stored hash."""
    return _hasher.hash(secrets.token_urlsafe(24))


def verify_nothing(password: str) -> bool:
    """Spend the work of one ``verify_password`` and fail: logging in as an unknown or
    deactivated user costs as long as a wrong password, so timing does not tell which
    user names exist."""
    verify_password(_dummy_hash(), password)
    return False


def new_api_token() -> str:
    """A fresh token; only ``token_digest`` of it is stored."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Tokens are long and random, so a plain SHA-256 is the right (fast) digest."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is acting: a console user, or the command line's administrator."""

    username: str
    role: Role | Admin
    display_name: str = ""
    adviser_id: str | None = None
    team: str | None = None
    #: The console user's id; None for the command line's administrator.
    user_id: int | None = None

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN


def user_principal(user: users_repo.UserRecord) -> Principal:
    """The principal of a console user (an unknown stored role may do nothing)."""
    if not is_role(user.role):
        raise PermissionDenied(NO_PERMISSION)
    return Principal(
        username=user.username,
        role=user.role,
        display_name=user.display_name,
        adviser_id=user.adviser_id,
        team=user.team,
        user_id=user.id,
    )


def cli_principal(actor: str | None = None) -> Principal:
    """The command line's administrator, named by ``actor`` (``--actor``) or else by the
    operating-system user, so the audit log says who ran the command."""
    name = (actor or "").strip()
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):  # no login name and no passwd entry (some containers)
            name = FALLBACK_ACTOR
    return Principal(username=name[:64], role=ADMIN, display_name=name[:64])


def require(principal: Principal, *roles: Role) -> None:
    """Raise ``PermissionDenied`` unless the principal has one of ``roles`` (the
    administrator has them all)."""
    if principal.role != ADMIN and principal.role not in roles:
        raise PermissionDenied(NO_PERMISSION)


@dataclass(frozen=True, slots=True)
class CustomerScope:
    """Which customers a principal may see: ``adviser_ids`` None means all of them."""

    adviser_ids: tuple[str, ...] | None

    def allows(self, adviser_id: str | None) -> bool:
        if self.adviser_ids is None:
            return True
        return adviser_id is not None and adviser_id in self.adviser_ids

    def narrow(self, adviser_id: str | None) -> tuple[str, ...] | None:
        """The advisers to query when the user asks for ``adviser_id`` only (None: all
        of the scope)."""
        if adviser_id is None:
            return self.adviser_ids
        return (adviser_id,) if self.allows(adviser_id) else ()


ALL_CUSTOMERS = CustomerScope(adviser_ids=None)
NO_CUSTOMERS = CustomerScope(adviser_ids=())


def customer_scope(principal: Principal, team_advisers: tuple[str, ...] | None) -> CustomerScope:
    """The scope of ``principal``; ``team_advisers`` are the advisers of the manager's
    team (None when the manager has no team, i.e. sees the whole organisation)."""
    if principal.role == ADMIN:
        return ALL_CUSTOMERS
    if principal.role == "adviser":
        return CustomerScope(adviser_ids=(principal.adviser_id,) if principal.adviser_id else ())
    if principal.role == "manager":
        return CustomerScope(adviser_ids=team_advisers)
    return NO_CUSTOMERS


def scope_of(session: Session, principal: Principal) -> CustomerScope:
    team = (
        users_repo.team_adviser_ids(session=session, team=principal.team)
        if principal.role == "manager" and principal.team
        else None
    )
    return customer_scope(principal, team)


def check_customer(session: Session, principal: Principal, customer_id: int) -> None:
    """``NotFoundError`` unless the customer exists and is in the principal's scope (a
    customer out of scope is indistinguishable from one that does not exist). A console
    user's refusal is audited (``customer.denied``, whether the customer exists), and the
    entry is kept although the error rolls the request back."""
    exists, adviser_id = inbox_repo.customer_adviser(session=session, customer_id=customer_id)
    if not exists or not scope_of(session, principal).allows(adviser_id):
        denied(session, principal, "customer", customer_id, exists=exists)
        raise NotFoundError(NO_CUSTOMER, ref=customer_id)


def denied(
    session: Session, principal: Principal, target_type: str, target_id: str | int, **detail: Any
) -> None:
    """Audit a read refused as "not found" (``<target_type>.denied``); the command line's
    administrator is never refused, so a typo of theirs is not logged."""
    if principal.is_admin:
        return
    audit_repo.record_durable(
        session=session,
        actor=principal.username,
        action=f"{target_type}.denied",
        target_type=target_type,
        target_id=target_id,
        detail=detail,
    )
