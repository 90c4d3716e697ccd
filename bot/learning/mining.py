"""Learning from edits: propose new script drafts from what advisers actually send.

Two sources, both from recorded outcomes (bot.learning.effectiveness.load):

- **frequent edits**: the final texts of outcomes *edited* from one script, grouped by
  similarity; a group of at least ``min_count`` becomes a draft next to that script
  (same category, stage, industry and variant group: once approved it can compete with
  the original as an A/B variant);
- **frequent unmatched messages**: adviser messages that matched no suggestion
  (*ignored* outcomes), grouped the same way; a group of at least ``min_count`` becomes a
  draft in category ``follow_up`` for the customers' most common industry.

Drafts are stored with status ``draft`` and never approved here: an operator reviews them
(``siyu scripts status ID approved`` or the console). Existing ids are never overwritten.

A draft is a team's habit, never one person's conversation: its group must hold messages
to at least ``MIN_CUSTOMERS`` customers, and the texts come through the caller's
``redact`` (bot/services/scripts.py: personal data masked, the customer's name made
``{customer_name}``), so no mined script — shown to operators, indexed for retrieval,
kept after a customer is forgotten — quotes a customer.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein

from bot.learning.effectiveness import EffectivenessData, Redact, load
from bot.store import Database
from bot.store import scripts as scripts_repo
from scripts_lib.model import ANY_INDUSTRY, MAX_BODY_CHARS, ScriptRecord

MIN_TEXT_CHARS = 6
#: A mined draft's title: the first characters of its text as read.
TITLE_CHARS = 18
#: A group of similar messages becomes a draft only when sent to this many customers.
MIN_CUSTOMERS = 2
_SPACE = re.compile(r"\s+")
_VARIABLE = re.compile(r"\{[a-z_]+\}")
_LEADING = " ，,。.、！!~～：:"


@dataclass(frozen=True, slots=True)
class Proposal:
    record: ScriptRecord
    source: str  # "edit" / "unmatched"
    count: int  # how many adviser messages the group holds
    based_on: str | None  # the edited script's id


def _norm(text: str) -> str:
    return _SPACE.sub("", text)


def cluster(texts: Sequence[str], *, similarity: float) -> list[list[str]]:
    """Greedy grouping: each text joins the first group whose representative (its most
    frequent text) is at least ``similarity`` similar; biggest groups first."""
    counts = Counter(t.strip() for t in texts if len(_norm(t)) >= MIN_TEXT_CHARS)
    groups: list[list[str]] = []
    reps: list[str] = []
    for text, n in counts.most_common():
        key = _norm(text)
        for i, rep in enumerate(reps):
            if Levenshtein.normalized_similarity(key, rep) >= similarity:
                groups[i].extend([text] * n)
                break
        else:
            reps.append(key)
            groups.append([text] * n)
    return sorted(groups, key=len, reverse=True)


def _title(body: str) -> str:
    """The start of ``body`` as read, for a list of drafts: without its variables
    (「{customer_name}」 began every one alike) and the punctuation they leave in front."""
    text = _VARIABLE.sub("", body).replace("{{", "{").replace("}}", "}")
    text = _SPACE.sub(" ", text).lstrip(_LEADING).strip() or body.strip()
    return text if len(text) <= TITLE_CHARS else text[:TITLE_CHARS].rstrip() + "…"


def _short_hash(text: str) -> str:
    return hashlib.sha1(_norm(text).encode("utf-8")).hexdigest()[:6].upper()


def propose(
    data: EffectivenessData,
    scripts: dict[str, ScriptRecord],
    *,
    min_count: int = 3,
    similarity: float = 0.8,
) -> list[Proposal]:
    shown = {s.suggestion_id: s for s in data.shown}
    edits: dict[str, list[str]] = {}
    unmatched: list[str] = []
    industries: Counter[str] = Counter()
    #: Which customers each text was sent to (None: unknown).
    sent_to: dict[str, set[int | None]] = {}
    for o in data.outcomes:
        if not o.final_text:
            continue
        row = shown.get(o.suggestion_id)
        sent_to.setdefault(o.final_text.strip(), set()).add(row.customer_id if row else None)
        if o.kind == "edited" and o.script_id:
            edits.setdefault(o.script_id, []).append(o.final_text)
        elif o.kind == "ignored":
            unmatched.append(o.final_text)
            industries[(row.industry if row else None) or ANY_INDUSTRY] += 1

    def shared(group: list[str]) -> bool:
        customers = set().union(*(sent_to.get(t, set()) for t in set(group))) - {None}
        return len(customers) >= MIN_CUSTOMERS

    out: list[Proposal] = []
    for script_id, texts in sorted(edits.items()):
        base = scripts.get(script_id)
        if base is None:
            continue
        for group in cluster(texts, similarity=similarity):
            if len(group) < min_count:
                break
            body = Counter(group).most_common(1)[0][0][:MAX_BODY_CHARS]
            if _norm(body) == _norm(base.body) or not shared(group):
                continue
            out.append(
                Proposal(
                    record=ScriptRecord(
                        id=f"{script_id}-E{_short_hash(body)}"[:64],
                        title=f"{base.title}（顾问改写）"[:200],
                        category=base.category,
                        stage=base.stage,
                        industry=base.industry,
                        body=body,
                        tags=base.tags,
                        status="draft",
                        variant_group=base.variant_group,
                    ),
                    source="edit",
                    count=len(group),
                    based_on=script_id,
                )
            )
    industry = industries.most_common(1)[0][0] if industries else ANY_INDUSTRY
    for group in cluster(unmatched, similarity=similarity):
        if len(group) < min_count:
            break
        if not shared(group):
            continue
        body = Counter(group).most_common(1)[0][0][:MAX_BODY_CHARS]
        out.append(
            Proposal(
                record=ScriptRecord(
                    id=f"MINED-{_short_hash(body)}",
                    title=_title(body),
                    category="follow_up",
                    stage="engage",
                    industry=industry,
                    body=body,
                    tags=("顾问常用",),
                    status="draft",
                ),
                source="unmatched",
                count=len(group),
                based_on=None,
            )
        )
    return out


def mine_edits(
    *,
    db: Database,
    min_count: int = 3,
    similarity: float = 0.8,
    save: bool = True,
    redact: Redact | None = None,
) -> list[Proposal]:
    """Propose drafts from the advisers' texts (each through ``redact``); with ``save``,
    store the new ones (status draft). Proposals whose id already exists are dropped (a
    re-run proposes nothing twice)."""
    data = load(db=db, redact=redact)
    with db.session() as session:
        scripts = {s.id: s for s in scripts_repo.list_scripts(session=session)}
        proposals = [
            p
            for p in propose(data, scripts, min_count=min_count, similarity=similarity)
            if p.record.id not in scripts
        ]
        if save and proposals:
            scripts_repo.upsert_scripts(session=session, records=[p.record for p in proposals])
    return proposals
