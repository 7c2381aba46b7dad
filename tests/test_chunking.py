"""Chunking: exact spans everywhere, heading paths and commitment flags where a reader expects them."""

from __future__ import annotations

import json

from indexer.chunking import MIN_UNIT_CHARS, ChunkerSettings, chunk_document, sentence_units, split_sentences
from indexer.normalize import canonical_text
from indexer.sources import read_file
from tests.conftest import CORPUS, REPLIES, SEED


def _all_documents():
    for path in sorted(REPLIES.glob("*.txt")):
        yield path.name, read_file(path)[0].text
    for line in (
        (CORPUS / "policy" / "government_work_reports.jsonl").read_text(encoding="utf-8").splitlines()
    ):
        record = json.loads(line)
        yield record["title"], canonical_text(record["content"])


def test_span_invariant_and_size_on_whole_corpus():
    settings = ChunkerSettings(target_chars=300, max_tokens=512)
    count = 0
    for name, text in _all_documents():
        chunks = chunk_document(text, settings)
        assert chunks, name
        for chunk in chunks:
            assert chunk.text == text[chunk.start : chunk.end], (name, chunk.ordinal)
            assert chunk.text.strip() == chunk.text and chunk.text
            assert len(chunk.text) <= 512, (name, chunk.ordinal)
        covered = set()
        for chunk in chunks:
            covered.update(range(chunk.start, chunk.end))
        assert all(i in covered for i, ch in enumerate(text) if ch not in " \n\u3000"), name
        count += len(chunks)
    assert count > 3000


def test_token_limit_is_respected(encoder):
    text = read_file(SEED)[0].text
    settings = ChunkerSettings(target_chars=2000, max_tokens=120)
    chunks = chunk_document(text, settings, count_tokens=encoder.count_tokens, context=lambda path: "标题\n")
    assert len(chunks) > 5
    assert all(encoder.count_tokens("标题\n" + c.text) <= 120 for c in chunks)


def test_seed_letter_sections_and_commitments():
    text = read_file(SEED)[0].text
    chunks = chunk_document(text, ChunkerSettings())
    fund = [c for c in chunks if "雨林基金" in c.text]
    assert fund and all(c.section == "二、天津经开区有关情况" for c in fund)
    listed = [c for c in chunks if "天津在港上市企业共20" in c.text]
    assert listed and listed[0].section == "四、在金融领域" and not listed[0].is_commitment
    final = text.index("下一步，我市将持续用好资源优势")
    after = [c for c in chunks if c.end > final]
    assert after and all(c.is_commitment for c in after)
    assert chunks[-1].text.endswith("初步建立科技信贷服务体系。")


def test_nested_headings_and_articles():
    text = read_file(REPLIES / "policy-2021-elevator-retrofit.txt")[0].text
    chunks = chunk_document(text, ChunkerSettings())
    assert any(c.section == "第二章　申请与审批" and "第六条" in c.text for c in chunks)
    plan = read_file(REPLIES / "policy-2022-charging-infrastructure.txt")[0].text
    sections = {c.section for c in chunk_document(plan, ChunkerSettings())}
    assert "三、重点任务 > （一）加快居民区充电设施建设" in sections


def test_one_sentence_overlap_within_a_section():
    text = read_file(REPLIES / "reply-2022-0017-elderly-meal.txt")[0].text
    chunks = chunk_document(text, ChunkerSettings(target_chars=120))
    overlapping = [(a, b) for a, b in zip(chunks, chunks[1:]) if b.start < a.end]
    assert overlapping
    for a, b in overlapping:
        assert a.section == b.section
        shared = text[b.start : a.end]
        assert (b.start, a.end) in split_sentences(text, 0, len(text)), shared


def test_sentences_do_not_split_inside_quotes_or_brackets():
    text = "他说：“我们要推进。然后落实。”随后（见附件。）结束。"
    spans = split_sentences(text, 0, len(text))
    assert [text[a:b] for a, b in spans] == ["他说：“我们要推进。然后落实。”", "随后（见附件。）结束。"]


def test_pdf_pages_on_chunks():
    doc = read_file(REPLIES.parent / "formats" / "reply-2024-0108-elderly-care.pdf")[0]
    chunks = chunk_document(doc.text, ChunkerSettings(), pages=doc.pages)
    assert chunks[0].page == 1 and chunks[-1].end_page == doc.pages[-1][1] > 1
    assert all(c.page <= c.end_page for c in chunks)


def test_sentence_units_cover_the_passage_in_order():
    passage = "一、工作进展\n一是加快建设。2023年新建盲道86公里，改造缘石坡道2300余处。二是完善制度。出台管理办法，明确各方责任，建立长效机制。"
    units = sentence_units(passage)
    assert [passage[a:b] for a, b in units] == [
        "一、工作进展\n一是加快建设。2023年新建盲道86公里，改造缘石坡道2300余处。",
        "二是完善制度。出台管理办法，明确各方责任，建立长效机制。",
    ]
    assert sentence_units("只有一句话，没有第二句。") == []


def test_sentence_units_on_whole_corpus():
    for _, text in _all_documents():
        for chunk in chunk_document(text, ChunkerSettings()):
            units = sentence_units(chunk.text)
            assert all(0 <= a < b <= len(chunk.text) for a, b in units)
            assert all(b1 <= a2 for (_, b1), (a2, _) in zip(units, units[1:]))
            assert all(b - a >= MIN_UNIT_CHARS for a, b in units[:-1])


def test_an_over_long_line_of_clauses_is_cut_into_pieces_that_fit_and_cover_it():
    clause = "推进老旧小区加装电梯工作，"
    text = clause * 2000  # 26,000 characters, no sentence end
    chunks = chunk_document(text, ChunkerSettings(target_chars=200, max_tokens=120))
    assert all(c.end - c.start <= 120 for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    assert all(text[c.start : c.end].endswith("，") for c in chunks[:-1])  # cut at clause marks


def test_a_line_without_clause_marks_is_cut_at_a_hard_width():
    chunks = chunk_document("字" * 5000, ChunkerSettings(target_chars=200, max_tokens=100))
    assert all(0 < c.end - c.start <= 100 for c in chunks) and chunks[-1].end == 5000
