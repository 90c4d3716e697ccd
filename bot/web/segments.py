"""Customer segments (客户分群) in the console, for managers: the saved segments with their
filters in words and how many of the manager's customers each holds, a form to save one
(the filter language of ``siyu segments add``, checked by the same service) and a delete
button that asks first. A new campaign's 目标人群 names these segments
(bot/web/campaigns.py); the pages live beside it, under /campaigns/segments."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from bot import labels
from bot.services import advisers, fields, segments
from bot.store.fields import FieldSpec
from bot.web.deps import CountQuery, Manager, db_session, render

router = APIRouter(include_in_schema=False)

#: Longest filter text a form takes (every line together), and longest description.
MAX_FILTERS_CHARS = 2000
MAX_DESCRIPTION_CHARS = 500


def _lines(text: str) -> list[str]:
    """The filters of the form's box: one a line, blank lines skipped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass(frozen=True, slots=True)
class HelpRow:
    """A line of 条件怎么写: an example filter, what it means, and the codes its field
    takes, each with its Chinese name (shown as code: they are typed as they are)."""

    example: str
    meaning: str
    #: The field's code name(s), which may be written instead (shown as code).
    fields: str = ""
    codes: tuple[tuple[str, str], ...] = ()
    more: bool = False  # the field takes other codes too


def _coded(
    example: str,
    meaning: str,
    fields: str,
    names: dict[str, str],
    *,
    limit: int = 6,
    more: bool = False,
) -> HelpRow:
    """A line whose field takes codes: the first ``limit`` of ``names`` (code -> name)."""
    items = tuple(names.items())
    return HelpRow(example, meaning, fields, items[:limit], more or len(items) > limit)


def _field_example(spec: FieldSpec) -> str:
    if spec.type in ("number", "money"):
        return f"{spec.name}>=5000"
    if spec.type == "date":
        return f"{spec.name}<2027-01-01"
    if spec.type == "choice" and spec.choices:
        return f"{spec.name}={spec.choices[0]}"
    return f"{spec.name}=…"


def _help(specs: list[FieldSpec], adviser_names: dict[str, str]) -> list[HelpRow]:
    """How to write a filter: a line for every field the language takes."""
    events = {"purchase": "购买", "converted": "成交"}
    rows = [
        HelpRow("标签=有孩子　标签!=已投保", "有 / 没有这个标签（已确认的）", "tag"),
        HelpRow(
            "累计消费>=5000　订单数>=2",
            "累计消费（元）、订单数；可用 = != >= <= > <",
            "spent orders",
        ),
        HelpRow("年龄>=30", "年龄（周岁，按生日算）；比较同上", "age"),
        _coded("事件=购买", "有过这类事件（!= 没有）", "event", events, more=True),
        _coded("生命周期=流失风险", "生命周期", "lifecycle", labels.LIFECYCLE_LABELS),
        _coded("阶段=转化", "阶段", "stage", labels.STAGE_LABELS),
        _coded("行业=保险", "行业", "industry", labels.INDUSTRY_LABELS),
    ]
    if adviser_names:
        first = next(iter(adviser_names))
        rows.append(_coded(f"顾问={first}", "顾问（ID 或名字）", "adviser", adviser_names))
    rows.append(HelpRow("城市=上海　来源渠道=抖音", "城市、来源渠道；用 = 或 !=", "city source"))
    rows.append(HelpRow("意向产品=重疾险　姓名=张三", "意向产品、姓名；用 = 或 !=", "product name"))
    rows.extend(HelpRow(_field_example(s), f"画像字段「{s.name}」") for s in specs)
    return rows


@router.get("/campaigns/segments")
def segments_page(
    request: Request,
    principal: Manager,
    saved: Annotated[str | None, Query(max_length=100)] = None,
    deleted: CountQuery = None,
) -> Response:
    with db_session(request) as session:
        rows = segments.overview(session, principal)
        specs = fields.list_fields(session, principal)
        names = advisers.names(session, principal)
    return render(
        request,
        "segments.html",
        principal,
        rows=rows,
        saved=next((r for r in rows if r.name == saved), None),
        deleted=bool(deleted),
        help=_help(specs, names),
    )


@router.post("/campaigns/segments")
def save_segment(
    request: Request,
    principal: Manager,
    segment_name: Annotated[str, Form(max_length=100)],
    filters: Annotated[str, Form(max_length=MAX_FILTERS_CHARS)],
    description: Annotated[str, Form(max_length=MAX_DESCRIPTION_CHARS)] = "",
) -> Response:
    with db_session(request) as session:
        segments.save(
            session,
            principal,
            name=segment_name,
            filters=_lines(filters),
            description=description.strip(),
            replace=False,
        )
    where = f"/campaigns/segments?saved={quote(segment_name.strip(), safe='')}"
    return RedirectResponse(where, status_code=303)


@router.post("/campaigns/segments/delete")
def delete_segment(
    request: Request, principal: Manager, segment_name: Annotated[str, Form(max_length=100)]
) -> Response:
    with db_session(request) as session:
        segments.delete(session, principal, name=segment_name)
    return RedirectResponse("/campaigns/segments?deleted=1", status_code=303)
