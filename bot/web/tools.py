"""The adviser's tools beyond the suggestions, as JSON (the sidebar calls the same): the
whole script library searched by keyword and category with personal favourites, more
suggestions on demand (「更多」), private notes (备注) on a customer, and the profile's
own fields (city, product, birthday)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from bot.services import customers, library, notes, suggestions
from bot.web import schemas
from bot.web.deps import CustomerViewer, IdPath, IdQuery, db_session, runtime_of

router = APIRouter(prefix="/api")
NOT_IN_SCOPE: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such customer in your scope"}
}


@router.get("/library", response_model=list[schemas.LibraryItemPublic], tags=["library"])
def search_library(
    request: Request,
    principal: CustomerViewer,
    q: Annotated[str, Query(max_length=100)] = "",
    category: Annotated[str | None, Query(max_length=20)] = None,
    favourites: bool = False,
    customer_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=library.MAX_RESULTS)] = library.MAX_RESULTS,
) -> list[schemas.LibraryItemPublic]:
    """Approved scripts of every industry holding every word of ``q``, of ``category``,
    only your favourites with ``favourites=true``; your favourites first. With
    ``customer_id`` (in your scope) the variables are filled in for that customer."""
    found = library.search(
        runtime_of(request),
        principal,
        text=q,
        category=category,
        favourites=favourites,
        customer_id=customer_id,
        limit=limit,
    )
    return [schemas.LibraryItemPublic.model_validate(i) for i in found]


@router.put(
    "/favourites/{script_id}",
    response_model=schemas.FavouriteState,
    tags=["library"],
    responses={404: {"description": "No such approved script"}},
)
def star(request: Request, script_id: str, principal: CustomerViewer) -> schemas.FavouriteState:
    """Add an approved script to your favourites (收藏)."""
    on = library.set_favourite(runtime_of(request), principal, script_id=script_id, on=True)
    return schemas.FavouriteState(script_id=script_id, favourite=on)


@router.delete("/favourites/{script_id}", response_model=schemas.FavouriteState, tags=["library"])
def unstar(request: Request, script_id: str, principal: CustomerViewer) -> schemas.FavouriteState:
    """Remove a script from your favourites."""
    on = library.set_favourite(runtime_of(request), principal, script_id=script_id, on=False)
    return schemas.FavouriteState(script_id=script_id, favourite=on)


@router.post(
    "/suggestions/{suggestion_id}/more",
    response_model=schemas.MoreScripts,
    tags=["suggestions"],
    responses={404: {"description": "No such suggestion in your scope"}},
)
def more_scripts(
    request: Request,
    suggestion_id: IdPath,
    principal: CustomerViewer,
    limit: Annotated[int, Query(ge=1, le=suggestions.MAX_MORE)] = 5,
) -> schemas.MoreScripts:
    """More scripts for the message a suggestion answered, beyond those shown (empty when
    there are no more); they join the suggestion, so using one is recorded as usual."""
    rows = suggestions.more(
        runtime_of(request), principal, suggestion_id=suggestion_id, limit=limit
    )
    return schemas.MoreScripts(scripts=rows)


@router.get(
    "/customers/{customer_id}/notes",
    response_model=list[schemas.NotePublic],
    tags=["customers"],
    responses=NOT_IN_SCOPE,
)
def customer_notes(
    request: Request, customer_id: IdPath, principal: CustomerViewer
) -> list[schemas.NotePublic]:
    """The private notes (备注) on a customer, newest first: seen by their adviser and
    manager only."""
    with db_session(request) as session:
        found = notes.of_customer(session, principal, customer_id)
    return [schemas.NotePublic.model_validate(n) for n in found]


@router.post(
    "/customers/{customer_id}/notes",
    response_model=schemas.NotePublic,
    status_code=201,
    tags=["customers"],
    responses=NOT_IN_SCOPE,
)
def add_note(
    request: Request, customer_id: IdPath, body: schemas.NoteCreate, principal: CustomerViewer
) -> schemas.NotePublic:
    """Write a private note on a customer in your scope."""
    with db_session(request) as session:
        note = notes.add(session, principal, customer_id=customer_id, text=body.text)
    return schemas.NotePublic.model_validate(note)


@router.delete(
    "/notes/{note_id}",
    status_code=204,
    tags=["customers"],
    responses={
        403: {"description": "Someone else's note (a manager may delete their team's)"},
        404: {"description": "No such note in your scope"},
    },
)
def delete_note(request: Request, note_id: IdPath, principal: CustomerViewer) -> Response:
    """Delete a note you wrote (a manager: any of their team's)."""
    with db_session(request) as session:
        notes.delete(session, principal, note_id=note_id)
    return Response(status_code=204)


@router.put(
    "/customers/{customer_id}/basics",
    response_model=schemas.BasicsPublic,
    tags=["customers"],
    responses=NOT_IN_SCOPE | {400: {"description": "A value does not fit (birthday 年-月-日)"}},
)
def set_basics(
    request: Request, customer_id: IdPath, body: schemas.BasicsUpdate, principal: CustomerViewer
) -> schemas.BasicsPublic:
    """Set the customer's city, product and birthday (an empty string clears one, a key
    left out keeps it); all checked before anything is written."""
    values = {k: v for k, v in body.model_dump().items() if v is not None}
    with db_session(request) as session:
        record = customers.set_basics(session, principal, customer_id=customer_id, values=values)
    return schemas.BasicsPublic.model_validate(record)
