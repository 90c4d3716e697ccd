"""Tags: the taxonomy, and the review of the tags suggested for customers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from bot.errors import EXPECTED_ERRORS, InputError, NotFoundError
from bot.pipeline.runtime import Runtime
from bot.pipeline.tagging import parse_taxonomy
from bot.services import audit, customer_refs
from bot.services.access import (
    CURATORS,
    CUSTOMER_VIEWERS,
    Principal,
    check_customer,
    denied,
    require,
    scope_of,
)
from bot.services.industries import unused_warnings
from bot.store import advisers as advisers_repo
from bot.store import conversions as conversions_repo
from bot.store import customers as customers_repo
from bot.store import inbox as inbox_repo
from bot.store import messages as messages_repo
from bot.store import tags as tags_repo
from bot.store.industries import as_known
from bot.store.records import CustomerTagRecord, MessageRecord, TagRecord
from knowledge.files import read_table
from knowledge.text import echo
from scripts_lib.model import ANY_INDUSTRY

#: The decisions of a review.
REVIEWS = ("confirmed", "rejected")
NO_TAG = "标签不存在"


def import_taxonomy(
    rt: Runtime,
    principal: Principal,
    *,
    path: Path,
    progress: Callable[[int, int], None] | None = None,
) -> tags_repo.TaxonomyStats:
    """Replace the taxonomy with the file's (tags missing from it are deactivated) and
    re-embed the tags."""
    require(principal, "operator", "manager")
    categories = parse_taxonomy(path)
    with rt.db.session() as session:
        # 保险 → insurance, as the scripts, documents and customers store it
        named = as_known(session=session, values=[c.industry for c in categories])
        categories = [replace(c, industry=named.get(c.industry, c.industry)) for c in categories]
        seen: set[tuple[str, str]] = set()
        twice = []
        for c in categories:
            if (c.name, c.industry) in seen:
                twice.append(c)
            seen.add((c.name, c.industry))
        if twice:
            raise InputError(
                f"{path.name}：分类重复",
                [f"行业 {c.industry!r} 里的分类 {c.name!r} 重复（行业写法不同）" for c in twice],
            )
        warnings = unused_warnings(
            session,
            [c.industry for c in categories],
            what="标签分类",
            uses=("scripts", "documents", "customers"),
        )
        stats = tags_repo.replace_taxonomy(session=session, categories=categories)
        stats = replace(stats, warnings=tuple(warnings))
        audit.record(
            session,
            principal,
            "taxonomy.import",
            "taxonomy",
            path.name,
            categories=stats.categories,
            added=stats.added,
            updated=stats.updated,
            unchanged=stats.unchanged,
            deactivated=stats.deactivated,
        )
    rt.reload_tags(progress=progress)
    return stats


def customer_tags(
    session: Session,
    principal: Principal,
    *,
    status: str | None = None,
    limit: int | None = 200,
) -> list[CustomerTagRecord]:
    """Tags of customers in scope, by status (all statuses when None), oldest first;
    ``limit`` None: all of them."""
    require(principal, *CUSTOMER_VIEWERS)
    scope = scope_of(session, principal)
    rows = tags_repo.list_customer_tags(
        session=session, status=status, adviser_ids=scope.adviser_ids, limit=limit
    )
    audit.record(
        session, principal, "customer_tags.view", "customer", "", count=len(rows), status=status
    )
    return rows


def review_queue(
    session: Session,
    principal: Principal,
    *,
    adviser_id: str | None = None,
    category: str | None = None,
    tag: str | None = None,
) -> list[inbox_repo.ReviewItem]:
    """Suggested tags of customers in scope waiting for review, with their evidence;
    only those of ``adviser_id`` (in scope), of ``category``, of ``tag`` when given."""
    require(principal, "manager")
    scope = scope_of(session, principal)
    if adviser_id is not None and not scope.allows(adviser_id):
        return []
    items = inbox_repo.tag_review_queue(
        session=session,
        adviser_ids=scope.adviser_ids,
        adviser_id=adviser_id,
        category=category,
        tag=tag,
    )
    names = advisers_repo.adviser_names(session=session, adviser_ids=scope.adviser_ids)
    items = [
        replace(i, adviser_name=names.get(i.adviser_id) if i.adviser_id else None) for i in items
    ]
    audit.record(
        session,
        principal,
        "tag_queue.view",
        "customer",
        "",
        count=len(items),
        adviser=adviser_id,
        category=category,
        tag=tag,
    )
    return items


def taxonomy(session: Session, principal: Principal) -> list[TagRecord]:
    """The active tags of the taxonomy (what a person may add to a customer by hand)."""
    require(principal, *CUSTOMER_VIEWERS, *CURATORS)
    return tags_repo.list_tags(session=session)


def review(
    rt: Runtime,
    principal: Principal,
    *,
    confirm: Sequence[int] = (),
    reject: Sequence[int] = (),
) -> list[CustomerTagRecord]:
    """Confirm and reject tags of customers in scope, all or nothing; the principal is
    their reviewer. The messages they were suggested from become labelled examples, and
    the tagger learns from them at once."""
    require(principal, *CUSTOMER_VIEWERS)
    both = set(confirm) & set(reject)
    if both:
        raise InputError(f"同一编号不能既确认又拒绝：{', '.join(map(str, sorted(both)))}")
    decisions = [(i, "confirmed") for i in dict.fromkeys(confirm)] + [
        (i, "rejected") for i in dict.fromkeys(reject)
    ]
    records: list[CustomerTagRecord] = []
    with rt.db.session() as session:
        _all_known(session, principal, [i for i, _ in decisions])
        for customer_tag_id, status in decisions:
            records.append(
                _review_one(session, principal, customer_tag_id=customer_tag_id, status=status)
            )
    if records:
        _learn(rt)
    return records


#: Unknown ids named at most in the refusal (then counted).
UNKNOWN_SHOWN = 8


def _all_known(session: Session, principal: Principal, ids: Sequence[int]) -> None:
    """Refuse, naming every one of them, the ids that are no tag of a customer in scope
    (before anything is decided: one unknown id among 500 is not found 499 reviews in)."""
    known = tags_repo.customer_tag_statuses(
        session=session, ids=ids, adviser_ids=scope_of(session, principal).adviser_ids
    )
    missing = [i for i in ids if i not in known]
    for i in missing:  # another's customer's tag: the refusal is audited like a read
        customer_id = inbox_repo.customer_tag_customer(session=session, customer_tag_id=i)
        if customer_id is not None:
            denied(session, principal, "customer", customer_id, exists=True)
    if len(missing) == 1:
        raise NotFoundError(NO_TAG, ref=missing[0])
    if missing:
        shown = ", ".join(map(str, missing[:UNKNOWN_SHOWN]))
        more = f" 等 {len(missing)} 个" if len(missing) > UNKNOWN_SHOWN else ""
        raise NotFoundError(
            f"{len(missing)} 个编号的标签不存在，没有审核任何标签", ref=f"{shown}{more}"
        )


def overturned(
    session: Session, principal: Principal, *, confirm: Sequence[int], reject: Sequence[int]
) -> int:
    """How many of these decisions would reverse an earlier one (a confirmed tag now
    rejected, or the other way round): said back to the reviewer, never silent."""
    require(principal, *CUSTOMER_VIEWERS)
    before = tags_repo.customer_tag_statuses(
        session=session,
        ids=[*confirm, *reject],
        adviser_ids=scope_of(session, principal).adviser_ids,
    )
    return sum(before.get(i) == "rejected" for i in set(confirm)) + sum(
        before.get(i) == "confirmed" for i in set(reject)
    )


def decide(
    rt: Runtime, principal: Principal, *, ids: Sequence[int], status: str
) -> list[CustomerTagRecord]:
    """``review`` with one decision (confirmed or rejected) for every id."""
    if status not in REVIEWS:
        raise InputError(f"状态只能是 confirmed（确认）或 rejected（拒绝），不是 {status!r}")
    if status == "confirmed":
        return review(rt, principal, confirm=ids)
    return review(rt, principal, reject=ids)


def _review_one(
    session: Session, principal: Principal, *, customer_tag_id: int, status: str
) -> CustomerTagRecord:
    if status not in REVIEWS:
        raise InputError(f"状态只能是 confirmed（确认）或 rejected（拒绝），不是 {status!r}")
    # a tag of a customer in scope: ``_all_known`` checked every id of the review
    customer_id = inbox_repo.customer_tag_customer(session=session, customer_tag_id=customer_tag_id)
    if customer_id is None:
        raise NotFoundError(NO_TAG, ref=customer_tag_id)
    record = tags_repo.review_customer_tag(
        session=session,
        customer_tag_id=customer_tag_id,
        status=status,
        reviewer=principal.username,
    )
    audit.record(
        session, principal, f"tag.{status}", "customer", customer_id, customer_tag=customer_tag_id
    )
    return record


@dataclass(frozen=True, slots=True)
class TagLabel:
    """A tag a person adds to a customer: ``customer`` is a customer id or any identity
    value of theirs (a WeChat id, a history's ``contact_id`` …), ``tag`` a tag name or
    ``分类/标签``, ``msg_id`` the id (as its channel or import gave it) of the customer's
    message that shows the tag, if any."""

    customer: str
    tag: str
    msg_id: str | None = None


@dataclass(frozen=True, slots=True)
class AddStats:
    #: Tags confirmed for their customer by this call (new, or overturning a suggestion
    #: or a rejection).
    added: int
    #: Tags the customer already had confirmed (their message, if given, is recorded).
    already: int
    #: Columns of a labels file that are none of customer, tag, msg_id: not read (a
    #: misspelt msg_id would add the tags without their message, and nothing be learned).
    ignored_columns: tuple[str, ...] = ()


def add(
    rt: Runtime, principal: Principal, label: TagLabel, *, by_name: bool = False
) -> tuple[CustomerTagRecord, bool]:
    """Give a customer in scope a tag the system missed (or overturn a suggestion or a
    rejection); with a message, it becomes a labelled example and the tagger learns from
    it at once. Returns the tag and whether it was not confirmed before. ``by_name``: the
    customer may also be given by name (the console's form; ``customer_refs.resolve``)."""
    require(principal, *CUSTOMER_VIEWERS)
    with rt.db.session() as session:
        resolved = _resolve(session, principal, label, by_name=by_name)
        record, changed = _add_one(session, principal, resolved)
    _learn(rt)
    return record, changed


@dataclass(frozen=True, slots=True)
class MessageChoice:
    """A message of the customer that may show the tag: ``msg_id`` as its channel gave
    it (what ``TagLabel.msg_id`` takes)."""

    msg_id: str
    text: str
    sent_at: datetime


@dataclass(frozen=True, slots=True)
class Draft:
    """A tag about to be added: the customer (in scope) and the tag a label names, with
    the customer's latest messages to choose the one that shows it from."""

    customer_id: int
    tag: TagRecord
    messages: tuple[MessageChoice, ...]


#: How many of the customer's latest messages the console offers to choose from.
CHOICES = 5


def draft(session: Session, principal: Principal, label: TagLabel) -> Draft:
    """What ``add(label, by_name=True)`` would add, checked (the same refusals) but not
    added, with the customer's latest messages: the console's form asks which one
    shows the tag before it adds it."""
    require(principal, *CUSTOMER_VIEWERS)
    resolved = _resolve(session, principal, replace(label, msg_id=None), by_name=True)
    return Draft(
        customer_id=resolved.customer_id,
        tag=resolved.tag,
        messages=message_choices(session, principal, resolved.customer_id),
    )


def message_choices(
    session: Session, principal: Principal, customer_id: int, *, limit: int = CHOICES
) -> tuple[MessageChoice, ...]:
    """The latest messages of a customer in scope (theirs, with text), newest first."""
    require(principal, *CUSTOMER_VIEWERS)
    check_customer(session, principal, customer_id)
    found = tuple(
        MessageChoice(msg_id=msg_id, text=m.text, sent_at=m.sent_at)
        for msg_id, m in messages_repo.customer_texts(
            session=session, customer_id=customer_id, limit=limit
        )
    )
    audit.record(
        session, principal, "customer.messages.view", "customer", customer_id, count=len(found)
    )
    return found


def added_tag(session: Session, principal: Principal, tag_id: int) -> CustomerTagRecord | None:
    """The customer tag ``tag_id`` when it is the principal's to see (what the review
    page confirms it added); None otherwise."""
    customer_id = inbox_repo.customer_tag_customer(session=session, customer_tag_id=tag_id)
    if customer_id is None:
        return None
    exists, adviser_id = inbox_repo.customer_adviser(session=session, customer_id=customer_id)
    if not exists or not scope_of(session, principal).allows(adviser_id):
        return None
    found = tags_repo.list_customer_tags(session=session, customer_id=customer_id, limit=None)
    return next((t for t in found if t.id == tag_id), None)


def add_file(
    rt: Runtime,
    principal: Principal,
    *,
    path: Path,
    progress: Callable[[int, int], None] | None = None,
) -> AddStats:
    """``add`` for every row of a CSV / XLSX file with the header ``customer,tag,msg_id``
    (``msg_id`` optional), all or nothing: every problem is reported with its line and
    nothing is added until the file is clean."""
    require(principal, *CUSTOMER_VIEWERS)
    rows = read_table(path, aliases=LABEL_ALIASES)
    if not rows:
        raise InputError(f"{path.name}：没有标签（表头：customer,tag,msg_id）")
    header = list(dict.fromkeys(c for _, row in rows for c in row))
    for other, column in LABEL_FALLBACKS.items():
        if other in header and column not in header:
            for _, row in rows:
                if other in row:
                    row[column] = row.pop(other)
            header = [column if c == other else c for c in header]
    missing = [f"{c}（{LABEL_COLUMNS[c]}）" for c in ("customer", "tag") if c not in header]
    if missing:
        unknown = [c for c in header if c not in LABEL_COLUMNS]
        raise InputError(
            f"{path.name}：缺少列 {'、'.join(missing)}；表头须是 customer,tag,msg_id"
            "（或 客户,标签,消息ID；msg_id 可以不填）",
            [f"文件里未知的列：{'、'.join(unknown)}"] if unknown else [],
        )
    ignored = tuple(c for c in header if c not in LABEL_COLUMNS)
    problems: list[str] = []
    added = already = 0
    with rt.db.session() as session:
        resolved: list[_Resolved] = []
        for line, row in rows:
            label = TagLabel(
                customer=row.get("customer", ""),
                tag=row.get("tag", ""),
                msg_id=row.get("msg_id") or None,
            )
            try:
                resolved.append(_resolve(session, principal, label))
            except EXPECTED_ERRORS as exc:
                problems.append(f"第 {line} 行：{_one_line(exc)}")
        if problems:
            raise InputError(f"{path.name}：{len(problems)} 处问题，没有添加任何标签", problems)
        for i, item in enumerate(resolved):
            _, changed = _add_one(session, principal, item)
            added += changed
            already += not changed
            if progress is not None:
                progress(i + 1, len(resolved))
    if resolved:
        _learn(rt)
    return AddStats(added=added, already=already, ignored_columns=ignored)


#: The columns of a labels file, by their Chinese names.
LABEL_COLUMNS = {"customer": "客户", "tag": "标签", "msg_id": "消息ID"}
#: Header names accepted for the columns of a labels file.
LABEL_ALIASES = {
    "customer_id": "customer",
    "客户": "customer",
    "tag_name": "tag",
    "标签": "tag",
    "消息id": "msg_id",
    "消息编号": "msg_id",
}
#: Other names read for a column only when the file has none of the names above for it
#: (a file with 客户 and 客户编号, or 消息编号 and 消息, reads the first of each).
LABEL_FALLBACKS = {
    "contact_id": "customer",  # a history's contact id is one of the customer's identities
    "客户编号": "customer",
    "msgid": "msg_id",
    "message_id": "msg_id",
    "消息": "msg_id",
}
#: A customer no identifier finds (or out of scope), with what was typed: the command
#: line, a labels file and the API take what ``conversions.resolve_customer`` in
#: bot/store/conversions.py looks up.
NO_CUSTOMER_NAMED = "找不到客户“{ref}”：请填客户编号、微信号、手机号或联系人 ID（不能填姓名）"
#: The same for the console's form, which takes a name too (``customer_refs.resolve``).
NO_CUSTOMER_BY_NAME = "找不到客户“{ref}”：请填客户的姓名、手机号、微信号或客户编号"
#: A number that is a customer id and another customer's contact id (or other identity),
#: without a message: on the command line and in a labels file (``#`` starts a shell
#: comment: quoted), and in the console's form.
AMBIGUOUS_NUMBER = (
    "“{ref}”既是一位客户的编号，又是另一位客户的联系人 ID 等身份：请填 msg_id（哪条消息），"
    "或写 '#{ref}'（命令行里要加引号）表示客户编号"
)
AMBIGUOUS_IN_FORM = (
    "“{ref}”既是一位客户的编号，又是另一位客户的联系人 ID 等身份："
    "请写“#{ref}”表示客户编号，或填客户的姓名、手机号"
)
#: A tag name not in the taxonomy, with what was typed and what to write instead.
NO_TAG_NAMED = "标签不存在：“{ref}”不在标签体系里，请写体系里已有的标签（重名时写成 分类/标签）"
AMBIGUOUS_TAG = "标签名不唯一，请写成 分类/标签"
NO_MESSAGE = "该客户没有这条消息"
NOT_CUSTOMERS = "这条是顾问发出的消息，请给客户说的那条"


def no_customer(ref: str, *, by_name: bool = False) -> str:
    """「找不到客户“张三丰”：请填客户编号、…」 for what was typed (``knowledge.text.echo``:
    visible characters only, cut when long)."""
    return (NO_CUSTOMER_BY_NAME if by_name else NO_CUSTOMER_NAMED).format(ref=echo(ref))


@dataclass(frozen=True, slots=True)
class _Resolved:
    customer_id: int
    tag: TagRecord
    message: MessageRecord | None


def _resolve(
    session: Session, principal: Principal, label: TagLabel, *, by_name: bool = False
) -> _Resolved:
    """The customer (in scope; ``by_name``: also by name), the active tag and the message
    a label names."""
    ref = label.customer.strip()
    if not ref:
        raise InputError("客户不能为空")
    try:  # by name, several of that name in scope: InputError (customer_refs.SAME_NAME)
        customer_id = customer_refs.resolve(session, principal, ref, by_name=by_name)
    except NotFoundError:  # the same words whether unknown or someone else's customer
        raise NotFoundError(no_customer(ref, by_name=by_name)) from None
    if not label.msg_id and not ref.startswith("#"):  # 「#5」: the customer id, said so
        other = _contact_reading(session, principal, ref, customer_id)
        if other is not None:  # two customers: a guess could tag the wrong person
            raise InputError((AMBIGUOUS_IN_FORM if by_name else AMBIGUOUS_NUMBER).format(ref=ref))
    message = None
    if label.msg_id:
        msg_id = label.msg_id.strip()
        message = messages_repo.find_customer_message(
            session=session, customer_id=customer_id, msg_id=msg_id
        )
        if message is None:  # a number is a customer id first; it may be a contact id
            other = _contact_reading(session, principal, ref, customer_id)
            if other is not None:
                message = messages_repo.find_customer_message(
                    session=session, customer_id=other, msg_id=msg_id
                )
                customer_id = other if message is not None else customer_id
        if message is None:
            raise NotFoundError(NO_MESSAGE, ref=label.msg_id)
        if message.direction != "in":  # the adviser's words show nothing of the customer
            raise InputError(f"{NOT_CUSTOMERS}：{label.msg_id}")
    customer = customers_repo.get_customer(session=session, customer_id=customer_id)
    name = label.tag.strip()
    if not name:
        raise InputError("标签不能为空")
    category, _, tag_name = name.rpartition("/")
    found = tags_repo.find_tags(
        session=session, name=tag_name.strip(), category=category.strip() or None
    )
    if len(found) > 1:
        fits = [t for t in found if t.industry in (customer.industry, ANY_INDUSTRY)]
        found = fits or found
    if not found:
        raise NotFoundError(NO_TAG_NAMED.format(ref=echo(name)))
    if len(found) > 1:
        choices = "、".join(f"{t.category}/{t.name}" for t in found)
        raise InputError(f"{AMBIGUOUS_TAG}：{name}（{choices}）")
    return _Resolved(customer_id=customer_id, tag=found[0], message=message)


def _contact_reading(
    session: Session, principal: Principal, ref: str, customer_id: int
) -> int | None:
    """The other customer (in scope) a numeric ``ref`` read as customer ``customer_id``
    names: the one holding it as an identity (an imported history's ``contact_id`` 「5」
    beside customer id 5); None when there is none."""
    if not (ref.isascii() and ref.isdigit()):
        return None
    other = conversions_repo.identity_owner(session=session, ref=ref)
    if other is None or other == customer_id:
        return None
    exists, adviser_id = inbox_repo.customer_adviser(session=session, customer_id=other)
    return other if exists and scope_of(session, principal).allows(adviser_id) else None


def _add_one(
    session: Session, principal: Principal, item: _Resolved
) -> tuple[CustomerTagRecord, bool]:
    message = item.message
    evidence = f"{principal.display_name or principal.username} 手动添加"  # as colleagues know them
    if message is not None and message.text:
        evidence += f"：「{_quote(message.text)}」"
    record, changed = tags_repo.add_customer_tag(
        session=session,
        customer_id=item.customer_id,
        tag_id=item.tag.id,
        message_id=message.id if message is not None else None,
        evidence=evidence,
        reviewer=principal.username,
    )
    audit.record(
        session,
        principal,
        "tag.add",
        "customer",
        item.customer_id,
        customer_tag=record.id,
        tag=f"{item.tag.category}/{item.tag.name}",
    )
    return record, changed


def precision(session: Session, principal: Principal) -> list[tags_repo.TagPrecision]:
    """Per tag, how its suggestions fared in review (confirmed / reviewed, with n), for
    the customers in scope."""
    require(principal, "manager")
    scope = scope_of(session, principal)
    return tags_repo.tag_precision(session=session, adviser_ids=scope.adviser_ids)


def _learn(rt: Runtime) -> None:
    """Bring the tagger in line with the labelled examples in SQL (after the commit)."""
    rt.reload_tags()


def _quote(text: str, limit: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


def _one_line(exc: Exception) -> str:
    ref = getattr(exc, "ref", None)
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"{message}：{ref}" if ref is not None else message
