"""Sections → chunks: sentence-aware packing, overlap, bounded length."""

from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge.chunking import Chunk, chunk_document, chunk_text, split_sentences
from knowledge.loaders import Section, SourceDocument

SENTENCES = [
    "康宁终身重疾险的等待期为90天。",
    "等待期内确诊重疾只退还已交保费！",
    "意外导致的重疾不受等待期限制？",
    "投保年龄为出生满28天至55周岁；",
    "保障至终身。",
    "30岁男性保额50万每年约6800元。",
]
TEXT = "".join(SENTENCES)
ENDINGS = tuple("。！？；!?;")


def test_split_sentences_keeps_terminators_and_closing_quotes() -> None:
    assert split_sentences("他说：“可以退。”然后呢？好的!\n第二行\n\n 第三行；") == [
        "他说：“可以退。”",
        "然后呢？",
        "好的!",
        "第二行",
        "第三行；",
    ]


def test_short_section_is_one_chunk() -> None:
    assert chunk_text("  保费136元起。 ", max_chars=300, overlap=40) == ["保费136元起。"]


def test_chunks_end_on_sentence_boundaries_and_respect_max_chars() -> None:
    chunks = chunk_text(TEXT, max_chars=40, overlap=0)
    assert len(chunks) > 1
    assert all(len(c) <= 40 for c in chunks)
    assert all(c.endswith(ENDINGS) for c in chunks)
    assert "".join(chunks) == TEXT  # no overlap: the chunks partition the text


def test_overlap_repeats_whole_trailing_sentences() -> None:
    chunks = chunk_text(TEXT, max_chars=40, overlap=20)
    assert all(len(c) <= 40 for c in chunks)
    for previous, current in itertools.pairwise(chunks):
        shared = [s for s in split_sentences(previous) if current.startswith(s)]
        tail = split_sentences(previous)[-1]
        if len(tail) <= 20:
            assert current.startswith(tail), (previous, current)
        assert all(len(s) <= 20 for s in shared)
    # every sentence survives
    assert all(any(s in c for c in chunks) for s in SENTENCES)


def test_line_breaks_are_sentence_boundaries_and_kept() -> None:
    chunks = chunk_text("第一行没有标点\n第二行也没有\n第三行", max_chars=14, overlap=0)
    assert chunks == ["第一行没有标点\n第二行也没有", "第三行"]


def test_only_an_over_long_sentence_is_cut() -> None:
    long_sentence = "甲" * 95 + "，" + "乙" * 60 + "。"
    chunks = chunk_text("短句一。" + long_sentence + "短句二。", max_chars=50, overlap=10)
    assert chunks[0] == "短句一。"
    assert chunks[-1] == "短句二。"
    pieces = chunks[1:-1]
    assert len(pieces) >= 4
    assert all(len(p) <= 50 for p in pieces)
    # pieces overlap by up to `overlap` characters and cover the sentence
    assert pieces[0] == "甲" * 50
    assert pieces[-1].endswith("乙。")
    assert "".join(p[10:] if i else p for i, p in enumerate(pieces)).count("乙") >= 60


def test_hard_cut_prefers_a_comma() -> None:
    sentence = "第一部分内容比较长，" + "第二部分" * 5 + "。"
    pieces = chunk_text(sentence, max_chars=16, overlap=0)
    assert pieces[0] == "第一部分内容比较长，"


def test_overlap_larger_than_half_the_chunk_is_clamped() -> None:
    chunks = chunk_text("一" * 100, max_chars=10, overlap=50)
    assert all(len(c) <= 10 for c in chunks)
    assert len(chunks) <= 20


def test_english_sentences_keep_their_spaces() -> None:
    assert chunk_text("Fine! OK? yes; no", max_chars=12, overlap=0) == ["Fine! OK?", "yes; no"]


def test_invalid_max_chars() -> None:
    with pytest.raises(ValueError):
        chunk_text("x", max_chars=0, overlap=0)


def test_chunk_document_numbers_chunks_and_keeps_section_titles() -> None:
    doc = SourceDocument(
        path="kb/康宁.md",
        kind="markdown",
        sections=[
            Section("康宁 > 等待期", TEXT),
            Section("康宁 > 空", "  \n "),
            Section("理赔", "拨打热线。"),
        ],
        sha256="0" * 64,
    )
    chunks = chunk_document(doc, max_chars=50, overlap=10)
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))
    assert chunks[-1] == Chunk(ordinal=len(chunks) - 1, section="理赔", text="拨打热线。")
    assert {c.section for c in chunks} == {"康宁 > 等待期", "理赔"}
    assert chunks[0].text.startswith(SENTENCES[0])  # the title is metadata, not a prefix


_piece = st.sampled_from(
    [
        "保险",
        "等待期",
        "90天",
        "A3",
        "。",
        "！",
        "？",
        "；",
        "，",
        "\n",
        " ",
        "😀",
        "价格3000元",
        "x",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    text=st.lists(_piece, max_size=120).map("".join),
    max_chars=st.integers(min_value=1, max_value=80),
    overlap=st.integers(min_value=0, max_value=100),
)
def test_chunk_invariants(text: str, max_chars: int, overlap: int) -> None:
    chunks = chunk_text(text, max_chars=max_chars, overlap=overlap)
    assert all(chunk and chunk == chunk.strip() for chunk in chunks)
    assert all(len(chunk) <= max_chars for chunk in chunks)
    # nothing but whitespace is lost
    squeeze = re.compile(r"\s+")
    content = squeeze.sub("", text)
    covered = squeeze.sub("", "".join(chunks))
    assert set(content) <= set(covered)
    if text.strip() and len(text.strip()) <= max_chars:
        assert len(chunks) == 1
