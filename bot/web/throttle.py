"""Login throttling: failed logins are counted per account and per client address over a
sliding window; past a limit, further attempts are refused (429 with ``Retry-After``)
before any password is checked, until the oldest failure leaves the window.

An attempt from a browser the account has logged in from before (its device cookie,
bot/web/auth.py) is counted against that browser instead of the account, with the
account's limit: a stranger's failures lock the account out everywhere but in its
owner's own browsers (OWASP's "device cookies"), and failures in an owner's browser lock
only that browser. The address limit applies to every attempt.

The counts live in the process (one ``siyu serve``); a restart forgets them, which only
ever lets a locked-out user in sooner."""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

#: Keys (accounts, addresses) tracked at most; the oldest are forgotten beyond it, so a
#: flood of made-up user names cannot grow the memory without bound.
MAX_KEYS = 50_000


#: Which limit a key kind is held to: a known device, the account's.
_LIMIT_OF = {"account": "account", "device": "account", "address": "address"}


def _keys(account: str, address: str, device: str | None) -> list[tuple[str, str]]:
    """The keys an attempt counts against: its known device or else its account, then
    its address."""
    first = ("device", device) if device else ("account", account.strip().lower())
    return [first, ("address", address)]


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether an attempt may go ahead; when not, seconds until it may."""

    allowed: bool
    retry_after_s: int = 0
    #: This refusal is the first since the key was locked (worth an audit entry).
    newly_locked: bool = False


class _Window:
    """Failure times of one key, within the window."""

    __slots__ = ("failures", "locked")

    def __init__(self) -> None:
        self.failures: deque[float] = deque()
        self.locked = False


class LoginThrottle:
    def __init__(
        self,
        *,
        account_failures: int,
        address_failures: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"account": account_failures, "address": address_failures}
        self._window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[tuple[str, str], _Window] = {}

    def check(self, *, account: str, address: str, device: str | None = None) -> Verdict:
        """May this attempt go ahead? ``device``: the id of the account's device cookie
        the attempt came with, if any. (Nothing is counted until ``failed``.)"""
        now = self._clock()
        with self._lock:
            waits = []
            newly = False
            for kind, key in _keys(account, address, device):
                window = self._keys.get((kind, key))
                if window is None:
                    continue
                self._expire(window, now)
                if len(window.failures) >= self._limits[_LIMIT_OF[kind]]:
                    waits.append(window.failures[0] + self._window_s - now)
                    newly = newly or not window.locked
                    window.locked = True
                else:
                    window.locked = False
            if not waits:
                return Verdict(allowed=True)
            return Verdict(
                allowed=False, retry_after_s=max(1, math.ceil(max(waits))), newly_locked=newly
            )

    def failed(self, *, account: str, address: str, device: str | None = None) -> None:
        """Count a failed attempt against the account (or its known ``device``) and the
        address."""
        now = self._clock()
        with self._lock:
            for kind, key in _keys(account, address, device):
                window = self._keys.pop((kind, key), None) or _Window()
                self._expire(window, now)
                window.failures.append(now)
                self._keys[(kind, key)] = window  # re-inserted: the newest key is last
            while len(self._keys) > MAX_KEYS:
                del self._keys[next(iter(self._keys))]

    def succeeded(self, *, account: str, device: str | None = None) -> None:
        """A correct password clears the failures of the account or of its known
        ``device`` it came from (not the address's)."""
        with self._lock:
            for kind, key in _keys(account, "", device)[:1]:
                self._keys.pop((kind, key), None)

    def _expire(self, window: _Window, now: float) -> None:
        while window.failures and window.failures[0] <= now - self._window_s:
            window.failures.popleft()


class DeviceCookies:
    """The device cookie: after a successful login, the browser gets a signed cookie
    naming the account and a random device id, sent back to ``/login`` only. An attempt
    that brings one for the account it tries is counted against that device
    (``LoginThrottle``). It grants nothing else: the password is checked as always."""

    def __init__(self, secret: str, *, name: str, days: int, secure: bool) -> None:
        self.name = name
        self._max_age = days * 86400
        self._secure = secure
        self._serializer = URLSafeTimedSerializer(secret, salt="siyu.login-device")

    def device_of(self, cookie: str | None, account: str) -> str | None:
        """The device id of a valid, unexpired cookie issued for ``account``; None for
        anything else (absent, forged, expired, another account's, or turned off)."""
        if not cookie or not self._max_age:
            return None
        try:
            found = self._serializer.loads(cookie, max_age=self._max_age)
        except BadSignature:  # includes an expired signature
            return None
        if not isinstance(found, dict) or found.get("u") != account.strip().lower():
            return None
        device = found.get("d")
        return device if isinstance(device, str) and device else None

    def issue(self, response: Response, account: str, device: str | None) -> None:
        """Remember this browser for ``account`` (again, with its device id when it had
        one) for the configured days."""
        if not self._max_age:
            return
        value = self._serializer.dumps(
            {"u": account.strip().lower(), "d": device or secrets.token_urlsafe(16)}
        )
        response.set_cookie(
            self.name,
            value,
            max_age=self._max_age,
            path="/login",
            httponly=True,
            samesite="lax",
            secure=self._secure,
        )
