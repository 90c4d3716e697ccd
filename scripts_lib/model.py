"""The script (话术) record and the closed vocabularies of the interchange format."""

from __future__ import annotations

from dataclasses import dataclass, field

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
STATUSES: tuple[str, ...] = ("draft", "approved", "archived")
#: Columns of the CSV / XLSX format, in order; YAML uses the same keys.
COLUMNS: tuple[str, ...] = ("id", "title", "category", "stage", "industry", "tags", "body")
#: Optional columns an import accepts and an export always writes, after ``COLUMNS``.
OPTIONAL_COLUMNS: tuple[str, ...] = ("status", "variant_group")
#: Variables a script body may use as ``{name}``.
VARIABLES: tuple[str, ...] = (
    "customer_name",
    "adviser_name",
    "product",
    "date",
    "company",
    "city",
)
#: Industry used for scripts that fit every industry.
ANY_INDUSTRY = "general"
MAX_BODY_CHARS = 500


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
        return f"line {self.line}{sid} {self.field}: {self.message}"


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
