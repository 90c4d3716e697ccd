"""A new friend (a friend request or a confirmed new contact), independent of the channel.

The customer and its channel identity are created, the request's verification message
("hello") is logged as the customer's first message — an entry code in it attributes
the contact to its campaign and adviser, a referrer named in it is suggested
(bot.pipeline.profiling) — and ice-breaker / welcome suggestions are stored for the
adviser. Optionally (off by default) one approved welcome script is returned for
automatic sending, rate-limited per adviser: the contact's campaign's welcome script, or
else ``[wechaty] welcome_script_id``, signed with the adviser's persona signature.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from bot.crm.variables import script_values
from bot.domain import IncomingMessage, SuggestionResult
from bot.pipeline.assistant import OPENING_CATEGORIES, Assistant
from bot.settings import Settings
from bot.store import Database
from bot.store import campaigns as campaigns_repo
from bot.store import customers as customers_repo
from bot.store import messages as messages_repo
from bot.store import scripts as scripts_repo
from bot.store import suggestions as suggestions_repo
from scripts_lib.variables import fill

log = logging.getLogger(__name__)

#: Retrieval query for ice-breakers when the request carried no verification message.
OPENING_QUERY = "你好，很高兴认识你，加个好友"


@dataclass(frozen=True, slots=True)
class NewContact:
    channel: str
    contact_id: str
    name: str
    alias: str = ""
    hello: str = ""
    request_id: str = ""
    adviser_id: str = "adviser"
    adviser_name: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: The industry of the account that received the request (None: not set).
    industry: str | None = None

    @property
    def msg_id(self) -> str:
        """One first-contact record per channel contact (idempotency key)."""
        return f"{self.channel}:friend:{self.contact_id}"


@dataclass(frozen=True, slots=True)
class Welcome:
    created: bool  # False: this contact was already welcomed (repeated event)
    customer_id: int | None
    result: SuggestionResult | None
    #: The welcome to send now (only when automatic sending is on and allowed).
    auto_text: str | None = None
    auto_script_id: str | None = None


class RateLimiter:
    """At most ``per_hour`` events per key in any hour, ``min_interval_s`` apart."""

    def __init__(
        self,
        *,
        per_hour: int,
        min_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._per_hour = per_hour
        self._min_interval = min_interval_s
        self._clock = clock
        self._times: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        with self._lock:
            now = self._clock()
            times = self._times[key]
            while times and now - times[0] >= 3600:
                times.popleft()
            if len(times) >= self._per_hour:
                return False
            if times and now - times[-1] < self._min_interval:
                return False
            times.append(now)
            return True


class NewContactFlow:
    def __init__(
        self,
        *,
        assistant: Assistant,
        db: Database,
        settings: Settings,
        welcome_script_id: str = "",
        limiter: RateLimiter | None = None,
    ) -> None:
        self._assistant = assistant
        self._db = db
        self._settings = settings
        self._welcome_script_id = welcome_script_id
        self._limiter = limiter or RateLimiter(per_hour=10, min_interval_s=30)

    def handle(self, contact: NewContact, may_send: bool = False) -> Welcome:
        message = IncomingMessage(
            msg_id=contact.msg_id,
            channel=contact.channel,
            contact_id=contact.contact_id,
            contact_name=contact.alias or contact.name,
            text=contact.hello,
            adviser_id=contact.adviser_id,
            adviser_name=contact.adviser_name,
            type="text" if contact.hello.strip() else "other",
            sent_at=contact.at,
            industry=contact.industry,
        )
        with self._db.session() as session:
            seen = messages_repo.get_message(session=session, msg_id=message.msg_id)
        if seen is not None:
            return Welcome(created=False, customer_id=seen.customer_id, result=None)
        result = self._assistant.handle(message)
        with self._db.session() as session:
            logged = messages_repo.get_message(session=session, msg_id=message.msg_id)
        if logged is None or logged.customer_id is None:  # pragma: no cover - handle logs first
            raise RuntimeError(f"new contact {contact.contact_id} was not logged")
        customer_id = logged.customer_id
        with self._db.session() as session:
            customers_repo.add_event(
                session=session,
                customer_id=customer_id,
                type="friend_request",
                payload={
                    "channel": contact.channel,
                    "request_id": contact.request_id,
                    "name": contact.name,
                    "alias": contact.alias,
                    "hello": contact.hello,
                },
                occurred_at=contact.at,
            )
        if result is None:  # no verification message: ice-breakers from a neutral query
            result = self._opening(customer_id, logged.id, contact.adviser_id)
        welcome = Welcome(created=True, customer_id=customer_id, result=result)
        if may_send and self._welcome_script_id:
            sid, text = self._welcome_text(customer_id)
            if text is not None and self._limiter.allow(contact.adviser_id):
                welcome = replace(welcome, auto_text=text, auto_script_id=sid)
            elif text is not None:
                log.warning("welcome to %s not sent: rate limit reached", contact.contact_id)
        return welcome

    def _opening(self, customer_id: int, message_id: int, adviser_id: str) -> SuggestionResult:
        result = self._assistant.suggest(
            OPENING_QUERY, customer_id=customer_id, new_contact=True, tags=False
        )
        opening = tuple(s for s in result.scripts if s.category in OPENING_CATEGORIES)
        result = replace(result, scripts=opening, tags=(), knowledge=(), reply=None)
        with self._db.session() as session:
            saved = suggestions_repo.save_suggestion(
                session=session,
                message_id=message_id,
                customer_id=customer_id,
                adviser_id=adviser_id,
                mode=result.mode,
                reply=None,
                candidates=result.to_json(),
                latency_ms=result.latency_ms,
            )
        return replace(result, suggestion_id=saved.id)

    def _welcome_text(self, customer_id: int) -> tuple[str, str | None]:
        """The welcome script to send and its text, filled and signed: the campaign's
        (when the contact came by one and it is approved), else the configured one. No
        text (and a warning) if it is not an approved script or a variable cannot be
        filled: never send a placeholder."""
        sid = self._welcome_script_id
        with self._db.session() as session:
            customer = customers_repo.get_customer(session=session, customer_id=customer_id)
            if customer.entry_code_id is not None:
                code = campaigns_repo.get_code(session=session, code_id=customer.entry_code_id)
                campaign_sid = code.welcome_script_id
                if campaign_sid:
                    found = scripts_repo.get_scripts(session=session, ids=[campaign_sid])
                    if campaign_sid in found and found[campaign_sid].status == "approved":
                        sid = campaign_sid
            script = scripts_repo.get_scripts(session=session, ids=[sid]).get(sid)
            adviser = (
                customers_repo.get_adviser(session=session, adviser_id=customer.adviser_id)
                if customer.adviser_id
                else None
            )
        if script is None or script.status != "approved":
            log.warning("welcome script %s is missing or not approved: not sent", sid)
            return sid, None
        filled = fill(
            script.body,
            script_values(
                assistant=self._settings.assistant,
                today=self._settings.today(),
                deadline=script.deadline,
                customer_name=customer.name,
                adviser_name=adviser.shown_name if adviser else None,
                product=customer.product,
                city=customer.city,
            ),
        )
        if filled.missing:
            log.warning("welcome script %s not sent: cannot fill %s", sid, filled.missing)
            return sid, None
        signature = adviser.signature if adviser else ""
        return sid, f"{filled.text}\n{signature}" if signature else filled.text
