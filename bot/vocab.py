"""The closed vocabularies: roles, statuses, kinds, stages — each defined once, here.

Each is a ``Literal`` type, used by the domain records, the store's models, records and
repository signatures, with the tuple of its values where something validates against it.
``member`` turns user input (a CLI argument, a file cell) into one of them, or None;
``bot.errors.one_of`` raises a one-line ``InputError`` instead. This module imports nothing
of bot: the domain records use it.
"""

from __future__ import annotations

from typing import Literal, TypeVar, get_args

#: Console users: an adviser sees their own customers, a manager their team's, an operator
#: curates the script library and the knowledge base.
Role = Literal["adviser", "operator", "manager"]
ROLES: tuple[Role, ...] = get_args(Role)

#: A customer tag: suggested by the pipeline, then confirmed or rejected by a reviewer.
TagStatus = Literal["suggested", "confirmed", "rejected"]
#: What a reviewer decides about a suggested tag.
ReviewStatus = Literal["confirmed", "rejected"]
REVIEW_STATUSES: tuple[ReviewStatus, ...] = get_args(ReviewStatus)
#: Where a customer tag came from: added by a person, a taxonomy rule, the model.
TagSource = Literal["manual", "rule", "model"]
#: How a message became a labelled example of a tag: its suggested tag was confirmed or
#: rejected, or a person added the tag with it.
ExampleOrigin = Literal["confirmed", "rejected", "added"]

#: Only approved scripts are suggested.
ScriptStatus = Literal["draft", "approved", "archived"]
SCRIPT_STATUSES: tuple[ScriptStatus, ...] = get_args(ScriptStatus)

#: The customer's stage in the script vocabulary (引流 / 承接 / 转化 / 服务).
Stage = Literal["acquire", "engage", "convert", "retain"]
STAGES: tuple[Stage, ...] = get_args(Stage)

#: The computed lifecycle of a customer (bot/crm/reports.py).
Lifecycle = Literal["new", "engaged", "converted", "silent", "churn_risk"]
LIFECYCLES: tuple[Lifecycle, ...] = get_args(Lifecycle)

#: What happened to a suggestion: used as is, used edited, or not used.
OutcomeKind = Literal["adopted", "edited", "ignored"]
#: The kinds the adviser records from the web console ("use" a suggestion).
WebOutcomeKind = Literal["adopted", "edited"]
WEB_OUTCOME_KINDS: tuple[WebOutcomeKind, ...] = get_args(WebOutcomeKind)

FollowUpStatus = Literal["open", "done", "dismissed"]
#: A work queue of the conversation list, counted on the manager's home and filtered by on
#: the sidebar: conversations waiting for a reply, customers with a follow-up due today or
#: overdue, customers with values stated in their messages waiting for confirmation.
InboxQueue = Literal["waiting", "followups", "stated"]
INBOX_QUEUES: tuple[InboxQueue, ...] = get_args(InboxQueue)

#: How an adviser's sent message matched a script: its template with the variables filled
#: in, or an edited version of it (scripts_lib/matching.py).
UseKind = Literal["template", "edited"]
#: Where an example customer message of a script came from: learned from a use of the
#: script in a chat, or written by an operator (the import's ``examples`` column).
ExampleSource = Literal["learned", "operator"]

#: A message from the customer ("in") or from the adviser ("out").
Direction = Literal["in", "out"]
#: A logged message waits for processing (pending) until it is done or failed.
MessageStatus = Literal["pending", "done", "failed"]

#: How a suggestion was made: an LLM draft, or retrieval only.
SuggestionMode = Literal["llm", "retrieval"]

#: One line of a customer's timeline.
TimelineKind = Literal["message", "event", "tag"]

#: The shared state every process loads into memory and refreshes when another process
#: changes it (bot/pipeline/changes.py): the script library, the knowledge base, the
#: tag taxonomy.
ChangeTopic = Literal["scripts", "knowledge", "tags"]
CHANGE_TOPICS: tuple[ChangeTopic, ...] = get_args(ChangeTopic)

#: The type of a declared profile field (bot/crm/fields.py).
FieldType = Literal["number", "money", "date", "choice", "text"]
FIELD_TYPES: tuple[FieldType, ...] = get_args(FieldType)

#: How a customer was attributed to a campaign entry code, or given a referrer: from the
#: greeting of the friend request (or the first message), from the channel's own
#: parameter (WeCom's ``state``), from an import file, or set by a person.
AttributionMethod = Literal["greeting", "channel_param", "import", "manual"]
ATTRIBUTION_METHODS: tuple[AttributionMethod, ...] = get_args(AttributionMethod)

#: Where a profile field value came from: set by a person, an import file, or a value
#: stated in a message and confirmed by a person.
FieldSource = Literal["manual", "import", "message"]

#: The period of an adviser's own numbers: this week (from Monday) or this month.
Period = Literal["week", "month"]
PERIODS: tuple[Period, ...] = get_args(Period)

V = TypeVar("V", bound=str)


def member(values: tuple[V, ...], value: str | None) -> V | None:
    """``value`` as one of ``values``; None if it is not one of them."""
    for allowed in values:
        if value == allowed:
            return allowed
    return None
