"""What a customer's message says about them beyond tags: the campaign entry code they
came by (in the greeting of a friend request, or a new contact's first message), the
referrer they name (「张丽介绍的」), and profile field values they state (「预算一年五千
左右」). The code attributes the contact at once (the evidence is kept) when it is the code of
the contact's own adviser; another adviser's code is kept as a ``code_not_attributed``
event and the contact stays unattributed. A referrer and field values are suggested,
with their evidence, for the adviser to confirm."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.crm.campaigns import find_code_in
from bot.crm.fields import extract
from bot.crm.referrals import referrer_said
from bot.store import campaigns as campaigns_repo
from bot.store import fields as fields_repo
from bot.store import referrals as referrals_repo
from bot.store.fields import REFERRER_FIELD
from bot.store.records import CustomerRecord
from knowledge.text import clip

log = logging.getLogger(__name__)

#: Who attributed a contact from its greeting, in the ``attributed`` event.
SYSTEM_ACTOR = "system"
#: Longest quote of a message kept as evidence.
QUOTE_CHARS = 120


@dataclass(frozen=True, slots=True)
class Observed:
    #: The entry code the contact was attributed to by this message (None when the code
    #: written is another adviser's).
    code: str | None = None
    #: The referrer's name the message says (suggested).
    referrer: str | None = None
    #: Profile fields with a value suggested from this message.
    fields: tuple[str, ...] = ()


def observe(
    session: Session,
    *,
    customer: CustomerRecord,
    text: str,
    message_id: int,
    industry: str | None,
    first_message: bool,
    early: bool,
) -> Observed:
    """Attribute, suggest a referrer and field values from one customer message.
    ``first_message``: the contact's first message (a friend request's greeting is);
    ``early``: among the contact's first few messages (a referrer is looked for there)."""
    code = None
    if first_message and customer.entry_code_id is None:
        code = find_code_in(text, campaigns_repo.all_codes(session=session))
        if code is not None:
            found = campaigns_repo.find_code(session=session, code=code)
            evidence = f"「{quote(text)}」含渠道码 {code}"
            if found is None:
                code = None
            elif not campaigns_repo.own_code(found, customer.adviser_id):
                # Another adviser's code, written to this adviser's account: crediting
                # it would show the contact to that adviser. Kept for whoever fixes it.
                campaigns_repo.code_not_attributed(
                    session=session,
                    customer_id=customer.id,
                    code_id=found.id,
                    evidence=evidence,
                    message_id=message_id,
                )
                log.info(
                    "customer %s wrote entry code %s of adviser %s, not theirs (%s): "
                    "left unattributed",
                    customer.id,
                    found.code,
                    found.adviser_id,
                    customer.adviser_id,
                )
                code = None
            else:
                campaigns_repo.attribute(
                    session=session,
                    customer_id=customer.id,
                    code_id=found.id,
                    method="greeting",
                    evidence=evidence,
                    actor=SYSTEM_ACTOR,
                    message_id=message_id,
                )
    referrer = None
    if early and customer.referred_by_id is None:
        referrer = referrer_said(text)
        if referrer is not None:
            named = referrals_repo.customers_named(
                session=session, name=referrer, adviser_id=customer.adviser_id, exclude=customer.id
            )
            fields_repo.suggest(
                session=session,
                customer_id=customer.id,
                field=REFERRER_FIELD,
                value=str(named[0]) if len(named) == 1 else referrer[:200],
                evidence=f"「{quote(text)}」提到“{referrer}”",
                message_id=message_id,
            )
    current = {
        v.field: v.value for v in fields_repo.field_values(session=session, customer_id=customer.id)
    }
    suggested = []
    for stated in extract(text, fields_repo.list_fields(session=session, industry=industry)):
        if current.get(stated.field) == stated.value.value:
            continue
        if fields_repo.suggest(
            session=session,
            customer_id=customer.id,
            field=stated.field,
            value=stated.value.value,
            evidence=stated.evidence,
            message_id=message_id,
        ):
            suggested.append(stated.field)
    return Observed(code=code, referrer=referrer, fields=tuple(suggested))


def quote(text: str) -> str:
    return clip(text, QUOTE_CHARS)
