"""Your own account: list and revoke your API tokens (page and JSON API). A revoked
token is refused with 401 from then on."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from bot.services import users
from bot.web import schemas
from bot.web.deps import AnyUser, IdPath, IdQuery, db_session, render

router = APIRouter()


@router.get("/account/tokens", include_in_schema=False)
def tokens_page(request: Request, principal: AnyUser, revoked: IdQuery = None) -> Response:
    with db_session(request) as session:
        tokens = users.tokens(session, principal)
    return render(request, "account_tokens.html", principal, tokens=tokens, revoked=revoked)


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False)
def revoke_page(request: Request, principal: AnyUser, token_id: IdPath) -> Response:
    with db_session(request) as session:
        users.revoke_token(session, principal, token_id=token_id)
    return RedirectResponse(f"/account/tokens?revoked={token_id}", status_code=303)


@router.get("/api/tokens", response_model=list[schemas.ApiTokenPublic], tags=["account"])
def list_tokens(request: Request, principal: AnyUser) -> list[schemas.ApiTokenPublic]:
    """Your API tokens, newest first (revoked ones included)."""
    with db_session(request) as session:
        tokens = users.tokens(session, principal)
    return [schemas.ApiTokenPublic.model_validate(t) for t in tokens]


@router.delete(
    "/api/tokens/{token_id}",
    status_code=204,
    tags=["account"],
    responses={404: {"description": "No such token of yours"}},
)
def revoke_token(request: Request, principal: AnyUser, token_id: IdPath) -> Response:
    """Revoke one of your tokens (it is refused with 401 from then on)."""
    with db_session(request) as session:
        users.revoke_token(session, principal, token_id=token_id)
    return Response(status_code=204)
