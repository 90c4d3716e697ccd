"""One exception root for the product, one subclass per boundary.

Vendor errors are wrapped with ``raise X(...) from exc`` at the adapter that sees them.
The CLI turns a ``SiyuError`` into a one-line message and a non-zero exit code; the web
turns it into an HTTP error in one place (the exception handlers of ``bot/web/app.py``:
``NotFoundError`` 404, ``PermissionDenied`` 403, ``Conflict`` 409, ``RejectedInput`` 422,
``InputError`` 400). Nothing below those two layers knows about either.
"""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (parser messages often span several), or its
    type's name when it has none."""
    return " ".join(str(exc).split()) or type(exc).__name__


class SiyuError(Exception):
    """Root of every error the product raises on purpose."""


class ConfigError(SiyuError):
    """The settings file or environment is invalid."""


class InputError(SiyuError):
    """A file or value given by the user cannot be used; the message says why.

    ``problems`` lists every problem found (an import reports all of them at once).
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])

    def __str__(self) -> str:
        head = super().__str__()
        if not self.problems:
            return head
        return head + "\n" + "\n".join(f"  - {p}" for p in self.problems)


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


class RetrievalError(SiyuError):
    """The vector or lexical index failed (wraps chromadb / bm25s errors)."""


class LLMError(SiyuError):
    """The LLM endpoint failed, timed out or answered something unusable."""


class ChannelError(SiyuError):
    """A messaging channel failed (wraps wechaty errors)."""
