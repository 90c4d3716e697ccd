"""One exception root for the product, one subclass per boundary.

Vendor errors are wrapped with ``raise X(...) from exc`` at the adapter that sees them.
The CLI turns a ``SiyuError`` into a one-line message and a non-zero exit code; the web
layer turns it into an HTTP error. Nothing below those two layers knows about either.
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


class NotFoundError(SiyuError):
    """A referenced record (customer, script, tag, …) does not exist."""


class RetrievalError(SiyuError):
    """The vector or lexical index failed (wraps chromadb / bm25s errors)."""


class LLMError(SiyuError):
    """The LLM endpoint failed, timed out or answered something unusable."""


class ChannelError(SiyuError):
    """A messaging channel failed (wraps wechaty errors)."""
