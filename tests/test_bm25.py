"""The in-memory BM25 gives FTS5's own bm25() figures, on real corpus words in a real FTS5 table."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer.index import bm25
from indexer.index.bm25 import WORD_TABLE, Postings, fts_phrases
from indexer.lexical import fts_text, words
from indexer.normalize import canonical_text

REPLIES = Path(__file__).resolve().parent.parent / "corpus" / "replies"
WEIGHTS = (1.0, 0.5)


@pytest.fixture(scope="module")
def table() -> sqlite3.Connection:
    """Paragraphs of the bundled letters in an FTS5 table laid out as the writer lays it out."""
    db = sqlite3.connect(":memory:")
    db.execute(
        f"CREATE VIRTUAL TABLE {WORD_TABLE} USING fts5(body, context, tokenize = 'unicode61 remove_diacritics 0')"
    )
    rowid = 0
    for path in sorted(REPLIES.glob("*.txt"))[:12]:
        text = canonical_text(path.read_text(encoding="utf-8"))
        title = text.split("\n", 1)[0]
        for paragraph in text.split("\n"):
            rowid += 7  # rowids with gaps, like chunk ids
            db.execute(
                f"INSERT INTO {WORD_TABLE} (rowid, body, context) VALUES (?, ?, ?)",
                [rowid, fts_text(paragraph), fts_text(title)],
            )
    return db


def fts5_scores(db: sqlite3.Connection, query_words: list[str]) -> dict[int, float]:
    sql = f"SELECT rowid, -bm25({WORD_TABLE}, 1.0, 0.5) FROM {WORD_TABLE} WHERE {WORD_TABLE} MATCH ?"
    return dict(db.execute(sql, [fts_phrases(query_words)]))


QUERIES = [
    "加装电梯 补贴 资金",
    "养老服务 居家 补贴标准",
    "科技型中小企业 融资 贷款",
    "垃圾分类",
    "2023年 目标任务",
]


def test_postings_read_in_small_blocks_are_the_same(table, monkeypatch):
    """A large table is read in blocks (a word's postings may straddle two); the result must not
    depend on where the blocks fall."""
    whole = Postings.from_fts(table, WORD_TABLE)
    monkeypatch.setattr(bm25, "READ_BLOCK", 97)
    blocks = Postings.from_fts(table, WORD_TABLE)
    assert blocks.vocabulary == whole.vocabulary and len(whole.vocabulary) > 97
    for name in ("rowids", "lengths", "starts", "rows", "counts"):
        assert np.array_equal(getattr(blocks, name), getattr(whole, name)), name


@pytest.mark.parametrize("query", QUERIES)
def test_scores_are_fts5s_own(table, query):
    postings = Postings.from_fts(table, WORD_TABLE)
    query_words = list(dict.fromkeys(words(query)))
    expected = fts5_scores(table, query_words)
    assert expected, query
    assert postings.scores(query_words, WEIGHTS) == expected  # same figures, same rowid order


def test_best_few_are_fts5s_best_few(table):
    postings = Postings.from_fts(table, WORD_TABLE)
    query_words = words("老旧小区 改造 电梯")
    everything = fts5_scores(table, query_words)
    best = sorted(everything.items(), key=lambda item: item[1], reverse=True)[:5]
    assert list(postings.scores(query_words, WEIGHTS, limit=5).items()) == best


def test_saved_postings_score_the_same(table, tmp_path):
    postings = Postings.from_fts(table, WORD_TABLE)
    postings.save(tmp_path)
    loaded = Postings.load(tmp_path)
    assert isinstance(loaded.rows, np.memmap) and isinstance(loaded.counts, np.memmap)
    query_words = words("医疗保险 门诊 报销")
    assert loaded.scores(query_words, WEIGHTS) == postings.scores(query_words, WEIGHTS)
    assert loaded.vocabulary == postings.vocabulary


def test_a_word_missing_from_the_table_adds_nothing(table):
    postings = Postings.from_fts(table, WORD_TABLE)
    assert postings.scores(["不存在的词语xyz"], WEIGHTS) == {}
    with_missing = postings.scores(["电梯", "不存在的词语xyz"], WEIGHTS)
    assert with_missing == postings.scores(["电梯"], WEIGHTS) == fts5_scores(table, ["电梯"])


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_words_of_the_vocabulary_score_as_in_fts5(table, data):
    postings = Postings.from_fts(table, WORD_TABLE)
    vocabulary = sorted(postings.vocabulary)
    query_words = data.draw(st.lists(st.sampled_from(vocabulary), min_size=1, max_size=8, unique=True))
    assert postings.scores(query_words, WEIGHTS) == fts5_scores(table, query_words)


def test_the_index_saves_postings_and_the_reader_scores_as_fts5(replies_index):
    from indexer.index import IndexReader

    reader = IndexReader.open(replies_index)
    assert Postings.saved_in(reader.generation)
    for query in (
        "加装电梯 补贴",
        "养老服务补贴标准 每人每月",
        "比上年增长3.5%",
    ):  # 3.5: a phrase of two tokens
        query_words = list(dict.fromkeys(words(query)))
        expected = reader._fts_scores(query_words, WEIGHTS, None)
        assert expected and reader.lexical(query_words, WEIGHTS) == expected
        assert list(reader.lexical(query_words, WEIGHTS, 10)) == list(
            reader._fts_scores(query_words, WEIGHTS, 10)
        )
