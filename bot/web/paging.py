"""Long lists shown a page at a time (the script list, a script's learned examples):
which items a page holds, and what the pager under it says (templates/_pager.html)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Query

T = TypeVar("T")

#: A page number as a query parameter (past the last page: the last page).
PageNumber = Annotated[int, Query(ge=1, le=1_000_000)]


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list: its items, where it stands, and the pager's links
    (``href`` followed by a page number, then ``anchor``)."""

    items: Sequence[T]
    number: int
    pages: int
    total: int
    first: int
    href: str
    anchor: str = ""

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1


def page_of(items: Sequence[T], number: int, *, size: int, href: str, anchor: str = "") -> Page[T]:
    """Page ``number`` (1-based; past the last one, the last) of ``items``, ``size`` a
    page."""
    pages = max(1, -(-len(items) // size))
    number = min(max(1, number), pages)
    start = (number - 1) * size
    return Page(
        items=items[start : start + size],
        number=number,
        pages=pages,
        total=len(items),
        first=start + 1,
        href=href,
        anchor=anchor,
    )
