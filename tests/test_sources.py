"""Reading real files: text encodings, Word headings, PDF pages, and files that must be skipped."""

from __future__ import annotations

import re

import pytest

from indexer.normalize import canonical_text
from indexer.sources import SourceError, join_pdf_lines, read_file
from tests.conftest import FORMATS, REPLIES


def test_gbk_text_is_decoded_like_utf8():
    gbk = read_file(FORMATS / "reply-2019-0215-elderly-care.gbk.txt")[0]
    utf8 = read_file(REPLIES / "reply-2019-0215-elderly-care.txt")[0]
    assert gbk.text == utf8.text
    assert "居家养老服务补贴" in gbk.text


def test_docx_keeps_heading_styles_and_title():
    doc = read_file(FORMATS / "reply-2024-0108-elderly-care.docx")[0]
    headings = [doc.text[start : doc.text.index("\n", start)] for start in doc.headings]
    assert headings and all(
        re.match(r"^(?:[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）)", h) for h in headings
    )
    assert doc.metadata["title"] == "关于市政协十五届二次会议第0108号提案的答复"


def test_docx_without_styles_still_reads():
    doc = read_file(FORMATS / "000_dcdf98dc2feff78d.docx")[0]
    assert doc.headings == []
    assert "天津在港上市企业共20" in doc.text
    assert "[bookmark" not in doc.text


def test_pdf_pages_and_joined_lines():
    from pypdf import PdfReader

    path = FORMATS / "reply-2024-0108-elderly-care.pdf"
    doc = read_file(path)[0]
    assert len(PdfReader(path).pages) > 1
    assert [page for _, page in doc.pages] == list(range(1, len(PdfReader(path).pages) + 1))
    starts = [start for start, _ in doc.pages]
    assert starts == sorted(starts) and starts[0] == 0
    txt = read_file(REPLIES / "reply-2024-0108-elderly-care.txt")[0].text
    # sentences wrapped across PDF lines come back whole, with no spaces between Chinese characters
    paragraph = next(line for line in txt.split("\n") if len(line) > 120)
    assert paragraph[:60] in doc.text
    assert not re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", doc.text)


def test_pdf_line_joining_rules():
    page = "一、总体要求\n到2025年底，全市充电桩总量超过20万个，其中公共充\n电桩超过5万个。\n二、重点任务\nshort line\nnext"
    joined = join_pdf_lines(page)
    assert "其中公共充电桩超过5万个。" in joined
    assert joined.startswith("一、总体要求\n")
    assert "\n二、重点任务" in joined


@pytest.mark.parametrize(
    "name, reason",
    [
        ("scanned-no-text-layer.pdf", "no text layer"),
        ("encrypted-password-secret.pdf", "encrypted"),
        ("truncated-corrupt.pdf", "corrupt"),
    ],
)
def test_unusable_pdfs_raise_with_reason(name, reason):
    with pytest.raises(SourceError, match=reason):
        read_file(FORMATS / name)


def test_canonical_text_removes_only_noise():
    raw = " \t[bookmark: shuo]\u3000\u3000您提出的提案\u200b，\r\n\n\n\n第二段  两个空格\x07。津政办发〔２０２２〕15号"
    text = canonical_text(raw)
    assert (
        text == "您提出的提案，\n\n第二段 两个空格。津政办发〔２０２２〕15号"
    )  # full-width digits kept as printed


def test_a_subscript_on_a_line_of_its_own_is_joined_back():
    assert canonical_text("广义货币M\n2\n增长11.3%") == "广义货币M2增长11.3%"
    assert canonical_text("可吸入颗粒物（PM\n10\n）治理") == "可吸入颗粒物（PM10）治理"
    # a number line before a paragraph break, a heading or the end stays where it was
    for kept in ("方案A\n2\n\n第二段", "附件B\n3", "第一章\n2\n3\n总则", "共计\n2\n项"):
        assert canonical_text(kept) == kept


@pytest.mark.parametrize("stem", ["reply-2024-0108-elderly-care", "policy-2022-charging-infrastructure"])
def test_pdf_metadata_matches_the_text_version(stem):
    """Wrapped titles, pypdf's spaces at font changes and signatures do not cost metadata."""
    from indexer.metadata import extract_metadata

    from_pdf = extract_metadata(read_file(FORMATS / f"{stem}.pdf")[0].text)
    from_text = extract_metadata(read_file(REPLIES / f"{stem}.txt")[0].text)
    for field in ("title", "doc_type", "issuer", "date", "doc_number", "proposal_number", "answer_category"):
        assert from_pdf.get(field) == from_text.get(field), field
