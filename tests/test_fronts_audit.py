"""The CLI and the web go through the same service functions, so one action writes the
same audit row from either front: a change (a script's status, a tag review), a read of
customer data (a profile) and an export. The CLI's rows name its actor: ``--actor``,
``SIYU_ACTOR`` or the login name.

Real SQLite, real Chroma and embeddings, the CLI in-process, the web through TestClient
with API tokens. The CLI runs while no runtime is open on the data directory; the web's
runtime is opened after it."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import load_small_library
from web_helpers import add_users, bearer_client, customer_message, web_app

from bot.cli import run
from bot.pipeline.runtime import Runtime, open_runtime
from bot.settings import Settings
from bot.store import Database
from bot.store import audit as audit_repo
from bot.store import inbox as inbox_repo
from bot.store import tags as tags_repo
from bot.store.audit import AuditRecord

CLI_ACTOR = "ops-admin"
SCRIPT = "INS-ICE-1"


@dataclass
class Fronts:
    data_dir: Path
    customer: int
    tag_for_cli: int
    tag_for_web: int
    #: Audit rows per actor, oldest first, once both fronts have acted.
    rows: dict[str, list[AuditRecord]]

    def row(self, actor: str, action: str) -> AuditRecord:
        found = [r for r in self.rows[actor] if r.action == action]
        assert found, (actor, action, [r.action for r in self.rows[actor]])
        return found[-1]


def _open(data_dir: Path) -> Runtime:
    return open_runtime(Settings.model_validate({"data_dir": str(data_dir)}))


@pytest.fixture(scope="module")
def fronts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fronts]:
    data_dir = tmp_path_factory.mktemp("fronts") / "data"
    rt = _open(data_dir)
    try:
        load_small_library(rt)
        tokens = add_users(rt)
        customer_message(rt, "adv-a", "wx-a", "重疾险一年多少钱？我家有孩子", "张女士")
        with rt.db.session() as session:
            (row,) = inbox_repo.conversation_list(session=session, adviser_ids=None, viewer="x")
            suggested = tags_repo.list_customer_tags(session=session, status="suggested")
        tag_ids = sorted(t.id for t in suggested if t.customer_id == row.customer_id)
        assert len(tag_ids) >= 2, "the message should suggest two tags"
    finally:
        rt.close()
    fronts = Fronts(
        data_dir=data_dir,
        customer=row.customer_id,
        tag_for_cli=tag_ids[0],
        tag_for_web=tag_ids[1],
        rows={},
    )

    # The CLI first, with no runtime open on the data directory.
    def siyu(*args: str) -> None:
        assert run(["--data-dir", str(data_dir), "--actor", CLI_ACTOR, *args]) == 0, args

    cid = str(fronts.customer)
    siyu("scripts", "status", SCRIPT, "archived")
    siyu("tags", "review", "--confirm", str(fronts.tag_for_cli))
    siyu("customers", "show", cid)
    siyu("customers", "export", cid, "--out", str(data_dir.parent / "export.json"))

    rt = _open(data_dir)
    try:
        app = web_app(rt)
        with bearer_client(app, tokens["olivia"]) as olivia:
            res = olivia.post(
                f"/scripts/{SCRIPT}/status", data={"status": "archived"}, follow_redirects=False
            )
            assert res.status_code == 303, res.text
        with bearer_client(app, tokens["alice"]) as alice:
            res = alice.post(
                f"/api/customer-tags/{fronts.tag_for_web}/review", json={"status": "confirmed"}
            )
            assert res.status_code == 200, res.text
            assert alice.get(f"/api/customers/{cid}").status_code == 200
            assert alice.get(f"/api/customers/{cid}/export").status_code == 200
        with rt.db.session() as session:
            for actor in (CLI_ACTOR, "olivia", "alice"):
                entries = audit_repo.list_entries(session=session, actor=actor, limit=1000)
                fronts.rows[actor] = list(reversed(entries))
    finally:
        rt.close()
    yield fronts


def _same(cli: AuditRecord, web: AuditRecord) -> None:
    assert (cli.action, cli.target_type, cli.target_id) == (
        web.action,
        web.target_type,
        web.target_id,
    )


def test_a_change_to_the_library_is_audited_alike(fronts: Fronts) -> None:
    cli = fronts.row(CLI_ACTOR, "script.archived")
    web = fronts.row("olivia", "script.archived")
    _same(cli, web)
    assert (cli.target_type, cli.target_id) == ("script", SCRIPT)


def test_a_change_to_customer_data_is_audited_alike(fronts: Fronts) -> None:
    cli = fronts.row(CLI_ACTOR, "tag.confirmed")
    web = fronts.row("alice", "tag.confirmed")
    _same(cli, web)
    assert (cli.target_type, cli.target_id) == ("customer", str(fronts.customer))
    assert cli.detail == {"customer_tag": fronts.tag_for_cli}
    assert web.detail == {"customer_tag": fronts.tag_for_web}


def test_reading_a_profile_is_audited_alike(fronts: Fronts) -> None:
    cli = fronts.row(CLI_ACTOR, "customer.view")
    web = fronts.row("alice", "customer.view")
    _same(cli, web)
    assert (cli.target_type, cli.target_id) == ("customer", str(fronts.customer))


def test_an_export_is_audited_alike(fronts: Fronts) -> None:
    cli = fronts.row(CLI_ACTOR, "customer.export")
    web = fronts.row("alice", "customer.export")
    _same(cli, web)
    assert (cli.target_type, cli.target_id) == ("customer", str(fronts.customer))
    exported = json.loads((fronts.data_dir.parent / "export.json").read_text(encoding="utf-8"))
    assert exported["customer"]["id"] == fronts.customer


def test_the_cli_names_its_actor_by_option_environment_or_login(
    fronts: Fronts, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["--data-dir", str(fronts.data_dir), "customers", "export", str(fronts.customer)]
    out = str(fronts.data_dir.parent / "again.json")
    monkeypatch.delenv("SIYU_ACTOR", raising=False)
    assert run([*base, "--out", out]) == 0
    monkeypatch.setenv("SIYU_ACTOR", "from-env")
    assert run([*base, "--out", out]) == 0
    assert run([*base, "--out", out, "--actor", "dpo"]) == 0  # the command's own option wins
    db = Database.from_settings(Settings.model_validate({"data_dir": str(fronts.data_dir)}))
    try:
        with db.session() as session:
            entries = audit_repo.list_entries(session=session, action="customer.export", limit=3)
    finally:
        db.dispose()
    assert [e.actor for e in reversed(entries)] == [getpass.getuser(), "from-env", "dpo"]
