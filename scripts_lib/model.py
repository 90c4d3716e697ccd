"""The script (话术) record and the closed vocabularies of the interchange format."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date

CATEGORIES: tuple[str, ...] = (
    "welcome",
    "icebreaker",
    "product_intro",
    "objection",
    "pricing",
    "follow_up",
    "closing",
    "care",
    "after_sales",
    "referral",
)
STAGES: tuple[str, ...] = ("acquire", "engage", "convert", "retain")
#: Chinese names of the stages (引流/承接/转化/服务); an import accepts them as aliases.
STAGE_LABELS: dict[str, str] = {
    "acquire": "引流",
    "engage": "承接",
    "convert": "转化",
    "retain": "服务",
}
#: Chinese display names of the categories; an import accepts them as aliases.
CATEGORY_LABELS: dict[str, str] = {
    "welcome": "欢迎语",
    "icebreaker": "破冰",
    "product_intro": "产品介绍",
    "objection": "异议处理",
    "pricing": "报价",
    "follow_up": "跟进",
    "closing": "促单",
    "care": "关怀",
    "after_sales": "售后",
    "referral": "转介绍",
}
#: Other Chinese names an import accepts for a category (besides ``CATEGORY_LABELS``).
CATEGORY_SYNONYMS: dict[str, tuple[str, ...]] = {
    "welcome": ("欢迎", "新好友", "加好友"),
    "icebreaker": ("破冰话术", "开场"),
    "product_intro": ("介绍", "产品", "产品讲解"),
    "objection": ("异议", "顾虑", "顾虑处理", "异议处理话术"),
    "pricing": ("价格", "价格/报价", "报价/价格", "价格报价", "报价话术"),
    "follow_up": ("回访", "跟进话术"),
    "closing": ("促成", "成交", "逼单", "促单话术"),
    "care": ("关怀话术", "节日关怀"),
    "after_sales": ("售后服务", "售后话术"),
    "referral": ("推荐", "转介"),
}
#: Other Chinese names an import accepts for a stage (besides ``STAGE_LABELS``).
STAGE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "acquire": ("获客", "引流阶段"),
    "engage": ("培育", "承接阶段"),
    "convert": ("成交", "转化阶段"),
    "retain": ("留存", "复购", "服务阶段"),
}
STATUSES: tuple[str, ...] = ("draft", "approved", "archived")
#: Chinese names of the statuses (as the console shows them); an import accepts them.
STATUS_LABELS: dict[str, str] = {"draft": "草稿", "approved": "已审核", "archived": "已归档"}
#: Other Chinese names an import accepts for a status.
STATUS_SYNONYMS: dict[str, tuple[str, ...]] = {
    "draft": ("待审核", "待审"),
    "approved": ("审核通过", "通过", "启用", "已启用", "上线"),
    "archived": ("归档", "停用", "已停用", "下线"),
}
#: Columns of the CSV / XLSX format, in order; YAML uses the same keys.
COLUMNS: tuple[str, ...] = ("id", "title", "category", "stage", "industry", "tags", "body")
#: Optional columns an import accepts and an export always writes, after ``COLUMNS``.
#: On re-import a column the file does not have keeps the stored value
#: (``ParsedScript.given``, ``ParsedScript.merged``).
#: ``examples``: customer messages the script answers, ``;``-separated (YAML: a list).
OPTIONAL_COLUMNS: tuple[str, ...] = ("status", "variant_group", "deadline", "examples")
#: Chinese column headers (as an export with Chinese headers writes them); an import
#: accepts these and the other names in ``HEADER_SYNONYMS`` wherever the codes are.
HEADER_LABELS: dict[str, str] = {
    "id": "编号",
    "title": "标题",
    "category": "分类",
    "stage": "阶段",
    "industry": "行业",
    "tags": "标签",
    "body": "内容",
    "status": "状态",
    "variant_group": "变体组",
    "deadline": "截止日期",
    "examples": "客户例句",
}
HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "id": ("话术编号", "话术id", "编码"),
    "title": ("话术标题", "名称"),
    "category": ("类别", "话术分类", "类型"),
    "stage": ("销售阶段", "客户阶段"),
    "industry": ("适用行业",),
    "tags": ("关键词",),
    "body": ("正文", "话术", "话术内容", "文案"),
    "status": ("审核状态",),
    "variant_group": ("ab组", "a/b组", "ab测试组", "变体"),
    "deadline": ("截止日", "截止时间", "有效期至"),
    "examples": ("例句", "客户问法", "相似问法", "常见问法"),
}
#: Variables a script body may use as ``{name}`` (their meaning: README.md, "Variables").
VARIABLES: tuple[str, ...] = (
    "customer_name",
    "adviser_name",
    "product",
    "company",
    "city",
    "today",
    "deadline",
    "date",
)
#: Variables that stay only so old libraries import: ``{date}`` used to be filled with
#: the day of sending; it is now never filled by itself (lint says what to write instead).
DEPRECATED_VARIABLES: tuple[str, ...] = ("date",)
#: Industry used for scripts that fit every industry.
ANY_INDUSTRY = "general"
#: Names that mean "every industry" wherever an industry is read (files, options).
GENERAL_SYNONYMS: frozenset[str] = frozenset(
    {
        "general",
        "all",
        "any",
        "*",
        "通用",
        "全部",
        "所有",
        "通用行业",
        "全行业",
        "全部行业",
        "所有行业",
        "不限",
        "不限行业",
    }
)
#: Chinese names of the industries the shipped demo uses: an option may name a known
#: industry either way (``--industry 保险`` is ``insurance`` when that is in use).
INDUSTRY_LABELS: dict[str, str] = {"general": "通用", "insurance": "保险", "kaoyan": "考研"}
#: The other way: a known industry's Chinese name -> its code.
INDUSTRY_CODES: dict[str, str] = {label: code for code, label in INDUSTRY_LABELS.items()}


def industry_code(name: str) -> str:
    """A known industry's Chinese name as its code (保险 → ``insurance``), any other name
    as it is: how lists show one industry once whichever name its rows were stored under."""
    return INDUSTRY_CODES.get(name, name)


def industry_names(industry: str) -> list[str]:
    """The stored names of ``industry``: itself and the other name of a known one (保险
    for ``insurance`` and back: data written before imports stored the code may hold
    either)."""
    other = INDUSTRY_LABELS.get(industry) or INDUSTRY_CODES.get(industry)
    return list(dict.fromkeys(n for n in (industry, other) if n))


def matching_industries(industry: str) -> list[str]:
    """The stored industry names a message of ``industry`` reaches: the industry's names
    (``industry_names``) and ``ANY_INDUSTRY``."""
    return list(dict.fromkeys([*industry_names(industry), ANY_INDUSTRY]))


def canonical_industry(value: str) -> str:
    """``value`` stripped, with every synonym of "every industry" (``all``, ``通用`` …)
    turned into ``ANY_INDUSTRY``."""
    value = value.strip()
    return ANY_INDUSTRY if value.lower() in GENERAL_SYNONYMS else value


MAX_BODY_CHARS = 500
#: An operator's example customer message: at most this long ...
MAX_EXAMPLE_CHARS = 200
#: ... and at most this many per script.
MAX_EXAMPLES = 50


@dataclass(frozen=True, slots=True)
class ScriptRecord:
    """One script as it travels between files, the store and the index."""

    id: str
    title: str
    category: str
    stage: str
    industry: str
    body: str
    tags: tuple[str, ...] = ()
    status: str = "approved"
    version: int = 1
    variant_group: str | None = None
    #: The date ``{deadline}`` stands for (an offer's last day); None: not set.
    deadline: date | None = None
    #: Customer messages this script answers, written by an operator (retrieval learns
    #: from them as from the messages advisers answered with it).
    examples: tuple[str, ...] = ()

    def search_text(self) -> str:
        """Text the retrieval indexes see: title, tags and body."""
        parts = [self.title, " ".join(self.tags), self.body]
        return "\n".join(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class LintIssue:
    """One problem in a script file; ``line`` is the 1-based line in the source file."""

    line: int
    script_id: str
    field: str
    message: str
    severity: str = "error"  # "error" blocks an import, "warning" does not

    def __str__(self) -> str:
        sid = f" [{self.script_id}]" if self.script_id else ""
        field = "" if self.field == "row" else f" {HEADER_LABELS.get(self.field, self.field)}"
        return f"第 {self.line} 行{sid}{field}：{self.message}"


@dataclass(frozen=True, slots=True)
class ParsedScript:
    """A script read from a file, with the line it came from (for error messages).

    ``issues`` holds problems the reader already saw in the row's shape (a CSV row
    with more cells than the header, a YAML value that is a list where text was
    expected, …); ``lint`` reports them together with the content checks.
    """

    line: int
    record: ScriptRecord
    raw: dict[str, str] = field(default_factory=dict)
    issues: tuple[LintIssue, ...] = ()
    #: The optional fields this row sets (``OPTIONAL_COLUMNS``): ``status`` when its cell
    #: holds a value, the others when the file has their column (an empty cell clears).
    given: frozenset[str] = frozenset(OPTIONAL_COLUMNS)

    def merged(self, stored: ScriptRecord | None) -> ScriptRecord:
        """The record to store when the library already holds ``stored``: the optional
        fields this row does not set keep their stored values (a file without a
        ``status`` column never approves an archived script again)."""
        return keep_unset(self.record, stored, self.given)


def keep_unset(
    record: ScriptRecord, stored: ScriptRecord | None, given: frozenset[str]
) -> ScriptRecord:
    """``record`` with each optional field not in ``given`` taken from ``stored``."""
    if stored is None:
        return record
    kept = {name: getattr(stored, name) for name in OPTIONAL_COLUMNS if name not in given}
    return replace(record, **kept) if kept else record
