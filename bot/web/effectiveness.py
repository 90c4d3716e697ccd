"""Script effectiveness for operators (the /scripts/effectiveness page and its JSON) and
conversion events from other systems (``POST /api/events``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from bot.services import advisers, conversions, reports
from bot.services.access import Principal
from bot.web.deps import (
    MAX_DAYS,
    CustomerViewer,
    DaysQuery,
    Operator,
    db_session,
    render,
    runtime_of,
)
from bot.web.schemas import (
    EventCreate,
    EventCreated,
    GroupByParam,
    RatePublic,
    ScriptEffectivenessPublic,
)

router = APIRouter(include_in_schema=True)


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
    with db_session(request) as session:
        recorded = conversions.record(
            session,
            principal,
            customer=body.customer,
            type=body.type,
            occurred_at=body.time or datetime.now(UTC),
            amount=body.amount,
            product=body.product,
            order_id=body.order_id,
            stage=body.stage,
        )
    found = recorded.conversion
    return EventCreated(
        event_id=found.event_id if found else None,
        transaction_id=found.transaction_id if found else None,
        customer_id=recorded.customer_id,
        duplicate=found is None,
    )


def _report(
    request: Request, principal: Principal, by: GroupByParam | None, days: int | None
) -> reports.ScriptReport:
    rt = runtime_of(request)
    return reports.script_effectiveness(
        rt.db,
        principal,
        settings=rt.settings,
        by=by,
        since=datetime.now(UTC) - timedelta(days=days) if days else None,
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
    days: Annotated[int | None, Query(ge=1, le=MAX_DAYS)] = None,
) -> list[ScriptEffectivenessPublic]:
    """Per-script suggested / adopted / edited, reply and conversion rates with 95 %
    Wilson intervals and sample sizes (optionally per industry, stage or adviser)."""
    report = _report(request, principal, by, days)
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
                n=s.conversion_n,
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
    days: DaysQuery = None,
) -> Response:
    group: GroupByParam | None = by if by in ("industry", "stage", "adviser") else None  # type: ignore[assignment]
    report = _report(request, principal, group, days or None)
    names: dict[str, str] = {}
    if group == "adviser":
        with db_session(request) as session:
            names = advisers.names(session, principal)
    return render(
        request,
        "scripts_effectiveness.html",
        principal,
        report=report,
        by=group or "",
        days=days,
        max_days=MAX_DAYS,
        fmt=reports.fmt_rate,
        adviser_names=names,
    )
