"""API schemas (pydantic): the public shapes of the JSON API. Only ``bot.web`` uses them.

A ``Public`` shape is read from what a service returns (``Shape.model_validate(record)``
reads the record's attributes); a field named differently from the record's attribute
says where it comes from with a ``validation_alias``."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasPath,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    computed_field,
    field_validator,
)

from bot.domain import MAX_MESSAGE_CHARS, MESSAGE_TYPES
from bot.domain import plausible_time as domain_time
from bot.services.customers import MERGED_NOTICE
from bot.vocab import ChangeTopic
from scripts_lib.model import HEADER_LABELS

#: A rate rounded to four decimals, as the API has always shown rates.
Rate = Annotated[float, AfterValidator(lambda v: round(v, 4))]


#: Row ids are positive and fit a 32-bit INTEGER column (PostgreSQL's ``integer``): a
#: larger number names no row, and is refused (422) like any malformed value rather than
#: reaching the database (where 2^63 and more overflowed into a 500).
MAX_ID = 2**31 - 1
#: A row id in a request body or form.
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class Public(BaseModel):
    """A response shape read from a record's attributes; by field name too, so a dumped
    instance validates again (FastAPI checks what a route returns)."""

    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


class Me(Public):
    username: str
    display_name: str
    role: str
    adviser_id: str | None
    team: str | None


class Health(Public):
    """``GET /healthz``: one process of the console."""

    status: Literal["ok"]
    pid: int
    #: running: this process runs the follow-up rules; standby: another one does.
    followups: Literal["running", "standby", "off"]
    followup_runs: int
    #: The version of the script library, knowledge and taxonomy this process serves.
    versions: dict[ChangeTopic, int]
    #: Live updates from the other processes reach this one (PostgreSQL).
    live_across_processes: bool


class InboxItem(Public):
    customer_id: int
    name: str
    adviser_id: str | None
    last_message_at: datetime | None
    last_text: str
    unread: int
    waiting_since: datetime | None


class IdentityPublic(Public):
    kind: str
    value: str
    display_name: str | None


class CustomerTagPublic(Public):
    id: int
    customer_id: int
    customer_name: str
    tag: str = Field(validation_alias=AliasPath("tag", "name"))
    category: str = Field(validation_alias=AliasPath("tag", "category"))
    status: str
    source: str
    evidence: str
    score: float
    reviewer: str | None
    #: The id of the message the tag was suggested from (or added with), as its channel
    #: or import gave it.
    source_msg_id: str | None = None


class TimelinePublic(Public):
    at: datetime
    kind: str
    direction: str | None
    text: str


class CustomerPublic(Public):
    id: int
    name: str
    adviser_id: str | None
    industry: str | None
    stage: str
    product: str | None
    city: str | None
    last_message_at: datetime | None
    merged_into_id: int | None = Field(
        default=None, description="The customer this profile was merged into (null: none)."
    )


class ProfilePublic(Public):
    customer: CustomerPublic
    identities: list[IdentityPublic]
    tags: list[CustomerTagPublic]
    timeline: list[TimelinePublic]
    message_count: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def notice(self) -> str | None:
        """「已合并到客户 #12」 for a profile merged into another, else null."""
        merged = self.customer.merged_into_id
        return MERGED_NOTICE.format(id=merged) if merged is not None else None


class SuggestionPublic(Public):
    id: int
    customer_id: int | None
    message_id: int | None
    mode: str
    reply: str | None
    created_at: datetime
    #: scripts, knowledge, tags … as in `siyu suggest --json`.
    candidates: dict[str, Any]
    #: What the adviser already used of it: script id ("" for the drafted reply) ->
    #: "adopted" / "edited".
    used: dict[str, str] = {}


class CustomerExport(Public):
    profile: ProfilePublic
    suggestions: list[SuggestionPublic]


class OutcomeCreate(BaseModel):
    kind: Literal["adopted", "edited"]
    final_text: str = Field(min_length=1, max_length=4000)
    #: The script used; null when the drafted reply was used.
    script_id: str | None = Field(default=None, max_length=64)


class OutcomeCreated(Public):
    outcome_id: int


class TagReview(BaseModel):
    status: Literal["confirmed", "rejected"]


class BulkTagReview(BaseModel):
    ids: list[Id] = Field(min_length=1, max_length=500)
    status: Literal["confirmed", "rejected"]


class BulkReviewResult(Public):
    reviewed: int


class TagAdd(BaseModel):
    #: A customer id, or any identity value of theirs (WeChat id, contact id, phone …).
    customer: str = Field(min_length=1, max_length=200)
    #: The tag's name, or 分类/标签 when the name is not unique.
    tag: str = Field(min_length=1, max_length=201)
    #: The id of the customer's message that shows the tag.
    msg_id: str | None = Field(default=None, max_length=200)


class TagPrecisionPublic(Public):
    tag: str = Field(validation_alias=AliasPath("tag", "name"))
    category: str = Field(validation_alias=AliasPath("tag", "category"))
    confirmed: int
    rejected: int
    waiting: int
    reviewed: int
    #: confirmed / reviewed; null before any review.
    precision: float | None


class ReviewItemPublic(Public):
    tag: CustomerTagPublic
    adviser_id: str | None
    #: What colleagues call the adviser (their console name), never the id alone.
    adviser_name: str | None = None
    evidence_message: str | None


class SuggestRequest(BaseModel):
    text: str = Field(min_length=1, max_length=2000)
    industry: str | None = Field(default=None, max_length=50)


#: Longest source id (message, contact) ``POST /api/messages`` takes: stored with the
#: adviser id (≤ 64) as a prefix in 200-character columns.
MAX_SOURCE_ID = 128


class MessageIn(BaseModel):
    """A message of one of the adviser's chats, posted by an integration (a WeCom
    callback bridge, a CRM) instead of a channel the bot runs itself."""

    msg_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_SOURCE_ID,
        description="The source's message id: a repeated post with the same id is logged once.",
    )
    contact_id: str = Field(
        min_length=1, max_length=MAX_SOURCE_ID, description="The customer's id at the source."
    )
    contact_name: str = Field(default="", max_length=200)
    text: str = Field(default="", max_length=MAX_MESSAGE_CHARS)
    direction: Literal["in", "out"] = Field(
        default="in", description="in: from the customer; out: the adviser's own reply."
    )
    type: str = Field(default="text", description="One of: " + ", ".join(MESSAGE_TYPES))
    industry: str | None = Field(default=None, max_length=50)
    sent_at: datetime | None = Field(default=None, description="Default: now.")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in MESSAGE_TYPES:
            raise ValueError("type 只能是：" + "、".join(MESSAGE_TYPES))
        return value

    @field_validator("msg_id", "contact_id")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            raise ValueError("ID 不能包含控制字符或未分配的字符")
        return value

    @field_validator("sent_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return plausible_time(value, "sent_at")


def plausible_time(value: datetime | None, field: str) -> datetime | None:
    """An optional time another system sends, by the one rule (``bot.domain``)."""
    return None if value is None else domain_time(value, field)


class MessageAccepted(Public):
    message_id: int
    customer_id: int | None
    duplicate: bool
    suggestion: dict[str, Any] | None


class ScriptPublic(Public):
    id: str
    title: str
    category: str
    stage: str
    industry: str
    tags: list[str]
    body: str
    status: str
    version: int
    variant_group: str | None
    deadline: date | None = None


class DocumentPublic(Public):
    """A knowledge document: one per name (its file name)."""

    id: int
    source: str = Field(description="The document's name (its file name).")
    kind: str
    industry: str | None
    chunks: int
    origin: str = Field(description="Where the current version came from.")


class ScriptDraft(BaseModel):
    id: str = Field(default="", max_length=64)
    title: str = Field(default="", max_length=200)
    category: str = Field(default="", max_length=20)
    stage: str = Field(default="", max_length=20)
    industry: str = Field(default="", max_length=50)
    tags: str = Field(default="", max_length=500, description="`;`-separated")
    body: str = Field(default="", max_length=4000)
    #: The day ``{deadline}`` stands for, ``YYYY-MM-DD``; "" clears it; None (not sent):
    #: the stored script's.
    deadline: str | None = Field(default=None, max_length=10)


class LintIssuePublic(Public):
    field: str
    message: str
    severity: str

    @computed_field  # type: ignore[prop-decorator]
    @property
    def field_label(self) -> str:
        """The field as the editor names it (标题, 内容 …)."""
        return HEADER_LABELS.get(self.field, self.field)


class ScriptPreview(Public):
    text: str
    missing: list[str]
    issues: list[LintIssuePublic]


class KpiPublic(Public):
    adviser_id: str
    name: str
    messages_in: int
    messages_out: int
    suggestions: int
    adopted: int
    edited: int
    adoption_rate: Rate
    first_response_min: float | None = None
    conversations_per_day: float = 0.0


class ReminderPublic(Public):
    """A follow-up due today or earlier, with its suggested script filled in."""

    id: int = Field(validation_alias=AliasPath("follow_up", "id"))
    customer_id: int = Field(validation_alias=AliasPath("follow_up", "customer_id"))
    customer_name: str = Field(validation_alias=AliasPath("follow_up", "customer_name"))
    adviser_id: str | None = Field(validation_alias=AliasPath("follow_up", "adviser_id"))
    due_at: datetime = Field(validation_alias=AliasPath("follow_up", "due_at"))
    note: str
    rule: str | None = Field(validation_alias=AliasPath("follow_up", "rule"))
    script_id: str | None = Field(validation_alias=AliasPath("follow_up", "script_id"))
    script: str | None


class ApiTokenPublic(Public):
    """One of your API tokens (the token itself is shown only once, at creation)."""

    id: int
    name: str
    revoked: bool
    created_at: datetime
    last_used_at: datetime | None


class MergeCreate(BaseModel):
    keep_id: int = Field(ge=1, le=MAX_ID)
    merge_id: int = Field(ge=1, le=MAX_ID)
    reason: str = Field(default="", max_length=500)


class MergePublic(Public):
    id: int
    kept_id: int
    merged_id: int
    actor: str
    reason: str
    moved: dict[str, int]
    created_at: datetime
    undone_at: datetime | None = None
    undone_by: str | None = None


class MergeSuggestionPublic(Public):
    keep_id: int
    merge_id: int
    keep_name: str
    merge_name: str
    evidence: list[str]


class FunnelRowPublic(Public):
    group: str
    new: int
    engaged: int
    converted: int
    conversion_rate: Rate = Field(validation_alias="rate")
    revenue: float


class FunnelCustomerPublic(Public):
    customer_id: int
    name: str
    stage: Literal["new", "engaged", "converted"]
    engaged: bool
    revenue: float


#: Split of the script effectiveness report.
GroupByParam = Literal["industry", "stage", "adviser"]


#: A conversion posted by another system (``POST /api/events``).
class EventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: str = Field(
        min_length=1, max_length=200, description="Customer id or an identity value"
    )
    type: Literal["purchase", "converted", "stage_changed"] = "purchase"
    amount: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    time: datetime | None = Field(
        default=None, description="When, with its zone (default: now); 2000 to tomorrow"
    )
    product: str = Field(default="", max_length=200)
    order_id: str | None = Field(default=None, min_length=1, max_length=100)
    stage: Literal["acquire", "engage", "convert", "retain"] | None = None

    @field_validator("time")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return plausible_time(value, "time")


class EventCreated(BaseModel):
    event_id: int | None
    transaction_id: int | None
    customer_id: int
    duplicate: bool


class RatePublic(BaseModel):
    rate: float | None
    low: float
    high: float
    n: int


class ScriptEffectivenessPublic(BaseModel):
    script_id: str
    segment: str
    title: str
    variant_group: str | None
    suggested: int
    adopted: int
    edited: int
    adoption: RatePublic
    reply: RatePublic
    conversion: RatePublic
    often_edited: bool
    never_adopted: bool
    common_edits: list[tuple[str, int]]


class JobPublic(Public):
    """Long work started from the console (an upload being ingested, an import, a
    rebuild): poll it until ``state`` is done or failed."""

    id: str
    title: str
    state: Literal["queued", "running", "done", "failed"]
    #: The current phase (e.g. 建立索引) and its progress (``done`` of ``total``; 0 of 0
    #: when the phase has no count).
    phase: str
    done: int
    total: int
    #: The outcome or the error, in Chinese.
    message: str
    #: Where to go when it is done.
    next_url: str | None


# --------------------------------------------------------------------------- campaigns
class CampaignCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    channel: str = Field(
        min_length=1, max_length=30, description="直播, 门店扫码, 信息流, 转介绍 …"
    )
    starts_on: date
    ends_on: date | None = None
    cost: float = Field(default=0.0, ge=0, le=1e12, allow_inf_nan=False)
    segment: str | None = Field(default=None, max_length=100)
    welcome_script_id: str | None = Field(default=None, max_length=64)
    note: str = Field(default="", max_length=2000)
    advisers: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=500, description="Default: every adviser you manage"
    )
    codes: dict[
        Annotated[str, Field(min_length=1, max_length=64)],
        Annotated[str, Field(min_length=1, max_length=40)],
    ] = Field(
        default_factory=dict,
        max_length=500,
        description="adviser id -> an entry code chosen by hand",
    )


class CampaignPublic(Public):
    id: int
    name: str
    channel: str
    starts_on: date
    ends_on: date | None
    cost: float
    segment: str | None
    welcome_script_id: str | None
    note: str


class CodePublic(Public):
    id: int
    campaign_id: int
    campaign: str
    channel: str
    adviser_id: str
    adviser_name: str
    code: str
    target_added: int | None
    target_converted: int | None
    target_revenue: float | None


class CampaignDetail(BaseModel):
    campaign: CampaignPublic
    codes: list[CodePublic]


class TargetsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    adviser_id: str = Field(min_length=1, max_length=64)
    added: int | None = Field(default=None, ge=0, le=10**9)
    converted: int | None = Field(default=None, ge=0, le=10**9)
    revenue: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)


class AttributionCreate(BaseModel):
    """An entry code, or a campaign (id or name) and optionally the adviser whose code."""

    model_config = ConfigDict(extra="forbid")

    code: str | None = Field(default=None, min_length=1, max_length=40)
    campaign: str | None = Field(default=None, min_length=1, max_length=100)
    adviser_id: str | None = Field(default=None, min_length=1, max_length=64)
    note: str = Field(default="", max_length=500)


class AttributionPublic(Public):
    customer_id: int
    code: CodePublic
    method: str
    evidence: str
    at: datetime | None
    by: str


class CampaignReportRow(Public):
    campaign: str
    channel: str
    adviser_id: str | None
    adviser_name: str
    added: int
    referred: int
    engaged: int
    converted: int
    revenue: float
    cost: float
    roi: float | None
    target_added: int | None
    target_converted: int | None
    target_revenue: float | None
    total: bool


class CampaignMemberPublic(Public):
    customer_id: int
    name: str
    added_at: datetime
    stage: Literal["new", "engaged", "converted"]
    referred: int
    revenue: float


# --------------------------------------------------------------------------- referrals
class ReferrerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    referrer: str | None = Field(
        default=None,
        max_length=200,
        description="Customer id, any identity or a name (one customer in scope); null clears",
    )
    note: str = Field(default="", max_length=500)


class PersonPublic(Public):
    id: Annotated[int | None, BeforeValidator(lambda v: v or None)] = Field(
        description="null: a customer outside your scope"
    )
    name: str


class ReferredPublic(Public):
    person: PersonPublic
    children: list[ReferredPublic]


class ChainPublic(Public):
    up: list[PersonPublic]
    down: list[ReferredPublic]


class AdviserSharePublic(Public):
    adviser_id: str
    customers: int
    referred: int
    customer_share: Rate
    revenue: float
    referred_revenue: float
    revenue_share: Rate


class ReferrerRowPublic(Public):
    referrer_id: int
    name: str
    adviser_id: str | None
    direct: int
    chain: int
    direct_revenue: float
    chain_revenue: float


class ReferralReportPublic(Public):
    advisers: list[AdviserSharePublic]
    referrers: list[ReferrerRowPublic]
    total: AdviserSharePublic


# --------------------------------------------------------------------------- profile fields
class FieldPublic(Public):
    name: str
    type: str
    industry: str
    unit: str
    description: str
    choices: list[str]


class FieldValuePublic(Public):
    field: str = Field(validation_alias=AliasPath("spec", "name"))
    type: str = Field(validation_alias=AliasPath("spec", "type"))
    unit: str = Field(validation_alias=AliasPath("spec", "unit"))
    value: str | None = Field(default=None, validation_alias=AliasPath("value", "value"))
    shown: str = Field(validation_alias="text")
    source: str | None = Field(default=None, validation_alias=AliasPath("value", "source"))
    evidence: str | None = Field(default=None, validation_alias=AliasPath("value", "evidence"))


class FieldsUpdate(BaseModel):
    """Field name -> value (an empty string clears the field)."""

    model_config = ConfigDict(extra="forbid")

    values: dict[str, Annotated[str, Field(max_length=200)]] = Field(min_length=1, max_length=100)


class ProfileSuggestionPublic(Public):
    id: int
    customer_id: int
    customer_name: str
    field: str = Field(description="A profile field, or referred_by (a referrer)")
    value: str = Field(description="referred_by: the referrer's customer id, or the name said")
    shown: str
    evidence: str
    status: str
    reviewer: str | None


class NextActionPublic(Public):
    rule: str
    product: str | None
    script_id: str | None
    script_text: str | None
    reason: str
    script_title: str | None = None


# --------------------------------------------------------------------------- advisers
class PersonaPublic(Public):
    id: str
    name: str
    persona_name: str | None
    shown_name: str
    signature: str
    tone: str


class PersonaUpdate(BaseModel):
    """Persona fields to change (left out: unchanged; empty: cleared)."""

    model_config = ConfigDict(extra="forbid")

    persona_name: str | None = Field(default=None, max_length=100)
    signature: str | None = Field(default=None, max_length=500)
    tone: str | None = Field(default=None, max_length=500)


class NumbersPublic(Public):
    answered: int
    received: int
    suggestions: int
    used: int
    adoption_rate: Rate
    conversions: int
    revenue: float


class TargetProgressPublic(Public):
    campaign: str
    code: str
    added: int
    converted: int
    revenue: float
    target_added: int | None
    target_converted: int | None
    target_revenue: float | None


class MyNumbersPublic(Public):
    adviser_id: str
    today: NumbersPublic
    period: NumbersPublic
    period_label: str
    targets: list[TargetProgressPublic]


# --------------------------------------------------------------------------- channel
class ChannelAccountPublic(Public):
    """One WeChat account of the channel as its process last wrote it."""

    account: str
    adviser_id: str | None
    #: What colleagues call the adviser ("" when the account has none).
    adviser_name: str
    #: connecting / waiting_scan / logged_in / logged_out / reconnecting / stopped /
    #: not_running; ``label`` is its Chinese name.
    state: str
    label: str
    user_id: str | None
    user_name: str
    logged_in_at: datetime | None
    last_message_at: datetime | None
    backlog: int
    parked: int
    #: The login QR code payload while a scan is awaited: only for the account's adviser.
    qr_code: str | None
    banner: str | None


class ParkedPublic(Public):
    """A channel event given up after its retries, kept for an operator."""

    id: int
    account: str
    kind: str
    stage: str | None
    attempts: int
    error: str | None
    received_at: datetime
    contact_name: str
    text: str


class ChannelStatusPublic(Public):
    accounts: list[ChannelAccountPublic]
    parked: list[ParkedPublic]


class RequeueRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Parked event ids; omitted or null: every parked event in scope.
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] | None = None


class RequeueResult(Public):
    requeued: int


class DiscardRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Parked event ids, named one by one (there is no "all").
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(min_length=1, max_length=1000)


class DiscardResult(Public):
    discarded: int


# ------------------------------------------------------------------ sidebar tools
class LibraryItemPublic(Public):
    """An approved script, filled in for the customer asked about (placeholders such as
    【待填:城市】 where a value is missing, their variables in ``missing``)."""

    id: str
    title: str
    category: str
    stage: str
    industry: str
    text: str
    missing: list[str]
    favourite: bool


class FavouriteState(BaseModel):
    script_id: str
    favourite: bool


class NotePublic(Public):
    id: int
    customer_id: int
    text: str
    #: The author's username and how they were shown when they wrote it.
    author: str
    author_name: str
    created_at: datetime


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=1000)


class BasicsUpdate(BaseModel):
    """The profile's own fields; an empty string clears one, a missing key keeps it."""

    model_config = ConfigDict(extra="forbid")

    city: str | None = Field(default=None, max_length=50)
    product: str | None = Field(default=None, max_length=100)
    #: 年-月-日 (e.g. 1990-05-03).
    birthday: str | None = Field(default=None, max_length=10)


class BasicsPublic(Public):
    customer_id: int = Field(validation_alias="id")
    city: str | None
    product: str | None
    birthday: date | None


class MoreScripts(BaseModel):
    """Scripts added to the suggestion (its candidates), in the shape of its others."""

    scripts: list[dict[str, Any]]
