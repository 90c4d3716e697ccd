"""``siyu history``: import a chat archive (JSONL or CSV) into profiles, tags and the
script library's learned examples."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import bar, err, out, principal, progress, runtime, styled

app = typer.Typer(help="聊天记录：导入过去对话的存档。")


@app.command("import")
def history_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="JSONL 或 CSV 文件，每行一条消息。")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只检查并计数，不写入。")] = False,
    channel: Annotated[
        str,
        typer.Option(help="消息所属的渠道名；联系人记为身份 <channel>_contact。"),
    ] = "history",
    industry: Annotated[
        str,
        typer.Option(
            help="没有写 industry 的消息属于哪个行业（默认：\\[assistant] default_industry）。"
        ),
    ] = "",
) -> None:
    """导入聊天记录：先检查整个文件（每个问题都给出行号，有错就不导入），
    再按时间顺序记录消息；按 msg_id 去重（中断后重跑会接着导入）；
    不为过去的消息生成建议。"""
    from bot.pipeline.history import read_history
    from bot.services import history

    with err.status(f"正在检查 {path.name}…"):  # every problem at once, before the slow start
        lines = read_history(path, zone=ctx.obj.settings().zone)
    try:
        with runtime(ctx) as rt, progress() as bars:
            report = history.import_file(
                rt,
                principal(ctx),
                path=path,
                channel=channel,
                dry_run=dry_run,
                progress=bar(bars, "导入消息"),
                lines=lines,
                industry=industry,
            )
    except KeyboardInterrupt:
        if not dry_run:
            err.print("已中止：已导入的消息都已保存，再运行同一条命令会从中断处接着导入")
        raise typer.Exit(130) from None
    for warning in report.warnings:
        err.print(styled("[yellow]注意[/] {}", warning), highlight=False)
    repeated = f" · 文件内重复 {report.repeated} 行" if report.repeated else ""
    if dry_run:
        out.print(
            f"检查通过：{report.lines} 行 · {report.contacts} 个联系人 · 将导入 {report.logged} 条"
            f"（客户 {report.customer_messages} · 顾问 {report.adviser_messages}）"
            f" · 已导入过 {report.skipped} 条{repeated}"
        )
        return
    out.print(
        f"导入 {report.logged} 条 · 跳过已导入 {report.skipped} 条{repeated}"
        f" · {report.contacts} 个联系人"
        f" · 话术使用 {report.uses} 次 · 学到例句 {report.examples} 条 · 标签建议 {report.tags} 个"
    )
    minutes, seconds = divmod(round(report.seconds), 60)
    out.print(f"用时 {minutes} 分 {seconds} 秒，{report.rate:.0f} 条/秒", highlight=False)
