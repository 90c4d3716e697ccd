"""The check of issue 15: an English sentence or a raw code in text a Chinese user reads.

``english_leaks(text)`` returns the English words and raw codes it finds in any rendered
text — a CLI command's output, its ``--help``, a domain error message, a console page
(pass the page's visible text: ``visible_text(html)``). The technical words a Chinese
user reads as they are (file formats, product names, ``--json``-style options, ids, file
names, template variables, the codes of the interchange formats) are allowed; anything
else that is an ASCII word is a leak.

A word is a run of Latin letters. A run glued to digits, underscores, dots, slashes or
``@`` (``INS-PRC-1``, ``wx_wangmama``, ``scripts.csv``, ``a@b.cn``) is an identifier the
user typed or a file name, not a word — except the vocabularies' codes (``churn_risk``,
``api_contact``…) and raw identity strings (``10:adviser_li:wx_wangmama``), which are
leaks wherever they appear.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Iterable
from typing import get_args

from bot import vocab

#: Words a Chinese user reads as they are: formats, protocols, product and vendor names,
#: units and the abbreviations the trade uses. Compared case-insensitively.
TECHNICAL_WORDS: frozenset[str] = frozenset(
    w.lower()
    for w in [
        "ID",
        "IDs",
        "CSV",
        "XLSX",
        "XLS",
        "YAML",
        "YML",
        "API",
        "URL",
        "URLs",
        "LLM",
        "JSON",
        "JSONL",
        "PNG",
        "SVG",
        "HTTP",
        "HTTPS",
        "TOML",
        "UTF",
        "ISO",
        "PDF",
        "MD",
        "TXT",
        "HTML",
        "CSS",
        "SSE",
        "SQL",
        "PRAGMA",
        "GB",
        "MB",
        "KB",
        "ms",
        "OK",
        "ROI",
        "KPI",
        "SOP",
        "AI",
        "QR",
        "PII",
        "token",
        "tokens",
        "Siyu",
        "Copilot",
        "siyu",
        "WeChat",
        "WeCom",
        "Wechaty",
        "puppet",
        "PostgreSQL",
        "SQLite",
        "Chroma",
        "chromadb",
        "OpenAI",
        "Excel",
        "Markdown",
        "Python",
        "pip",
        "matplotlib",
        "nginx",
        "systemd",
        "uvicorn",
        "Node",
        "npm",
        "openssl",
        "hex",
        "Ctrl",
        "Enter",
        "Tab",
        "Esc",
        "BM",
        "AM",
        "PM",
        "vs",
        "VIP",
        "README",
        "OpenAPI",
        "Wilson",
        "unionid",
        "external_userid",
        "service",
    ]
)

#: The codes of the closed vocabularies (bot/vocab.py) that contain an underscore: an
#: identifier-looking word that is really a raw code, so a leak wherever it shows.
RAW_CODES: frozenset[str] = frozenset(
    value
    for name in dir(vocab)
    if not name.startswith("_")
    for value in get_args(getattr(vocab, name))
    if isinstance(value, str) and "_" in value
) | frozenset({"api_contact", "last_message", "channel_param", "stage_changed"})

_STRIP = [
    re.compile(r"https?://\S+"),  # URLs
    re.compile(r"(?<![\w-])--?[A-Za-z][\w-]*"),  # options: --json, -n
    re.compile(r"\{[A-Za-z_][\w.]*\}"),  # template variables: {baby_name}
    re.compile(r"\[[a-z_.]+\](?:\s+[a-z_]+)?"),  # a settings section: [store] url
    re.compile(r"\$?\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b"),  # environment variables
    re.compile(r"`[^`\n]*`"),  # a command quoted as code: `siyu bot`
]
_IDENTITY = re.compile(r"\b\d+:[\w.-]+:[\w.@-]+")
_RUN = re.compile(r"[A-Za-z0-9_.@/#:'’+-]+")
_WORD = re.compile(r"[A-Za-z]+(?:['’-][A-Za-z]+)*")
_IDENTIFIER = re.compile(
    r"[0-9_@#]|[A-Za-z]\.[A-Za-z0-9]|[A-Za-z]:[A-Za-z0-9]|^[A-Z]{2,}(?:-[A-Z]+)+$"
)


def english_leaks(text: str, allow: Iterable[str] = ()) -> list[str]:
    """The English words and raw codes in ``text``, in order (each once); ``allow``
    adds words (case-insensitive) to the technical words, e.g. a CLI's command names."""
    allowed = TECHNICAL_WORDS | {a.lower() for a in allow}
    leaks: list[str] = []

    def leak(word: str) -> None:
        if word not in leaks:
            leaks.append(word)

    for identity in _IDENTITY.findall(text):
        leak(identity)
    text = _IDENTITY.sub(" ", text)
    for code in RAW_CODES - allowed:
        if re.search(rf"(?<![\w]){re.escape(code)}(?![\w])", text):
            leak(code)
    for pattern in _STRIP:
        text = pattern.sub(" ", text)
    for run in _RUN.findall(text):
        if run.startswith("/") or "/" in run.strip("/"):
            continue  # a path: /docs, bot/demo_data
        run = run.strip(".:'’+-#")
        if not run or _IDENTIFIER.search(run):
            continue  # an id, a file name, a number with a unit
        for word in _WORD.findall(run):
            if len(word) < 2 or word.lower() in allowed:
                continue
            parts = re.split(r"['’-]", word)
            if all(len(part) < 2 or part.lower() in allowed for part in parts):
                continue
            leak(word)
    return leaks


_INVISIBLE = re.compile(r"<(script|style|template)\b.*?</\1\s*>", re.S | re.I)
#: A command shown as code (``<code>siyu users token 用户名</code>``): technical, like
#: the command names the CLI check allows.
_CODE = re.compile(r"<code\b[^>]*>.*?</code\s*>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")
_ATTRS = re.compile(r"""\b(?:title|placeholder|aria-label|alt)\s*=\s*("[^"]*"|'[^']*')""", re.I)


def visible_text(page: str) -> str:
    """What a person reads on an HTML page: its text and the titles, placeholders and
    labels of its elements (scripts, styles, markup and commands shown as code removed)."""
    page = _CODE.sub(" ", _INVISIBLE.sub(" ", page))
    shown = [m.group(1)[1:-1] for m in _ATTRS.finditer(page)]
    return html_lib.unescape(" ".join([_TAG.sub(" ", page), *shown]))
