"""The one search function everything calls: dense, lexical and hybrid retrieval over the live index.

The API, the CLI and the evaluation all go through ``Searcher.search`` so that what evaluators
measure is what users get. This module orchestrates: it asks the index (``indexer.index``) for
candidates and scores, and ``search_api.ranking`` for how to weigh and order them.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np

from indexer.index import IndexStore, LiveIndex, Passage, PassageFilter
from indexer.index.build_status import read_build_status
from indexer.lexical import words
from indexer.model.encoder import Encoder
from indexer.model.machine import cores
from indexer.model.specs import ModelSpec
from search_api import ranking
from search_api.commitments import commitment_view
from search_api.issuers import issuer_forms, issuers_named
from search_api.query import (
    NamedNumber,
    QueryYears,
    content_query,
    highlight_terms,
    named_numbers,
    query_words,
    query_years,
    searchable,
)
from search_api.ranking import Candidate, DenseScores, RankingConfig
from search_api.request import SearchRequest
from search_api.results import document_view, passage_result, superseded_view

NOTHING_TO_SEARCH = "查询中没有可检索的文字或数字 / the query has no letters or digits to search for"


def threads_per_worker() -> int:
    """Compute threads for one service process: the cores shared among ``$POLICY_SEARCH_WORKERS``
    processes (set by ``policy-search serve``). Queries are small, so more threads per process
    mostly spin: with 2 workers on 2 cores, one thread each cut a hybrid query's CPU by a fifth."""
    workers = int(os.environ.get("POLICY_SEARCH_WORKERS", "1") or 1)
    return max(1, cores() // max(1, workers))


class Searcher:
    """Answers search requests on the live index of ``index_dir``, following swaps as they happen."""

    def __init__(
        self,
        index_dir: Path,
        encoder: Encoder | None = None,
        config: RankingConfig | None = None,
        today: Callable[[], date] = date.today,
    ) -> None:
        """``today`` is the date relative words of a query (今年, 去年, 近三年) are read against."""
        self.today = today
        self.live = LiveIndex(Path(index_dir))
        manifest = self.live.reader.manifest
        # queries run on the backend that built the index, where installed (see indexer.model.backends)
        self.encoder = encoder or Encoder(
            ModelSpec.from_dict(manifest.model),
            manifest.backend,
            progress=False,
            threads=threads_per_worker(),
        )
        self.config = config or RankingConfig()
        self.live.set_check(lambda reader: reader.check_model(self.encoder.spec.name))
        words("预热")  # load jieba's dictionary now rather than during the first request

    @property
    def store(self) -> IndexStore:
        """The live index; a newly swapped-in generation is picked up here, between requests."""
        return self.live.reader

    # --- the search ---------------------------------------------------------------------------
    def search(self, request: SearchRequest) -> dict:
        return self.search_with_vector(request)[0]

    def search_with_vector(self, request: SearchRequest) -> tuple[dict, np.ndarray | None]:
        """The search response and the query's vector (None in lexical mode), for callers that
        weigh more records against the same query (``search_api.commitments``)."""
        request.check()
        started = time.perf_counter()
        if not searchable(request.query):
            return _response(request, started, [], NOTHING_TO_SEARCH), None
        store = self.store
        config = self.config
        allowed = store.filter_chunks(passage_filter(request))
        numbers = named_numbers(store, request.query)
        asked = query_years(request.query, self.today().year)
        bodies = issuers_named(request.query)
        content = content_query(request.query, numbers)
        search_words = query_words(content)
        ranked: ranking.Ranked = {}
        dense = DenseScores()
        # one after the other: side by side, the model's threads and BM25 compete for the same
        # cores (on 2 cores the query's embedding took twice as long as alone)
        vector = self.encoder.encode_query(content) if request.mode != "lexical" else None
        if request.mode in ("lexical", "hybrid"):
            # hybrid needs every match's score; lexical alone only the top (unless filters thin it out)
            limit = config.candidates if request.mode == "lexical" and allowed is None else None
            lexical_scores = self._lexical(store, search_words, numbers, allowed, limit)
            ranked["lexical"] = ranking.by_score(lexical_scores, config.candidates)
        if vector is not None:
            dense = self._dense(store, vector, allowed)
            ranked = {"dense": dense.top(config.candidates), **ranked}
        if request.mode == "hybrid" and vector is not None:
            union = ranking.union_of(ranked)
            dense_union = dict(ranked["dense"])
            missing = [i for i in union if i not in dense_union]
            extra = self._dense_scores(store, vector, missing)
            dense.update(extra)
            dense_union.update(extra.scores)
            ranked = ranking.both_modes(dense_union, lexical_scores, union)
        fused = ranking.fuse(ranked, config.mode_weights)
        for candidate in fused:
            candidate.sentence = dense.sentences.get(candidate.chunk_id)
        # enough passages for the signals and for k results after dropping near-duplicates
        depth = max(config.signal_depth, 3 * request.k) + 30
        passages = store.passages([c.chunk_id for c in fused[:depth]])
        if request.mode == "hybrid":
            issuers = [name for names in bodies.values() for name in names]
            fused = ranking.apply_signals(request.query, asked.years, issuers, fused, passages, config)
        named = {chunk_id for number in numbers.values() for chunk_id in number.documents}
        fused = ranking.demote_frames(request.query, fused, passages, config, named)
        replaced = store.supersessions_of_chunks(list(passages))
        fused = ranking.demote_superseded(fused, set(replaced), asked.years, passages, config)
        # grouped, k counts documents: their passages are taken from every candidate read
        groups: list[tuple[Candidate, list[Candidate]]] = []
        if request.group:
            relevant = ranking.select(fused, passages, len(fused), request.per_doc)
            groups = ranking.group_by_document(relevant, passages, request.k)
            if request.sort == "date":
                groups.sort(key=lambda group: ranking.date_key(passages[group[0].chunk_id]), reverse=True)
            results = [head for head, _ in groups]
        else:
            results = ranking.select(fused, passages, request.k, request.per_doc, request.sort)
        terms = highlight_terms(search_words)
        with_sentence = request.mode != "lexical"
        payload = [self._result(passages[c.chunk_id], c, terms, with_sentence) for c in results]
        for result, (_, folded) in zip(payload, groups, strict=False):
            result["folded"] = [self._result(passages[c.chunk_id], c, terms, with_sentence) for c in folded]
        shown = [r for result in payload for r in (result, *result.get("folded", []))]
        held = store.commitments_of_chunks([r["chunk_id"] for r in shown])
        later = store.passages([replaced[r["chunk_id"]][1] for r in shown if r["chunk_id"] in replaced])
        for result in shown:
            result["commitment_ids"] = held.get(result["chunk_id"], [])
            if result["chunk_id"] in replaced:
                result["superseded_by"] = superseded_view(replaced[result["chunk_id"]], later)
        reason = _empty_reason(allowed) if not payload else _other_years_reason(asked, results, passages)
        response = _response(request, started, payload, reason)
        interpreted: dict[str, list] = {**asked.interpreted, **{k: list(v) for k, v in bodies.items()}}
        if interpreted:
            response["interpreted"] = interpreted
        notice = build_notice(read_build_status(self.live.index_dir))
        if notice:
            response["index_notice"] = notice
        return response, vector

    def _dense(self, store: IndexStore, vector: np.ndarray, allowed: list[int] | None) -> DenseScores:
        """Dense candidates: the nearest passages and the owners of the nearest sentences.

        Each is then scored exactly by the blend (fetching three times as many sentences changed
        no result on the dev sets), so a passage found through one sentence is ranked by the same
        measure as one found by its own vector.
        """
        limit = self.config.candidates
        candidates = {i for i, _ in store.nearest_passages(vector, limit, allowed)}
        candidates.update(store.owners_of_nearest_sentences(vector, limit, allowed))
        return self._dense_scores(store, vector, list(candidates))

    def _dense_scores(self, store: IndexStore, vector: np.ndarray, chunk_ids: list[int]) -> DenseScores:
        own = store.passage_cosines(vector, chunk_ids)
        best = store.best_sentences(vector, chunk_ids)
        return ranking.blend_dense(own, best, self.config.sentence_share)

    def _lexical(
        self,
        store: IndexStore,
        search_words: list[str],
        numbers: dict[str, NamedNumber],
        allowed: list[int] | None,
        limit: int | None,
    ) -> dict[int, float]:
        """BM25 over jieba words, within the filters; passages of a named document number first."""
        scores = store.lexical(search_words, self.config.bm25_weights, limit)
        allowed_set = set(allowed) if allowed is not None else None
        if allowed_set is not None:
            scores = {chunk_id: score for chunk_id, score in scores.items() if chunk_id in allowed_set}
        return ranking.with_number_bonus(scores, numbers, allowed_set, self.config.identifier_bonus)

    @staticmethod
    def _result(passage: Passage, candidate: Candidate, terms: list[str], with_sentence: bool) -> dict:
        sentence = None
        if with_sentence:  # a passage of one sentence is its own nearest sentence
            sentence = candidate.sentence or (passage.start, passage.end)
        return passage_result(passage, candidate, terms, sentence)

    # --- documents, passages and the index, for the views --------------------------------------
    def documents(self) -> list[dict]:
        """Every document's metadata (no text), newest first: what the page's document list shows."""
        infos = sorted(
            self.store.list_documents(), key=lambda d: (d.year or 0, d.date or "", d.doc_id), reverse=True
        )
        return [info.to_dict() for info in infos]

    def document(self, doc_id: int) -> dict | None:
        """A document with its passages' outline, its commitments (with follow-ups), and the
        indexed documents it cites and that cite it."""
        store = self.store
        found = store.document(doc_id)
        if found is None:
            return None
        view = document_view(found, list(store.passages(store.document_passages(doc_id)).values()))
        commitments = store.commitments(store.filter_commitments(doc_id=doc_id))
        view["commitments"] = [commitment_view(c) for c in sorted(commitments, key=lambda c: c.start)]
        cites, cited_by = store.citations(doc_id)
        view["cites"], view["cited_by"] = [c.to_dict() for c in cites], [c.to_dict() for c in cited_by]
        return view

    def passage_with_neighbours(self, chunk_id: int, width: int = 1) -> dict | None:
        store = self.store
        ids = store.neighbours(chunk_id, width)
        if chunk_id not in ids:
            return None
        passages = store.passages(ids)
        views = {i: passage_result(passages[i], Candidate(i), []) for i in ids}
        return {"passage": views[chunk_id], "neighbours": [views[i] for i in ids if i != chunk_id]}

    def replacement(self, chunk_id: int) -> dict | None:
        """For a passage an update replaced: its document and the live passage overlapping its old
        span most (None when the document no longer has one)."""
        store = self.store
        retired = store.retired_passage(chunk_id)
        if retired is None:
            return None
        doc_id, start, end = retired
        passages = store.passages(store.document_passages(doc_id)).values()
        overlap = {p.chunk_id: min(end, p.end) - max(start, p.start) for p in passages}
        best = max(overlap, key=lambda i: overlap[i], default=None)
        return {"doc_id": doc_id, "replacement": best if best is not None and overlap[best] > 0 else None}

    def stats(self) -> dict:
        """The live index's figures, the ranking settings, and a build in progress or one that
        did not end well (None when there is neither)."""
        build = read_build_status(self.live.index_dir)
        return self.store.stats() | {"ranking": self.config.to_dict(), "build": build}


def passage_filter(request: SearchRequest) -> PassageFilter:
    """The request's filters as the store takes them: issuer short forms spelled out, a blank
    proposal number left unset, dates as ISO text (the documents table's form)."""
    return PassageFilter(
        doc_type=request.doc_type,
        year_from=request.year_from,
        year_to=request.year_to,
        issuer=issuer_forms(request.issuer),
        commitments_only=request.commitments_only,
        answer_category=request.answer_category,
        proposal_number=(request.proposal_number or "").strip() or None,
        date_from=request.date_from.isoformat() if request.date_from else None,
        date_to=request.date_to.isoformat() if request.date_to else None,
    )


def build_notice(build: dict | None) -> str | None:
    """What a search answered during a build must say: that it comes from the last complete index
    (on a first run, the reply letters only) while a new one is being written."""
    if not build or build.get("state") != "running":
        return None
    progress = f"{build.get('phase')} {build.get('done', 0)}/{build.get('total', 0)}"
    return (
        f"新索引正在建立（{progress}），结果来自上一次完成的索引，可能不全 / "
        f"a new index is being built ({progress}); "
        "results come from the last complete index and may be partial"
    )


def _response(request: SearchRequest, started: float, results: list[dict], reason: str | None) -> dict:
    """The search response; ``reason`` says why ``results`` is empty."""
    response: dict = {
        "query": request.query,
        "mode": request.mode,
        "took_ms": round((time.perf_counter() - started) * 1000, 1),
        "results": results,
    }
    if reason:
        response["reason"] = reason
    return response


def _other_years_reason(
    asked: QueryYears, results: list[Candidate], passages: dict[int, Passage]
) -> str | None:
    """Why results do not answer the time a query's relative words ask about: none of their
    documents is dated then (``去年`` in December 2026 is 2025, and the newest letter on the topic
    may be older). A year written out is often asked of a later document that looks back on it
    (``2006年节能减排指标完成没有`` is answered in 2007), so it gets no such remark."""
    relative = {year for years in asked.interpreted.values() for year in years}
    if not relative or asked.years != relative or any(passages[c.chunk_id].year in relative for c in results):
        return None
    first, last = min(relative), max(relative)
    contiguous = len(relative) == last - first + 1 and first != last
    years = f"{first}—{last}" if contiguous else "、".join(str(year) for year in sorted(relative))
    return (
        f"没有{years}年的相关文档，以下结果来自其他年份 / "
        f"nothing found from {years}; these results are from other years"
    )


def _empty_reason(allowed: list[int] | None) -> str:
    if allowed is not None and not allowed:
        return "没有文档符合筛选条件 / no documents match the filters"
    return "没有找到相关段落 / no passages matched the query"
