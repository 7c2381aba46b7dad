"""Retrieval metrics with binary relevance: Recall@k, MRR@k, nDCG@k and the share of gold found.

A query's gold is a list of items; ``hits[i]`` is the set of gold item indexes that the passage
at rank i+1 matches. Each gold item gains once, at the first rank that matches it.
"""

from __future__ import annotations

import math
from statistics import mean


def first_hit_ranks(hits: list[set[int]]) -> dict[int, int]:
    """Gold item → the 1-based rank where it is first matched."""
    ranks: dict[int, int] = {}
    for rank, matched in enumerate(hits, 1):
        for item in matched:
            ranks.setdefault(item, rank)
    return ranks


def recall_at(hits: list[set[int]], k: int) -> float:
    """1.0 when any gold item is matched in the top k."""
    return 1.0 if any(hits[:k]) else 0.0


def reciprocal_rank(hits: list[set[int]], k: int = 10) -> float:
    for rank, matched in enumerate(hits[:k], 1):
        if matched:
            return 1.0 / rank
    return 0.0


def ndcg_at(hits: list[set[int]], n_gold: int, k: int = 10) -> float:
    """Binary gains, one per gold item, each counted at its first matching rank."""
    if n_gold == 0:
        return 0.0
    dcg = sum(1.0 / math.log2(rank + 1) for rank in first_hit_ranks(hits[:k]).values())
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(n_gold, k) + 1))
    return dcg / ideal


def gold_share_at(hits: list[set[int]], n_gold: int, k: int = 10) -> float:
    """Share of the gold items matched anywhere in the top k."""
    return len(first_hit_ranks(hits[:k])) / n_gold if n_gold else 0.0


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = max(0, math.ceil(q / 100 * len(ordered)) - 1)
    return ordered[index]


def summarize(per_query: list[dict], ks: list[int]) -> dict:
    """Mean metrics over queries, each given as {"hits": [...], "n_gold": int, "latency_ms": float}."""
    if not per_query:
        return {"n": 0}
    summary: dict = {"n": len(per_query)}
    for k in ks:
        summary[f"recall@{k}"] = round(mean(recall_at(q["hits"], k) for q in per_query), 4)
    summary["mrr@10"] = round(mean(reciprocal_rank(q["hits"], 10) for q in per_query), 4)
    summary["ndcg@10"] = round(mean(ndcg_at(q["hits"], q["n_gold"], 10) for q in per_query), 4)
    multi = [q for q in per_query if q["n_gold"] > 1]
    summary["gold_share@10"] = (
        round(mean(gold_share_at(q["hits"], q["n_gold"], 10) for q in multi), 4) if multi else None
    )
    latencies = [q["latency_ms"] for q in per_query]
    summary["latency_ms"] = {
        "p50": round(percentile(latencies, 50), 1),
        "p95": round(percentile(latencies, 95), 1),
    }
    return summary
