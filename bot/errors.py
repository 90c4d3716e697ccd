"""One exception root for the application, one subclass per boundary.

Vendor errors are wrapped with ``raise X(...) from exc`` at the adapter that sees them.
The CLI turns an expected error into a one-line message and a non-zero exit code; the
web layer turns it into an HTTP error. Nothing below those two layers knows about either.

The libraries below the application (``knowledge/``, ``scripts_lib/``) never import
``bot``: their errors live in ``knowledge.errors`` under their own root,
``KnowledgeError``. ``InputError``, ``RetrievalError`` and ``ConfigError`` are *those
same classes*, re-exported here, so that ``except InputError`` catches a bad file
whichever layer found it and the web maps one class to one status code. They are not
``SiyuError`` subclasses: to catch every error raised on purpose, catch
``EXPECTED_ERRORS`` (``SiyuError`` and ``KnowledgeError``), as the CLI's ``run()`` does.
"""

from __future__ import annotations

from bot.vocab import V, member
from knowledge.errors import ConfigError, InputError, KnowledgeError, RetrievalError

__all__ = [
    "EXPECTED_ERRORS",
    "ChannelError",
    "ConfigError",
    "InputError",
    "KnowledgeError",
    "LLMError",
    "NotFoundError",
    "RetrievalError",
    "SiyuError",
    "one_of",
]


class SiyuError(Exception):
    """Root of every error the application (``bot``) raises on purpose."""


class NotFoundError(SiyuError):
    """A referenced record (customer, script, tag, …) does not exist."""


class LLMError(SiyuError):
    """The LLM endpoint failed, timed out or answered something unusable."""


class ChannelError(SiyuError):
    """A messaging channel failed (wraps wechaty errors)."""


#: Every error raised on purpose, by the application or by its libraries: what a front
#: reports as a message (the CLI: one line and exit code 1) instead of a crash.
EXPECTED_ERRORS: tuple[type[Exception], ...] = (SiyuError, KnowledgeError)


def one_of(values: tuple[V, ...], value: str, what: str) -> V:
    """``value`` as one of ``values`` (a closed vocabulary of bot/vocab.py), or an
    ``InputError`` naming them."""
    found = member(values, value)
    if found is None:
        raise InputError(f"{what} must be one of {', '.join(values)}, not {value!r}")
    return found
