"""A request the router could not read (FastAPI's ``RequestValidationError``), said in
Chinese: the field by the name its page shows (最近天数, not ``days``) and what it takes
(「要一个 0 到 3660 之间的整数」), instead of pydantic's English.

The page of a browser shows the lines (bot/web/app.py); the API, and a form sent by the
page's script (which names the field by its label on the form: bot/web/static/app.js),
keep FastAPI's list of errors (``type``, ``loc``, ``ctx``) with each ``msg`` in Chinese.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from bot.labels import HEADER_LABELS

#: The name a person knows each field of the console's pages and forms by (query string,
#: form field or path). A test checks that every page's parameter is here.
FIELD_LABELS: Final[dict[str, str]] = {
    **HEADER_LABELS,  # a script's fields: 编号, 标题, 内容, 截止日期 …
    "days": "最近天数",
    "weeks": "最近周数",
    "since": "开始日期",
    "until": "结束日期",
    "by": "分组",
    "customer_id": "客户",
    "customer": "客户",
    "customer_tag_id": "客户标签",
    "suggestion_id": "建议",
    "adviser": "顾问",
    "adviser_id": "顾问",
    "campaign": "活动",
    "campaign_id": "活动",
    "name": "活动名称",
    "channel": "渠道",
    "segment": "人群",
    "segment_name": "分群名称",
    "filters": "筛选条件",
    "description": "说明",
    "cost": "成本",
    "starts_on": "开始日期",
    "ends_on": "结束日期",
    "welcome_script_id": "欢迎话术",
    "note": "备注",
    "code": "渠道码",
    "added": "新增",
    "converted": "成交",
    "revenue": "成交金额",
    "referrer": "介绍人",
    "referrer_shown": "介绍人",
    "birthday": "生日",
    "city": "城市",
    "product": "关注产品",
    "text": "内容",
    "tag": "标签",
    "msg_id": "消息编号",
    "add_for": "客户",  # the tag form's message step
    "add_tag": "标签",
    "pick_message": "选消息",
    "ids": "所选条目",
    "keep_id": "保留的客户",
    "merge_id": "合并的客户",
    "merge_record_id": "合并记录",
    "note_id": "备注",
    "document": "文档",
    "document_id": "文档",
    "file": "文件",
    "format": "文件格式",
    "q": "搜索",
    "queue": "筛选",
    "job": "任务",
    "job_id": "任务",
    "token": "导入",
    "token_id": "令牌",
    "script_id": "话术",
    "example_id": "客户例句",
    "has_deadline": "截止日期",
    "is_new": "新建",
    "old": "旧版本",
    "new": "新版本",
    "examples_page": "例句页码",
    "page": "页码",
    "persona_name": "称呼",
    "signature": "签名",
    "tone": "语气",
    "username": "用户名",
    "password": "密码",
    "csrf_token": "安全令牌",
    "next": "跳转地址",
    # numbers a page shows back after a form (「已处理 3 条」): typed by nobody
    "done": "已处理数",
    "created": "新建的活动",
    "fixed": "已归因的客户",
    "merged": "合并记录",
    "undone": "撤销的合并",
    "requeued": "放回条数",
    "discarded": "丢弃条数",
    "revoked": "撤销的令牌",
    "saved": "保存结果",
    "deleted": "已删除数",
}
#: A field this table does not know.
SOME_FIELD: Final = "有一项内容"
#: At most this much of what was sent is shown back.
SHOWN_INPUT_CHARS: Final = 40
_PREFIX = re.compile(r"^(Value error|Assertion failed), ")
_CJK = re.compile(r"[\u4e00-\u9fff]")


def field_label(error: Mapping[str, Any]) -> str:
    """The Chinese name of the field an error is about (its last named place)."""
    names = [part for part in error.get("loc", ()) if isinstance(part, str)]
    return FIELD_LABELS.get(names[-1], SOME_FIELD) if names else SOME_FIELD


def expected(error: Mapping[str, Any]) -> str:
    """What the field takes, in Chinese, from the error's type and limits."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    msg = str(error.get("msg", ""))
    if _CJK.search(msg):  # our own validators already speak Chinese
        return _PREFIX.sub("", msg)
    if kind == "missing":
        return "必须填写"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "要一个整数"
    if kind in ("float_parsing", "float_type", "decimal_parsing", "finite_number"):
        return "要一个数字"
    if kind == "greater_than_equal":
        return f"不能小于 {ctx.get('ge')}"
    if kind == "greater_than":
        return f"要大于 {ctx.get('gt')}"
    if kind == "less_than_equal":
        return f"不能大于 {ctx.get('le')}"
    if kind == "less_than":
        return f"要小于 {ctx.get('lt')}"
    if kind.startswith("date_"):
        return "要一个日期，例如 2026-01-31"
    if kind.startswith(("datetime_", "timezone_")):
        return "要一个时间，例如 2026-01-31T09:30:00+08:00"
    if kind == "string_too_long":
        return f"最多 {ctx.get('max_length')} 个字"
    if kind == "string_too_short":
        return "不能为空" if ctx.get("min_length") == 1 else f"至少 {ctx.get('min_length')} 个字"
    if kind in ("too_long", "too_short"):
        return "条目数不对"
    if kind in ("bool_parsing", "bool_type"):
        return "只能是“是”或“否”"
    if kind in ("string_pattern_mismatch", "literal_error", "enum"):
        return "不是可选的值"
    if kind.startswith("json_"):
        return "内容不是有效的 JSON"
    if kind == "extra_forbidden":
        return "不认识这个字段"
    return "格式不对"


def shown_input(error: Mapping[str, Any]) -> str:
    """What was sent, for a line such as 「收到「1e3」」; "" when nothing useful to show
    (nothing sent, or not a short text)."""
    value = error.get("input")
    if error.get("type") in ("missing", "string_too_long") or not isinstance(
        value, str | int | float
    ):
        return ""
    text = str(value).encode("utf-8", "replace").decode("utf-8")  # no lone surrogate
    return text if len(text) <= SHOWN_INPUT_CHARS else text[:SHOWN_INPUT_CHARS] + "…"


def line(error: Mapping[str, Any]) -> str:
    """「最近天数：要一个 0 到 3660 之间的整数（收到「1e3」）」; a field the request may not
    have is named as sent: 「不认识的字段「adviser」」."""
    if error.get("type") == "extra_forbidden":
        names = [part for part in error.get("loc", ()) if isinstance(part, str)]
        sent = names[-1][:SHOWN_INPUT_CHARS] if names else ""
        return f"不认识的字段「{sent}」" if sent else "有不认识的字段"
    got = shown_input(error)
    return f"{field_label(error)}：{expected(error)}" + (f"（收到「{got}」）" if got else "")


def message(errors: Sequence[Mapping[str, Any]]) -> str:
    """Every problem of a request, one line each (the same problem once)."""
    lines = list(dict.fromkeys(line(e) for e in errors))
    return "\n".join(lines) or "请求的内容格式不对"


def in_chinese(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's list of errors for the API, with each ``msg`` in Chinese; what was sent
    (``input``, and the names in ``loc``) comes back cut short (``bounded``): a
    10,000-character name is not echoed whole."""
    return [
        {
            **e,
            "msg": expected(e),
            **({"input": bounded(e["input"])} if "input" in e else {}),
            "loc": [bounded(part) for part in e.get("loc", ())],
        }
        for e in errors
    ]


#: Of what was sent, the most an API error echoes: characters of a text, items of a list
#: or an object, levels of nesting.
ECHOED_CHARS: Final = 64
ECHOED_ITEMS: Final = 20
ECHOED_DEPTH: Final = 4


def bounded(value: Any, depth: int = 0) -> Any:
    """``value`` (JSON) with each text cut to ``ECHOED_CHARS`` characters, each list and
    object to ``ECHOED_ITEMS`` items and nesting to ``ECHOED_DEPTH`` levels (marked
    「…」)."""
    if isinstance(value, str):
        return value if len(value) <= ECHOED_CHARS else value[:ECHOED_CHARS] + "…"
    if isinstance(value, Mapping | list | tuple) and depth >= ECHOED_DEPTH:
        return "…"
    if isinstance(value, Mapping):
        items = list(value.items())
        shown = {bounded(str(k)): bounded(v, depth + 1) for k, v in items[:ECHOED_ITEMS]}
        return shown | ({"…": "…"} if len(items) > ECHOED_ITEMS else {})
    if isinstance(value, list | tuple):
        more = ["…"] if len(value) > ECHOED_ITEMS else []
        return [bounded(v, depth + 1) for v in value[:ECHOED_ITEMS]] + more
    return value
