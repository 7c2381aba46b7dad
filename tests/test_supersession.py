"""Figures a later document replaces: the elderly-care chain, 2019 letter → 2022 notice."""

from __future__ import annotations

import numpy as np

from indexer.follow_ups import DocumentFacts, Span
from indexer.supersession import Issuing, find_supersessions, rates, same_or_higher


def _issuing(doc_id: int, year: int, issuer: str, doc_type: str = "reply") -> Issuing:
    return Issuing(DocumentFacts(doc_id, year, None, "天津", f"文件{doc_id}"), issuer, doc_type)


def test_rates_are_grouped_by_their_kind():
    assert rates("补贴标准分别为每人每月200元、400元、600元，每生每年200元") == {
        "每人每月元": {"200"},
        "每生每年元": {"200"},
    }
    assert rates("加装电梯60部以上") == {}


def test_a_joint_notice_or_the_government_is_as_high_as_the_bureau():
    bureau = _issuing(1, 2019, "天津市民政局")
    assert same_or_higher(_issuing(2, 2022, "天津市民政局　天津市财政局"), bureau)
    assert same_or_higher(_issuing(3, 2022, "天津市人民政府办公厅"), bureau)
    assert not same_or_higher(_issuing(4, 2022, "天津市教育委员会"), bureau)


def test_a_later_different_figure_of_the_same_kind_and_subject_supersedes():
    old = Span(1, 0, 20, "照料护理补贴每人每月200元", 0)
    raised = Span(2, 0, 20, "照料护理补贴每人每月300元", 1)
    same = Span(3, 0, 20, "照料护理补贴每人每月200元", 2)
    other_kind = Span(4, 0, 20, "每生每年300元", 3)
    vectors = np.eye(4, dtype=np.float32)
    vectors[1] = vectors[2] = vectors[3] = vectors[0]  # all about the same thing
    documents = {
        1: _issuing(1, 2019, "天津市民政局"),
        2: _issuing(2, 2022, "天津市民政局　天津市财政局", "policy"),
        3: _issuing(3, 2023, "天津市民政局"),
        4: _issuing(4, 2023, "天津市民政局"),
    }
    found = find_supersessions([old, raised, same, other_kind], vectors, documents)
    assert [(s.old.doc_id, s.new.doc_id) for s in found] == [(1, 2)]  # not the reverse, not 3 or 4
    unrelated = np.eye(4, dtype=np.float32)
    assert find_supersessions([old, raised], unrelated, documents) == []


def test_search_answers_with_the_current_rate_and_says_what_replaced_the_old(client):
    body = client.get("/search", params={"q": "失能老人居家养老补贴多少钱", "k": 10}).json()
    assert body["results"][0]["year"] >= 2022
    old = [
        r
        for r in body["results"]
        if r["source"] == "reply-2019-0215-elderly-care.txt" and "200元" in r["text"]
    ]
    assert old, "the 2019 letter's rates are still found"
    later = old[0]["superseded_by"]
    assert later["year"] > 2019 and "300元" in later["text"]
    document = client.get(f"/documents/{later['doc_id']}").json()
    assert document["text"][later["start"] : later["end"]] == later["text"]
    asked_then = client.get("/search", params={"q": "2019年失能老人居家养老补贴标准", "k": 5}).json()
    assert "superseded" not in asked_then["results"][0]["ranks"]
