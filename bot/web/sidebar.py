"""The adviser sidebar: the adviser's own numbers, today's follow-ups, conversation list,
live suggestions (blanks filled inline, 「更多」 on demand), the library search with
favourites, the profile card (city / product / birthday, profile fields and the values
stated in messages, tags added by hand, private notes, where the customer came from —
campaign and referrer —, next-best actions)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from bot.crm.fields import TYPE_LABELS
from bot.labels import (
    ATTRIBUTION_METHOD_LABELS,
    EVENT_LABELS,
    INBOX_QUEUE_LABELS,
    TAG_STATUS_LABELS,
    identity_label,
)
from bot.services import (
    advisers,
    campaigns,
    customers,
    fields,
    followups,
    next_actions,
    notes,
    queues,
    referrals,
    tags,
)
from bot.services.access import Principal, check_customer
from bot.store.records import CustomerRecord
from bot.web.deps import (
    CustomerViewer,
    IdPath,
    IdQuery,
    QueueQuery,
    db_session,
    render,
    runtime_of,
)
from bot.web.schemas import MAX_ID
from scripts_lib import CATEGORY_LABELS, INDUSTRY_LABELS, STAGE_LABELS
from scripts_lib.variables import VARIABLE_LABELS

router = APIRouter(include_in_schema=False)


@router.get("/sidebar")
def sidebar(
    request: Request,
    principal: CustomerViewer,
    customer_id: IdQuery = None,
    queue: QueueQuery = None,
) -> Response:
    """The conversation list (only one work queue's with ``queue``, as the manager's home
    links it), and the customer chosen."""
    settings = runtime_of(request).settings
    with db_session(request) as session:
        rows = queues.conversations(
            session, principal, queue, now=datetime.now(UTC), settings=settings
        )
        owners = _owners(session, principal)
        profile = customers.profile(session, principal, customer_id) if customer_id else None
        reminders = followups.reminders(
            session, principal, now=datetime.now(UTC), settings=settings
        )
        numbers = (
            advisers.my_numbers(session, principal, settings=settings, now=datetime.now(UTC))
            if principal.role == "adviser" and principal.adviser_id
            else None
        )
        growth = _growth(session, principal, customer_id) if customer_id else {}
        customer_notes = notes.of_customer(session, principal, customer_id) if customer_id else []
        taxonomy = tags.taxonomy(session, principal)
    actions = (
        next_actions.for_customer(runtime_of(request), principal, customer_id)
        if customer_id
        else ()
    )
    return render(
        request,
        "sidebar.html",
        principal,
        rows=rows,
        owners=owners,
        numbers=numbers,
        actions=actions,
        **growth,
        reminders=reminders,
        today_start=_today_start(runtime_of(request).settings.timezone),
        profile=profile,
        selected=customer_id,
        queue=queue,
        queue_labels=INBOX_QUEUE_LABELS,
        tag_labels=TAG_STATUS_LABELS,
        event_labels=EVENT_LABELS,
        identity_label=identity_label,
        category_labels=CATEGORY_LABELS,
        stage_labels=STAGE_LABELS,
        industry_labels=INDUSTRY_LABELS,
        notes=customer_notes,
        taxonomy=taxonomy,
        blanks=_blanks(profile.customer if profile else None, growth.get("field_values", [])),
    )


def _blanks(
    customer: CustomerRecord | None, field_values: list[fields.ShownValue]
) -> dict[str, dict[str, str]]:
    """What each placeholder of a card (【待填:城市】) fills on the profile when the
    adviser types its value, and the value the profile holds already (a card drawn
    before it was saved shows it filled): the label -> ``{"store": "basic" | "field",
    "name", "value"}`` (other placeholders are filled in the text only)."""
    city = (customer.city or "") if customer else ""
    product = (customer.product or "") if customer else ""
    out = {
        VARIABLE_LABELS["city"]: {"store": "basic", "name": "city", "value": city},
        VARIABLE_LABELS["product"]: {"store": "basic", "name": "product", "value": product},
    }
    for v in field_values:
        value = str(v.value.value) if v.value is not None else ""
        out[v.spec.name] = {"store": "field", "name": v.spec.name, "value": value}
    return out


def _growth(session: Session, principal: Principal, customer_id: int) -> dict[str, Any]:
    """What the profile card shows beyond the basics."""
    return {
        "field_values": fields.of_customer(session, principal, customer_id),
        "field_suggestions": fields.suggestions(session, principal, customer_id=customer_id),
        "attribution": campaigns.attribution(session, principal, customer_id),
        "written_code": campaigns.written_codes(session, principal, customer_ids=[customer_id]).get(
            customer_id
        ),
        "codes": campaigns.codes(session, principal),
        "chain": referrals.chain(session, principal, customer_id),
        "type_labels": TYPE_LABELS,
        "method_labels": ATTRIBUTION_METHOD_LABELS,
        "suggestion_label": fields.label,
    }


def _today_start(timezone: str) -> datetime:
    """Midnight today in ``timezone``: reminders due before it are overdue."""
    tz = ZoneInfo(timezone)
    return datetime.combine(datetime.now(tz).date(), time.min, tzinfo=tz)


@router.get("/sidebar/inbox")
def inbox_fragment(
    request: Request,
    principal: CustomerViewer,
    customer_id: IdQuery = None,
    queue: QueueQuery = None,
) -> Response:
    """The conversation list alone (of the page's queue), re-fetched when a live event
    arrives."""
    settings = runtime_of(request).settings
    with db_session(request) as session:
        rows = queues.conversations(
            session, principal, queue, now=datetime.now(UTC), settings=settings
        )
        owners = _owners(session, principal)
    return render(
        request,
        "_inbox.html",
        principal,
        rows=rows,
        owners=owners,
        selected=customer_id,
        queue=queue,
    )


def _owners(session: Session, principal: Principal) -> dict[str, str]:
    """Who each conversation belongs to, for a manager looking over the team (an adviser
    sees only their own)."""
    return advisers.names(session, principal) if principal.role != "adviser" else {}


@router.post("/sidebar/tags/{customer_tag_id}")
def review_tag(
    request: Request,
    customer_tag_id: IdPath,
    principal: CustomerViewer,
    status: Annotated[str, Form(pattern="^(confirmed|rejected)$")],
) -> Response:
    """Confirm or reject a tag from the profile card, then back to the tag's customer
    (their id is the tag's, not a form field's)."""
    (record,) = tags.decide(runtime_of(request), principal, ids=[customer_tag_id], status=status)
    return RedirectResponse(f"/sidebar?customer_id={record.customer_id}#tags", status_code=303)


async def _field_inputs(request: Request) -> dict[str, str]:
    """The ``field:NAME`` inputs of the profile fields form (their names are the declared
    fields'). The form is parsed already (the CSRF check read it): nothing blocks here."""
    form = await request.form()
    return {
        str(key).removeprefix("field:"): str(value)
        for key, value in form.multi_items()
        if str(key).startswith("field:") and isinstance(value, str)
    }


@router.post("/sidebar/customers/{customer_id}/fields")
def save_fields(
    request: Request,
    customer_id: IdPath,
    principal: CustomerViewer,
    values: Annotated[dict[str, str], Depends(_field_inputs)],
) -> Response:
    """The profile fields form: an empty input clears its field."""
    with db_session(request) as session:
        fields.set_values(session, principal, customer_id=customer_id, values=values)
    return RedirectResponse(f"/sidebar?customer_id={customer_id}#fields", status_code=303)


@router.post("/sidebar/profile-suggestions/{suggestion_id}")
def review_suggestion(
    request: Request,
    suggestion_id: IdPath,
    principal: CustomerViewer,
    status: Annotated[str, Form(pattern="^(confirmed|rejected)$")],
    customer_id: Annotated[int, Form(ge=1, le=MAX_ID)],
) -> Response:
    with db_session(request) as session:
        fields.review(session, principal, suggestion_id=suggestion_id, status=status)
    return RedirectResponse(f"/sidebar?customer_id={customer_id}#fields", status_code=303)


@router.post("/sidebar/customers/{customer_id}/referrer")
def save_referrer(
    request: Request,
    customer_id: IdPath,
    principal: CustomerViewer,
    referrer: Annotated[str, Form(max_length=200)] = "",
    referrer_shown: Annotated[str | None, Form(max_length=200)] = None,
) -> Response:
    """The referrer by name, phone or WeChat id (empty clears it). The form shows the
    current referrer by name and sends that name back as ``referrer_shown``: a name left
    as it was changes nothing (it may be one that several customers share, or another
    adviser's customer shown without a name)."""
    with db_session(request) as session:
        if referrer_shown is None or referrer.strip() != referrer_shown.strip():
            referrals.set_referrer(session, principal, customer_id=customer_id, referrer=referrer)
        else:
            check_customer(session, principal, customer_id)  # nothing to change
    return RedirectResponse(f"/sidebar?customer_id={customer_id}#origin", status_code=303)


@router.post("/sidebar/customers/{customer_id}/attribution")
def save_attribution(
    request: Request,
    customer_id: IdPath,
    principal: CustomerViewer,
    code: Annotated[str, Form(min_length=1, max_length=40)],
) -> Response:
    with db_session(request) as session:
        campaigns.attribute(session, principal, customer_id=customer_id, code=code)
    return RedirectResponse(f"/sidebar?customer_id={customer_id}#origin", status_code=303)


@router.post("/sidebar/customers/{customer_id}/basics")
def save_basics(
    request: Request,
    customer_id: IdPath,
    principal: CustomerViewer,
    city: Annotated[str, Form(max_length=50)] = "",
    product: Annotated[str, Form(max_length=100)] = "",
    birthday: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """The city / product / birthday form: an empty input clears its value."""
    with db_session(request) as session:
        customers.set_basics(
            session,
            principal,
            customer_id=customer_id,
            values={"city": city, "product": product, "birthday": birthday},
        )
    return RedirectResponse(f"/sidebar?customer_id={customer_id}#basics", status_code=303)


@router.post("/sidebar/customers/{customer_id}/tags")
def add_tag(
    request: Request,
    customer_id: IdPath,
    principal: CustomerViewer,
    tag: Annotated[str, Form(min_length=1, max_length=201)],
) -> Response:
    """Give the customer a tag by hand (confirmed at once)."""
    # 「#12」: this customer, never another one holding 12 as a contact id
    tags.add(runtime_of(request), principal, tags.TagLabel(customer=f"#{customer_id}", tag=tag))
    return RedirectResponse(f"/sidebar?customer_id={customer_id}#tags", status_code=303)


@router.post("/sidebar/customers/{customer_id}/notes")
def add_note(
    request: Request,
    customer_id: IdPath,
    principal: CustomerViewer,
    text: Annotated[str, Form(min_length=1, max_length=notes.MAX_NOTE_CHARS)],
) -> Response:
    with db_session(request) as session:
        notes.add(session, principal, customer_id=customer_id, text=text)
    return RedirectResponse(f"/sidebar?customer_id={customer_id}#notes", status_code=303)


@router.post("/sidebar/notes/{note_id}/delete")
def delete_note(request: Request, note_id: IdPath, principal: CustomerViewer) -> Response:
    with db_session(request) as session:
        note = notes.delete(session, principal, note_id=note_id)
    return RedirectResponse(f"/sidebar?customer_id={note.customer_id}#notes", status_code=303)
