"""Learning from what happens next, independent of the channel.

- The adviser's own message to a customer is matched to the customer's latest suggestion:
  the same text as a suggested script or draft is *adopted*, a similar one *edited* (the
  edit distance and the final text are kept), anything else *ignored*.
- A later customer message records, on the outcome of the adviser's previous message,
  whether the customer replied within ``reply_window_hours``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rapidfuzz.distance import Levenshtein

from bot.settings import OutcomeSettings
from bot.store import Database
from bot.store import outcomes as outcomes_repo
from bot.store.outcomes import OutcomeRecord
from bot.vocab import OutcomeKind

log = logging.getLogger(__name__)

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One text the adviser was shown: a script (with its id) or the drafted reply."""

    text: str
    script_id: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    kind: OutcomeKind
    script_id: str | None
    edit_distance: int | None
    similarity: float


def normalise(text: str) -> str:
    return _SPACE.sub("", text).strip()


def classify(sent: str, candidates: list[Candidate], *, edited_min_similarity: float) -> Match:
    """Compare the adviser's message with every candidate and keep the closest one."""
    target = normalise(sent)
    best: Match | None = None
    for c in candidates:
        text = normalise(c.text)
        if not text:
            continue
        distance = Levenshtein.distance(target, text)
        similarity = Levenshtein.normalized_similarity(target, text)
        if best is None or similarity > best.similarity:
            best = Match(
                kind="adopted" if distance == 0 else "edited",
                script_id=c.script_id,
                edit_distance=distance,
                similarity=similarity,
            )
    if best is None or (best.kind == "edited" and best.similarity < edited_min_similarity):
        return Match(kind="ignored", script_id=None, edit_distance=None, similarity=0.0)
    return best


def candidates_of(stored: dict[str, Any], reply: str | None) -> list[Candidate]:
    """The texts shown for a stored suggestion (its ``candidates`` JSON)."""
    out = [
        Candidate(text=str(s.get("text", "")), script_id=s.get("id"))
        for s in stored.get("scripts", [])
    ]
    if reply:
        out.append(Candidate(text=reply))
    return out


def match_outbound(
    *,
    db: Database,
    settings: OutcomeSettings,
    customer_id: int,
    message_id: int,
    text: str,
    sent_at: datetime,
) -> OutcomeRecord | None:
    """Record the outcome of the customer's latest open suggestion from the adviser's
    message ``message_id``. None when there is no suggestion to match."""
    window = timedelta(hours=settings.match_window_hours)
    with db.session() as session:
        found = outcomes_repo.latest_open_suggestion(
            session=session, customer_id=customer_id, before=sent_at, since=sent_at - window
        )
        if found is None:
            return None
        suggestion, from_web = found
        if from_web is not None:
            # The adviser already said in the console which text they used.
            return outcomes_repo.link_message(
                session=session, outcome_id=from_web.id, message_id=message_id
            )
        match = classify(
            text,
            candidates_of(suggestion.candidates, suggestion.reply),
            edited_min_similarity=settings.edited_min_similarity,
        )
        return outcomes_repo.add_outcome(
            session=session,
            suggestion_id=suggestion.id,
            message_id=message_id,
            kind=match.kind,
            script_id=match.script_id,
            final_text=text,
            edit_distance=match.edit_distance,
        )


def record_reply(
    *, db: Database, settings: OutcomeSettings, customer_id: int, replied_at: datetime
) -> list[OutcomeRecord]:
    """The customer wrote at ``replied_at``: close the outcomes waiting for a reply."""
    window = timedelta(hours=settings.reply_window_hours)
    updated = []
    with db.session() as session:
        for outcome, sent_at in outcomes_repo.awaiting_reply(
            session=session, customer_id=customer_id, before=replied_at
        ):
            updated.append(
                outcomes_repo.set_reply(
                    session=session,
                    outcome_id=outcome.id,
                    replied=replied_at - sent_at <= window,
                    replied_at=replied_at,
                )
            )
    return updated
