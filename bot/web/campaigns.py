"""Campaigns in the console and the API: the list with an add form, a campaign's codes and
targets, the campaign report with charts and its drill-down to customers, the
unattributed contacts (fixed here), and the referral report."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from bot.errors import InputError
from bot.pipeline.assistant import OPENING_CATEGORIES
from bot.services import advisers, campaigns, customers, referrals, scripts
from bot.store.campaigns import CampaignSpec
from bot.web import schemas
from bot.web.charts import bar_chart, funnel_chart, target_bars
from bot.web.deps import (
    MAX_DAYS,
    AnyUser,
    CustomerViewer,
    DateQuery,
    IdPath,
    IdQuery,
    Operator,
    db_session,
    render,
    runtime_of,
)
from bot.web.schemas import MAX_ID

router = APIRouter()
STAGE_LABELS = {"new": "新增", "engaged": "互动", "converted": "成交"}


def _period(request: Request, since: date | None, until: date | None) -> tuple[date | None, date]:
    """The report period: ``until`` inclusive (default today) as an exclusive end."""
    tomorrow = runtime_of(request).settings.today() + timedelta(days=1)
    end = until + timedelta(days=1) if until else tomorrow
    if since is not None and end <= since:
        raise InputError("结束日期必须不早于开始日期")
    return since, end


def _optional_number(text: str, what: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{what}需要一个数字，不是 {text!r}") from None
    if value < 0 or value != value or value in (float("inf"), float("-inf")):
        raise InputError(f"{what}不能为负数")
    return value


# --------------------------------------------------------------------------- pages
@router.get("/campaigns", include_in_schema=False)
def campaigns_page(request: Request, principal: Operator, created: IdQuery = None) -> Response:
    with db_session(request) as session:
        rows = campaigns.list_campaigns(session, principal)
        titles = campaigns.welcome_titles(session, rows)
        segments = campaigns.segment_names(session, principal)
    rt = runtime_of(request)
    # the new campaign's welcome script is chosen by title among the approved openers
    openers = [
        s
        for category in OPENING_CATEGORIES
        for s in scripts.list_scripts(rt, principal, category=category, status="approved")
    ]
    return render(
        request,
        "campaigns.html",
        principal,
        rows=rows,
        titles=titles,
        openers=openers,
        channels=campaigns.CHANNELS,
        segments=segments,
        created=created,
        today=runtime_of(request).settings.today(),
    )


@router.post("/campaigns", include_in_schema=False)
def add_campaign_page(
    request: Request,
    principal: Operator,
    name: Annotated[str, Form(max_length=100)],
    channel: Annotated[str, Form(max_length=30)],
    starts_on: Annotated[date, Form()],
    ends_on: Annotated[str, Form(max_length=10)] = "",
    cost: Annotated[str, Form(max_length=20)] = "",
    segment: Annotated[str, Form(max_length=100)] = "",
    welcome_script_id: Annotated[str, Form(max_length=64)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    spec = CampaignSpec(
        name=name.strip(),
        channel=channel.strip(),
        starts_on=starts_on,
        ends_on=_date(ends_on),
        cost=_optional_number(cost, "成本") or 0.0,
        segment=segment.strip() or None,
        welcome_script_id=welcome_script_id.strip() or None,
        note=note,
    )
    settings = runtime_of(request).settings
    with db_session(request) as session:
        record, _ = campaigns.create(session, principal, spec=spec, settings=settings)
    return RedirectResponse(f"/campaigns/{record.id}?created=1", status_code=303)


def _date(text: str) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"日期格式应为 2026-01-31，不是 {text!r}") from None


@router.get("/campaigns/report", include_in_schema=False)
def report_page(
    request: Request,
    principal: Operator,
    since: DateQuery = None,
    until: DateQuery = None,
    by: Annotated[str, Query(pattern="^(adviser|channel)$")] = "adviser",
) -> Response:
    first, end = _period(request, since, until)
    tz = runtime_of(request).settings.timezone
    with db_session(request) as session:
        rows = campaigns.report(
            session,
            principal,
            since=first,
            until=end,
            timezone=tz,
            by="channel" if by == "channel" else "adviser",
        )
    return render(
        request,
        "campaign_report.html",
        principal,
        rows=rows,
        by=by,
        since=first,
        until=end - timedelta(days=1),
        **_charts(rows, by),
    )


def _charts(rows: list[campaigns.ReportRow], by: str) -> dict[str, Any]:
    if by == "channel":
        parts = [r for r in rows if not r.total]
        labels = [r.channel for r in parts]
    else:  # one bar per campaign (its total row)
        parts = [r for r in rows if r.total and r.campaign != campaigns.TOTAL]
        labels = [r.campaign for r in parts]
    advisers = [r for r in rows if not r.total] if by == "adviser" else []
    total = rows[-1] if rows else None
    return {
        "added_chart": bar_chart(
            labels, [float(r.added) for r in parts], unit="人", title="新增客户"
        ),
        "revenue_chart": bar_chart(labels, [r.revenue for r in parts], unit="元", title="成交金额"),
        "roi_chart": bar_chart(
            [lb for lb, r in zip(labels, parts, strict=True) if r.roi is not None],
            [r.roi or 0.0 for r in parts if r.roi is not None],
            unit="",
            title="ROI（成交金额 ÷ 成本）",
            decimals=2,
        ),
        "funnel_chart": funnel_chart(
            [
                ("新增", total.added if total else 0),
                ("互动", total.engaged if total else 0),
                ("成交", total.converted if total else 0),
            ],
            title="活动客户漏斗",
        ),
        "target_chart": target_bars(
            [f"{r.campaign} · {r.adviser_name}" for r in advisers],
            [float(r.added) for r in advisers],
            [float(r.target_added) if r.target_added is not None else None for r in advisers],
            title="新增：完成 / 目标（按顾问×活动）",
            unit="人",
        ),
    }


@router.get("/campaigns/unattributed", include_in_schema=False)
def unattributed_page(
    request: Request, principal: CustomerViewer, fixed: IdQuery = None
) -> Response:
    settings = runtime_of(request).settings
    with db_session(request) as session:
        rows = campaigns.unattributed(session, principal, settings=settings)
        written = campaigns.written_codes(session, principal, customer_ids=[r.id for r in rows])
        codes = campaigns.codes(session, principal)
        names = advisers.names(session, principal)
        fixed_name = customers.names(session, principal, [fixed]).get(fixed) if fixed else None
    return render(
        request,
        "campaigns_unattributed.html",
        principal,
        rows=rows,
        codes=codes,
        written=written,
        names=names,
        fixed=fixed_name,
        days=settings.campaigns.unattributed_days,
    )


@router.post("/campaigns/unattributed", include_in_schema=False)
def fix_unattributed(
    request: Request,
    principal: CustomerViewer,
    customer_id: Annotated[int, Form(ge=1, le=MAX_ID)],
    code: Annotated[str, Form(max_length=40)],
) -> Response:
    with db_session(request) as session:
        campaigns.attribute(session, principal, customer_id=customer_id, code=code)
    return RedirectResponse(f"/campaigns/unattributed?fixed={customer_id}", status_code=303)


@router.get("/campaigns/referrals", include_in_schema=False)
def referrals_page(
    request: Request,
    principal: CustomerViewer,
    since: DateQuery = None,
    until: DateQuery = None,
) -> Response:
    first, end = _period(request, since, until)
    with db_session(request) as session:
        report = referrals.report(
            session,
            principal,
            since=first,
            until=end,
            timezone=runtime_of(request).settings.timezone,
        )
        names = advisers.names(session, principal)
    shares = list(report.advisers)
    shown = [names.get(s.adviser_id, s.adviser_id) for s in shares]
    return render(
        request,
        "referrals_report.html",
        principal,
        report=report,
        names=names,
        since=first,
        until=end - timedelta(days=1),
        share_chart=bar_chart(
            shown,
            [s.customer_share * 100 for s in shares],
            unit="%",
            title="转介绍客户占比",
        ),
        revenue_chart=bar_chart(
            shown,
            [s.revenue_share * 100 for s in shares],
            unit="%",
            title="转介绍成交金额占比",
        ),
    )


@router.get("/campaigns/{campaign_id}", include_in_schema=False)
def campaign_page(
    request: Request, principal: Operator, campaign_id: IdPath, created: IdQuery = None
) -> Response:
    settings = runtime_of(request).settings
    tz = settings.timezone
    tomorrow = settings.today() + timedelta(days=1)
    with db_session(request) as session:
        record, codes = campaigns.show(session, principal, campaign=str(campaign_id))
        rows = campaigns.report(
            session, principal, since=None, until=tomorrow, timezone=tz, campaign=str(campaign_id)
        )
        titles = campaigns.welcome_titles(session, [record])
    return render(
        request,
        "campaign.html",
        principal,
        campaign=record,
        welcome_title=titles.get(record.welcome_script_id or ""),
        codes=codes,
        rows=rows,
        created=created,
        target_chart=target_bars(
            [r.adviser_name for r in rows if not r.total],
            [float(r.added) for r in rows if not r.total],
            [
                float(r.target_added) if r.target_added is not None else None
                for r in rows
                if not r.total
            ],
            title="新增：完成 / 目标",
            unit="人",
        ),
    )


@router.post("/campaigns/{campaign_id}/targets", include_in_schema=False)
def targets_page(
    request: Request,
    principal: Operator,
    campaign_id: IdPath,
    adviser_id: Annotated[str, Form(max_length=64)],
    added: Annotated[str, Form(max_length=20)] = "",
    converted: Annotated[str, Form(max_length=20)] = "",
    revenue: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    added_n = _optional_number(added, "目标新增")
    converted_n = _optional_number(converted, "目标成交")
    with db_session(request) as session:
        campaigns.set_targets(
            session,
            principal,
            campaign=str(campaign_id),
            adviser_id=adviser_id,
            added=int(added_n) if added_n is not None else None,
            converted=int(converted_n) if converted_n is not None else None,
            revenue=_optional_number(revenue, "目标成交金额"),
        )
    return RedirectResponse(f"/campaigns/{campaign_id}#codes", status_code=303)


@router.post("/campaigns/{campaign_id}/codes", include_in_schema=False)
def code_page(
    request: Request,
    principal: Operator,
    campaign_id: IdPath,
    adviser_id: Annotated[str, Form(min_length=1, max_length=64)],
    code: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    with db_session(request) as session:
        campaigns.add_code(
            session,
            principal,
            campaign=str(campaign_id),
            adviser_id=adviser_id.strip(),
            code=code.strip() or None,
            settings=runtime_of(request).settings,
        )
    return RedirectResponse(f"/campaigns/{campaign_id}#codes", status_code=303)


@router.get("/campaigns/{campaign_id}/customers", include_in_schema=False)
def customers_page(
    request: Request,
    principal: CustomerViewer,
    campaign_id: IdPath,
    adviser: Annotated[str | None, Query(max_length=64)] = None,
    since: DateQuery = None,
    until: DateQuery = None,
) -> Response:
    first, end = _period(request, since, until)
    with db_session(request) as session:
        record, _ = campaigns.show(session, principal, campaign=str(campaign_id))
        members = campaigns.report_customers(
            session,
            principal,
            campaign=str(campaign_id),
            adviser_id=adviser,
            since=first,
            until=end,
            timezone=runtime_of(request).settings.timezone,
        )
        adviser_name = advisers.names(session, principal).get(adviser) if adviser else None
    return render(
        request,
        "campaign_customers.html",
        principal,
        campaign=record,
        adviser=adviser,
        adviser_name=adviser_name or adviser,
        members=members,
        stage_labels=STAGE_LABELS,
    )


# --------------------------------------------------------------------------- API
@router.get("/api/campaigns", response_model=list[schemas.CampaignPublic], tags=["campaigns"])
def api_campaigns(request: Request, principal: AnyUser) -> list[schemas.CampaignPublic]:
    """Every campaign, newest first (operators, managers, advisers)."""
    with db_session(request) as session:
        rows = campaigns.list_campaigns(session, principal)
    return [schemas.CampaignPublic.model_validate(r) for r in rows]


@router.post(
    "/api/campaigns",
    response_model=schemas.CampaignDetail,
    status_code=201,
    tags=["campaigns"],
    responses={400: {"description": "A name used already, a bad period or code"}},
)
def api_add_campaign(
    request: Request, body: schemas.CampaignCreate, principal: Operator
) -> schemas.CampaignDetail:
    """Add a campaign; each adviser (those listed, or all you manage) gets an entry code."""
    spec = CampaignSpec(
        name=body.name.strip(),
        channel=body.channel.strip(),
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        cost=body.cost,
        segment=body.segment,
        welcome_script_id=body.welcome_script_id,
        note=body.note,
    )
    with db_session(request) as session:
        record, codes = campaigns.create(
            session,
            principal,
            spec=spec,
            settings=runtime_of(request).settings,
            advisers=body.advisers,
            codes=body.codes,
        )
    return schemas.CampaignDetail(
        campaign=schemas.CampaignPublic.model_validate(record),
        codes=[schemas.CodePublic.model_validate(c) for c in codes],
    )


@router.get(
    "/api/campaigns/report",
    response_model=list[schemas.CampaignReportRow],
    tags=["campaigns"],
)
def api_report(
    request: Request,
    principal: AnyUser,
    since: date | None = None,
    until: Annotated[date | None, Query(description="Last day, inclusive (default today)")] = None,
    by: Annotated[str, Query(pattern="^(adviser|channel)$")] = "adviser",
    campaign: Annotated[str | None, Query(max_length=100)] = None,
) -> list[schemas.CampaignReportRow]:
    """Per campaign × channel × adviser (or per channel): added, referred, engaged,
    converted, revenue, cost, ROI and targets, with campaign and grand totals; of your
    scope (an operator's: everyone's figures)."""
    first, end = _period(request, since, until)
    with db_session(request) as session:
        rows = campaigns.report(
            session,
            principal,
            since=first,
            until=end,
            timezone=runtime_of(request).settings.timezone,
            by="channel" if by == "channel" else "adviser",
            campaign=campaign,
        )
    return [schemas.CampaignReportRow.model_validate(r) for r in rows]


@router.get(
    "/api/campaigns/unattributed",
    response_model=list[schemas.CustomerPublic],
    tags=["campaigns"],
)
def api_unattributed(
    request: Request,
    principal: CustomerViewer,
    days: Annotated[int | None, Query(ge=1, le=MAX_DAYS)] = None,
) -> list[schemas.CustomerPublic]:
    """Contacts in your scope added in the last `days` days without an entry code."""
    with db_session(request) as session:
        rows = campaigns.unattributed(
            session, principal, settings=runtime_of(request).settings, days=days
        )
    return [schemas.CustomerPublic.model_validate(r) for r in rows]


@router.get(
    "/api/campaigns/{campaign}",
    response_model=schemas.CampaignDetail,
    tags=["campaigns"],
    responses={404: {"description": "No such campaign"}},
)
def api_campaign(request: Request, campaign: str, principal: AnyUser) -> schemas.CampaignDetail:
    """A campaign (by id or name) with the entry codes you may see."""
    with db_session(request) as session:
        record, codes = campaigns.show(session, principal, campaign=campaign)
    return schemas.CampaignDetail(
        campaign=schemas.CampaignPublic.model_validate(record),
        codes=[schemas.CodePublic.model_validate(c) for c in codes],
    )


@router.put(
    "/api/campaigns/{campaign}/targets",
    response_model=schemas.CodePublic,
    tags=["campaigns"],
    responses={404: {"description": "No such campaign, or no code of that adviser"}},
)
def api_targets(
    request: Request, campaign: str, body: schemas.TargetsUpdate, principal: Operator
) -> schemas.CodePublic:
    """An adviser's targets for a campaign (fields left out are cleared)."""
    with db_session(request) as session:
        record = campaigns.set_targets(
            session,
            principal,
            campaign=campaign,
            adviser_id=body.adviser_id,
            added=body.added,
            converted=body.converted,
            revenue=body.revenue,
        )
    return schemas.CodePublic.model_validate(record)


@router.get(
    "/api/campaigns/{campaign}/customers",
    response_model=list[schemas.CampaignMemberPublic],
    tags=["campaigns"],
    responses={404: {"description": "No such campaign, or adviser outside your scope"}},
)
def api_campaign_customers(
    request: Request,
    campaign: str,
    principal: CustomerViewer,
    adviser: Annotated[str | None, Query(max_length=64)] = None,
    since: date | None = None,
    until: date | None = None,
) -> list[schemas.CampaignMemberPublic]:
    """Drill-down of a report row: the customers who came by the campaign (one
    adviser's), each with its stage (audited)."""
    first, end = _period(request, since, until)
    with db_session(request) as session:
        rows = campaigns.report_customers(
            session,
            principal,
            campaign=campaign,
            adviser_id=adviser,
            since=first,
            until=end,
            timezone=runtime_of(request).settings.timezone,
        )
    return [schemas.CampaignMemberPublic.model_validate(r) for r in rows]


@router.get(
    "/api/customers/{customer_id}/attribution",
    response_model=schemas.AttributionPublic | None,
    tags=["campaigns"],
    responses={404: {"description": "No such customer in your scope"}},
)
def api_attribution(
    request: Request, customer_id: IdPath, principal: CustomerViewer
) -> schemas.AttributionPublic | None:
    """Where the customer came from (null: unattributed), with the evidence."""
    with db_session(request) as session:
        found = campaigns.attribution(session, principal, customer_id)
    return schemas.AttributionPublic.model_validate(found) if found else None


@router.put(
    "/api/customers/{customer_id}/attribution",
    response_model=schemas.AttributionPublic,
    tags=["campaigns"],
    responses={
        403: {"description": "A campaign and an adviser outside your scope"},
        404: {
            "description": "No such customer in your scope; no such code, or a code you may"
            " not credit (not yours, not your team's): the same answer"
        },
    },
)
def api_attribute(
    request: Request,
    customer_id: IdPath,
    body: schemas.AttributionCreate,
    principal: CustomerViewer,
) -> schemas.AttributionPublic:
    """Attribute a customer by hand: an entry code, or a campaign and an adviser's code
    there (audited; the evidence is kept). An adviser credits only their own codes, a
    manager their team's."""
    with db_session(request) as session:
        record = campaigns.attribute(
            session,
            principal,
            customer_id=customer_id,
            code=body.code,
            campaign=body.campaign,
            adviser_id=body.adviser_id,
            note=body.note,
        )
    return schemas.AttributionPublic.model_validate(record)


@router.get(
    "/api/referrals/report", response_model=schemas.ReferralReportPublic, tags=["campaigns"]
)
def api_referrals_report(
    request: Request,
    principal: CustomerViewer,
    since: date | None = None,
    until: date | None = None,
) -> schemas.ReferralReportPublic:
    """The share of customers and revenue that came by referral, per adviser and per
    referrer (audited)."""
    first, end = _period(request, since, until)
    with db_session(request) as session:
        report = referrals.report(
            session,
            principal,
            since=first,
            until=end,
            timezone=runtime_of(request).settings.timezone,
        )
    return schemas.ReferralReportPublic.model_validate(report)
