"""The assistant pipeline: log the message, retrieve, suggest, tag, store the suggestion.

``handle`` is what every channel calls; ``suggest`` is the pure "what would you say"
query behind ``siyu suggest``. Both embed the message once and reuse the vector for
scripts, knowledge and tags.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.crm import next_actions
from bot.crm.next_actions import RulesSource
from bot.crm.variables import script_values
from bot.domain import (
    IncomingMessage,
    KnowledgeSuggestion,
    NextActionSuggestion,
    ScriptSuggestion,
    SuggestionResult,
)
from bot.errors import LLMError
from bot.learning import effectiveness
from bot.learning.bandit import Arm, ThompsonSampler
from bot.learning.effectiveness import StatsCache
from bot.pipeline import outcomes, profiling
from bot.pipeline.kb import KnowledgeBase
from bot.pipeline.library import ScriptHit, ScriptLibrary
from bot.pipeline.llm import LLMClient
from bot.pipeline.prompts import DraftRequest, Passage
from bot.pipeline.tagging import Tagger
from bot.settings import Settings
from bot.store import Database
from bot.store import campaigns as campaigns_repo
from bot.store import customers as customers_repo
from bot.store import messages as messages_repo
from bot.store import suggestions as suggestions_repo
from bot.store import tags as tags_repo
from bot.store.records import AdviserRecord, CustomerRecord
from bot.vocab import SuggestionMode
from knowledge import Embedder
from knowledge.text import UNSTORABLE
from scripts_lib.model import ANY_INDUSTRY
from scripts_lib.variables import fill

log = logging.getLogger(__name__)

#: Categories put first for a contact who has just been added.
OPENING_CATEGORIES = ("welcome", "icebreaker")
#: Messages longer than this are cut before retrieval (the tail is still logged).
MAX_QUERY_CHARS = 2000
HISTORY_MESSAGES = 6
#: A referrer is looked for in a contact's first few messages (「张丽介绍我来的」).
EARLY_MESSAGES = 3
#: Longest display names the store keeps (customer / adviser name, group topic).
_DISPLAY_CHARS = {"contact_name": 100, "adviser_name": 100, "room_topic": 200}


@dataclass(frozen=True, slots=True)
class Received:
    """What ``Assistant.receive`` did with one delivery."""

    message_id: int
    customer_id: int
    #: False: the ``msg_id`` was logged before; nothing else was done.
    created: bool
    result: SuggestionResult | None


#: Called after a message is logged (and, for a customer's text, suggested for).
HandledHook = Callable[[IncomingMessage, int, SuggestionResult | None], None]


@dataclass(frozen=True, slots=True)
class Context:
    """Who the message is about, for filtering and for filling variables."""

    industry: str
    customer: CustomerRecord | None = None
    adviser_name: str | None = None
    new_contact: bool = False
    history: tuple[tuple[str, str], ...] = ()
    #: The customer's adviser with their persona (signature, tone notes).
    adviser: AdviserRecord | None = None
    #: The welcome script of the campaign the customer came by (new contacts get it first).
    campaign_welcome: str | None = None
    #: How many of the customer's messages came before this one (up to HISTORY_MESSAGES).
    seen: int = 0


class Assistant:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        embedder: Embedder,
        library: ScriptLibrary,
        kb: KnowledgeBase,
        tagger: Tagger,
        llm: LLMClient | None,
        on_handled: HandledHook | None = None,
        stats: StatsCache | None = None,
        rng: random.Random | None = None,
        rules: RulesSource | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._embedder = embedder
        self._library = library
        self._kb = kb
        self._tagger = tagger
        self._llm = llm
        self._on_handled = on_handled
        #: Per-script outcome evidence, in memory (ranking blend, reasons, A/B variants).
        self.stats = stats or StatsCache(
            db=db,
            settings=settings.ranking,
            reply_window=timedelta(hours=settings.outcomes.reply_window_hours),
        )
        self._sampler = ThompsonSampler(rng=rng, exploration=settings.ranking.exploration)
        #: The next-best-action rules (re-read when their file changes).
        self.rules = rules or RulesSource(None)

    # ------------------------------------------------------------------ queries
    def suggest(
        self,
        text: str,
        *,
        industry: str | None = None,
        customer_id: int | None = None,
        new_contact: bool | None = None,
    ) -> SuggestionResult:
        """Suggestions for a message, without logging anything."""
        ctx = self._context(industry=industry, customer_id=customer_id, new_contact=new_contact)
        # Its result quotes the text and must encode as UTF-8 JSON (see ``_storable``).
        return self._suggest(UNSTORABLE.sub("\ufffd", text), ctx)

    def next_actions_for(self, customer_id: int) -> tuple[NextActionSuggestion, ...]:
        """The next-best-action cards for a customer now (the sidebar's card)."""
        ctx = self._context(industry=None, customer_id=customer_id, new_contact=False)
        return self._next_actions(ctx)

    def _context(
        self,
        *,
        industry: str | None,
        customer_id: int | None,
        new_contact: bool | None,
        before_message_id: int | None = None,
    ) -> Context:
        customer = None
        adviser = None
        welcome = None
        history: tuple[tuple[str, str], ...] = ()
        seen = 0
        if customer_id is not None:
            with self._db.session() as session:
                customer = customers_repo.get_customer(session=session, customer_id=customer_id)
                if customer.adviser_id:
                    adviser = customers_repo.get_adviser(
                        session=session, adviser_id=customer.adviser_id
                    )
                if customer.entry_code_id is not None:
                    welcome = campaigns_repo.get_code(
                        session=session, code_id=customer.entry_code_id
                    ).welcome_script_id
                recent = messages_repo.recent_messages(
                    session=session,
                    customer_id=customer_id,
                    before_id=before_message_id,
                    limit=HISTORY_MESSAGES,
                )
                seen = len(recent)
                history = tuple(
                    ("customer" if m.direction == "in" else "adviser", m.text)
                    for m in recent
                    if m.type == "text" and m.text
                )
        return Context(
            industry=industry
            or (customer.industry if customer else None)
            or self._settings.assistant.default_industry,
            customer=customer,
            adviser_name=adviser.shown_name if adviser else None,
            # Without a customer there is no history to judge by: not a new contact.
            new_contact=new_contact
            if new_contact is not None
            else (customer is not None and seen == 0),
            history=history,
            adviser=adviser,
            campaign_welcome=welcome,
            seen=seen,
        )

    def _suggest(self, text: str, ctx: Context) -> SuggestionResult:
        started = time.perf_counter()
        query = text.strip()[:MAX_QUERY_CHARS]
        if not query:
            return SuggestionResult(
                scripts=(),
                knowledge=(),
                tags=(),
                reply=None,
                mode="retrieval",
                latency_ms=(time.perf_counter() - started) * 1000,
                customer_id=ctx.customer.id if ctx.customer else None,
            )
        vector = self._embedder.embed_one(query)
        rset = self._settings.retrieval
        hits = self._library.search(
            query, k=rset.top_scripts, industry=ctx.industry, query_vector=vector
        )
        if ctx.new_contact:
            opening = self._library.search(
                query,
                k=rset.top_scripts,
                industry=ctx.industry,
                categories=OPENING_CATEGORIES,
                query_vector=vector,
            )
            opening = self._campaign_welcome(ctx, opening)
            hits = _merge_opening(opening, hits, rset.top_scripts)
        hits = self._rank(hits)
        scripts = tuple(self._fill(h, ctx) for h in hits)
        knowledge = tuple(
            self._kb.search(query, k=rset.top_knowledge, industry=ctx.industry, query_vector=vector)
        )
        tags = tuple(self._tagger.suggest(query, industry=ctx.industry, query_vector=vector))
        reply, citations, mode, note = self._draft(query, ctx, knowledge, scripts)
        actions = self._next_actions(ctx)
        return SuggestionResult(
            scripts=scripts,
            knowledge=knowledge,
            tags=tags,
            reply=reply,
            mode=mode,
            latency_ms=(time.perf_counter() - started) * 1000,
            citations=citations,
            note=note,
            customer_id=ctx.customer.id if ctx.customer else None,
            next_actions=actions,
        )

    def _campaign_welcome(self, ctx: Context, opening: list[ScriptHit]) -> list[ScriptHit]:
        """The welcome script of the customer's campaign first (when approved)."""
        sid = ctx.campaign_welcome
        if sid is None:
            return opening
        script = self._library.get([sid]).get(sid)
        if script is None or script.status != "approved":
            return opening
        if script.industry not in (ctx.industry, ANY_INDUSTRY):  # another industry's welcome
            return opening
        top = max((h.score for h in opening), default=1.0)
        return [ScriptHit(script=script, score=top), *(h for h in opening if h.script.id != sid)]

    def _next_actions(self, ctx: Context) -> tuple[NextActionSuggestion, ...]:
        """The next-best-action cards for the customer (rules that apply now)."""
        rules = self.rules.rules()
        if ctx.customer is None or not rules:
            return ()
        today = datetime.now(ZoneInfo(self._settings.timezone)).date()
        with self._db.session() as session:
            found = next_actions.applicable(
                session=session,
                rules=rules,
                customer=ctx.customer,
                today=today,
                limit=self._settings.next_actions.max_cards,
            )
        scripts = self._library.get([a.script_id for a in found if a.script_id])
        out = []
        for action in found:
            script = scripts.get(action.script_id or "")
            text = None
            if script is not None and script.status == "approved":
                text = self._fill(ScriptHit(script=script, score=0.0), ctx).text
            out.append(
                NextActionSuggestion(
                    rule=action.rule,
                    product=action.product,
                    script_id=action.script_id if text is not None else None,
                    script_text=text,
                    reason=action.reason,
                )
            )
        return tuple(out)

    def _rank(self, hits: list[ScriptHit]) -> list[ScriptHit]:
        """Evidence on top of relevance (settings [ranking]): each A/B variant group is
        shown as one variant chosen by Thompson sampling, then relevant hits are
        re-ordered by the blend of relevance and reply rate (bot.learning.effectiveness)."""
        ranking = self._settings.ranking
        if not ranking.enabled or not hits:
            return hits
        chosen: list[ScriptHit] = []
        groups: set[str] = set()
        for hit in hits:
            group = hit.script.variant_group
            if group is None:
                chosen.append(hit)
                continue
            if group in groups:
                continue
            groups.add(group)
            variants = [
                v for v in self._library.variants(group) if v.industry == hit.script.industry
            ] or [hit.script]
            arms = []
            for v in variants:
                e = self.stats.evidence(v.id)
                arms.append(Arm(script_id=v.id, successes=e.replied, trials=e.reply_n))
            pick = self._sampler.choose(arms)
            script = next(v for v in variants if v.id == pick)
            chosen.append(ScriptHit(script=script, score=hit.score))
        order = effectiveness.blend_order(
            [(h.script.id, h.score) for h in chosen],
            rate=self.stats.shrunk_reply_rate,
            settings=ranking,
        )
        return [chosen[i] for i in order]

    def _fill(self, hit: ScriptHit, ctx: Context) -> ScriptSuggestion:
        customer = ctx.customer
        filled = fill(
            hit.script.body,
            script_values(
                assistant=self._settings.assistant,
                today=datetime.now(ZoneInfo(self._settings.timezone)).date(),
                deadline=hit.script.deadline,
                customer_name=customer.name if customer else None,
                adviser_name=ctx.adviser_name,
                product=customer.product if customer else None,
                city=customer.city if customer else None,
            ),
        )
        text = filled.text
        signature = ctx.adviser.signature if ctx.adviser else ""
        if ctx.new_contact and hit.script.category == "welcome" and signature:
            text = f"{text}\n{signature}"
        return ScriptSuggestion(
            id=hit.script.id,
            title=hit.script.title,
            category=hit.script.category,
            score=hit.score,
            text=text,
            missing=filled.missing,
            reason=self.stats.reason(hit.script.id) if self._settings.ranking.enabled else None,
        )

    def _draft(
        self,
        query: str,
        ctx: Context,
        knowledge: tuple[KnowledgeSuggestion, ...],
        scripts: tuple[ScriptSuggestion, ...],
    ) -> tuple[str | None, tuple[int, ...], SuggestionMode, str | None]:
        if self._llm is None:
            return None, (), "retrieval", None
        request = DraftRequest(
            customer_text=query,
            passages=[
                Passage(ref=i, source=k.source, section=k.section, text=k.text)
                for i, k in enumerate(knowledge, start=1)
            ],
            history=ctx.history,
            customer_name=ctx.customer.name if ctx.customer else None,
            adviser_name=ctx.adviser_name or self._settings.assistant.adviser_name,
            industry=ctx.industry,
            scripts=[s.text for s in scripts],
            adviser_tone=ctx.adviser.tone if ctx.adviser else None,
        )
        try:
            draft = self._llm.draft_reply(request)
        except LLMError as exc:
            return None, (), "retrieval", f"LLM unavailable: {exc}"
        return draft.text, tuple(draft.citations), "llm", None

    # ------------------------------------------------------------------ channel events
    def handle(self, message: IncomingMessage) -> SuggestionResult | None:
        """Log a channel message, then (for a customer's text) suggest, tag and store.

        Logging comes first and is idempotent on ``msg_id``: a repeated delivery returns
        None and does nothing else. A failure after logging leaves the message
        ``pending`` for ``process_pending``.
        """
        return self.receive(message).result

    def receive(self, message: IncomingMessage) -> Received:
        """``handle``, telling also which message row holds it and whether this delivery
        logged it (False: a repeated ``msg_id``, nothing else done)."""
        message = _storable(message)
        with self._db.session() as session:
            customers_repo.ensure_adviser(
                session=session, adviser_id=message.adviser_id, name=message.adviser_name
            )
            customer, _created = customers_repo.find_or_create_customer(
                session=session,
                identity_kind=f"{message.channel}_contact",
                identity_value=message.contact_id,
                name=message.contact_name,
                adviser_id=message.adviser_id,
                industry=message.industry,
            )
            conversation_id = messages_repo.get_or_create_conversation(
                session=session,
                channel=message.channel,
                external_id=message.room_id or message.contact_id,
                customer_id=customer.id,
                adviser_id=message.adviser_id,
                is_group=message.room_id is not None,
                topic=message.room_topic,
            )
            wants_suggestion = (
                message.direction == "in"
                and message.type == "text"
                and (message.room_id is None or message.mentions_adviser)
            )
            logged, created = messages_repo.log_message(
                session=session,
                msg_id=message.msg_id,
                conversation_id=conversation_id,
                customer_id=customer.id,
                adviser_id=message.adviser_id,
                direction=message.direction,
                type=message.type,
                text=message.text,
                sent_at=message.sent_at,
                status="pending" if wants_suggestion else "done",
            )
        if not created:
            return Received(logged.id, customer.id, created=False, result=None)
        self._track_outcome(message, logged.id, customer.id)
        self.stats.tick()
        result = (
            self._process(logged.id, message.text, customer.id, message.adviser_id)
            if wants_suggestion
            else None
        )
        self._notify(message, customer.id, result)
        return Received(logged.id, customer.id, created=True, result=result)

    def _track_outcome(self, message: IncomingMessage, message_id: int, customer_id: int) -> None:
        """1:1 chats: match the adviser's message to the latest suggestion, or record that
        the customer replied (bot.pipeline.outcomes). Never raises: the message is logged."""
        if message.room_id is not None:
            return
        try:
            if message.direction == "out" and message.type == "text" and not message.automated:
                outcomes.match_outbound(
                    db=self._db,
                    settings=self._settings.outcomes,
                    customer_id=customer_id,
                    message_id=message_id,
                    text=message.text,
                    sent_at=message.sent_at,
                )
            elif message.direction == "in":
                outcomes.record_reply(
                    db=self._db,
                    settings=self._settings.outcomes,
                    customer_id=customer_id,
                    replied_at=message.sent_at,
                )
        except Exception:
            log.exception("recording the outcome of %s failed", message.msg_id)

    def _notify(
        self, message: IncomingMessage, customer_id: int, result: SuggestionResult | None
    ) -> None:
        """Tell live consumers (the web sidebar) about a logged message; never raises."""
        if self._on_handled is None:
            return
        try:
            self._on_handled(message, customer_id, result)
        except Exception:
            log.exception("on_handled hook failed for %s", message.msg_id)

    def process_pending(self, *, limit: int = 100) -> int:
        """Suggest for messages that were logged but never processed (after a crash)."""
        with self._db.session() as session:
            pending = messages_repo.pending_messages(session=session, limit=limit)
        done = 0
        for m in pending:
            try:
                self._process(m.id, m.text, m.customer_id, m.adviser_id)
                done += 1
            except Exception:
                log.exception("processing pending message %s failed", m.msg_id)
        return done

    def _observe(self, message_id: int, text: str, ctx: Context) -> profiling.Observed:
        """Attribution by entry code, a referrer named, profile values stated
        (bot.pipeline.profiling). Never raises: suggesting matters more."""
        if ctx.customer is None or not text.strip():
            return _nothing_observed()
        try:
            with self._db.session() as session:
                return profiling.observe(
                    session,
                    customer=ctx.customer,
                    text=text[:MAX_QUERY_CHARS],
                    message_id=message_id,
                    industry=ctx.industry,
                    first_message=ctx.seen == 0,
                    early=ctx.seen < EARLY_MESSAGES,
                )
        except Exception:
            log.exception("profiling message %s failed", message_id)
            return _nothing_observed()

    def _process(
        self, message_id: int, text: str, customer_id: int | None, adviser_id: str | None
    ) -> SuggestionResult:
        ctx = self._context(
            industry=None,
            customer_id=customer_id,
            new_contact=None,
            before_message_id=message_id,
        )
        observed = self._observe(message_id, text, ctx)
        if observed.code is not None:  # the campaign's welcome script comes first now
            ctx = self._context(
                industry=None,
                customer_id=customer_id,
                new_contact=ctx.new_contact,
                before_message_id=message_id,
            )
        result = self._suggest(text, ctx)
        with self._db.session() as session:
            for tag in result.tags:
                if customer_id is not None:
                    tags_repo.suggest_customer_tag(
                        session=session,
                        customer_id=customer_id,
                        tag_id=tag.tag_id,
                        evidence=tag.evidence,
                        score=tag.score,
                        message_id=message_id,
                    )
            saved = suggestions_repo.save_suggestion(
                session=session,
                message_id=message_id,
                customer_id=customer_id,
                adviser_id=adviser_id,
                mode=result.mode,
                reply=result.reply,
                candidates=result.to_json(),
                latency_ms=result.latency_ms,
            )
            messages_repo.set_message_status(session=session, message_id=message_id, status="done")
        return replace(result, suggestion_id=saved.id)


def _nothing_observed() -> profiling.Observed:
    return profiling.Observed()


def _storable(message: IncomingMessage) -> IncomingMessage:
    """``message`` with the unstorable characters of its text fields made U+FFFD and its
    display names cut to their columns' sizes (ids are never cut: they identify). Such a
    message is then logged and suggested for like any other, instead of failing on
    every retry."""
    changes: dict[str, Any] = {}
    for f in fields(message):
        value = getattr(message, f.name)
        if not isinstance(value, str):
            continue
        clean = UNSTORABLE.sub("\ufffd", value)[: _DISPLAY_CHARS.get(f.name)]
        if clean != value:
            changes[f.name] = clean
    return replace(message, **changes) if changes else message


def _merge_opening(opening: list[ScriptHit], rest: list[ScriptHit], limit: int) -> list[ScriptHit]:
    """Opening scripts first (at most two), then the best of the rest, no duplicates."""
    merged = opening[:2]
    seen = {h.script.id for h in merged}
    merged += [h for h in rest if h.script.id not in seen]
    return merged[:limit]
