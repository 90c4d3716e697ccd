"""The Chinese names of every code a person reads: one place for the CLI, the exports, the
charts, the channel's notes and the console.

The stored values stay codes (bot/vocab.py, scripts_lib/model.py); a front shows
``label(KIND, code)`` instead. The script library's own vocabularies (category, stage,
script status, industry) are defined with the import format in scripts_lib/model.py,
whose imports accept these names too; they are re-exported here so that a front reads
every label from this module. A code with no label is shown as it is (an industry an
operator made up, a tag's own name).

This module imports only bot/vocab.py and scripts_lib: every layer may use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from scripts_lib.model import (
    CATEGORY_LABELS,
    HEADER_LABELS,
    INDUSTRY_LABELS,
    STAGE_LABELS,
)
from scripts_lib.model import STATUS_LABELS as SCRIPT_STATUS_LABELS

__all__ = [
    "ANY_INDUSTRY_LABEL",
    "ATTRIBUTION_METHOD_LABELS",
    "CATEGORY_LABELS",
    "DOCUMENT_KIND_LABELS",
    "EVENT_LABELS",
    "FILTER_FIELD_LABELS",
    "FOLLOWUP_STATUS_LABELS",
    "HEADER_LABELS",
    "IDENTITY_LABELS",
    "INBOX_QUEUE_LABELS",
    "INDUSTRY_LABELS",
    "LIFECYCLE_LABELS",
    "OUTCOME_LABELS",
    "RECORD_LABELS",
    "ROLE_LABELS",
    "SCRIPT_STATUS_LABELS",
    "STAGE_LABELS",
    "SUGGESTION_MODE_LABELS",
    "TAG_SOURCE_LABELS",
    "TAG_STATUS_LABELS",
    "TOTAL",
    "choices",
    "code_of",
    "counted",
    "identity_label",
    "industry_label",
    "label",
]

#: The work queues of the conversation list (bot/vocab.py InboxQueue), as the manager's
#: home names them.
INBOX_QUEUE_LABELS: Final[dict[str, str]] = {
    "waiting": "待回复会话",
    "followups": "今日跟进",
    "stated": "待确认资料",
}
#: A customer tag's review status (bot/vocab.py TagStatus).
TAG_STATUS_LABELS: Final[dict[str, str]] = {
    "suggested": "待确认",
    "confirmed": "已确认",
    "rejected": "已拒绝",
}
#: Where a customer tag came from (TagSource).
TAG_SOURCE_LABELS: Final[dict[str, str]] = {"manual": "手动", "rule": "关键词", "model": "模型"}
#: The computed lifecycle of a customer (Lifecycle).
LIFECYCLE_LABELS: Final[dict[str, str]] = {
    "new": "新客户",
    "engaged": "互动中",
    "converted": "已成交",
    "silent": "沉默",
    "churn_risk": "流失风险",
}
#: A customer's events: timeline lines and conversion types.
EVENT_LABELS: Final[dict[str, str]] = {
    "contact_added": "添加好友",
    "friend_request": "好友申请",
    "stage_changed": "阶段变化",
    "converted": "成交",
    "purchase": "购买",
    "attributed": "渠道归因",
    "referral_set": "登记介绍人",
    "code_not_attributed": "渠道码未归因（其他顾问的码）",
}
#: The built-in fields of a segment's filters (bot/crm/segments.py), as a person reads
#: them.
FILTER_FIELD_LABELS: Final[dict[str, str]] = {
    "industry": "行业",
    "stage": "阶段",
    "lifecycle": "生命周期",
    "source": "来源渠道",
    "adviser": "顾问",
    "city": "城市",
    "product": "意向产品",
    "name": "姓名",
    "tag": "标签",
    "event": "事件",
    "spent": "累计消费",
    "orders": "订单数",
    "age": "年龄",
}
#: How a customer was attributed to a campaign entry code (AttributionMethod).
ATTRIBUTION_METHOD_LABELS: Final[dict[str, str]] = {
    "greeting": "好友验证语",
    "channel_param": "渠道参数",
    "import": "导入",
    "manual": "手动",
}
#: Identity kinds: the channel a contact id belongs to, or what the value is.
IDENTITY_LABELS: Final[dict[str, str]] = {
    "memory_contact": "测试渠道",
    "console_contact": "命令行测试",
    "api_contact": "API 接入",
    "wechaty_contact": "微信",
    "history_contact": "聊天记录导入",
    "wecom_external_userid": "企业微信",
    "unionid": "UnionID",
    "phone": "手机号",
    "member_id": "会员号",
    "crm_id": "CRM 编号",
}
#: Console roles (Role) and the command line's administrator.
ROLE_LABELS: Final[dict[str, str]] = {
    "adviser": "顾问",
    "operator": "运营",
    "manager": "主管",
    "admin": "管理员",
}
#: What happened to a suggestion (OutcomeKind).
OUTCOME_LABELS: Final[dict[str, str]] = {
    "adopted": "采用",
    "edited": "修改后采用",
    "ignored": "未用",
}
#: A follow-up reminder's status (FollowUpStatus).
FOLLOWUP_STATUS_LABELS: Final[dict[str, str]] = {
    "open": "待办",
    "done": "已完成",
    "dismissed": "已忽略",
}
#: How a suggestion was made (SuggestionMode).
SUGGESTION_MODE_LABELS: Final[dict[str, str]] = {"llm": "大模型草稿", "retrieval": "检索"}
#: The kinds of knowledge documents (knowledge/loaders.py).
DOCUMENT_KIND_LABELS: Final[dict[str, str]] = {
    "text": "文本",
    "markdown": "Markdown",
    "qa": "问答表",
    "table": "表格",
}
#: What a customer's records are called where a merge or an erasure counts them (the
#: keys of bot/store/ownership.py).
RECORD_LABELS: Final[dict[str, str]] = {
    "identities": "身份",
    "conversations": "会话",
    "messages": "消息",
    "channel_inbox": "待处理消息",
    "tags": "标签",
    "customer_tags": "标签",
    "tag_examples": "标签例句",
    "suggestions": "建议",
    "script_uses": "话术使用",
    "script_examples": "话术例句",
    "events": "事件",
    "events_stripped": "事件（已去除内容）",
    "suggestions_stripped": "建议（已去除内容）",
    "outcomes": "建议结果",
    "outcomes_stripped": "建议结果（已去除内容）",
    "transactions_stripped": "订单（已去除内容）",
    "transactions": "订单",
    "follow_ups": "跟进提醒",
    "follow_up_occurrences": "提醒记录",
    "followup_occurrences": "提醒记录",
    "merges": "合并记录",
    "merged_profiles": "被合并的档案",
    "referred_customers": "介绍的客户",
    "profile_fields": "画像字段",
    "field_values": "画像字段",
    "profile_suggestions": "字段建议",
    "customers": "客户",
    "audit": "审计记录",
}
#: The row that adds up the others in a report.
TOTAL: Final = "合计"
#: A document or script that applies to every industry.
ANY_INDUSTRY_LABEL: Final = "全部"


def money(value: float | None, *, whole: bool = False) -> str:
    """An amount as the CLI and the console both write it: 9,880.00 (``whole``: 9,880);
    ``-`` for none."""
    if value is None:
        return "-"
    return f"{value:,.0f}" if whole else f"{value:,.2f}"


def label(labels: dict[str, str], code: str | None, default: str = "-") -> str:
    """The Chinese name of ``code`` in ``labels``; the code itself when it has none;
    ``default`` for no code."""
    if not code:
        return default
    return labels.get(code, code)


def code_of(labels: dict[str, str], value: str) -> str | None:
    """The code ``value`` names in ``labels``: the code itself or its Chinese name
    (已确认 → confirmed); None when it names none."""
    value = value.strip()
    if value in labels:
        return value
    return next((code for code, name in labels.items() if name == value), None)


def choices(labels: dict[str, str], codes: Iterable[str] | None = None) -> str:
    """Every code (or those of ``codes``, in that order) with its Chinese name, for an
    error: ``draft（草稿）、approved（已审核）``."""
    shown = labels if codes is None else codes
    return "、".join(f"{code}（{labels.get(code, code)}）" for code in shown)


def counted(counts: dict[str, int] | dict[str, list[int]], labels: dict[str, str]) -> str:
    """``身份 2、消息 14``: the non-empty counts of a result, by their Chinese names."""
    parts = []
    for code, n in counts.items():
        number = len(n) if isinstance(n, list) else n
        if number:
            parts.append(f"{label(labels, code)} {number}")
    return "、".join(parts)


def identity_label(kind: str) -> str:
    """What an identity is: 微信、手机号 …; a channel's contact id that has no label of
    its own is 「<channel> 联系人」."""
    if kind in IDENTITY_LABELS:
        return IDENTITY_LABELS[kind]
    channel, _, rest = kind.rpartition("_")
    return f"{channel} 联系人" if rest == "contact" and channel else kind


def industry_label(code: str | None) -> str:
    """An industry's Chinese name (通用 / 保险 / 考研 …; an operator's own industry as it
    is written)."""
    return label(INDUSTRY_LABELS, code)
