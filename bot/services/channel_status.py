"""The channel accounts as an operator or the console sees them: each account's state
(logged in, last message, backlog, parked messages, the QR code awaiting a scan, a banner
after a logout), the parked messages themselves, and putting them back.

The process serving the accounts writes ``channel_accounts`` and ``channel_inbox``
(bot.channels.wechaty, bot.channels.inbox); these functions only read them (and
``requeue`` flips parked rows back), so ``siyu bot --status`` and the web console call
them from any process, without the Wechaty SDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from bot.errors import InputError, NotFoundError
from bot.services import audit
from bot.services.access import CUSTOMER_VIEWERS, Principal, require, scope_of
from bot.settings import WechatySettings, account_label
from bot.store import advisers as advisers_repo
from bot.store import channel_accounts as accounts_repo
from bot.store import channel_inbox as inbox_repo

#: Account states as people read them.
STATE_LABELS = {
    "connecting": "连接中",
    "waiting_scan": "等待扫码",
    "logged_in": "已登录",
    "logged_out": "已退出登录",
    "reconnecting": "重连中",
    "stopped": "已停止",
    "not_running": "未运行",
}
STAGE_LABELS = {
    "resolve": "取消息内容",
    "log": "记录",
    "suggest": "生成建议",
    "greet": "通过好友并发欢迎语",
}
KIND_LABELS = {"message": "消息", "friendship": "好友请求"}
#: A serving process refreshes its rows every heartbeat interval; past this many
#: intervals (and at least a minute) it is taken for gone.
STALE_INTERVALS = 3


@dataclass(frozen=True, slots=True)
class AccountStatus:
    account: str
    adviser_id: str | None
    endpoint: str
    #: connecting / waiting_scan / logged_in / logged_out / reconnecting / stopped /
    #: not_running (no process has written it lately).
    state: str
    user_id: str | None
    user_name: str
    logged_in_at: datetime | None
    logged_out_at: datetime | None
    last_event_at: datetime | None
    updated_at: datetime | None
    last_message_at: datetime | None
    backlog: int
    parked: int
    connections: int
    drops: int
    #: The login QR code payload while a scan is awaited (render it as a QR code).
    qr_code: str | None
    error: str | None
    #: A line for the console's banner (None: all is well).
    banner: str | None
    #: What colleagues call the account's adviser (the account's key without one).
    adviser_name: str = ""

    @property
    def shown(self) -> str:
        """The account as people read it: 「林晓（ins_lin）」."""
        return _shown(self.account, self.adviser_name)

    @property
    def label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)


@dataclass(frozen=True, slots=True)
class ParkedMessage:
    id: int
    account: str
    #: The account as people read it (「林晓（ins_lin）」, 「默认账号」).
    account_shown: str
    kind: str
    event_id: str
    stage: str | None
    attempts: int
    error: str | None
    received_at: datetime
    contact_id: str | None
    contact_name: str
    text: str


def read_status(
    session: Session,
    principal: Principal,
    *,
    settings: WechatySettings,
    now: datetime | None = None,
) -> list[AccountStatus]:
    """The accounts the principal may see — every one for the administrator and a manager
    without a team, a manager's team's, an adviser's own — configured ones first. The
    login QR code goes only to the account's own adviser and the administrator (whoever
    scans it logs in to that WeChat)."""
    require(principal, *CUSTOMER_VIEWERS)
    scope = scope_of(session, principal)
    now = now or datetime.now(UTC)
    stale_after = timedelta(seconds=max(60.0, STALE_INTERVALS * settings.heartbeat_interval_s))
    states = {s.account: s for s in accounts_repo.list_states(session=session)}
    counts = inbox_repo.counts(session=session)
    configs = {a.key: a for a in settings.account_configs()}
    names = list(configs) + sorted((set(states) | set(counts)) - set(configs))
    colleagues = advisers_repo.adviser_names(session=session)
    result = []
    for name in names:
        st = states.get(name)
        c = counts.get(name)
        config = configs.get(name)
        adviser = (config.adviser_id if config else None) or (st.adviser_id if st else None)
        if not scope.allows(adviser):
            continue
        running = st is not None and st.state != "stopped" and now - st.updated_at <= stale_after
        state = st.state if st is not None and (running or st.state == "stopped") else "not_running"
        own = principal.is_admin or (adviser is not None and adviser == principal.adviser_id)
        qr = st.qr_code if st is not None and running and state == "waiting_scan" else None
        result.append(
            AccountStatus(
                account=name,
                adviser_id=adviser,
                endpoint=(st.endpoint if st else "") or (config.endpoint if config else ""),
                state=state,
                user_id=st.user_id if st else None,
                user_name=st.user_name if st else "",
                logged_in_at=st.logged_in_at if st else None,
                logged_out_at=st.logged_out_at if st else None,
                last_event_at=st.last_event_at if st else None,
                updated_at=st.updated_at if st else None,
                last_message_at=c.last_message_at if c else None,
                backlog=c.backlog if c else 0,
                parked=c.parked if c else 0,
                connections=st.connections if st else 0,
                drops=st.drops if st else 0,
                qr_code=qr if own else None,
                error=st.error if st else None,
                banner=_banner(
                    _shown(name, colleagues.get(adviser or "", "")),
                    state,
                    st.user_name if st else "",
                    c.parked if c else 0,
                ),
                adviser_name=colleagues.get(adviser or "", ""),
            )
        )
    return result


def discard(
    session: Session,
    principal: Principal,
    *,
    ids: list[int],
    settings: WechatySettings,
) -> int:
    """Give up parked events of the principal's scope for good (a message that can never
    succeed): they are not processed, and the inbox forgets their text; a message already
    logged stays in the customer's history. Managers and the administrator only,
    audit-logged; the ids must be named. Returns how many."""
    require(principal, "manager")
    if not ids:
        raise InputError("要丢弃哪些搁置的消息？请写出它们的编号")
    chosen = _chosen(session, principal, ids=ids, settings=settings)
    count = inbox_repo.discard(session=session, ids=chosen, now=datetime.now(UTC))
    audit.record(session, principal, "channel.discard", "channel", "", ids=ids, count=count)
    return count


def _chosen(
    session: Session, principal: Principal, *, ids: list[int] | None, settings: WechatySettings
) -> list[int]:
    """The parked events in scope that ``ids`` names (all of them when None); an id that
    is not one of them refuses the whole call, naming it."""
    in_scope = {p.id for p in _parked_in_scope(session, principal, settings=settings, limit=None)}
    unknown = sorted(set(ids or ()) - in_scope)
    if unknown:  # nothing is done: the operator sees which ids were wrong
        shown = "、".join(map(str, unknown))
        raise NotFoundError(f"没有这些搁置的消息（不存在，或已经放回或丢弃）：{shown}")
    return sorted(in_scope if ids is None else in_scope & set(ids))


def account_names(session: Session, *, settings: WechatySettings) -> dict[str, str]:
    """Each configured account as people read it (「林晓（ins_lin）」, as ``AccountStatus.shown``),
    for the lines the serving process prints. Names only: no scope to check (the process
    serves every configured account)."""
    configs = settings.account_configs()
    ids = tuple(a.adviser_id for a in configs if a.adviser_id)
    colleagues = advisers_repo.adviser_names(session=session, adviser_ids=ids) if ids else {}
    return {a.key: _shown(a.key, colleagues.get(a.adviser_id or "", "")) for a in configs}


def _shown(account: str, adviser_name: str) -> str:
    if adviser_name and adviser_name != account:
        return f"{adviser_name}（{account_label(account)}）"
    return account_label(account)


def _banner(account: str, state: str, user_name: str, parked: int) -> str | None:
    """``account`` as people read it (``_shown``); ``user_name``: the WeChat nickname."""
    who = f"{account} 微信「{user_name}」" if user_name else account
    if state == "logged_out":
        return f"微信账号 {who} 已退出登录，收不到消息：请重新扫码登录"
    if state == "waiting_scan":
        return f"微信账号 {who} 等待扫码登录"
    if parked:
        return (
            f"微信账号 {who} 有 {parked} 条消息处理失败，已搁置：排除原因后放回重试，"
            "或丢弃不再处理（微信账号页，或 siyu bot --requeue / --discard）"
        )
    return None


def parked_messages(
    session: Session, principal: Principal, *, settings: WechatySettings, limit: int = 100
) -> list[ParkedMessage]:
    """Parked events in the principal's scope, oldest first, with what is known of their
    content (customer text: the read is audit-logged)."""
    require(principal, *CUSTOMER_VIEWERS)
    result = _parked_in_scope(session, principal, settings=settings, limit=limit)
    audit.record(session, principal, "channel.parked.view", "channel", "", count=len(result))
    return result


def _parked_in_scope(
    session: Session, principal: Principal, *, settings: WechatySettings, limit: int | None
) -> list[ParkedMessage]:
    scope = scope_of(session, principal)
    advisers = {a.key: a.adviser_id for a in settings.account_configs()}
    states = {s.account: s.adviser_id for s in accounts_repo.list_states(session=session)}
    colleagues = advisers_repo.adviser_names(session=session)
    result = []
    for item in inbox_repo.parked(session=session, limit=limit):
        payload = item.payload or {}
        body = payload.get("message") or payload.get("contact") or {}
        owner = advisers.get(item.account) or states.get(item.account)
        adviser = body.get("adviser_id") or owner
        if not scope.allows(adviser):
            continue
        result.append(
            ParkedMessage(
                id=item.id,
                account=item.account,
                account_shown=_shown(item.account, colleagues.get(owner or "", "")),
                kind=item.kind,
                event_id=item.event_id,
                stage=item.stage,
                attempts=item.attempts,
                error=item.error,
                received_at=item.received_at,
                contact_id=body.get("contact_id") or item.contact_key,
                contact_name=str(body.get("contact_name") or body.get("alias") or ""),
                text=str(body.get("text") or body.get("hello") or ""),
            )
        )
    return result


def requeue(
    session: Session,
    principal: Principal,
    *,
    ids: list[int] | None,
    settings: WechatySettings,
) -> int:
    """Put parked events (all when ``ids`` is None) of the principal's scope back to the
    stage that failed; the running bot takes them up within half a minute. Managers (their
    team's accounts) and the administrator only (audit-logged). Returns how many. An id
    that is not a parked event in scope refuses the whole call (``NotFoundError``)."""
    require(principal, "manager")
    chosen = _chosen(session, principal, ids=ids, settings=settings)
    count = inbox_repo.requeue(session=session, ids=chosen, now=datetime.now(UTC)) if chosen else 0
    audit.record(
        session, principal, "channel.requeue", "channel", "", ids=ids or "all", count=count
    )
    return count
