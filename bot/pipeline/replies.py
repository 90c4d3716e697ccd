"""An adviser's sent message, matched against the whole approved library.

A message that is a script — its template with the variables filled in, or lightly edited
(scripts_lib/matching.py) — is recorded as a *use* of that script, shown as a suggestion or
not (advisers search the library themselves), in answer to the customer's messages since
the adviser's previous turn; those messages become examples of the script, personal data
and the customer's name masked. The outcome of the suggestion that was shown (adopted /
edited / ignored) is recorded separately (bot.pipeline.outcomes).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from bot.pipeline.library import ScriptLibrary
from bot.pipeline.privacy import mask_names, mask_pii
from bot.settings import LearningSettings
from bot.store import customers as customers_repo
from bot.store import examples as examples_repo
from bot.store import messages as messages_repo
from bot.store import uses as uses_repo
from bot.store.examples import ExampleRecord
from bot.store.uses import UseRecord


@dataclass(frozen=True, slots=True)
class Learned:
    use: UseRecord
    #: The examples added (a message already an example of the script is not repeated).
    examples: list[ExampleRecord]


def learn_from_reply(
    *,
    session: Session,
    library: ScriptLibrary,
    settings: LearningSettings,
    message_id: int,
    text: str,
    sent_at: datetime,
    customer_id: int,
    adviser_id: str | None,
    shown: Collection[str] = (),
) -> Learned | None:
    """Record the use of a script by the adviser's message ``message_id`` (in the
    caller's transaction); None when the message is no script, or was learned from
    before. ``shown``: the scripts suggested to the adviser for this customer lately."""
    match = library.matcher(settings.match_min_similarity).match(text)
    if match is None:
        return None
    use, created = uses_repo.add_use(
        session=session,
        script_id=match.script_id,
        message_id=message_id,
        customer_id=customer_id,
        adviser_id=adviser_id,
        kind=match.kind,
        similarity=match.similarity,
        shown=match.script_id in shown,
        used_at=sent_at,
    )
    if not created:
        return None
    answered = (
        messages_repo.answered_by(
            session=session,
            message_id=message_id,
            since=sent_at - timedelta(hours=settings.answer_window_hours),
            limit=settings.examples_per_use,
        )
        if settings.examples_per_use
        else []
    )
    # Operators read the examples on the script's page: the customer's name goes too
    # (「我是钱七，电话…」).
    name = customers_repo.get_customer(session=session, customer_id=customer_id).name
    examples = examples_repo.add_learned(
        session=session,
        script_id=match.script_id,
        use_id=use.id,
        customer_id=customer_id,
        messages=[(m.id, mask_names(mask_pii(m.text), [name])) for m in answered],
    )
    return Learned(use=use, examples=examples)
