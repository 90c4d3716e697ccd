"""A customer named by what a person types: the id, any identity value (phone, WeChat
id, contact id …) or their name, found among the customers the person may see. Used
where a person names another customer in a form: the profile's 介绍人 and the manager's
「补充漏掉的标签」."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.errors import InputError, NotFoundError
from bot.services.access import Principal, check_customer, scope_of
from bot.store import conversions as conversions_repo
from bot.store import referrals as referrals_repo

NO_CUSTOMER = "客户不存在"
#: A name several customers of the person's scope share; ``whose`` is what the form
#: asks for (介绍人, 客户).
SAME_NAME = "有 {count} 位客户叫「{name}」：请填{whose}的手机号或微信号"


def resolve(
    session: Session,
    principal: Principal,
    ref: str,
    *,
    exclude: int | None = None,
    whose: str = "客户",
    by_name: bool = True,
) -> int:
    """The customer of the principal's scope given by id, by any identity value or,
    failing those (``by_name``), by name (other than ``exclude``;
    ``InputError(SAME_NAME)`` when several have it). One outside the scope is refused
    exactly as one that does not exist — ``NotFoundError(NO_CUSTOMER, ref=ref)`` — and
    then looked for by name like nobody's, so the field cannot probe other advisers'
    customers (a refused id or identity is audited as ``customer.denied``)."""
    ref = ref.strip()
    try:
        found = conversions_repo.resolve_customer(
            session=session, ref=ref, adviser_id=principal.adviser_id
        )
        check_customer(session, principal, found)
        return found
    except NotFoundError:
        if not by_name:
            raise
        # Nobody, or somebody outside the scope: the same next step either way (the
        # name), or a customer's name that is another team's phone number would tell).
        return _named(session, principal, ref, exclude=exclude, whose=whose)


def _named(
    session: Session, principal: Principal, name: str, *, exclude: int | None, whose: str
) -> int:
    """The one customer of the principal's scope called ``name``."""
    found = referrals_repo.customers_named_among(
        session=session,
        name=name,
        adviser_ids=scope_of(session, principal).adviser_ids,
        exclude=exclude,
    )
    if not found:
        raise NotFoundError(NO_CUSTOMER, ref=name)
    if len(found) > 1:
        raise InputError(SAME_NAME.format(count=len(found), name=name, whose=whose))
    return found[0]
