"""Knowledge documents: one copy per name (the CLI and the console upload are the same
document), and delete by name or id from the database and both indexes."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from conftest import RuntimeFactory
from web_helpers import add_users, bearer_client, finish_job, login, web_app

from bot.cli import run
from bot.errors import NotFoundError
from bot.pipeline.jobs import JobStatus
from bot.pipeline.runtime import Runtime
from bot.services import knowledge
from bot.services.access import cli_principal
from bot.store import documents as docs_repo

ADMIN = cli_principal("operator-test")
OLD = "# 售后政策\n退货须在签收后七天内申请，运费由买家承担。\n"
NEW = "# 售后政策\n签收后十五天内可无理由退货，运费由我们承担。\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def finished(rt: Runtime, job_id: str) -> JobStatus:
    deadline = time.monotonic() + 60
    while True:
        status = rt.jobs.get(job_id)
        assert status is not None
        if status.state in ("done", "failed"):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.05)


def test_upload_after_cli_ingest_replaces_the_document(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    rt = make_runtime(load=False)
    knowledge.ingest(rt, ADMIN, path=write(tmp_path / "kb" / "售后政策.txt", OLD))
    job = knowledge.start_upload(
        rt, ADMIN, filename="售后政策.txt", data=NEW.encode(), industry=None
    )
    assert finished(rt, job.id).state == "done"
    with rt.db.session() as session:
        docs = knowledge.documents(session, ADMIN)
    assert [(d.source, d.origin) for d in docs] == [("售后政策.txt", knowledge.UPLOAD_ORIGIN)]
    texts = [k.text for k in rt.kb.search("退货运费谁承担", k=5)]
    assert texts and all("十五天" in t for t in texts), texts

    # The same name from another folder replaces it again; two of one name at once are
    # refused before anything is written.
    knowledge.ingest(rt, ADMIN, path=write(tmp_path / "other" / "售后政策.txt", OLD))
    with rt.db.session() as session:
        assert len(knowledge.documents(session, ADMIN)) == 1
    write(tmp_path / "both" / "a" / "售后政策.txt", OLD)
    write(tmp_path / "both" / "b" / "售后政策.txt", NEW)
    with pytest.raises(Exception, match="同名"):
        knowledge.ingest(rt, ADMIN, path=tmp_path / "both")


def test_delete_removes_the_chunks_from_sql_and_both_indexes(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    rt = make_runtime(load=False)
    knowledge.ingest(rt, ADMIN, path=write(tmp_path / "售后政策.txt", OLD))
    knowledge.ingest(rt, ADMIN, path=write(tmp_path / "保费.md", "# 保费\n三十岁一年四千六。\n"))
    with rt.db.session() as session:
        doc = docs_repo.get_document(session=session, source="售后政策.txt")
        assert doc is not None
        ids = {c.index_id for c in docs_repo.all_chunks(session=session, document_id=doc.id)}
    index = rt.kb._index
    before = len(index)
    assert ids & {h.id for h in index.search("退货运费", k=10)}

    removed = knowledge.delete(rt, ADMIN, ref="售后政策.txt")
    assert removed.id == doc.id
    with rt.db.session() as session:
        assert docs_repo.all_chunks(session=session, document_id=doc.id) == []
        assert [d.source for d in knowledge.documents(session, ADMIN)] == ["保费.md"]
    assert len(index) == before - len(ids)
    hits = index.search("退货须在签收后七天内申请", k=10)
    assert not ids & {h.id for h in hits}, "gone from the dense and the lexical channel"
    assert all("退货" not in k.text for k in rt.kb.search("退货运费", k=5))

    other = knowledge.delete(rt, ADMIN, ref=str(doc.id + 1))  # by id
    assert other.source == "保费.md"
    with pytest.raises(NotFoundError):
        knowledge.delete(rt, ADMIN, ref="售后政策.txt")


def test_kb_delete_and_list_from_the_cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    doc = write(tmp_path / "售后政策.txt", OLD)

    def siyu(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = run(["--data-dir", str(data), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    assert siyu("kb", "ingest", str(doc))[0] == 0
    code, out, _ = siyu("kb", "list")
    assert code == 0 and "售后政策.txt" in out and "来自" in out
    code, out, _ = siyu("kb", "delete", "售后政策.txt")
    assert code == 0 and "已删除文档 售后政策.txt" in out
    code, _, err = siyu("kb", "delete", "售后政策.txt")
    assert code == 1 and "文档不存在" in err
    code, out, _ = siyu("kb", "search", "退货运费")
    assert code == 0 and "七天" not in out


def test_a_folder_with_a_bad_file_names_it_once_and_ingests_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Before: 「- 知识库/坏的.csv: 知识库/坏的.csv：缺少列：question（问题）」 — the path
    twice, an English colon — and the file's own problem as an item of the folder's."""
    data = tmp_path / "data"
    folder = tmp_path / "知识库"
    folder.mkdir()
    write(folder / "售后政策.txt", OLD)
    write(folder / "坏的.csv", "questoin,answer\n工期,90天\n")
    assert run(["--data-dir", str(data), "kb", "ingest", str(folder)]) == 1
    err = capsys.readouterr().err
    problem = f"  - {folder / '坏的.csv'}：缺少列：question（问题）（文件的表头：questoin,answer）"
    assert problem in err.splitlines()
    assert err.count("坏的.csv") == 1
    assert run(["--data-dir", str(data), "kb", "list"]) == 0
    assert "知识库里还没有文档" in capsys.readouterr().out


def test_console_deletes_a_document(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime(load=False)
    tokens = add_users(rt)
    app = web_app(rt)
    with bearer_client(app) as c:
        csrf = login(c, "olivia")
        res = c.post(
            "/knowledge/upload",
            data={"csrf_token": csrf, "industry": ""},
            files={"file": ("售后政策.txt", io.BytesIO(OLD.encode()), "text/plain")},
        )
        res = c.get(finish_job(c, res)["next_url"])
        doc_id = re.search(r'/knowledge/(\d+)/delete"', res.text).group(1)  # type: ignore[union-attr]
        job = finish_job(c, c.post(f"/knowledge/{doc_id}/delete", data={"csrf_token": csrf}))
        assert job["state"] == "done"
        res = c.get(job["next_url"])
        assert "已删除 售后政策.txt" in res.text and "还没有文档" in res.text
    with bearer_client(app, tokens["olivia"]) as api:
        assert api.get("/api/documents").json() == []
        assert api.delete(f"/api/documents/{doc_id}").status_code == 404
    with bearer_client(app, tokens["alice"]) as adviser:
        assert adviser.delete(f"/api/documents/{doc_id}").status_code == 403


FAQ = """问题,答案
医疗险一年多少钱,按年龄段定价，30岁一年三百元左右。
医疗险每年要交多少钱,保费随年龄增长，40岁一年五百元左右。
医疗险可以月缴吗,可以月缴，每月扣款。
医疗险等待期多久,首次投保等待期三十天。
"""
SHEET = (
    "# 百万医疗险\n\n"
    "百万医疗险是一年期报销型医疗险，一年保费几百元，住院医疗费用最高报销三百万元。\n"
)


def test_a_suggestion_shows_passages_of_several_documents(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    rt = make_runtime(load=False)
    knowledge.ingest(rt, ADMIN, path=write(tmp_path / "kb" / "医疗险问答.csv", FAQ))
    knowledge.ingest(rt, ADMIN, path=write(tmp_path / "kb" / "百万医疗险.md", SHEET))
    question = "医疗险一年要交多少钱"
    # without a limit the question-shaped FAQ entries fill the places
    unspread = [k.source for k in rt.kb.search(question, k=3)]
    assert unspread[:2] == ["医疗险问答.csv"] * 2, unspread
    # a suggestion shows the best passage of each document first (passages_per_document 1)
    shown = rt.assistant.suggest(question, new_contact=False).knowledge
    assert sorted(k.source for k in shown[:2]) == ["医疗险问答.csv", "百万医疗险.md"]
    # with fewer documents than places, the next FAQ entry fills the third
    assert [k.source for k in shown] == [*unspread[:1], "百万医疗险.md", unspread[1]]
