"""Keyword matching (bot/pipeline/keywords.py): a keyword found as written, by its core,
or with one character inserted; negations, but not A-not-A questions."""

from __future__ import annotations

import pytest

from bot.pipeline.keywords import KeywordMatcher, core
from knowledge import normalize


def found(keyword: str, text: str, *, fuzzy: bool = True) -> str | None:
    match = KeywordMatcher(keyword, fuzzy=fuzzy).find(normalize(text))
    return None if match is None else match.kind


@pytest.mark.parametrize(
    ("keyword", "expected"),
    [
        ("太贵了", "贵"),  # degree word and particle off: an adjective
        ("这么贵", "贵"),
        ("便宜点", "便宜"),
        ("能少点吗", "能少"),
        ("工作了", "工作了"),  # 了 after a verb carries meaning
        ("重点", "重点"),  # one character left without a degree word: kept whole
        ("好的", "好的"),  # nothing but a particle left
        ("预算有限", "预算有限"),
    ],
)
def test_core_of_a_keyword(keyword: str, expected: str) -> None:
    assert core(keyword) == expected


@pytest.mark.parametrize(
    "text",
    ["怎么比别家贵这么多", "预算有限 别太贵", "这个也太贵了吧", "太貴了"],
)
def test_a_price_keyword_matches_its_rewordings(text: str) -> None:
    assert found("太贵了", text) is not None


@pytest.mark.parametrize("text", ["贵公司在哪", "要显得贵气一点", "宝贵的时间"])
def test_a_one_character_core_must_stand_as_a_word(text: str) -> None:
    assert found("太贵了", text) is None


def test_kinds_of_match() -> None:
    assert found("打折", "能打折吗") == "exact"
    assert found("打折", "能打个折吗") == "gapped"
    assert found("分期", "能分几期付吗") == "gapped"
    assert found("便宜点", "还能再便宜吗") == "core"
    assert found("便宜点", "还能再便宜吗", fuzzy=False) is None
    assert found("打折", "能打个折吗", fuzzy=False) is None


def test_negations_and_questions() -> None:
    assert found("孩子", "我没孩子") is None
    assert found("孩子", "我没有孩子") is None
    assert found("孩子", "我没孩子，不过我姐家孩子三岁") is not None, "a later affirmed hit"
    assert found("优惠", "有没有优惠") == "exact", "A-not-A asks, it does not deny"
    assert found("能少点吗", "能不能少交点") is not None
    assert found("考虑", "不考虑了") is None
    assert KeywordMatcher("孩子").occurs(normalize("我没孩子"))


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("211", "你好 渠道码 ZB2611"),  # the demo tagged 目标211 from an entry code
        ("211", "2110 分"),
        ("985", "19850 元"),
        ("5000", "预算15000"),
        ("DHA", "DHABC 是什么"),
    ],
)
def test_a_number_or_code_is_not_found_inside_a_longer_one(keyword: str, text: str) -> None:
    assert KeywordMatcher(keyword).find(normalize(text)) is None


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("211", "想考211的学校"),
        ("985", "985和211"),
        ("DHA", "DHA现在开始吃晚不晚"),
        ("5000", "预算5000左右"),
    ],
)
def test_a_number_or_code_standing_alone_is_found(keyword: str, text: str) -> None:
    found = KeywordMatcher(keyword).find(normalize(text))
    assert found is not None and found.kind == "exact"
