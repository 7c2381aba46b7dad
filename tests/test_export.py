"""The citation basket's export: quotes cut from the stored text, in Word, Markdown and CSV."""

from __future__ import annotations

import csv
import io

import pytest


def _two_hits(client) -> list[dict]:
    hits = client.get("/search", params={"q": "加装电梯补贴", "k": 5}).json()["results"]
    assert len(hits) >= 2
    return hits[:2]


def _document_text(client, doc_id: int) -> str:
    return client.get(f"/documents/{doc_id}").json()["text"]


def test_markdown_export_quotes_exact_text_with_footnotes(client):
    first, second = _two_hits(client)
    sentence = first["best_sentence"]
    items = [
        {"chunk_id": first["chunk_id"], "start": sentence["start"], "end": sentence["end"]},
        {"chunk_id": second["chunk_id"]},
    ]
    response = client.post("/export", json={"format": "md", "title": "电梯答复引文", "items": items})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/markdown")
    assert 'filename="citations.md"' in response.headers["content-disposition"]
    text = response.text
    quoted = _document_text(client, first["doc_id"])[sentence["start"] : sentence["end"]]
    assert text.startswith("# 电梯答复引文\n")
    assert f"1. “{quoted}”[^1]" in text
    assert f"2. “{second['text']}”[^2]" in text
    assert f"[^1]: {first['citation']}" in text
    assert f"[^2]: {second['citation']}" in text


def test_csv_export_has_a_row_per_quote_that_matches_the_document(client):
    hits = _two_hits(client)
    response = client.post(
        "/export", json={"format": "csv", "items": [{"chunk_id": h["chunk_id"]} for h in hits]}
    )
    assert response.status_code == 200
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")  # Excel reads the Chinese as UTF-8
    rows = list(csv.DictReader(io.StringIO(body[1:])))
    assert [int(row["chunk_id"]) for row in rows] == [h["chunk_id"] for h in hits]
    for row, hit in zip(rows, hits, strict=True):
        text = _document_text(client, hit["doc_id"])
        assert row["quote"] == text[int(row["start"]) : int(row["end"])] == hit["text"]
        assert row["citation"] == hit["citation"]


def test_docx_export_opens_in_python_docx_with_quotes_and_references(client):
    from docx import Document

    hits = _two_hits(client)
    response = client.post(
        "/export", json={"format": "docx", "items": [{"chunk_id": h["chunk_id"]} for h in hits]}
    )
    assert response.status_code == 200 and "wordprocessingml" in response.headers["content-type"]
    document = Document(io.BytesIO(response.content))
    paragraphs = [p.text for p in document.paragraphs]
    assert paragraphs[0] == "引文汇编"
    assert paragraphs[1] == f"“{hits[0]['text']}”[1]" and paragraphs[2] == f"“{hits[1]['text']}”[2]"
    assert document.paragraphs[1].runs[-1].font.superscript
    references = paragraphs[paragraphs.index("引文出处") + 1 :]
    assert references == [f"[1] {hits[0]['citation']}", f"[2] {hits[1]['citation']}"]


@pytest.mark.parametrize(
    "item, word",
    [({"chunk_id": 10**9}, "不存在"), ({"start": 0, "end": 10**7}, "不在段落")],
)
def test_a_stale_or_out_of_passage_item_is_refused_in_both_languages(client, item, word):
    hit = _two_hits(client)[0]
    body = {"format": "md", "items": [{"chunk_id": hit["chunk_id"]} | item]}
    response = client.post("/export", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert word in detail["zh"] and detail["en"]


def test_an_empty_basket_is_refused(client):
    response = client.post("/export", json={"format": "csv", "items": []})
    assert response.status_code == 422 and response.json()["detail"]["zh"]
