"""Files uploaded to the console, held under the data directory until they are used.

An upload is kept under a random token (never under a name the user chose), checked for
type and size at once and for rows before it is parsed. A rejected upload is deleted at
once; a validated upload waiting for its confirmation expires after
``[web] upload_expiry_hours`` (swept at every upload and confirmation). Messages about
an upload name only the file's own name, never a path on the server."""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from bot.errors import InputError
from bot.settings import Settings
from knowledge.files import count_table_rows

#: Under the data directory.
STAGING_DIR = "web-uploads"
_TOKEN = re.compile(r"[0-9a-f]{32}")
#: Uploads read as tables (rows counted before parsing); ``.txt`` is a document.
TABLE_SUFFIXES = (".csv", ".tsv", ".xlsx", ".xlsm")
_UNSAFE_NAME = re.compile(r"[^\w.\-\u4e00-\u9fff]+")


@dataclass(frozen=True, slots=True)
class Staged:
    """An upload held for later: its token, where it is, and the name the user gave."""

    token: str
    path: Path
    name: str


def safe_name(filename: str) -> str:
    """The file's own name, without folders or odd characters."""
    return _UNSAFE_NAME.sub("_", Path(filename).name).strip("._") or "upload"


def size_label(n: int) -> str:
    return f"{n / (1024 * 1024):g} MB" if n >= 1024 * 1024 else f"{n / 1024:g} KB"


def staging_dir(settings: Settings) -> Path:
    path = Path(settings.data_dir) / STAGING_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def stage(settings: Settings, *, filename: str, data: bytes, suffixes: tuple[str, ...]) -> Staged:
    """Keep an upload under a new token, after checking its type and size."""
    name = safe_name(filename)
    suffix = Path(name).suffix.lower()
    if suffix not in suffixes:
        raise InputError(f"{name}：只支持 {' / '.join(suffixes)} 文件")
    limit = settings.web.max_upload_bytes
    if len(data) > limit:
        raise InputError(f"{name}：文件超过 {size_label(limit)} 的上限")
    if not data:
        raise InputError(f"{name}：文件是空的")
    sweep(settings)
    token = secrets.token_hex(16)
    path = staging_dir(settings) / f"{token}{suffix}"
    path.write_bytes(data)
    return Staged(token=token, path=path, name=name)


def check_rows(staged: Staged, settings: Settings) -> None:
    """``InputError`` when a table has more rows than ``[web] max_upload_rows`` (counted
    before the table is parsed, and only up to the limit)."""
    if staged.path.suffix.lower() not in TABLE_SUFFIXES:
        return
    limit = settings.web.max_upload_rows
    if count_table_rows(staged.path, stop_after=limit) > limit:
        raise InputError(f"{staged.name}：超过 {limit} 行的上限，请拆分后分批上传")


def claim(settings: Settings, token: str, suffixes: tuple[str, ...]) -> Path | None:
    """Take a staged upload for use: it is renamed so that nobody else can take it too.
    None for an unknown, expired or already taken token."""
    if not _TOKEN.fullmatch(token):
        return None
    sweep(settings)
    for suffix in suffixes:
        path = staging_dir(settings) / f"{token}{suffix}"
        claimed = path.with_name(f"{token}-claimed{suffix}")
        try:
            os.replace(path, claimed)
        except FileNotFoundError:
            continue
        return claimed
    return None


def sweep(settings: Settings) -> int:
    """Delete uploads older than ``[web] upload_expiry_hours``; how many."""
    folder = Path(settings.data_dir) / STAGING_DIR
    if not folder.is_dir():
        return 0
    cutoff = time.time() - settings.web.upload_expiry_hours * 3600
    removed = 0
    for path in folder.iterdir():
        try:
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def discard(path: Path) -> None:
    path.unlink(missing_ok=True)


def without_paths(text: str, path: Path, name: str) -> str:
    """``text`` with every spelling of ``path`` (its folder, its token name) replaced by ``name``:
    what the user is told names only their file."""
    for spelled in sorted({str(path.resolve()), str(path)}, key=len, reverse=True):
        text = text.replace(spelled, name)
    for folder in sorted({str(path.resolve().parent), str(path.parent)}, key=len, reverse=True):
        text = text.replace(folder + os.sep, "").replace(folder, "")
    return text.replace(path.name, name)  # a reader that names the file by its own name
