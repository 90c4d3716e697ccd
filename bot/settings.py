"""Typed settings, loaded from one TOML file plus a few environment overrides.

Precedence (highest first): command-line flags, environment (``SIYU_DATA_DIR``,
``SIYU_CONFIG``, ``SIYU_DATABASE_URL``), the TOML file, the defaults below. Every key is
documented in ``config.example.toml`` (a test checks that). Secrets are never stored in
the file: the file names the environment variable that holds them.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.errors import ConfigError
from knowledge.errors import os_reason
from knowledge.rows import problems_of
from knowledge.settings import (
    PLACEHOLDER_SECRETS,
    EmbeddingSettings,
    KnowledgeSettings,
    RetrievalSettings,
    VectorSettings,
)

DEFAULT_DATA_DIR = ".siyu"
MIN_WEB_SECRET_CHARS = 32
#: Longest keep-alive interval of the live event stream: proxies close a stream idle for
#: longer than their read timeout (docs/deploy/nginx-siyu.conf waits an hour).
MAX_EVENTS_KEEPALIVE_S = 60.0


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(_Section):
    #: SQLAlchemy URL; empty means a SQLite file ``siyu.db`` in the data directory.
    url: str = ""
    #: Log SQL statements (debugging only).
    echo: bool = False
    #: SQLite: seconds a writer waits for another process's write lock; past it the
    #: message stays in the channel's retry queue and is logged on the next attempt.
    sqlite_busy_timeout_s: float = Field(default=30.0, gt=0, le=600)


class TaggingSettings(_Section):
    #: Keywords also match reworded (「太贵了」 in 「贵这么多」, 「打折」 in 「打个折」):
    #: bot/pipeline/keywords.py. False: only as written (normalised).
    fuzzy_keywords: bool = True
    #: A tag is suggested without a keyword hit when its description and keywords stand
    #: out for the message: this many standard deviations above the other tags (z-score)
    #: after ``neutral_weight`` × how much closer the message is to the tag than to
    #: neutral messages (greetings, thanks, questions about opening hours …).
    semantic_z: float = Field(default=2.6, ge=0, le=10)
    #: Weight of the margin over neutral messages in the test above (0: z-score alone).
    neutral_weight: float = Field(default=20.0, ge=0, le=100)
    #: Learn from review: confirmed, rejected and added tags make the messages that show
    #: them labelled examples (beside the taxonomy's ``examples``).
    learn_from_review: bool = True
    #: A tag is suggested when the closest labelled message shows it, is at least this
    #: similar (cosine) …
    example_similarity: float = Field(default=0.92, ge=0, le=1)
    #: … and is this much more similar than the closest labelled or neutral message that
    #: does not show it.
    example_margin: float = Field(default=0.01, ge=0, le=1)
    #: A message this similar to one where a person rejected the tag (and less similar to
    #: every message that shows it) does not get the tag, keyword hit or not.
    negative_similarity: float = Field(default=0.95, ge=0, le=1)
    #: Learn from review also a classifier per tag over the labelled messages
    #: (bot/learning/probe.py; a tag needs 10 messages that show it): a tag inferred
    #: without a keyword hit that it gives less than this probability is not suggested …
    classifier_veto: float = Field(default=0.5, ge=0, le=1)
    #: … and a tag it gives at least this probability is suggested on its own (1: never).
    classifier_suggest: float = Field(default=0.8, ge=0, le=1)
    #: At most this many tags suggested per message.
    max_tags: int = Field(default=3, ge=0, le=20)
    #: With an LLM configured (``[llm] base_url``), ask it too which tags a customer's
    #: message shows: its choices replace the guess from the tags' descriptions (keyword
    #: hits and what review taught stay). One more LLM call per live customer message,
    #: beside the reply draft; a history import never asks it.
    llm: bool = False


class LLMSettings(_Section):
    #: OpenAI-compatible endpoint (Qwen, DeepSeek, vLLM, Ollama, llama.cpp server …).
    #: Empty = no LLM: suggestions are retrieval-only.
    base_url: str = ""
    model: str = "qwen2.5-7b-instruct"
    #: Name of the environment variable holding the API key (never the key itself).
    api_key_env: str = "SIYU_LLM_API_KEY"
    #: Seconds before a draft is abandoned and the suggestion falls back to retrieval-only.
    timeout_s: float = Field(default=6.0, gt=0, le=120)
    max_tokens: int = Field(default=300, ge=16, le=4096)
    temperature: float = Field(default=0.3, ge=0, le=2)

    @property
    def enabled(self) -> bool:
        return bool(self.base_url)

    def api_key(self) -> str:
        """The key from the environment; local servers accept any non-empty key."""
        key = os.environ.get(self.api_key_env, "").strip()
        if key.lower() in PLACEHOLDER_SECRETS - {""}:
            raise ConfigError(f"环境变量 {self.api_key_env} 里是占位符，不是 API key")
        return key or "not-needed"


#: Words that name a role, not a person: as ``{adviser_name}`` they double the role a
#: script already states (「我是思语的保险顾问顾问」).
ROLE_WORDS = frozenset(
    {"顾问", "老师", "客服", "销售", "专员", "经理", "保险顾问", "理财师", "规划师", "规划老师"}
)


class AssistantSettings(_Section):
    #: Industry assumed when a message or customer does not say. When no script, document
    #: or tag uses it, the library's one industry, or every industry when it has several
    #: (bot/store/industries.py ``default_among``).
    default_industry: str = "insurance"
    #: ``{adviser_name}`` for an adviser with no name on file (a person's name, e.g.
    #: 李敏). Empty: the adviser sees 【待填:顾问称呼】 and fills it in.
    adviser_name: str = ""
    #: Company name used for ``{company}``.
    company: str = "思语"
    #: Product used for ``{product}`` when the customer has no product of interest on file.
    default_product: str = ""

    @field_validator("adviser_name")
    @classmethod
    def _a_name_not_a_role(cls, value: str) -> str:
        value = value.strip()
        if value in ROLE_WORDS:
            raise ValueError(
                f"「{value}」是职位，不是称呼：话术里写的是「保险顾问{{adviser_name}}」，"
                f"填「{value}」会变成「保险顾问{value}」。请填顾问的名字（如 李敏），"
                "或留空（顾问会看到【待填:顾问称呼】）"
            )
        return value


class WebSettings(_Section):
    #: Address and port of ``siyu serve`` (the web console and its API).
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1, le=65535)
    #: Name of the environment variable holding the secret that signs session cookies.
    secret_env: str = "SIYU_WEB_SECRET"
    #: Name of the session cookie.
    cookie_name: str = "siyu_session"
    #: Send the session cookie over HTTPS only (turn on behind a TLS proxy).
    cookie_secure: bool = False
    #: Seconds a login lasts.
    session_max_age_s: int = Field(default=43200, ge=60, le=30 * 86400)
    #: Serve the API reference (/docs, /openapi.json) to anonymous visitors too; off, it
    #: needs a login.
    public_docs: bool = False
    #: Largest request body (JSON or form) accepted, in bytes; a larger one is refused
    #: with 413 before it is read.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    #: Largest uploaded file (knowledge documents, script tables), in bytes.
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    #: Most rows an uploaded table (CSV / XLSX) may have.
    max_upload_rows: int = Field(default=20000, ge=1, le=10_000_000)
    #: Hours a validated script upload waits for its confirmation before it is deleted.
    upload_expiry_hours: float = Field(default=24, gt=0, le=24 * 30)
    #: Failed logins of one account within ``login_window_s`` before further attempts
    #: are refused (429) until the oldest failure leaves the window.
    login_account_failures: int = Field(default=5, ge=1, le=1000)
    #: Failed logins from one client address within ``login_window_s`` (any account).
    login_address_failures: int = Field(default=20, ge=1, le=100_000)
    #: Seconds over which failed logins are counted.
    login_window_s: float = Field(default=900, gt=0, le=86400)
    #: Days a browser stays known for an account after a successful login there (a
    #: signed "device cookie", sent to /login only): from a known browser, failures are
    #: counted against that browser, not the account, so someone guessing from elsewhere
    #: cannot lock the user out of their own browser. 0: off (every failure counts
    #: against the account).
    login_device_days: int = Field(default=180, ge=0, le=3650)
    #: Password checks (argon2, ~0.2 s of CPU each) run at most this many at a time, off
    #: the event loop: a flood of logins cannot take every core.
    login_concurrency: int = Field(default=1, ge=1, le=64)
    #: Console worker processes (``siyu serve --workers``); more than one needs PostgreSQL.
    workers: int = Field(default=1, ge=1, le=64)
    #: Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto headers are trusted
    #: (comma-separated addresses, "*" = any): the client address and https behind nginx.
    forwarded_allow_ips: str = "127.0.0.1"
    #: Seconds between keep-alive comments on a quiet live event stream (/api/events).
    #: Each one re-checks the viewer's login too: a quiet stream whose session ended or
    #: whose token was revoked closes within this time (a busy one at its next event).
    events_keepalive_s: float = Field(default=15.0, gt=0, le=MAX_EVENTS_KEEPALIVE_S)

    def secret(self) -> str:
        """The session secret from the environment; placeholders, short values and
        low-entropy values are refused."""
        value = os.environ.get(self.secret_env, "").strip()
        if value.lower() in PLACEHOLDER_SECRETS:
            raise ConfigError(
                f"启动网页控制台前，请把 {self.secret_env} 设为随机密钥"
                "（如 `openssl rand -hex 32`）"
            )
        if len(value) < MIN_WEB_SECRET_CHARS:
            raise ConfigError(f"{self.secret_env} 太短：至少 {MIN_WEB_SECRET_CHARS} 个字符")
        if not looks_random(value):
            raise ConfigError(
                f"{self.secret_env} 像占位符或不够随机：请用 `openssl rand -hex 32` 生成"
            )
        return value


#: Words that mark a secret copied from an example rather than generated.
_PLACEHOLDER_WORDS = ("secret", "change", "your", "example", "placeholder", "replace", "here")
#: A generated secret needs at least 10^this guesses by zxcvbn's estimate (about 80 bits;
#: ``openssl rand -hex 32`` scores over 60, 36 x ``a`` under 3).
MIN_SECRET_GUESSES_LOG10 = 24
#: zxcvbn looks at this many characters (its cost grows with the length).
_ZXCVBN_CHARS = 72


def looks_random(value: str) -> bool:
    """Whether ``value`` could be a generated secret: no placeholder words, and hard to
    guess by zxcvbn (repeats, sequences, keyboard walks and dictionary words score low)."""
    from zxcvbn import zxcvbn

    lowered = value.lower()
    if any(word in lowered for word in _PLACEHOLDER_WORDS):
        return False
    guesses_log10 = float(zxcvbn(value[:_ZXCVBN_CHARS])["guesses_log10"])
    return guesses_log10 >= MIN_SECRET_GUESSES_LOG10


class FollowupSettings(_Section):
    #: YAML file of follow-up (SOP reminder) rules; relative paths are relative to the
    #: working directory. Empty = no rules (``siyu followups run`` does nothing).
    rules_file: str = ""
    #: A missed run still creates reminders that fell due at most this many days ago.
    catch_up_days: int = Field(default=7, ge=0, le=366)
    #: Lifecycle: no customer message for this many days makes a profile silent
    #: (a converted one: churn-risk).
    silent_after_days: int = Field(default=30, ge=1, le=3650)
    #: ``siyu serve`` and ``siyu bot`` run the rules this often (when rules_file is set).
    interval_minutes: float = Field(default=30, gt=0, le=24 * 60)


class CampaignSettings(_Section):
    #: Characters of a generated entry code (渠道码; letters and digits that cannot be
    #: misread: no 0 / O, 1 / I / L).
    code_length: int = Field(default=6, ge=4, le=16)
    #: ``siyu campaigns unattributed`` and the console list contacts added in the last
    #: this many days without an entry code.
    unattributed_days: int = Field(default=30, ge=1, le=3660)


class NextActionSettings(_Section):
    #: YAML file of next-best-action rules (format in the README); relative paths are
    #: relative to the working directory; re-read when it changes. Empty = no rules.
    rules_file: str = ""
    #: At most this many next-best-action cards per customer.
    max_cards: int = Field(default=2, ge=1, le=10)


class AdviserSettings(_Section):
    #: The period of an adviser's own numbers on the sidebar (besides today): "week"
    #: (from Monday) or "month".
    period: Literal["week", "month"] = "month"


class OutcomeSettings(_Section):
    #: An adviser message at least this similar to a suggested text (0-1, normalised
    #: Levenshtein) counts as "edited"; identical (ignoring spaces) is "adopted"; less
    #: similar is "ignored".
    edited_min_similarity: float = Field(default=0.6, ge=0, le=1)
    #: Only suggestions at most this many hours older than the adviser's message are matched.
    match_window_hours: float = Field(default=24, gt=0, le=24 * 30)
    #: A customer message within this many hours of the adviser's message counts as a reply.
    reply_window_hours: float = Field(default=24, gt=0, le=24 * 30)


class LearningSettings(_Section):
    """Learning from practice: every adviser message is matched against the whole
    approved library (scripts_lib/matching.py); a match is a *use* of the script, and the
    customer messages it answered become the script's examples, which retrieval's
    examples channel votes with (bot/pipeline/triggers.py)."""

    #: An adviser's message at least this similar to a script (0-1; 1 = the template with
    #: its variables filled in, lower = edited) is a use of that script.
    match_min_similarity: float = Field(default=0.7, ge=0.3, le=1)
    #: A use answers the customer's messages sent at most this many hours before it ...
    answer_window_hours: float = Field(default=24, gt=0, le=24 * 30)
    #: ... at most this many of them (the latest) become examples of the script.
    examples_per_use: int = Field(default=3, ge=0, le=20)
    #: Weight of the examples channel in retrieval fusion; 0 turns it off.
    examples_weight: float = Field(default=1.5, ge=0, le=10)
    #: A script's examples count for a message only when their centroid is at least this
    #: similar (cosine) to it (bench/learning.py: .86-.90 all did equally well).
    examples_min_similarity: float = Field(default=0.88, ge=0, le=1)
    #: A suggestion says 「相似问题已用过 N 次」 counting only examples at least this
    #: similar to the message (stricter than the vote: at .88 a short chat line such as
    #: 「在吗」 counted 「有医保就够了吧呢」; paraphrases score .93 and up).
    examples_reason_similarity: float = Field(default=0.92, ge=0, le=1)


class ContextSettings(_Section):
    """Conversation context: the customer's previous messages steer the suggestion for
    the current one (「在吗」「纸尿裤」 then 「多少钱」): their embedding is blended into the
    message's, for scripts and knowledge, and their text is passed to the tagger."""

    #: Only messages sent at most this many minutes before the current one ...
    minutes: float = Field(default=10, ge=0, le=24 * 60)
    #: ... at most this many of them (the latest); 0 turns context off.
    messages: int = Field(default=2, ge=0, le=10)
    #: Weight of the context in the query when the message has at most ``short_chars``
    #: characters (a short message needs its context) ...
    short_weight: float = Field(default=0.7, ge=0, le=5)
    #: ... and otherwise (the message mostly speaks for itself).
    weight: float = Field(default=0.15, ge=0, le=5)
    #: "Short": letters and digits counted, punctuation and emoji not.
    short_chars: int = Field(default=8, ge=0, le=200)


class RankingSettings(_Section):
    """Script ranking from evidence (bot.learning.effectiveness, bot.learning.bandit).
    Retrieval relevance stays first: only scripts scoring at least ``relevance_ratio`` x
    the best score are re-ordered, by
    ``(1 - outcome_weight) * relevance/best + outcome_weight * reply rate``
    (the reply rate shrunk towards the overall rate by ``prior_strength`` pseudo-samples)."""

    #: Off switch for re-ranking, A/B variant choice and reasons: pure retrieval order.
    enabled: bool = True
    #: Weight of the (shrunk) reply rate in the blend, 0-1.
    outcome_weight: float = Field(default=0.3, ge=0, le=1)
    #: Only scripts at least this relevant relative to the best hit are re-ordered.
    relevance_ratio: float = Field(default=0.8, ge=0, le=1)
    #: Pseudo-samples pulling a script's reply rate towards the overall rate.
    prior_strength: float = Field(default=10, ge=0)
    #: Show the adviser a reason ("回复率 38%，n=120") from this many samples.
    reason_min_samples: int = Field(default=20, ge=1)
    #: A/B variants: probability of choosing a variant uniformly at random (exploration floor).
    exploration: float = Field(default=0.1, ge=0, le=1)
    #: A variant is called the winner when P(best) >= this ...
    winner_probability: float = Field(default=0.95, gt=0, le=1)
    #: ... and every variant of its group has at least this many samples.
    winner_min_samples: int = Field(default=30, ge=1)
    #: In-memory per-script stats are refreshed after this many handled messages ...
    refresh_every_messages: int = Field(default=50, ge=1)
    #: ... or when they are older than this many seconds.
    refresh_seconds: float = Field(default=300, gt=0)
    #: A purchase this many days after a script was used counts as its conversion.
    conversion_window_days: float = Field(default=14, gt=0)


def puppet_token(env_name: str) -> str:
    """A puppet token from the environment; placeholders are refused (empty: not set)."""
    value = os.environ.get(env_name, "").strip()
    if value and value.lower() in PLACEHOLDER_SECRETS:
        raise ConfigError(f"环境变量 {env_name} 里是占位符，不是 puppet service 令牌")
    return value


#: The account name of the single-account settings (``[wechaty] endpoint``).
DEFAULT_ACCOUNT = "default"
#: How that account is called where people read it.
DEFAULT_ACCOUNT_LABEL = "默认账号"


def account_label(key: str) -> str:
    """An account's key as people read it: the adviser id of ``[[wechaty.accounts]]``,
    「默认账号」 for the single account of ``[wechaty]``."""
    return DEFAULT_ACCOUNT_LABEL if key == DEFAULT_ACCOUNT else key


def account_phrase(key: str) -> str:
    """The account in a sentence: 「账号 ins_lin」, or 「默认账号」."""
    return DEFAULT_ACCOUNT_LABEL if key == DEFAULT_ACCOUNT else f"账号 {key}"


@dataclass(frozen=True, slots=True)
class AccountConfig:
    """One account the channel serves, from either form of the settings."""

    #: The account's name (its adviser id, or "default").
    key: str
    #: The adviser its messages belong to; None: the logged-in WeChat id (single account).
    adviser_id: str | None
    endpoint: str
    token_env: str
    notify_contact_id: str
    #: Its customers' industry ("" = not set: the customer's, or the default).
    industry: str = ""

    def token(self) -> str:
        """The token from the environment ("" when unset; placeholders refused)."""
        return puppet_token(self.token_env)


class WechatyAccount(_Section):
    """One adviser's WeChat / WeCom account in ``[[wechaty.accounts]]``."""

    #: The adviser this account belongs to (the console user's adviser id); also the
    #: account's name in ``siyu bot --status``.
    adviser_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    #: host:port of this account's puppet service; empty = resolved from the token.
    endpoint: str = ""
    #: Name of the environment variable holding this account's puppet service token.
    token_env: str = Field(min_length=1)
    #: This account's note target; None = ``[wechaty] notify_contact_id``.
    notify_contact_id: str | None = None
    #: The industry of this account's customers (their messages use that industry's
    #: scripts, knowledge and tags); empty = ``[wechaty] industry``.
    industry: str = Field(default="", max_length=50)

    def token(self) -> str:
        return puppet_token(self.token_env)


class WechatySettings(_Section):
    """``siyu bot``: the Wechaty channel through a puppet service (gRPC)."""

    #: Only "wechaty-puppet-service" is supported by the Python SDK.
    puppet: Literal["wechaty-puppet-service"] = "wechaty-puppet-service"
    #: host:port of the puppet service; empty = resolved from the token by the provider.
    endpoint: str = ""
    #: Name of the environment variable holding the puppet service token.
    token_env: str = "WECHATY_PUPPET_SERVICE_TOKEN"
    #: Several advisers' accounts served by one process (each: adviser_id, endpoint,
    #: token_env, optional notify_contact_id). Empty = the one account of endpoint /
    #: token_env above.
    accounts: tuple[WechatyAccount, ...] = ()
    #: Contact id that receives compact suggestion notes (e.g. "filehelper", the adviser's
    #: 文件传输助手). Empty = suggestions are only stored (web console).
    notify_contact_id: str = ""
    #: The industry of the customers the account(s) serve (a team with several lines of
    #: business sets it per account); empty = ``[assistant] default_industry`` unless a
    #: customer's profile says otherwise.
    industry: str = Field(default="", max_length=50)
    #: At least this many seconds between two notes to one adviser; what arrives meanwhile
    #: is coalesced into the next note.
    note_min_interval_s: float = Field(default=10.0, ge=0, le=3600)
    #: At most this many notes per adviser per hour (beyond: coalesced, then dropped with
    #: a log line; the suggestions stay in the console).
    notes_per_hour: int = Field(default=60, ge=1, le=3600)
    #: At most this many customer messages in one coalesced note (the rest are counted).
    note_max_items: int = Field(default=5, ge=1, le=50)
    #: Room ids where every customer message gets suggestions (elsewhere in groups: only
    #: when the adviser is @mentioned).
    suggest_rooms: tuple[str, ...] = ()
    #: Accept friend requests automatically (off: the adviser accepts on the phone).
    auto_accept: bool = False
    #: Send this approved welcome script to a new friend automatically (needs auto_accept);
    #: empty = never auto-send.
    welcome_script_id: str = ""
    #: At most this many automatic welcome messages per adviser per hour.
    welcome_per_hour: int = Field(default=10, ge=0, le=200)
    #: At least this many seconds between two automatic welcome messages of one adviser.
    welcome_min_interval_s: float = Field(default=30, ge=0, le=3600)
    #: First wait before reconnecting to a puppet service that dropped or is not up; doubles
    #: up to reconnect_max_s, and starts again from here after each login.
    reconnect_initial_s: float = Field(default=1.0, gt=0, le=600)
    reconnect_max_s: float = Field(default=60.0, gt=0, le=3600)
    #: Liveness: a ding is sent this often; with no event or answer from the service for
    #: heartbeat_timeout_s the connection is dropped and made again.
    heartbeat_interval_s: float = Field(default=15.0, gt=0, le=600)
    heartbeat_timeout_s: float = Field(default=45.0, gt=0, le=3600)
    #: A message whose processing failed is retried after retry_initial_s, doubling up to
    #: retry_interval_s; after max_attempts tries it is parked (``siyu bot --status``).
    retry_initial_s: float = Field(default=1.0, gt=0, le=3600)
    retry_interval_s: float = Field(default=30.0, gt=0, le=3600)
    max_attempts: int = Field(default=5, ge=1, le=100)
    #: Later messages of an account wait at most this long behind one whose payload the
    #: service cannot give yet (it is then processed when it comes, out of order).
    payload_hold_s: float = Field(default=5.0, ge=0, le=600)
    #: Unfinished inbox rows each account keeps in memory per stage (the rest wait in the
    #: database: the inbox is bounded, nothing is dropped).
    inbox_window: int = Field(default=500, ge=10, le=100_000)
    #: Threads making suggestions (logging never waits for them).
    suggest_workers: int = Field(default=2, ge=1, le=32)
    #: Processed inbox rows (their text is cleared at once) are deleted after this many
    #: days; 0 = kept.
    inbox_keep_days: int = Field(default=7, ge=0, le=3650)
    #: Service discovery when endpoint is empty: {token} is replaced by the token.
    discovery_url: str = "https://api.chatie.io/v0/hosties/{token}"
    #: Seconds ``siyu bot --check``, the discovery look-up and each call to an account
    #: (a payload fetch, accepting a friend request, the welcome) wait for an answer.
    check_timeout_s: float = Field(default=10.0, gt=0, le=300)

    @model_validator(mode="after")
    def _consistent(self) -> WechatySettings:
        if self.welcome_script_id and not self.auto_accept:
            raise ValueError(
                "welcome_script_id 需要 auto_accept = true（先通过好友请求才能发欢迎语）"
            )
        if self.heartbeat_timeout_s <= self.heartbeat_interval_s:
            raise ValueError("heartbeat_timeout_s 必须大于 heartbeat_interval_s")
        ids = [a.adviser_id for a in self.accounts]
        if len(set(ids)) != len(ids):
            raise ValueError("accounts：每个 adviser_id 只能出现一次")
        if "{token}" not in self.discovery_url:
            raise ValueError("discovery_url 必须包含 {token}")
        return self

    def token(self) -> str:
        """The token from the environment; placeholders are refused (empty: not set)."""
        return puppet_token(self.token_env)

    def account_configs(self) -> tuple[AccountConfig, ...]:
        """The accounts to serve: ``accounts``, or the single account of ``endpoint`` /
        ``token_env`` (the settings before accounts existed, still valid)."""
        if not self.accounts:
            return (
                AccountConfig(
                    key=DEFAULT_ACCOUNT,
                    adviser_id=None,
                    endpoint=self.endpoint,
                    token_env=self.token_env,
                    notify_contact_id=self.notify_contact_id,
                    industry=self.industry.strip(),
                ),
            )
        return tuple(
            AccountConfig(
                key=a.adviser_id,
                adviser_id=a.adviser_id,
                endpoint=a.endpoint,
                token_env=a.token_env,
                notify_contact_id=(
                    self.notify_contact_id if a.notify_contact_id is None else a.notify_contact_id
                ),
                industry=(a.industry or self.industry).strip(),
            )
            for a in self.accounts
        )


class ClusterSettings(_Section):
    """Several processes on one database: console workers, ``siyu bot``, the CLI."""

    #: Seconds between two reads of the change feed: a script, document or taxonomy
    #: change made by another process is served here within this plus the refresh
    #: (README, *Several processes*).
    poll_seconds: float = Field(default=1.0, gt=0, le=300)


class PrivacySettings(_Section):
    #: Message text older than this many days is erased at start-up (rows, types and
    #: times stay for the statistics). 0 = keep message text forever.
    message_retention_days: int = Field(default=0, ge=0, le=36500)
    #: PostgreSQL, after ``customers forget`` and the retention erasure: "full" rewrites
    #: the tables written to (VACUUM FULL: the erased text leaves the files; each table is
    #: locked while it is copied), "plain" only vacuums them (no lock; erased text can stay
    #: in the pages' free space until it is overwritten). SQLite always zeroes deleted
    #: content and empties its write-ahead log.
    erase_vacuum: Literal["full", "plain"] = "full"


class Settings(_Section):
    #: Directory holding every piece of state (database, vector index). Relative paths
    #: are relative to the working directory.
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    #: Time zone of every time and date shown to people (CLI, console, exports, charts)
    #: and of ``{today}`` / ``{deadline}``.
    timezone: str = "Asia/Shanghai"
    store: StoreSettings = StoreSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    vectors: VectorSettings = VectorSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    tagging: TaggingSettings = TaggingSettings()
    llm: LLMSettings = LLMSettings()
    assistant: AssistantSettings = AssistantSettings()
    followups: FollowupSettings = FollowupSettings()
    campaigns: CampaignSettings = CampaignSettings()
    next_actions: NextActionSettings = NextActionSettings()
    advisers: AdviserSettings = AdviserSettings()
    web: WebSettings = WebSettings()
    outcomes: OutcomeSettings = OutcomeSettings()
    learning: LearningSettings = LearningSettings()
    context: ContextSettings = ContextSettings()
    ranking: RankingSettings = RankingSettings()
    wechaty: WechatySettings = WechatySettings()
    privacy: PrivacySettings = PrivacySettings()
    cluster: ClusterSettings = ClusterSettings()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"未知的时区 {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The team's time zone (``timezone``)."""
        return ZoneInfo(self.timezone)

    def today(self, now: datetime | None = None) -> date:
        """The team's calendar day at ``now`` (default: now), e.g. for ``{today}``."""
        return (now or datetime.now(UTC)).astimezone(self.zone).date()

    def ensure_data_dir(self) -> Path:
        """``data_dir``, created if missing; a ``ConfigError`` saying why when it cannot be
        (a file of that name, no permission, a read-only disk)."""
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except FileExistsError as exc:  # a file (or a file among its parents) of that name
            raise ConfigError(
                f"数据目录 {self.data_dir} 不是文件夹（已有同名文件）："
                "--data-dir 或 SIYU_DATA_DIR 要指向一个文件夹"
            ) from exc
        except OSError as exc:
            raise ConfigError(f"无法创建数据目录 {self.data_dir}：{os_reason(exc)}") from exc
        return self.data_dir

    @property
    def database_url(self) -> str:
        return self.store.url or f"sqlite:///{(self.data_dir / 'siyu.db').as_posix()}"


def load_settings(
    config_file: Path | None = None,
    *,
    data_dir: Path | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    """Read the TOML file (if any) and apply environment and explicit overrides."""
    env = os.environ if environ is None else environ
    path = config_file or (Path(env["SIYU_CONFIG"]) if env.get("SIYU_CONFIG") else None)
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"找不到配置文件：{path}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"配置文件 {path} 不是 UTF-8 文本") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"配置文件 {path} 不是有效的 TOML：{_toml_place(exc)}") from exc
    if data_dir is not None:
        raw["data_dir"] = str(data_dir)
    elif env.get("SIYU_DATA_DIR"):
        raw["data_dir"] = env["SIYU_DATA_DIR"]
    if env.get("SIYU_DATABASE_URL"):
        raw.setdefault("store", {})["url"] = env["SIYU_DATABASE_URL"]
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        problems = [str(p) for p in problems_of(exc)]
        where = f"（{path}）" if path else ""
        raise ConfigError(f"配置有误{where}：\n  " + "\n  ".join(problems)) from exc


def _toml_place(exc: tomllib.TOMLDecodeError) -> str:
    """Where a TOML file's syntax breaks, in Chinese (tomllib says it in English)."""
    found = re.search(r"line (\d+), column (\d+)", str(exc))
    if found:
        return f"第 {found[1]} 行第 {found[2]} 列附近有语法错误（键 = 值，文本要加引号）"
    return "语法错误（键 = 值，文本要加引号）"
