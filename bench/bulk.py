"""Bulk work on every core: a large chat-history import and a knowledge ingest.

    python bench/bulk.py --lines 100000                  # siyu history import
    python bench/bulk.py --chunks 10000                  # siyu kb ingest
    python bench/bulk.py --lines 20000 --processes 1     # compare: one process

Both run through the real commands (``siyu history import``, ``siyu kb ingest``) in
bench/out/bulk-*/, against the learning data set's library (bench/data/learning). The
archive is the learning history replayed by more contacts: each conversation copied with
new ids, later dates, and most customer messages varied (another product, city or
number, as real customers write the same question differently), so that about two thirds
of them need embedding. The knowledge file is bench/latency.py's synthetic question-answer
CSV. Prints the time and the rate.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from common import read_jsonl
from latency import CITIES, PRODUCTS, synth_chunks

DATA = Path(__file__).resolve().parent / "data" / "learning"
OUT = Path(__file__).resolve().parent / "out"


def synth_history(lines: int, path: Path, rng: random.Random) -> None:
    """``lines`` messages: the learning history's conversations replayed by new contacts."""
    rows = read_jsonl(DATA / "history.jsonl")
    by_contact: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_contact.setdefault(str(row["contact_id"]), []).append(row)
    conversations = list(by_contact.values())
    written = 0
    with path.open("w", encoding="utf-8") as fh:
        round_ = 0
        while written < lines:
            for n, conversation in enumerate(conversations):
                shift = timedelta(days=150 * round_)
                for row in conversation:
                    if written >= lines:
                        return
                    text = str(row["text"])
                    if row["direction"] == "in" and rng.random() < 0.7:
                        text = (
                            f"{text} {rng.choice(CITIES)}{rng.choice(PRODUCTS)}{rng.randint(1, 99)}"
                        )
                    sent = datetime.fromisoformat(str(row["sent_at"])) + shift
                    line = dict(row) | {
                        "msg_id": f"b{round_}-{row['msg_id']}",
                        "contact_id": f"b{round_}-{n}",
                        "text": text,
                        "sent_at": sent.isoformat(),
                    }
                    fh.write(json.dumps(line, ensure_ascii=False) + "\n")
                    written += 1
            round_ += 1


def cpu_seconds() -> float:
    """CPU time of the finished child processes (and theirs: the embedding workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def siyu(data_dir: Path, config: Path, *args: str) -> tuple[float, str]:
    cmd = [str(Path(sys.executable).with_name("siyu")), "--config", str(config)]
    cmd += ["--data-dir", str(data_dir), *args]
    started = time.perf_counter()
    done = subprocess.run(
        cmd, capture_output=True, text=True, env=os.environ | {"OPENBLAS_NUM_THREADS": "1"}
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
    return seconds, done.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lines", type=int, default=0, help="history lines to import")
    ap.add_argument("--chunks", type=int, default=0, help="knowledge chunks to ingest")
    ap.add_argument(
        "--processes", type=int, default=0, help="[embedding] processes (0: a core each)"
    )
    args = ap.parse_args()
    if not args.lines and not args.chunks:
        ap.error("give --lines and/or --chunks")
    rng = random.Random(12)
    work = OUT / f"bulk-p{args.processes}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    config = work / "siyu.toml"
    config.write_text(f"[embedding]\nprocesses = {args.processes}\n", encoding="utf-8")
    data_dir = work / "data"
    load = time.perf_counter()
    siyu(data_dir, config, "scripts", "import", str(DATA / "scripts.csv"))
    siyu(data_dir, config, "tags", "import", str(DATA / "tags.yaml"))
    processes = args.processes or "one per core"
    print(f"library loaded in {time.perf_counter() - load:.0f} s; processes = {processes}")
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the start")
    if args.lines:
        archive = work / "history.jsonl"
        synth_history(args.lines, archive, rng)
        cpu = cpu_seconds()
        seconds, out = siyu(data_dir, config, "history", "import", str(archive))
        cpu = cpu_seconds() - cpu
        print(out.strip())
        print(f"  CPU time {cpu / 60:.1f} min (all processes): {cpu / seconds:.2f} cores busy")
        rate = args.lines / seconds
        print(f"history import: {args.lines} lines in {seconds / 60:.1f} min = {rate:.0f} lines/s")
    if args.chunks:
        kb = work / "kb.csv"
        synth_chunks(args.chunks, kb, rng)
        cpu = cpu_seconds()
        seconds, out = siyu(data_dir, config, "kb", "ingest", str(kb))
        cpu = cpu_seconds() - cpu
        print(out.strip())
        print(f"  CPU time {cpu / 60:.1f} min (all processes): {cpu / seconds:.2f} cores busy")
        rate = args.chunks / seconds
        print(f"kb ingest: {args.chunks} chunks in {seconds / 60:.1f} min = {rate:.1f} chunks/s")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
