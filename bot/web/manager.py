"""Manager pages: the tag review queue (with evidence, bulk) and adviser KPIs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from bot.web import operations as ops
from bot.web.charts import bar_chart
from bot.web.deps import Manager, db_session, render

router = APIRouter(prefix="/manager", include_in_schema=False)


@router.get("/tags")
def tag_queue(request: Request, principal: Manager, done: int | None = None) -> Response:
    with db_session(request) as session:
        items = ops.review_queue(session, principal)
    return render(request, "manager_tags.html", principal, items=items, done=done)


@router.post("/tags")
def review(
    request: Request,
    principal: Manager,
    status: Annotated[str, Form(pattern="^(confirmed|rejected)$")],
    ids: Annotated[list[int] | None, Form()] = None,
) -> Response:
    chosen = ids or []
    with db_session(request) as session:
        for tag_id in chosen:
            ops.review_tag(session, principal, tag_id, status)
    return RedirectResponse(f"/manager/tags?done={len(chosen)}", status_code=303)


@router.post("/tags/{customer_tag_id}/{status}")
def review_one(request: Request, principal: Manager, customer_tag_id: int, status: str) -> Response:
    if status not in ("confirmed", "rejected"):
        raise HTTPException(status_code=404, detail="未知操作")
    with db_session(request) as session:
        ops.review_tag(session, principal, customer_tag_id, status)
    return RedirectResponse("/manager/tags?done=1", status_code=303)


@router.get("/kpis")
def kpis(request: Request, principal: Manager) -> Response:
    with db_session(request) as session:
        rows = ops.adviser_kpis(session, principal)
    labels = [k.name or k.adviser_id for k in rows]
    return render(
        request,
        "manager_kpis.html",
        principal,
        rows=rows,
        adoption_chart=bar_chart(
            labels, [k.adoption_rate * 100 for k in rows], unit="%", title="建议采用率"
        ),
        messages_chart=bar_chart(
            labels, [float(k.messages_in) for k in rows], unit="条", title="客户消息数"
        ),
    )
