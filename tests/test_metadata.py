"""Metadata read from the letters and notices, checked against the corpus manifest."""

from __future__ import annotations

import csv

import pytest

from indexer.metadata import chinese_number, extract_metadata, find_dates, proposal_key
from indexer.sources import read_file
from tests.conftest import REPLIES, SEED

with open(REPLIES / "MANIFEST.tsv", encoding="utf-8") as _manifest:
    ROWS = [row for row in csv.DictReader(_manifest, delimiter="\t") if row["file"] != SEED.name]


@pytest.mark.parametrize("row", ROWS, ids=[r["file"] for r in ROWS])
def test_metadata_equals_manifest(row):
    meta = extract_metadata(read_file(REPLIES / row["file"])[0].text)
    assert meta["title"] == row["title"]
    assert meta["doc_type"] == row["doc_type"]
    assert meta["year"] == int(row["year"])
    assert meta["issuer"] == row["issuing_body"]
    if row["doc_type"] == "reply":
        # the manifest words numbers inconsistently (十八届人大 / 第三届人民代表大会); compare what identifies them
        assert proposal_key(meta["proposal_number"]) == proposal_key(row["proposal_or_doc_number"])
    else:
        assert meta["doc_number"] == row["proposal_or_doc_number"]


def test_seed_letter_metadata():
    meta = extract_metadata(SEED.read_text(encoding="utf-8"))
    assert meta["title"] == "关于大力发展高端科技应用促进经济社会发展的提案的答复"
    assert meta["doc_type"] == "reply"
    # the letter carries no signature, date or number: wrong would be worse than missing
    assert "issuer" not in meta and "date" not in meta and "proposal_number" not in meta


def test_letter_fields():
    meta = extract_metadata(read_file(REPLIES / "reply-2023-0411-childcare.txt")[0].text)
    assert meta["date"] == "2023-06-26"
    assert meta["answer_category"] == "A"
    assert meta["doc_number"] == "渝卫函〔2023〕219号"
    assert meta["proposal_number"] == "市政协六届一次会议第0411号提案"


def test_cited_document_numbers_are_not_the_letters_own():
    meta = extract_metadata(read_file(REPLIES / "reply-2024-0031-elevator-retrofit.txt")[0].text)
    assert "津住建发〔2021〕8号" in read_file(REPLIES / "reply-2024-0031-elevator-retrofit.txt")[0].text
    assert "doc_number" not in meta


def test_dates_in_chinese_numerals():
    assert find_dates("二〇二三年五月六日印发")[0][1] == "2023-05-06"
    assert find_dates("二〇二三年五月")[0][1] == "2023-05"
    assert find_dates("2023年5月6日")[0][1] == "2023-05-06"
    assert chinese_number("十四") == 14 and chinese_number("二十三") == 23


def test_proposal_keys_agree_across_wordings():
    assert (
        proposal_key("河西区第十八届人民代表大会第一次会议第17号建议")
        == proposal_key("河西区十八届人大一次会议第17号建议")
        == (18, 1, 17, "建议")
    )


def _work_reports() -> dict[str, dict]:
    from indexer.metadata import document_metadata
    from tests.conftest import CORPUS

    records = read_file(CORPUS / "policy" / "government_work_reports.jsonl")
    return {meta["title"]: meta for meta in (document_metadata(d.text, d.metadata) for d in records)}


def test_unsigned_reports_take_their_body_from_the_title_and_their_date_from_the_dateline():
    from search_api.citations import citation

    reports = _work_reports()
    report = reports["2024年中华人民共和国国务院政府工作报告"]
    assert (report["issuer"], report["date"], report["doc_type"]) == ("国务院", "2024-03-05", "report")
    assert citation(report).startswith("《2024年中华人民共和国国务院政府工作报告》（国务院，2024年3月5日）")
    undated = reports["2025年中华人民共和国国务院政府工作报告"]  # its text states no date: the year stands
    assert undated["issuer"] == "国务院" and "date" not in undated and undated["year"] == 2025
    resolution = reports["第十四届全国人民代表大会第一次会议关于政府工作报告的决议"]
    assert resolution["issuer"] == "第十四届全国人民代表大会第一次会议"
    assert resolution["date"] == "2023-03-13" and resolution["year"] == 2023  # （2023年3月13日…通过）


def test_a_signature_still_wins_over_the_title():
    text = "天津市人民政府关于印发某方案的通知\n\n各区人民政府：\n现将方案印发给你们。\n\n天津市人民政府办公厅\n2022年4月1日"
    meta = extract_metadata(text)
    assert meta["issuer"] == "天津市人民政府办公厅" and meta["date"] == "2022-04-01"
