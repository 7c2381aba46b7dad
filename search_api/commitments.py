"""Commitments as the API returns them: ranked by the same hybrid search, with what became of each.

With a query, the hybrid search runs over the passages holding commitments; each passage's
commitments are then ordered by their own cosine with the query, and the two orders are fused,
so the promise itself ranks first, not its neighbour in the same passage. Without a query the
newest come first. A commitment's ``status`` is read from its follow-ups.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import TYPE_CHECKING, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from indexer.index import IndexStore
from indexer.index.records import CommitmentRecord
from search_api.citations import citation
from search_api.issuers import issuer_forms
from search_api.request import (
    DOC_TYPES,
    FIRST_YEAR,
    LAST_YEAR,
    MAX_K,
    SearchRequest,
    check_choice,
    check_k,
    check_query_length,
    check_year_order,
)

if TYPE_CHECKING:
    from search_api.retrieval import Searcher

Status = Literal["done", "in_progress", "revised", "no_follow_up"]
STATUSES: tuple[str, ...] = get_args(Status)
FUSION_K = 60
PASSAGES_PER_COMMITMENT = 3  # reciprocal-rank constant, as in the passage fusion
NOT_TRACKED = (
    "该索引建于承诺追踪功能之前，重新运行 policy-search index 即可生成（无需重新向量化）"
    " / this index predates commitment tracking; run policy-search index again to derive it"
    " (nothing is re-embedded)"
)


class CommitmentRequest(BaseModel):
    """Which commitments to list; ``q`` ranks them, its absence lists the newest first."""

    model_config = ConfigDict(populate_by_name=True)

    query: str | None = Field(None, alias="q", description="查询内容（可空）/ the query (optional)")
    k: int = Field(10, description=f"返回承诺数 / commitments to return (1–{MAX_K})")
    year_from: int | None = Field(None, ge=FIRST_YEAR, le=LAST_YEAR, description="承诺年份起 / first year")
    year_to: int | None = Field(None, ge=FIRST_YEAR, le=LAST_YEAR, description="承诺年份止 / last year")
    issuer: str | None = Field(
        None,
        description="发文机关（包含匹配，识别发改委等简称）/ issuing body, substring; short forms understood",
    )
    doc_type: str | None = Field(None, description=" | ".join(DOC_TYPES))
    status: str | None = Field(None, description=" | ".join(STATUSES))

    def check(self) -> None:
        if self.query is not None:
            check_query_length(self.query)
        check_k(self.k)
        if self.doc_type is not None:
            check_choice(self.doc_type, DOC_TYPES, "文档类型", "doc_type")
        if self.status is not None:
            check_choice(self.status, STATUSES, "承诺状态", "status")
        check_year_order(self.year_from, self.year_to)


def status_of(record: CommitmentRecord) -> str:
    """done if a follow-up reports it done; else revised if one changed it; else in_progress if
    one reports on it or states it again; else no_follow_up."""
    relations = {f.relation for f in record.follow_ups}
    if "done" in relations:
        return "done"
    if "revised" in relations:
        return "revised"
    return "in_progress" if relations else "no_follow_up"


def commitment_view(record: CommitmentRecord) -> dict:
    """A commitment with its citation, status and follow-ups (newest first), each citable."""
    fields = asdict(record)
    follow_ups = []
    for follow in fields.pop("follow_ups"):
        follow_ups.append({**follow, "citation": citation(follow)})
    return {**fields, "status": status_of(record), "citation": citation(fields), "follow_ups": follow_ups}


def list_commitments(searcher: Searcher, request: CommitmentRequest) -> dict:
    request.check()
    started = time.perf_counter()
    store = searcher.store
    if not store.tracks_commitments:
        return _response(request, started, [], NOT_TRACKED)
    allowed = store.filter_commitments(
        request.doc_type, request.year_from, request.year_to, issuer_forms(request.issuer)
    )
    query = (request.query or "").strip()
    ordered = _ranked(searcher, store, query, request, set(allowed)) if query else allowed
    views: list[dict] = []
    seen: set[str] = set()  # copies of a document (its .txt and .pdf) promise once
    page = MAX_K if request.status else 2 * request.k  # statuses are known only once records are read
    for start in range(0, len(ordered), page):
        for record in store.commitments(ordered[start : start + page]):
            view = commitment_view(record)
            if record.text not in seen and request.status in (None, view["status"]):
                seen.add(record.text)
                views.append(view)
        if len(views) >= request.k:
            break
    views = views[: request.k]
    reason = None if views else "没有符合条件的承诺 / no commitments match"
    return _response(request, started, views, reason)


def _ranked(
    searcher: Searcher, store: IndexStore, query: str, request: CommitmentRequest, allowed: set[int]
) -> list[int]:
    """Commitment ids by the fused order of their passage in hybrid search and their own cosine.

    The search looks ``PASSAGES_PER_COMMITMENT`` times as deep as the commitments asked for (a
    status filter may skip many)."""
    found, vector = searcher.search_with_vector(
        SearchRequest(
            query=query,
            k=MAX_K if request.status else min(MAX_K, PASSAGES_PER_COMMITMENT * request.k),
            doc_type=request.doc_type,
            year_from=request.year_from,
            year_to=request.year_to,
            issuer=request.issuer,
            commitments_only=True,
        )
    )
    chunk_ids = [result["chunk_id"] for result in found["results"]]
    held = store.commitments_of_chunks(chunk_ids)
    passage_rank: dict[int, int] = {}
    for rank, chunk_id in enumerate(chunk_ids):
        for commitment_id in held.get(chunk_id, []):
            if commitment_id in allowed:
                passage_rank.setdefault(commitment_id, rank)
    cosines = store.commitment_cosines(vector, list(passage_rank)) if vector is not None else {}
    own_rank = {i: rank for rank, i in enumerate(sorted(cosines, key=lambda i: -cosines[i]))}
    fused = {
        i: 1 / (FUSION_K + passage_rank[i]) + 1 / (FUSION_K + own_rank.get(i, len(own_rank)))
        for i in passage_rank
    }
    return sorted(fused, key=lambda i: -fused[i])


def _response(request: CommitmentRequest, started: float, views: list[dict], reason: str | None) -> dict:
    response: dict = {
        "query": request.query or "",
        "took_ms": round((time.perf_counter() - started) * 1000, 1),
        "commitments": views,
    }
    if reason:
        response["reason"] = reason
    return response
