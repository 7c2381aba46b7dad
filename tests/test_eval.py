"""Evaluation: metrics on hand-checked cases, and a small real run with data errors reported."""

from __future__ import annotations

import json
import math

import pytest

from eval.metrics import gold_share_at, ndcg_at, percentile, recall_at, reciprocal_rank, summarize
from eval.queries import GoldSpan, matches
from eval.run import LocalBackend, evaluate, write_report
from indexer.build import build_index


def test_metrics_on_hand_checked_cases():
    hits = [set(), {1}, set(), {0, 1}, set()]
    assert recall_at(hits, 1) == 0.0 and recall_at(hits, 2) == 1.0
    assert reciprocal_rank(hits) == 0.5
    # gold 1 first at rank 2, gold 0 first at rank 4; ideal puts both at ranks 1 and 2
    expected = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at(hits, 2) == pytest.approx(expected)
    assert gold_share_at(hits, 3) == pytest.approx(2 / 3)
    assert reciprocal_rank([set()] * 10 + [{0}]) == 0.0  # beyond the cut-off
    assert percentile([5, 1, 3, 2, 4], 50) == 3 and percentile([1, 2, 3, 4], 95) == 4
    summary = summarize(
        [
            {"hits": hits, "n_gold": 2, "latency_ms": 4.0},
            {"hits": [set()] * 3, "n_gold": 1, "latency_ms": 2.0},
        ],
        [1, 5],
    )
    assert summary["recall@5"] == 0.5 and summary["mrr@10"] == 0.25 and summary["gold_share@10"] == 1.0


def test_span_overlap_rule():
    gold = GoldSpan(doc_id=1, start=100, end=120)
    assert matches({"doc_id": 1, "start": 110, "end": 300}, gold)  # 10 of 20 characters
    assert not matches({"doc_id": 1, "start": 111, "end": 300}, gold)
    assert not matches({"doc_id": 2, "start": 0, "end": 500}, gold)
    assert matches({"chunk_id": 7}, GoldSpan(chunk_id=7)) and not matches(
        {"chunk_id": 8}, GoldSpan(chunk_id=7)
    )


@pytest.fixture()
def small_index(tmp_path, small_corpus, spec, encoder):
    index_dir = tmp_path / "index"
    build_index([small_corpus], index_dir, spec, lambda: encoder, progress=False)
    return index_dir


def test_small_evaluation_run(tmp_path, small_index, encoder):
    queries = tmp_path / "queries.jsonl"
    lines = [
        {
            "id": "a",
            "query": "天津有多少家企业在香港上市",
            "kind": "seed",
            "relevant": [{"doc": "000_dcdf98dc2feff78d.txt", "quote": "天津在港上市企业共20 家"}],
        },
        {
            "id": "b",
            "query": "河西区老年助餐点有多少个",
            "kind": "fact",
            "relevant": [{"doc": "reply-2022-0017-elderly-meal.txt", "quote": "全区现有老年助餐服务点96个"}],
        },
        {
            "id": "c",
            "query": "不存在的文档",
            "kind": "fact",
            "relevant": [{"doc": "missing.txt", "quote": "任何内容都可以"}],
        },
        {
            "id": "d",
            "query": "引文不在文中",
            "kind": "fact",
            "relevant": [{"doc": "reply-2022-0017-elderly-meal.txt", "quote": "这句话并不在这封信里出现"}],
        },
    ]
    queries.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in lines) + "\n")
    backend = LocalBackend(small_index)
    result = evaluate([queries], backend, ["hybrid", "lexical", "baseline-bm25"], [1, 5, 10])
    assert len(result.errors) == 2
    assert "queries.jsonl:3" in result.errors[0] and "not in the index" in result.errors[0]
    assert "queries.jsonl:4" in result.errors[1] and "not found" in result.errors[1]
    runs = {r["mode"]: r for r in result.runs}
    assert set(runs) == {"hybrid", "lexical", "baseline-bm25"}
    assert runs["hybrid"]["n"] == 2 and runs["hybrid"]["recall@10"] == 1.0 and runs["hybrid"]["mrr@10"] > 0.5
    assert set(runs["hybrid"]["by_kind"]) == {"seed", "fact"}
    write_report(result, [1, 5, 10], tmp_path / "report")
    assert (tmp_path / "report" / "recall.png").stat().st_size > 10_000
    assert "| hybrid |" in (tmp_path / "report" / "report.md").read_text()
    assert json.loads((tmp_path / "report" / "results.json").read_text())["runs"]


def test_ir_evaluator_shape(tmp_path, small_index):
    backend = LocalBackend(small_index)
    top = backend.search("天津有多少家企业在香港上市", "hybrid", 1)[0]
    queries = tmp_path / "ir.json"
    queries.write_text(
        json.dumps(
            {
                "queries": {"q1": "天津在港上市企业数量"},
                "corpus": {str(top["chunk_id"]): top["text"]},
                "relevant_docs": {"q1": [str(top["chunk_id"])]},
            },
            ensure_ascii=False,
        )
    )
    result = evaluate([queries], backend, ["hybrid"], [1, 10])
    assert result.runs[0]["n"] == 1 and result.runs[0]["recall@10"] == 1.0
