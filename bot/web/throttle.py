"""Login throttling: failed logins are counted per account and per client address over a
sliding window; past a limit, further attempts are refused (429 with ``Retry-After``)
before any password is checked, until the oldest failure leaves the window.

The counts live in the process (one ``siyu serve``); a restart forgets them, which only
ever lets a locked-out user in sooner."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

#: Keys (accounts, addresses) tracked at most; the oldest are forgotten beyond it, so a
#: flood of made-up user names cannot grow the memory without bound.
MAX_KEYS = 50_000


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

    def check(self, *, account: str, address: str) -> Verdict:
        """May this attempt go ahead? (Nothing is counted until ``failed``.)"""
        now = self._clock()
        with self._lock:
            waits = []
            newly = False
            for kind, key in (("account", account.strip().lower()), ("address", address)):
                window = self._keys.get((kind, key))
                if window is None:
                    continue
                self._expire(window, now)
                if len(window.failures) >= self._limits[kind]:
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

    def failed(self, *, account: str, address: str) -> None:
        """Count a failed attempt against the account and the address."""
        now = self._clock()
        with self._lock:
            for kind, key in (("account", account.strip().lower()), ("address", address)):
                window = self._keys.pop((kind, key), None) or _Window()
                self._expire(window, now)
                window.failures.append(now)
                self._keys[(kind, key)] = window  # re-inserted: the newest key is last
            while len(self._keys) > MAX_KEYS:
                del self._keys[next(iter(self._keys))]

    def succeeded(self, *, account: str) -> None:
        """A correct password clears the account's failures (not the address's)."""
        with self._lock:
            self._keys.pop(("account", account.strip().lower()), None)

    def _expire(self, window: _Window, now: float) -> None:
        while window.failures and window.failures[0] <= now - self._window_s:
            window.failures.popleft()
