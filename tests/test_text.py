"""normalize() and tokenize(): the canonical search form and the BM25 terms."""

from __future__ import annotations

import pytest

from knowledge.text import STOP_CHARS, normalize, shared_phrases, tokenize


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("這個產品的價格是多少", "这个产品的价格是多少"),  # Traditional → Simplified
        ("保險理賠", "保险理赔"),
        ("ＫＮ－２０２６　型號", "kn-2026 型号"),  # full-width → ASCII, ideographic space
        ("HELLO World", "hello world"),
        ("  多个   空格\n\t换行  ", "多个 空格 换行"),
        ("零\u200b宽\ufeff字符\x00控制\x07符", "零宽字符控制符"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_normalize(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


def test_normalize_lowercases_only_ascii() -> None:
    assert normalize("ÀB") == "Àb"


def test_normalize_drops_lone_surrogates() -> None:
    assert normalize("a\ud800b") == "ab"


def test_tokenize_cjk_unigrams_and_bigrams() -> None:
    assert tokenize("保险理赔") == ["保", "险", "理", "赔", "保险", "险理", "理赔"]


def test_stop_chars_are_skipped_as_unigrams_but_kept_in_bigrams() -> None:
    tokens = tokenize("我的保单")
    assert "的" not in tokens and "我" not in tokens
    assert {"我的", "的保", "保单", "保", "单"} <= set(tokens)
    assert "的" in STOP_CHARS


def test_tokenize_keeps_codes_numbers_and_years() -> None:
    tokens = tokenize("平安福A3款，2026年交3000元，费率3.5%，型号KN-2026")
    for term in ("a3", "2026", "3000", "3.5", "kn"):
        assert term in tokens
    assert "款" in tokens and "平安福" not in tokens  # CJK is never a multi-char word
    assert not any(ch in t for t in tokens for ch in "，%-")


def test_tokenize_splits_ascii_runs_from_cjk() -> None:
    assert tokenize("a3产品") == ["a3", "产", "品", "产品"]
    assert tokenize("iPhone15Pro") == ["iphone15pro"]


def test_traditional_and_simplified_give_the_same_terms() -> None:
    assert tokenize("等待期內得了大病能賠嗎") == tokenize("等待期内得了大病能赔吗")


@pytest.mark.parametrize("text", ["", "   ", "😀🎉👍", "！？。，、", "\x00\x01\x02", "---***"])
def test_tokenize_yields_nothing_for_text_without_words(text: str) -> None:
    assert tokenize(text) == []


def test_tokenize_other_scripts_as_words() -> None:
    assert tokenize("café ありがとう") == ["café", "ありがとう"]


def test_tokenize_survives_100k_characters() -> None:
    text = ("这个产品A3的价格是3000元吗？😀\x00 " * 5000)[:100_000]
    tokens = tokenize(text)
    assert tokens.count("a3") == 5000
    assert "价格" in tokens


@pytest.mark.parametrize(
    ("query", "text", "expected"),
    [
        # the longest shared piece, then the next one outside it
        ("重疾险一年多少钱 保費", "安心保重疾险每年4680元，保费可月缴", ["重疾险", "保费"]),
        ("ABC型號的價格", "abc型号现价3999", ["abc型号"]),  # normalised on both sides
        ("在吗 我们可以", "您好，我们可以帮您", []),  # function words and common words say nothing
        ("理赔", "理", []),
        ("这个的价格", "产品的价格表", ["价格"]),  # no stop character at the ends
        # whole words only: 「多」 belongs to 「多长时间」, not to 「多久」
        ("等待期多长时间", "等待期多久、买完什么时候开始保", ["等待期"]),
        ("孩子考研数学基础差怎么办", "数学基础薄弱的同学先补高数", ["数学基础"]),
        ("e5-small 模型多大", "模型用的是 e5", ["e5", "模型"]),
        # whole words of the text count too (the segmenter reads 「直播/回/放在」, 「微/信号」)
        ("直播回放在哪看", "直播回放链接发您", ["直播回放"]),
        ("微信号是多少", "加我微信", ["微信"]),
        ("保费3.5万一年", "保费每年交", ["保费"]),  # never 「保费3」
        # a run ends where the segmenter's word goes on
        ("ipad-pro 多少钱", "ipad 教育优惠", ["ipad"]),
        ("", "理赔", []),
    ],
)
def test_shared_phrases(query: str, text: str, expected: list[str]) -> None:
    assert shared_phrases(query, text) == expected


def test_shared_phrases_stops_at_the_limit() -> None:
    assert shared_phrases("分期 理赔 保额", "保额 理赔 分期", limit=2) == ["分期", "理赔"]
