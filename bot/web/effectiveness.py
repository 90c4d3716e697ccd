"""Script effectiveness for operators (the /scripts/effectiveness page and its JSON) and
conversion events from other systems (``POST /api/events``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from bot.errors import InputError
from bot.learning import script_report as script_reports
from bot.store import conversions as conv_repo
from bot.web.deps import (
    CustomerViewer,
    Operator,
    audit,
    check_customer,
    db_session,
    render,
    runtime_of,
)

router = APIRouter(include_in_schema=True)

GroupByParam = Literal["industry", "stage", "adviser"]


class EventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer: str = Field(
        min_length=1, max_length=200, description="Customer id or an identity value"
    )
    type: Literal["purchase", "converted", "stage_changed"] = "purchase"
    amount: float | None = Field(default=None, ge=0, le=1e12, allow_inf_nan=False)
    time: datetime | None = Field(default=None, description="When (default: now)")
    product: str = Field(default="", max_length=200)
    order_id: str | None = Field(default=None, min_length=1, max_length=100)
    stage: Literal["acquire", "engage", "convert", "retain"] | None = None


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


@router.post(
    "/api/events",
    response_model=EventCreated,
    status_code=201,
    tags=["events"],
    responses={404: {"description": "No such customer in your scope"}},
)
def add_event(request: Request, body: EventCreate, principal: CustomerViewer) -> EventCreated:
    """Record a conversion (purchase with amount, converted, stage change); an order id
    already stored is not recorded twice (``duplicate``: true)."""
    when = body.time or datetime.now(UTC)
    try:
        when = when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    except (OverflowError, ValueError) as exc:
        raise HTTPException(status_code=422, detail="time out of range") from exc
    with db_session(request) as session:
        try:
            customer_id = conv_repo.resolve_customer(session=session, ref=body.customer)
        except Exception as exc:
            raise HTTPException(status_code=404, detail="客户不存在") from exc
        check_customer(session, principal, customer_id)
        try:
            record = conv_repo.add_conversion(
                session=session,
                customer_id=customer_id,
                type=body.type,
                occurred_at=when,
                amount=body.amount,
                product=body.product,
                order_id=body.order_id,
                stage=body.stage,
            )
        except InputError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from exc
        audit(session, principal, f"event.{body.type}", "customer", customer_id)
    return EventCreated(
        event_id=record.event_id if record else None,
        transaction_id=record.transaction_id if record else None,
        customer_id=customer_id,
        duplicate=record is None,
    )


def _report(
    request: Request, by: GroupByParam | None, days: int | None
) -> script_reports.ScriptReport:
    settings = runtime_of(request).settings
    since = datetime.now(UTC) - timedelta(days=days) if days else None
    return script_reports.build(
        db=runtime_of(request).db,
        settings=settings.ranking,
        by=by,
        since=since,
        reply_window=timedelta(hours=settings.outcomes.reply_window_hours),
    )


@router.get(
    "/api/script-effectiveness",
    response_model=list[ScriptEffectivenessPublic],
    tags=["scripts"],
)
def effectiveness_json(
    request: Request,
    principal: Operator,
    by: GroupByParam | None = None,
    days: Annotated[int | None, Query(ge=1, le=3660)] = None,
) -> list[ScriptEffectivenessPublic]:
    """Per-script suggested / adopted / edited, reply and conversion rates with 95 %
    Wilson intervals and sample sizes (optionally per industry, stage or adviser)."""
    report = _report(request, by, days)
    return [
        ScriptEffectivenessPublic(
            script_id=s.script_id,
            segment=s.segment,
            title=s.title,
            variant_group=s.variant_group,
            suggested=s.suggested,
            adopted=s.adopted,
            edited=s.edited,
            adoption=RatePublic(
                rate=s.adoption_rate, low=s.adoption_ci[0], high=s.adoption_ci[1], n=s.suggested
            ),
            reply=RatePublic(rate=s.reply_rate, low=s.reply_ci[0], high=s.reply_ci[1], n=s.reply_n),
            conversion=RatePublic(
                rate=s.conversion_rate,
                low=s.conversion_ci[0],
                high=s.conversion_ci[1],
                n=s.used,
            ),
            often_edited=s.often_edited,
            never_adopted=s.never_adopted,
            common_edits=s.common_edits,
        )
        for s in report.rows
    ]


@router.get("/scripts/effectiveness", include_in_schema=False)
def effectiveness_page(
    request: Request,
    principal: Operator,
    by: str = "",
    days: int = 0,
) -> Response:
    group: GroupByParam | None = by if by in ("industry", "stage", "adviser") else None  # type: ignore[assignment]
    report = _report(request, group, days if 0 < days <= 3660 else None)
    return render(
        request,
        "scripts_effectiveness.html",
        principal,
        report=report,
        by=group or "",
        days=days,
        fmt=script_reports.fmt_rate,
    )
