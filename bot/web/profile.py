"""The customer profile beyond the basics, as JSON: profile field values and the values
stated in messages (review), the referrer and the referral chain, next-best actions.
The sidebar offers the same through forms (bot/web/sidebar.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from bot.services import fields, next_actions, referrals
from bot.web import schemas
from bot.web.deps import AnyUser, CustomerViewer, IdPath, IdQuery, db_session, runtime_of

router = APIRouter(prefix="/api")
NOT_IN_SCOPE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such customer in your scope"}
}


@router.get("/profile-fields", response_model=list[schemas.FieldPublic], tags=["profile"])
def list_fields(request: Request, principal: AnyUser) -> list[schemas.FieldPublic]:
    """The declared profile fields (the profile fields file), in file order."""
    with db_session(request) as session:
        rows = fields.list_fields(session, principal)
    return [schemas.FieldPublic.model_validate(f) for f in rows]


@router.get(
    "/customers/{customer_id}/fields",
    response_model=list[schemas.FieldValuePublic],
    tags=["profile"],
    responses=NOT_IN_SCOPE,
)
def customer_fields(
    request: Request, customer_id: IdPath, principal: CustomerViewer
) -> list[schemas.FieldValuePublic]:
    """Every field for the customer's industry with its value (null: none), audited."""
    with db_session(request) as session:
        rows = fields.of_customer(session, principal, customer_id)
    return [schemas.FieldValuePublic.model_validate(v) for v in rows]


@router.put(
    "/customers/{customer_id}/fields",
    response_model=list[schemas.FieldValuePublic],
    tags=["profile"],
    responses=NOT_IN_SCOPE | {400: {"description": "A value does not fit its field"}},
)
def set_fields(
    request: Request, customer_id: IdPath, body: schemas.FieldsUpdate, principal: CustomerViewer
) -> list[schemas.FieldValuePublic]:
    """Set fields (an empty string clears one); all checked before anything is written."""
    with db_session(request) as session:
        fields.set_values(session, principal, customer_id=customer_id, values=body.values)
        rows = fields.of_customer(session, principal, customer_id)
    return [schemas.FieldValuePublic.model_validate(v) for v in rows]


@router.get(
    "/profile-suggestions",
    response_model=list[schemas.ProfileSuggestionPublic],
    tags=["profile"],
)
def profile_suggestions(
    request: Request,
    principal: CustomerViewer,
    customer_id: IdQuery = None,
    status: str | None = Query(default="suggested", pattern="^(suggested|confirmed|rejected)$"),
) -> list[schemas.ProfileSuggestionPublic]:
    """Values (field `referred_by`: referrers) stated in messages of customers in your
    scope, with their evidence."""
    with db_session(request) as session:
        rows = fields.suggestions(session, principal, customer_id=customer_id, status=status)
    return [schemas.ProfileSuggestionPublic.model_validate(s) for s in rows]


@router.post(
    "/profile-suggestions/{suggestion_id}/review",
    response_model=schemas.ProfileSuggestionPublic,
    tags=["profile"],
    responses={404: {"description": "No such suggestion in your scope"}},
)
def review_suggestion(
    request: Request, suggestion_id: IdPath, body: schemas.TagReview, principal: CustomerViewer
) -> schemas.ProfileSuggestionPublic:
    """Confirm (the value is set; a referrer is recorded) or reject a suggestion."""
    with db_session(request) as session:
        record = fields.review(session, principal, suggestion_id=suggestion_id, status=body.status)
    return schemas.ProfileSuggestionPublic.model_validate(record)


@router.get(
    "/customers/{customer_id}/referrals",
    response_model=schemas.ChainPublic,
    tags=["profile"],
    responses=NOT_IN_SCOPE,
)
def referral_chain(
    request: Request, customer_id: IdPath, principal: CustomerViewer
) -> schemas.ChainPublic:
    """Who referred the customer (nearest first) and whom they referred (a tree);
    customers outside your scope show without name or id."""
    with db_session(request) as session:
        found = referrals.chain(session, principal, customer_id)
    return schemas.ChainPublic.model_validate(found)


@router.put(
    "/customers/{customer_id}/referrer",
    response_model=schemas.ChainPublic,
    tags=["profile"],
    responses=NOT_IN_SCOPE | {400: {"description": "Themself, or a referral cycle"}},
)
def set_referrer(
    request: Request, customer_id: IdPath, body: schemas.ReferrerUpdate, principal: CustomerViewer
) -> schemas.ChainPublic:
    """Set who referred the customer (an id, any identity or the name of a customer in
    your scope; null clears); returns the chain."""
    with db_session(request) as session:
        referrals.set_referrer(
            session, principal, customer_id=customer_id, referrer=body.referrer, note=body.note
        )
        found = referrals.chain(session, principal, customer_id)
    return schemas.ChainPublic.model_validate(found)


@router.get(
    "/customers/{customer_id}/next-actions",
    response_model=list[schemas.NextActionPublic],
    tags=["profile"],
    responses=NOT_IN_SCOPE,
)
def customer_next_actions(
    request: Request, customer_id: IdPath, principal: CustomerViewer
) -> list[schemas.NextActionPublic]:
    """The next-best-action rules that apply to the customer now, with their reasons."""
    found = next_actions.for_customer(runtime_of(request), principal, customer_id)
    return [schemas.NextActionPublic.model_validate(a) for a in found]
