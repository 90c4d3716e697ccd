"""Messages posted by an integration (``POST /api/messages``): logged and suggested for
exactly as if a channel had received them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Literal

from bot.domain import IncomingMessage
from bot.errors import Conflict, PermissionDenied, RejectedInput
from bot.pipeline.assistant import Received
from bot.pipeline.runtime import Runtime
from bot.services.access import Principal, require
from bot.services.industries import resolve as resolve_industry
from bot.store import customers as customers_repo
from bot.store.messages import API_CHANNEL, api_source_id

__all__ = ["API_CHANNEL", "api_source_id", "post"]

NO_ADVISER = "此账号没有关联顾问 ID，不能提交消息"
OTHER_ADVISER = "该联系人已分配给其他顾问"
EMPTY_TEXT = "文字消息的内容 (text) 不能为空"


def post(
    rt: Runtime,
    principal: Principal,
    *,
    contact_id: str,
    text: str,
    msg_id: str | None = None,
    contact_name: str = "",
    direction: Literal["in", "out"] = "in",
    type: str = "text",
    industry: str | None = None,
    sent_at: datetime | None = None,
) -> Received:
    """Log a message of the principal's own chat and run the pipeline on it. Contact and
    message ids are namespaced by the adviser, and a contact that belongs to another
    adviser anyway (a customer handed over, merged) is refused, never reached. The
    message itself is the record of this action (no audit row)."""
    require(principal, "adviser")
    adviser = principal.adviser_id
    if not adviser:
        raise PermissionDenied(NO_ADVISER)
    if type == "text" and not text.strip():
        raise RejectedInput(EMPTY_TEXT)
    with rt.db.session() as session:
        industry = resolve_industry(session, industry, rejected=True)
    message = IncomingMessage(
        msg_id=api_source_id(adviser, msg_id or uuid.uuid4().hex),
        channel=API_CHANNEL,
        contact_id=api_source_id(adviser, contact_id),
        contact_name=contact_name,
        text=text,
        adviser_id=adviser,
        adviser_name=principal.display_name,
        direction=direction,
        type=type,
        industry=industry,
        sent_at=sent_at or datetime.now(UTC),
    )
    with rt.db.session() as session:
        owner = customers_repo.identity_owner(
            session=session, kind=f"{API_CHANNEL}_contact", value=message.contact_id
        )
    if owner is not None and owner != adviser:
        raise Conflict(OTHER_ADVISER)
    return rt.assistant.receive(message)
