"""Passage roles on the bundled letters and notices, and how the ranking treats them.

The letters are real in structure (letterhead, 收悉 framing, answer, thanks, signature); every
sample reply letter must come out in that order, and a search on a topic must answer with body
passages rather than with the frame that repeats the topic's words.
"""

from __future__ import annotations

import re

import pytest

from indexer.chunking import ChunkerSettings, chunk_document, leading_heading_chars
from indexer.sources import read_source
from tests.conftest import CORPUS, REPLIES, SEED

LETTERS = sorted(REPLIES.glob("reply-*.txt"))
DATE_END = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日$")


def _chunks(path):
    document = read_source(path).documents[0]
    return chunk_document(document.text, ChunkerSettings())


@pytest.mark.parametrize("path", LETTERS, ids=lambda p: p.name)
def test_every_sample_letter_reads_header_opening_body_closing_signature(path):
    chunks = _chunks(path)
    roles = [c.role for c in chunks]
    assert roles[0] == "header" and re.search(r"(?:委员|代表)：$", chunks[0].text)
    assert roles[1] == "opening" and re.search(r"收悉|答复如下", chunks[1].text)
    signatures = [c for c in chunks if c.role == "signature"]
    assert len(signatures) == 1 and DATE_END.search(signatures[0].text)
    last_body = max(i for i, role in enumerate(roles) if role == "body")
    assert set(roles[last_body + 1 :]) == {"closing", "signature"}  # contact lines may follow the date
    assert "closing" in roles and "感谢" in " ".join(c.text for c in chunks if c.role == "closing")
    body = [c for c in chunks if c.role == "body"]
    assert len(body) >= len(chunks) // 2
    assert not any("收悉" in c.text or DATE_END.fullmatch(c.text.split("\n")[-1]) for c in body)


def test_the_seed_letter_has_no_letterhead_and_opens_with_its_framing():
    roles = [c.role for c in _chunks(SEED)]
    assert roles[0] == "opening" and "header" not in roles
    assert roles[-1] == "body"  # it ends with its 下一步 paragraph, unsigned


def test_a_notice_has_a_letterhead_and_a_signature_but_no_framing():
    chunks = _chunks(REPLIES / "policy-2022-flexible-employment.txt")
    assert chunks[0].role == "header" and "津人社规〔2022〕5号" in chunks[0].text
    assert chunks[-1].role == "signature" and chunks[-1].text.endswith("2022年5月20日")
    assert {c.role for c in chunks[1:-1]} == {"body"}


def test_a_report_record_is_addressed_and_then_all_body():
    report = read_source(CORPUS / "policy" / "government_work_reports.jsonl").documents[0]
    chunks = chunk_document(report.text, ChunkerSettings())
    assert chunks[0].role == "header" and chunks[0].text == "各位代表："
    assert chunks[1].role == "body" and "报告政府工作" in chunks[1].text


def test_a_quote_of_a_unit_leaves_out_the_heading_line_over_it():
    unit = "三、下一步工作\n\n一是2024年新开工加装电梯60部以上。"
    assert unit[leading_heading_chars(unit) :] == "一是2024年新开工加装电梯60部以上。"
    for whole in ("（一）加装数量稳步增长。按照", "三、下一步工作", "一是2024年新开工"):
        assert leading_heading_chars(whole) == 0


# --- in search ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "query", ["科技型中小企业融资", "加装电梯难题怎么解决", "居家养老服务补贴电子化发放"]
)
def test_a_topic_is_answered_by_body_passages(searcher, query):
    from search_api.request import SearchRequest

    results = searcher.search(SearchRequest(query=query, k=5))["results"]
    assert [r["role"] for r in results[:3]] == ["body"] * 3
    sentences = [r["best_sentence"]["text"] for r in results[:3]]
    assert all(not DATE_END.search(s) and leading_heading_chars(s) == 0 for s in sentences)


def test_a_document_number_lands_on_its_letter_not_on_other_letterheads(searcher):
    from search_api.request import SearchRequest

    results = searcher.search(SearchRequest(query="津民函〔2024〕142号", k=5))["results"]
    assert results[0]["role"] == "header" and "津民函〔2024〕142号" in results[0]["text"]
    assert all(r["doc_id"] == results[0]["doc_id"] for r in results[:3])


def test_a_query_for_the_contact_finds_the_closing(searcher):
    from search_api.request import SearchRequest

    results = searcher.search(SearchRequest(query="居家养老服务补贴提案的联系人和联系电话", k=5))["results"]
    assert "closing" in [r["role"] for r in results[:3]]
    closing = next(r for r in results if r["role"] == "closing")
    assert "联系电话" in closing["text"]
