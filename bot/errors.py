"""One exception root for the application, one subclass per boundary.

Vendor errors are wrapped with ``raise X(...) from exc`` at the adapter that sees them.
The CLI turns an expected error into a one-line message and a non-zero exit code; the
web turns it into an HTTP error in one place (the exception handlers of
``bot/web/app.py``: ``NotFoundError`` 404, ``PermissionDenied`` 403, ``Conflict`` 409,
``RejectedInput`` 422, ``InputError`` 400). Nothing below those two layers knows about
either.

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


class RejectedInput(InputError):
    """Well-formed input that the records refuse: a script that was not part of that
    suggestion, an event that does not fit its customer."""


class NotFoundError(SiyuError):
    """A referenced record (customer, script, tag, …) does not exist, or is outside what
    the acting user may see (the two are indistinguishable on purpose).

    ``ref`` is what the user asked for (an id): the CLI shows it after the message; the
    web answers with the message alone, as the caller knows what it asked for.
    """

    def __init__(self, message: str, *, ref: object = None) -> None:
        super().__init__(message)
        self.ref = ref


class PermissionDenied(SiyuError):
    """The acting user's role does not allow this action."""


class Conflict(SiyuError):
    """The action contradicts the state of the records (e.g. a contact that belongs to
    another adviser)."""


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
        raise InputError(f"{what} 只能是 {', '.join(values)} 之一，不是 {value!r}")
    return found
