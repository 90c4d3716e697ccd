"""Build the learning data set of bench/learning.py from its hand-written sources.

    python bench/learning_data.py          # rewrites the generated files in bench/data/learning/

Sources (written by hand, see bench/data/learning/README.md): ``intents/*.yaml`` (customer
messages per script, a history pool and a separately written test pool, each message with
the tags it evidences), ``intents/context.yaml`` (test messages that need the previous
message), and the third industry's library in ``muying/``. Generated (deterministic, seed
12): ``scripts.csv`` and ``tags.yaml`` (the demo library plus muying), ``history.jsonl``
(the chat archive, in the format of ``siyu history import``), ``history_labels.jsonl``
(the gold tags of its customer messages, for simulating tag review), ``test.jsonl`` and
``context_test.jsonl`` (the labelled test messages).
"""

from __future__ import annotations

import csv
import json
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "bot" / "demo_data"
DATA = Path(__file__).resolve().parent / "data" / "learning"
INDUSTRIES = ("insurance", "kaoyan", "muying")
#: Conversations in the generated history.
CONVERSATIONS = 700
SEED = 12
CST = timezone(timedelta(hours=8))

_TAGGED = re.compile(r"^(?P<text>.*?)\s*\[(?P<tags>[^\[\]]*)\]\s*$")


@dataclass(frozen=True, slots=True)
class Said:
    """A customer message with the tags it gives evidence for."""

    text: str
    tags: tuple[str, ...] = ()


@dataclass(slots=True)
class Intent:
    """What customers ask that one script answers."""

    script: str
    industry: str  # the script's industry ("general" for the shared ones)
    knowledge: tuple[str, ...]
    history: list[Said] = field(default_factory=list)
    test: list[Said] = field(default_factory=list)
    proactive: bool = False


def parse_said(line: str) -> Said:
    match = _TAGGED.match(line)
    if match is None:
        return Said(line.strip())
    tags = tuple(t.strip() for t in match.group("tags").split(";") if t.strip())
    return Said(match.group("text").strip(), tags)


def load_scripts() -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for path in (DEMO / "scripts.csv", DATA / "muying" / "scripts.csv"):
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                rows[row["id"]] = row
    return rows


def load_intents(scripts: dict[str, dict[str, str]]) -> list[Intent]:
    intents = []
    for name in ("insurance", "kaoyan", "general", "muying"):
        raw = yaml.safe_load((DATA / "intents" / f"{name}.yaml").read_text("utf-8"))
        for script_id, spec in raw.items():
            if script_id not in scripts:
                raise SystemExit(f"intents/{name}.yaml: unknown script {script_id}")
            intents.append(
                Intent(
                    script=script_id,
                    industry=scripts[script_id]["industry"],
                    knowledge=tuple(spec.get("knowledge") or ()),
                    history=[parse_said(s) for s in spec.get("history") or ()],
                    test=[parse_said(s) for s in spec.get("test") or ()],
                    proactive=bool(spec.get("proactive")),
                )
            )
    return intents


# ----------------------------------------------------------------------------- variables
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋"
NAME_FORMS = ("{s}女士", "{s}先生", "{s}姐", "小{s}", "{s}哥", "{s}同学", "{s}妈妈", "{s}老师")
ADVISERS = {
    "insurance": [("ins_wang", "王顾问"), ("ins_lin", "林顾问")],
    "kaoyan": [("ky_zhou", "周老师"), ("ky_he", "何老师")],
    "muying": [("my_su", "苏苏"), ("my_tang", "唐唐")],
}
PRODUCTS = {
    "insurance": ["安心重疾险", "e享百万医疗险", "守护意外险", "金福年金险", "启航教育金"],
    "kaoyan": ["全程班", "VIP协议班", "暑期集训营", "单科班"],
    "muying": ["启初2段奶粉", "启初1段奶粉", "柔护纸尿裤", "启初3段奶粉"],
}
CITIES = ["南京", "上海", "杭州", "苏州", "合肥", "武汉", "成都", "广州"]


def contact_name(rng: random.Random, industry: str) -> str:
    forms = {
        "insurance": NAME_FORMS[:5],
        "kaoyan": ("{s}同学", "小{s}", "{s}同学"),
        "muying": ("{s}妈妈", "{s}女士", "{s}姐", "小{s}"),
    }[industry]
    return rng.choice(forms).format(s=rng.choice(SURNAMES))


def fill(body: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        return values.get(match.group(1), match.group(0))

    text = re.sub(r"\{(\w+)\}", one, body.replace("{{", "\x00").replace("}}", "\x01"))
    return text.replace("\x00", "{").replace("\x01", "}")


# ----------------------------------------------------------------------------- edits
CLAUSE = re.compile(r"(?<=[，。！？；～])")
OPENERS = ["好的～", "嗯嗯，", "收到～", "明白，", "哈哈好的，", ""]
CLOSERS = ["有问题随时找我哈", "您看看哈", "有啥不清楚的再问我～", "😊", "🌹"]


def edit_lightly(text: str, rng: random.Random) -> str:
    """What an adviser does to a script before sending it: a different opening, a clause
    dropped, a few characters changed, a closing added."""
    parts = [p for p in CLAUSE.split(text) if p]
    roll = rng.random()
    if roll < 0.3 and len(parts) > 3:
        del parts[rng.randrange(1, len(parts) - 1)]
    elif roll < 0.5:
        parts.insert(0, rng.choice(OPENERS))
    elif roll < 0.7 and len(parts) > 2:
        parts = parts[:-1]
    out = "".join(parts)
    if rng.random() < 0.4:
        chars = list(out)
        for _ in range(rng.randint(1, 3)):
            if len(chars) > 10:
                i = rng.randrange(len(chars))
                chars[i] = rng.choice("的了呢哈啊吧")
        out = "".join(chars)
    if rng.random() < 0.4:
        out += rng.choice(CLOSERS)
    return out


PREFIXES = ["", "", "", "请问", "想问下", "你好，", "那个", "老师，", "问一下 "]
SUFFIXES = ["", "", "", "？", "呀", "啊", "～", "哈", "😂", "??", "呢"]


def perturb(text: str, rng: random.Random, industry: str) -> str:
    prefix = rng.choice(PREFIXES)
    if prefix == "老师，" and industry != "kaoyan":
        prefix = ""
    return f"{prefix}{text}{rng.choice(SUFFIXES)}"


#: Customer messages without an intent (acknowledgements, small talk).
FILLERS = ["好的", "嗯嗯", "谢谢", "好的谢谢", "明白了", "收到", "哦哦", "知道了", "好", "ok"]
#: Adviser messages that are no script.
FREE_REPLIES = [
    "稍等我看一下哈",
    "好的，我查一下马上回您",
    "在的在的",
    "收到～",
    "嗯嗯是的",
    "不客气😊",
    "好嘞",
    "我这边帮您记下了",
    "这个我晚点详细跟您说",
    "刚在开会，现在回您",
]


# ----------------------------------------------------------------------------- history
@dataclass(slots=True)
class Line:
    msg_id: str
    contact_id: str
    contact_name: str
    adviser_id: str
    industry: str
    direction: str
    text: str
    sent_at: datetime
    tags: tuple[str, ...] = ()
    #: An adviser's message: the script it was written from (None: a free reply).
    script: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "msg_id": self.msg_id,
            "contact_id": self.contact_id,
            "contact_name": self.contact_name,
            "adviser_id": self.adviser_id,
            "industry": self.industry,
            "direction": self.direction,
            "text": self.text,
            "sent_at": self.sent_at.astimezone(CST).isoformat(timespec="seconds"),
        }


@dataclass(slots=True)
class _Chat:
    """One conversation being written: who talks, the clock, the message counter."""

    rng: random.Random
    scripts: dict[str, dict[str, str]]
    contact: str
    name: str
    adviser_id: str
    industry: str
    values: dict[str, str]
    when: datetime
    counter: list[int]

    def line(
        self, direction: str, text: str, tags: tuple[str, ...] = (), script: str | None = None
    ) -> Line:
        self.counter[0] += 1
        self.when += timedelta(seconds=self.rng.uniform(20, 600))
        return Line(
            msg_id=f"h{self.counter[0]:06d}",
            contact_id=self.contact,
            contact_name=self.name,
            adviser_id=self.adviser_id,
            industry=self.industry,
            direction=direction,
            text=text,
            sent_at=self.when,
            tags=tags,
            script=script,
        )

    def send(self, script_id: str) -> Line:
        """The adviser sends a script: filled in, sometimes edited."""
        body = fill(self.scripts[script_id]["body"], self.values)
        if self.rng.random() < 0.2:  # some advisers never use the name
            body = body.replace(self.name, "")
        text = edit_lightly(body, self.rng) if self.rng.random() < 0.45 else body
        return self.line("out", text, script=script_id)


def history(
    intents: list[Intent], scripts: dict[str, dict[str, str]], rng: random.Random
) -> Iterator[Line]:
    by_industry: dict[str, list[Intent]] = {i: [] for i in INDUSTRIES}
    proactive: dict[str, list[Intent]] = {i: [] for i in INDUSTRIES}
    for intent in intents:
        targets = INDUSTRIES if intent.industry == "general" else (intent.industry,)
        for industry in targets:
            if intent.proactive:
                proactive[industry].append(intent)
            elif intent.history:
                by_industry[industry].append(intent)
    start = datetime(2026, 6, 1, 9, 0, tzinfo=CST)
    counter = [0]
    for n in range(CONVERSATIONS):
        industry = INDUSTRIES[n % len(INDUSTRIES)]
        adviser_id, adviser_name = rng.choice(ADVISERS[industry])
        name = contact_name(rng, industry)
        values = {
            "customer_name": name,
            "adviser_name": adviser_name,
            "company": "思语",
            "product": rng.choice(PRODUCTS[industry]),
            "date": f"{rng.randint(1, 12)}月{rng.randint(1, 28)}日",
            "city": rng.choice(CITIES),
        }
        # the date variables of the library ({today}, {deadline}) get the same day
        values |= {"today": values["date"], "deadline": values["date"]}
        chat = _Chat(
            rng=rng,
            scripts=scripts,
            contact=f"wm{n + 1:04d}",
            name=name,
            adviser_id=adviser_id,
            industry=industry,
            values=values,
            when=start + timedelta(days=rng.randrange(150), hours=rng.uniform(0, 11)),
            counter=counter,
        )
        opening = rng.random()
        if opening < 0.15 and proactive[industry]:
            yield chat.send(rng.choice(proactive[industry]).script)
        elif opening < 0.45:
            greet = rng.choice(["在吗", "你好", "在不在", "您好", "hi"])
            yield chat.line("in", greet)
            if rng.random() < 0.6:
                gen = "GEN-ICE-001" if greet.startswith("在") else "GEN-WEL-001"
                yield chat.send(gen)
            else:
                yield chat.line("out", rng.choice(FREE_REPLIES[:3]))
        for _ in range(rng.choice((1, 1, 2, 2, 2, 3, 3, 4))):
            intent = rng.choice(by_industry[industry])
            said = rng.choice(intent.history)
            if rng.random() < 0.1:
                yield chat.line("in", rng.choice(["在吗", "你好", "问个事"]))
            yield chat.line("in", perturb(said.text, rng, industry), said.tags)
            roll = rng.random()
            if roll < 0.12:
                yield chat.line("out", rng.choice(FREE_REPLIES))
                continue
            if roll < 0.25:
                yield chat.line("out", rng.choice(FREE_REPLIES[:2]))
            yield chat.send(intent.script)
            if rng.random() < 0.5:
                yield chat.line("in", rng.choice(FILLERS))
                if rng.random() < 0.3:
                    yield chat.line("out", rng.choice(FREE_REPLIES[5:]))


# ----------------------------------------------------------------------------- test sets
def test_rows(intents: list[Intent], rng: random.Random) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for intent in intents:
        for k, said in enumerate(intent.test):
            industry = intent.industry
            if industry == "general":
                industry = INDUSTRIES[(len(rows) + k) % len(INDUSTRIES)]
            rows.append(
                {
                    "id": f"t{len(rows) + 1:03d}",
                    "text": said.text,
                    "industry": industry,
                    "scripts": [intent.script],
                    "knowledge": list(intent.knowledge),
                    "tags": list(said.tags),
                }
            )
    return rows


def context_rows() -> list[dict[str, Any]]:
    raw = yaml.safe_load((DATA / "intents" / "context.yaml").read_text("utf-8"))
    return [
        {
            "id": f"x{i:03d}",
            "context": list(item["context"]),
            "text": item["text"],
            "industry": item["industry"],
            "scripts": list(item["scripts"]),
            "tags": list(item.get("tags") or ()),
        }
        for i, item in enumerate(raw, start=1)
    ]


def merged_taxonomy() -> dict[str, Any]:
    demo = yaml.safe_load((DEMO / "tags.yaml").read_text("utf-8"))
    muying = yaml.safe_load((DATA / "muying" / "tags.yaml").read_text("utf-8"))
    return {"version": 1, "categories": demo["categories"] + muying["categories"]}


def check(intents: list[Intent], taxonomy: dict[str, Any]) -> None:
    """Every tag label exists for the message's industry; no test text is in the history;
    every knowledge label names a document of the industry."""
    tags: dict[str, set[str]] = {}
    for category in taxonomy["categories"]:
        for tag in category["tags"]:
            tags.setdefault(tag["name"], set()).add(category.get("industry", "general"))
    docs = {p.name for p in (DEMO / "knowledge").iterdir()}
    docs |= {p.name for p in (DATA / "muying" / "knowledge").iterdir()}
    history_texts = {s.text for i in intents for s in i.history}
    problems = []
    for intent in intents:
        for said in intent.history + intent.test:
            for tag in said.tags:
                where = tags.get(tag)
                if where is None:
                    problems.append(f"{intent.script}: unknown tag {tag!r} ({said.text})")
                elif intent.industry != "general" and not where & {intent.industry, "general"}:
                    problems.append(f"{intent.script}: tag {tag!r} is not for {intent.industry}")
        for said in intent.test:
            if said.text in history_texts:
                problems.append(f"{intent.script}: test message also in the history: {said.text}")
        problems += [
            f"{intent.script}: unknown document {d}" for d in intent.knowledge if d not in docs
        ]
    if problems:
        raise SystemExit("\n".join(problems))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")


def main() -> None:
    scripts = load_scripts()
    intents = load_intents(scripts)
    taxonomy = merged_taxonomy()
    check(intents, taxonomy)
    rng = random.Random(SEED)
    lines = list(history(intents, scripts, rng))
    write_jsonl(DATA / "history.jsonl", [line.to_json() for line in lines])
    write_jsonl(
        DATA / "history_labels.jsonl",
        [
            {"msg_id": ln.msg_id, "tags": list(ln.tags)}
            if ln.direction == "in"
            else {"msg_id": ln.msg_id, "script": ln.script}
            for ln in lines
        ],
    )
    write_jsonl(DATA / "test.jsonl", test_rows(intents, rng))
    write_jsonl(DATA / "context_test.jsonl", context_rows())
    with (DATA / "scripts.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(next(iter(scripts.values()))))
        writer.writeheader()
        writer.writerows(scripts.values())
    header = "# Generated by bench/learning_data.py: bot/demo_data/tags.yaml + muying/tags.yaml\n"
    (DATA / "tags.yaml").write_text(
        header + yaml.safe_dump(taxonomy, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    conversations = len({ln.contact_id for ln in lines})
    days = (max(ln.sent_at for ln in lines) - min(ln.sent_at for ln in lines)).days
    print(
        f"history: {len(lines)} messages, {conversations} conversations over {days} days;"
        f" test: {sum(len(i.test) for i in intents)} messages; scripts: {len(scripts)}"
    )


if __name__ == "__main__":
    main()
