"""Which script of the library an adviser's sent message is, if any.

Advisers send scripts with the variables filled in (any values: a name, a product, a
date, or nothing at all) and often edited a little (an opening added, a clause dropped, a
closing of their own). A message is compared with each script's *template*: the literal
parts of the body in order, the variables wildcards (``parse_template``).

- **template**: the message is the body with its variables filled (after ``canonical``,
  which ignores spaces, punctuation, emoji, width, case and Traditional characters);
- **edited**: otherwise the similarity below is at least ``min_similarity``::

      lcs   = longest common subsequence of the literal text and the message
      extra = message characters outside it, beyond ``VARIABLE_ALLOWANCE`` per variable
      similarity = lcs / (len(literal) + extra)

  1.0 is a filled template; a dropped clause lowers it by its share of the literal text,
  words added beyond the variables' allowance by theirs.

The best script wins, unless the message does not tell it from the next best: both score
within ``AMBIGUOUS_MARGIN``, or the next one is nearly as similar and shares as much of
the message (within ``DISTINCT_CHARS``) — a message that is only the long prefix two
scripts share matches neither. A message sharing fewer than ``MIN_LITERAL_CHARS``
characters with a script never matches it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from knowledge.text import normalize
from scripts_lib.variables import parse_template

__all__ = [
    "AMBIGUOUS_MARGIN",
    "MIN_LITERAL_CHARS",
    "VARIABLE_ALLOWANCE",
    "MatchKind",
    "ScriptMatch",
    "TemplateMatcher",
    "canonical",
]

MatchKind = Literal["template", "edited"]
#: Characters a filled variable may add without counting as an edit (a name, a product).
VARIABLE_ALLOWANCE = 12
#: A variable's value is at most this long in a template match.
MAX_VALUE_CHARS = 40
#: Scripts whose literal text is shorter than this are never matched (「好的{customer_name}」).
MIN_LITERAL_CHARS = 8
#: The best script must beat the next one by this much, or nothing matches ...
AMBIGUOUS_MARGIN = 0.02
#: ... and, when the next one is a plausible match too, share at least this many more
#: characters with the message (what tells it apart, not only what both have).
DISTINCT_CHARS = 3
#: "Plausible": at most this far below ``min_similarity``.
PLAUSIBLE_BELOW = 0.1
#: Unicode categories ``canonical`` drops: separators, punctuation, symbols (emoji), controls.
_DROPPED = ("Z", "P", "S", "C")


@dataclass(frozen=True, slots=True)
class ScriptMatch:
    script_id: str
    kind: MatchKind
    #: 1.0 for a filled template; the similarity of the module doc for an edited one.
    similarity: float


@dataclass(frozen=True, slots=True)
class _Template:
    script_id: str
    literal: str
    variables: int
    pattern: re.Pattern[str]


def canonical(text: str) -> str:
    """``text`` as compared here: ``knowledge.text.normalize`` (width, case, Traditional
    characters), then without spaces, punctuation, symbols and emoji."""
    return "".join(
        ch for ch in normalize(text) if not unicodedata.category(ch).startswith(_DROPPED)
    )


def _template(script_id: str, body: str) -> _Template:
    literal: list[str] = []
    regex: list[str] = []
    variables = 0
    for part in parse_template(body):
        if part.kind == "variable":
            variables += 1
            if not regex or not regex[-1].startswith("(?:"):  # adjacent variables: one wildcard
                regex.append(f"(?:.{{0,{MAX_VALUE_CHARS}}}?)")
            continue
        text = canonical(part.value)
        if text:
            literal.append(text)
            regex.append(re.escape(text))
    return _Template(
        script_id=script_id,
        literal="".join(literal),
        variables=variables,
        pattern=re.compile("".join(regex), re.DOTALL),
    )


class TemplateMatcher:
    """Matches sent messages against a fixed set of scripts (build a new one when the
    library changes: building 1,000 scripts takes a few milliseconds)."""

    def __init__(self, scripts: Iterable[tuple[str, str]], *, min_similarity: float) -> None:
        """``scripts``: ``(id, body)`` pairs; ``min_similarity``: the least similarity of
        an edited match (0-1)."""
        self.min_similarity = min_similarity
        self._templates = [
            t for t in (_template(i, b) for i, b in scripts) if len(t.literal) >= MIN_LITERAL_CHARS
        ]
        self._literals = [t.literal for t in self._templates]
        self._lengths = np.array([len(t.literal) for t in self._templates], dtype=np.float64)
        self._allowance = np.array(
            [t.variables * VARIABLE_ALLOWANCE for t in self._templates], dtype=np.float64
        )

    def __len__(self) -> int:
        return len(self._templates)

    def match(self, text: str) -> ScriptMatch | None:
        """The script ``text`` is, or None (no script is similar enough, or two are)."""
        message = canonical(text)
        if len(message) < MIN_LITERAL_CHARS or not self._templates:
            return None
        size = float(len(message))
        # Scripts too long to reach a plausible similarity (lcs <= size, similarity <=
        # size / length) are not compared at all.
        lowest = max(0.0, self.min_similarity - PLAUSIBLE_BELOW)
        feasible = np.flatnonzero(self._lengths * lowest <= size)
        if feasible.size == 0:
            return None
        lcs = process.cdist(
            [message],
            [self._literals[i] for i in feasible],
            scorer=LCSseq.similarity,
            dtype=np.int32,
            workers=1,
        )[0].astype(np.float64)
        extra = np.maximum(0.0, size - lcs - self._allowance[feasible])
        similarity = lcs / (self._lengths[feasible] + extra)
        similarity[lcs < MIN_LITERAL_CHARS] = 0.0
        order = np.argsort(-similarity, kind="stable")
        above = [int(i) for i in order if similarity[i] >= self.min_similarity]
        for i in above:  # a filled template wins, even with long values
            template = self._templates[int(feasible[i])]
            if template.pattern.fullmatch(message) is not None:
                return ScriptMatch(template.script_id, "template", 1.0)
        if not above:
            return None
        best = above[0]
        if order.size > 1:
            runner_up = int(order[1])
            if similarity[best] - similarity[runner_up] < AMBIGUOUS_MARGIN:
                return None
            plausible = similarity[runner_up] >= self.min_similarity - PLAUSIBLE_BELOW
            if plausible and lcs[best] - lcs[runner_up] < DISTINCT_CHARS:
                return None
        template = self._templates[int(feasible[best])]
        return ScriptMatch(template.script_id, "edited", round(float(similarity[best]), 4))
