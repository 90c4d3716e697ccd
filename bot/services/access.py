"""Accounts and access: password hashing (argon2), API tokens, roles and who may see what.

Used by ``siyu users`` and by the web console; knows nothing about HTTP. The rule for
customer data lives here, in one place: an adviser sees their own customers, a manager
those of every adviser in their team (all customers when the manager has no team), an
operator none (operators manage scripts and knowledge).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from bot.errors import InputError

ROLES = ("adviser", "operator", "manager")
ROLE_LABELS = {"adviser": "顾问", "operator": "运营", "manager": "主管"}
MIN_PASSWORD_CHARS = 8
#: Prefix of API tokens, so a leaked one is recognisable in logs and scanners.
TOKEN_PREFIX = "siyu_"

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InputError(f"password must have at least {MIN_PASSWORD_CHARS} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_api_token() -> str:
    """A fresh token; only ``token_digest`` of it is stored."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """Tokens are long and random, so a plain SHA-256 is the right (fast) digest."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking, as the access rules need it."""

    user_id: int
    username: str
    display_name: str
    role: str
    adviser_id: str | None
    team: str | None

    @property
    def sees_customers(self) -> bool:
        return self.role in ("adviser", "manager")

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)


@dataclass(frozen=True, slots=True)
class CustomerScope:
    """Which customers a principal may see: ``adviser_ids`` None means all of them."""

    adviser_ids: tuple[str, ...] | None

    def allows(self, adviser_id: str | None) -> bool:
        if self.adviser_ids is None:
            return True
        return adviser_id is not None and adviser_id in self.adviser_ids


NO_CUSTOMERS = CustomerScope(adviser_ids=())


def customer_scope(principal: Principal, team_advisers: tuple[str, ...] | None) -> CustomerScope:
    """The scope of ``principal``; ``team_advisers`` are the advisers of the manager's
    team (None when the manager has no team, i.e. sees the whole organisation)."""
    if principal.role == "adviser":
        return CustomerScope(adviser_ids=(principal.adviser_id,) if principal.adviser_id else ())
    if principal.role == "manager":
        return CustomerScope(adviser_ids=team_advisers)
    return NO_CUSTOMERS
