"""Start-up: every client (database, embedder, vector store, LLM) is built here, once,
from the settings object, and passed down. There are no import-time globals."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.crm.next_actions import RulesSource
from bot.crm.scheduler import FollowupScheduler
from bot.pipeline.assistant import Assistant
from bot.pipeline.changes import ChangeFollower, changed_vectors
from bot.pipeline.jobs import Jobs
from bot.pipeline.kb import KnowledgeBase
from bot.pipeline.library import ScriptLibrary
from bot.pipeline.live import Broadcaster, open_broadcaster
from bot.pipeline.llm import LLMClient, build_llm
from bot.pipeline.tagging import Tagger
from bot.pipeline.triggers import LearnedTriggers
from bot.settings import Settings
from bot.store import Database
from bot.store import examples as examples_repo
from bot.store import messages as messages_repo
from bot.store import tags as tags_repo
from knowledge import Embedder, HybridIndex, VectorStore, build_embedder, open_vector_store
from knowledge.text import word_edges
from knowledge.vectors import VectorStoreCorrupted, quarantine_vector_store

log = logging.getLogger(__name__)

#: At most this many messages left pending by a crash are processed at start-up (the
#: channels' retry loops handle any rest).
PENDING_AT_START = 1000
#: Called as (what, done, total) while indexes are brought up to date.
IndexProgress = Callable[[str, int, int], None]


@dataclass
class Runtime:
    settings: Settings
    db: Database
    embedder: Embedder
    vectors: VectorStore
    library: ScriptLibrary
    kb: KnowledgeBase
    tagger: Tagger
    llm: LLMClient | None
    assistant: Assistant
    #: Live events (a logged message, its suggestions) for the web console.
    events: Broadcaster = field(default_factory=Broadcaster)
    #: Long work started from the web console (ingest, import, rebuild), off the requests.
    jobs: Jobs = field(default_factory=Jobs)
    #: Follows the other processes' changes of the library (``start_background``).
    changes: ChangeFollower | None = None
    #: The follow-up scheduler of a long-running process (``start_background``).
    followups: FollowupScheduler | None = None

    def sync_indexes(self, progress: IndexProgress | None = None) -> None:
        """Bring the script, knowledge and tag indexes in line with SQL. Cheap when
        nothing changed (nothing is embedded); after a crash or a deleted index
        directory it embeds what is missing."""

        def step(name: str) -> Callable[[int, int], None] | None:
            if progress is None:
                return None
            return lambda done, total: progress(name, done, total)

        self.library.sync(progress=step("scripts"))
        self.kb.sync(progress=step("knowledge"))
        self.reload_tags(progress=step("tags"))

    def resume_pending(self) -> int:
        """Suggest for customer messages logged but never processed (the process died
        between logging and suggesting), except those the channel's inbox holds (the
        channel resumes them itself, with the note). Called when ``siyu serve`` starts;
        returns how many were processed."""
        done = self.assistant.process_pending(limit=PENDING_AT_START)
        if done:
            log.info("processed %d messages left pending by the previous run", done)
        return done

    def reload_tags(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Load the taxonomy and the labelled examples from SQL into the tagger: at start,
        after a taxonomy import and after every review (the tagger learns at once)."""
        with self.db.session() as session:
            tags = tags_repo.list_tags(session=session)
            examples = tags_repo.list_tag_examples(session=session)
        changed_vectors(self.db, "tags", self.tagger.sync(tags, examples, progress=progress))

    def refresh_tags(self) -> None:
        """The taxonomy and labelled examples as another process left them (nothing
        embedded)."""
        with self.db.session() as session:
            tags = tags_repo.list_tags(session=session)
            examples = tags_repo.list_tag_examples(session=session)
        self.tagger.refresh(tags, examples)

    def start_background(self, *, live: bool) -> None:
        """What a long-running process (``siyu serve``, ``siyu bot``) does besides its
        work: follow the other processes' changes of the library, knowledge and taxonomy;
        run the follow-up rules when this process holds their lock; with ``live`` (a
        console), show the other processes' live events to this one's sidebars."""
        word_edges("")  # load the segmenter's dictionary (0.3 s) before the first message
        if self.changes is not None:
            self.changes.start()
        self.followups = FollowupScheduler(db=self.db, settings=self.settings)
        self.followups.start()
        if live:
            self.events.start()

    def close(self) -> None:
        self.jobs.close()
        if self.followups is not None:
            self.followups.stop()
        if self.changes is not None:
            self.changes.stop()
        self.events.close()
        if self.llm is not None:
            self.llm.close()
        self.vectors.close()
        self.embedder.close()
        self.db.dispose()


#: Under the data directory: the lexical indexes kept between starts (derived data).
LEXICAL_DIR = "lexical"


def open_runtime(
    settings: Settings,
    *,
    progress: IndexProgress | None = None,
    embedder: Embedder | None = None,
) -> Runtime:
    """Open (and migrate) the store, open the indexes and sync them with SQL.
    ``embedder`` replaces the one ``[embedding]`` describes (tests pass a subclass of
    the real one that records or pauses its calls)."""
    data_dir = settings.ensure_data_dir()
    db = Database.from_settings(settings)
    db.migrate()
    apply_retention(db, settings)
    if embedder is None:
        embedder = build_embedder(settings.embedding)
    try:
        vectors = open_vector_store(settings.vectors, data_dir)
    except VectorStoreCorrupted as exc:
        # Derived data (docs/ARCHITECTURE.md): move it aside and let sync_indexes rebuild from SQL.
        moved = quarantine_vector_store(exc.path)
        log.warning("%s; moved it to %s and rebuilding the index from the database", exc, moved)
        vectors = open_vector_store(settings.vectors, data_dir)

    def index(name: str, *, lexical: bool = True) -> HybridIndex:
        return HybridIndex(
            name,
            embedder=embedder,
            vectors=vectors,
            retrieval=settings.retrieval,
            lexical_dir=data_dir / LEXICAL_DIR / name,
            lexical=lexical,
        )

    library = ScriptLibrary(
        db=db,
        index=index("scripts"),
        titles=index("script-titles"),
        triggers=LearnedTriggers(
            db=db, embedder=embedder, vectors=vectors, settings=settings.learning
        ),
        retrieval=settings.retrieval,
    )
    kb = KnowledgeBase(db=db, index=index("knowledge"), settings=settings.knowledge)
    tagger = Tagger(
        index=index("tags"),
        references=index("tag_references", lexical=False),
        settings=settings.tagging,
    )
    llm = build_llm(settings.llm)
    events = open_broadcaster(db)
    assistant = Assistant(
        settings=settings,
        db=db,
        embedder=embedder,
        library=library,
        kb=kb,
        tagger=tagger,
        llm=llm,
        on_handled=events.message_handled,
        rules=RulesSource(
            Path(settings.next_actions.rules_file) if settings.next_actions.rules_file else None
        ),
    )
    runtime = Runtime(
        settings=settings,
        db=db,
        embedder=embedder,
        vectors=vectors,
        library=library,
        kb=kb,
        tagger=tagger,
        llm=llm,
        assistant=assistant,
        events=events,
    )
    runtime.changes = ChangeFollower(
        db=db,
        poll_seconds=settings.cluster.poll_seconds,
        refreshers={
            "scripts": library.refresh,
            "knowledge": kb.refresh,
            "tags": runtime.refresh_tags,
        },
        on_messages=assistant.stats.observe_logged,
    )
    runtime.changes.mark_loaded()  # before loading: a change made meanwhile is not missed
    runtime.sync_indexes(progress)
    return runtime


def apply_retention(db: Database, settings: Settings) -> int:
    """Erase message text older than ``privacy.message_retention_days`` (0: keep), and the
    examples learned from those messages."""
    days = settings.privacy.message_retention_days
    if days <= 0:
        return 0
    before = datetime.now(UTC) - timedelta(days=days)
    with db.session() as session:
        examples_repo.delete_learned_before(session=session, before=before)
        erased = messages_repo.erase_text_before(session=session, before=before)
    if erased:
        db.purge(["messages"], full=settings.privacy.erase_vacuum == "full")
        log.info("retention: erased the text of %d messages older than %d days", erased, days)
    return erased
