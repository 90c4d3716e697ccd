"""Advisers in the console and the API: personas (an adviser edits their own, a manager
their team's) and each adviser's own numbers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from bot.services import advisers
from bot.services.access import Principal
from bot.web import schemas
from bot.web.deps import AdviserUser, IdQuery, Manager, db_session, render, require, runtime_of

router = APIRouter()
PersonaEditor = Annotated[Principal, Depends(require("adviser", "manager"))]


@router.get("/advisers", include_in_schema=False)
def advisers_page(request: Request, principal: Manager) -> Response:
    with db_session(request) as session:
        rows = advisers.list_advisers(session, principal)
        names = advisers.names(session, principal)
    return render(request, "advisers.html", principal, rows=rows, names=names)


@router.get("/advisers/{adviser_id}/persona", include_in_schema=False)
def persona_page(
    request: Request, principal: PersonaEditor, adviser_id: str, saved: IdQuery = None
) -> Response:
    with db_session(request) as session:
        record = advisers.persona_of(session, principal, adviser_id)
        known_as = advisers.names(session, principal).get(record.id, record.name)
    return render(
        request, "persona.html", principal, adviser=record, known_as=known_as, saved=saved
    )


@router.post("/advisers/{adviser_id}/persona", include_in_schema=False)
def save_persona_page(
    request: Request,
    principal: PersonaEditor,
    adviser_id: str,
    persona_name: Annotated[str, Form(max_length=100)] = "",
    signature: Annotated[str, Form(max_length=500)] = "",
    tone: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    with db_session(request) as session:
        advisers.set_persona(
            session,
            principal,
            adviser_id=adviser_id,
            name=persona_name,
            signature=signature,
            tone=tone,
        )
    return RedirectResponse(f"/advisers/{adviser_id}/persona?saved=1", status_code=303)


@router.get(
    "/api/advisers/{adviser_id}/persona",
    response_model=schemas.PersonaPublic,
    tags=["advisers"],
    responses={404: {"description": "Not you, nor an adviser of your team"}},
)
def api_persona(
    request: Request, adviser_id: str, principal: PersonaEditor
) -> schemas.PersonaPublic:
    """An adviser's persona: the name customers know ({adviser_name}), the signature of
    welcome messages, tone notes for the LLM draft."""
    with db_session(request) as session:
        record = advisers.persona_of(session, principal, adviser_id)
    return schemas.PersonaPublic.model_validate(record)


@router.put(
    "/api/advisers/{adviser_id}/persona",
    response_model=schemas.PersonaPublic,
    tags=["advisers"],
    responses={404: {"description": "Not you, nor an adviser of your team"}},
)
def api_set_persona(
    request: Request, adviser_id: str, body: schemas.PersonaUpdate, principal: PersonaEditor
) -> schemas.PersonaPublic:
    """Change your persona (a manager: a team adviser's); fields left out stay."""
    with db_session(request) as session:
        record = advisers.set_persona(
            session,
            principal,
            adviser_id=adviser_id,
            name=body.persona_name,
            signature=body.signature,
            tone=body.tone,
        )
    return schemas.PersonaPublic.model_validate(record)


@router.get("/api/me/numbers", response_model=schemas.MyNumbersPublic, tags=["advisers"])
def api_my_numbers(request: Request, principal: AdviserUser) -> schemas.MyNumbersPublic:
    """Your own numbers (advisers): today's and this period's customer messages answered,
    suggestions used, conversions, revenue, and your campaign targets."""
    with db_session(request) as session:
        found = advisers.my_numbers(
            session, principal, settings=runtime_of(request).settings, now=datetime.now(UTC)
        )
    return schemas.MyNumbersPublic.model_validate(found)
