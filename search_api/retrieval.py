"""Dense, lexical and hybrid retrieval over an index; the one search function everything calls.

The API, the CLI and the evaluation all go through ``Searcher.search`` so that what evaluators
measure is what users get.

Hybrid fusion is a weighted blend of normalized scores: the union of each mode's top
``CANDIDATES`` is scored in both modes (``_score_union``), each mode's scores are min-max scaled
to 0..1 within the query (so BM25 and cosine, which live on unrelated scales, become comparable),
and the two are blended 0.6 dense / 0.4 lexical. Dense scores include each passage's best
sentence (see ``indexer.store``), which made dense as strong as lexical on policy texts and
stronger on reply letters; 0.6 is the middle of the 0.55-0.65 range that did best. On the dev
sets the blend beat reciprocal rank fusion (k=60): RRF lets a passage ranked 10th by both modes
outrank one that a single mode puts first by a wide margin, and such single-mode wins are common
for exact figures (lexical) and paraphrases (dense). See ``eval/README.md`` for the figures.

Query-side metadata signals (a year named in the query, recency words) then add small bonuses
to the top candidates; see ``_apply_signals``.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer.encoder import Encoder
from indexer.lexical import words
from indexer.metadata import DOC_NUMBER
from indexer.models import ModelSpec, Prompts
from indexer.normalize import fold
from indexer.store import CURRENT, IndexReader
from indexer.years import named_years, years_spoken_of
from search_api.citations import citation, highlight

MODES = ("hybrid", "dense", "lexical")
SORTS = ("relevance", "date")
DOC_TYPES = ("reply", "policy", "report", "other")
MODE_WEIGHTS = {"dense": 0.6, "lexical": 0.4}
CANDIDATES = 100  # passages each mode hands to fusion
MAX_QUERY_CHARS = 512
IDENTIFIER_BONUS = 1.0  # lexical score added per exact document/proposal number hit
SHORT_NUMBER = re.compile(r"第\s*(\d{1,5})\s*号")
# Query-side signals, added to the blended scores (0..1) of the top candidates. Years named in a
# query point at the passages about those years (see indexer.years); words such as 现在/目前/最新
# ask for the newest statement on a topic.
RECENCY_WORDS = re.compile(r"现在|目前|最新|最近|当前|如今|眼下|近期")
SIGNAL_WEIGHTS = {"year": 0.3, "recency": 0.4}  # recency words state the wish outright
SIGNAL_DEPTH = 50  # how many fused candidates the signals reorder
# A year in a query names what a passage is about (2006年节能减排指标完成没有) or when its
# document was written (2019年民政局答复); the first reading is the more common one.
YEAR_READINGS = {"spoken_of": 0.7, "dated": 0.3}


class QueryError(ValueError):
    """A request that cannot be answered as asked; carries a Chinese and an English message."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.zh, self.en = zh, en


@dataclass
class SearchRequest:
    query: str
    k: int = 10
    mode: str = "hybrid"
    doc_type: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    issuer: str | None = None
    commitments_only: bool = False
    sort: str = "relevance"
    per_doc: int | None = None

    def validate(self) -> None:
        if not self.query or not self.query.strip():
            raise QueryError("查询内容不能为空", "the query must not be empty")
        if len(self.query) > MAX_QUERY_CHARS:
            raise QueryError(f"查询内容不能超过{MAX_QUERY_CHARS}个字符", f"the query must be at most {MAX_QUERY_CHARS} characters")
        if not 1 <= self.k <= 100:
            raise QueryError("k 必须在 1 到 100 之间", "k must be between 1 and 100")
        if self.mode not in MODES:
            raise QueryError(f"未知的检索模式：{self.mode}（可选 {', '.join(MODES)}）", f"unknown mode {self.mode!r}; use one of {', '.join(MODES)}")
        if self.sort not in SORTS:
            raise QueryError(f"未知的排序方式：{self.sort}（可选 relevance、date）", f"unknown sort {self.sort!r}; use relevance or date")
        if self.doc_type is not None and self.doc_type not in DOC_TYPES:
            raise QueryError(f"未知的文档类型：{self.doc_type}（可选 {', '.join(DOC_TYPES)}）", f"unknown doc_type {self.doc_type!r}; use one of {', '.join(DOC_TYPES)}")
        if self.year_from and self.year_to and self.year_from > self.year_to:
            raise QueryError("起始年份不能晚于结束年份", "year_from must not be after year_to")
        if self.per_doc is not None and self.per_doc < 1:
            raise QueryError("每个文档的结果上限必须至少为 1", "per_doc must be at least 1")


@dataclass
class Candidate:
    chunk_id: int
    score: float = 0.0
    ranks: dict = field(default_factory=dict)


def fts_query(query: str) -> tuple[str, list[str]]:
    """An FTS5 OR-query of the query's words, and the words (for highlighting)."""
    terms = list(dict.fromkeys(words(query)))
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms), terms


def identifiers(query: str) -> dict[str, str]:
    """Document numbers (津政办发〔2022〕15号) and proposal numbers (第0137号) named in a query:
    the span of the query that names one → its normalized form."""
    found = {m.group(0): fold(m.group(0)).replace(" ", "") for m in DOC_NUMBER.finditer(query)}
    found.update({m.group(0): f"第{fold(m.group(1))}号" for m in SHORT_NUMBER.finditer(query)})
    return found


@dataclass
class NamedNumber:
    """Where the index has a number a query names: the chunks of documents carrying it as their
    own number, and the chunks whose text cites it."""

    documents: set[int]
    citing: set[int]


def named_numbers(reader: IndexReader, query: str) -> dict[str, NamedNumber]:
    """Each document or proposal number the query names (its span in the query), looked up once."""
    return {span: NamedNumber(set(reader.chunks_of_documents_matching(identifier)), set(reader.chunks_containing(identifier)))
            for span, identifier in identifiers(query).items()}


def content_query(query: str, numbers: dict[str, NamedNumber]) -> str:
    """The query without the numbers that name indexed documents.

    Such a number picks the document (lexical search puts its passages first); the rest of the
    query picks the passage, and the number's characters would only pull every search towards
    the letterhead that prints it.
    """
    rest = query
    for span, number in numbers.items():
        if number.documents:
            rest = rest.replace(span, " ")
    return rest.strip() or query


class Searcher:
    """Answers search requests on the live index of ``index_dir``, following swaps as they happen."""

    def __init__(self, index_dir: Path, encoder: Encoder | None = None) -> None:
        self.index_dir = Path(index_dir)
        self._swap_lock = threading.Lock()
        self._pointer = ""
        self._reader = self._load()
        # queries run on the backend that built the index, where installed (see indexer.backends)
        self.encoder = encoder or Encoder(self._spec(self._reader), self._reader.manifest.backend, progress=False)
        self._reader.check_model(self.encoder.spec.name)
        words("预热")  # load jieba's dictionary now rather than during the first request

    @staticmethod
    def _spec(reader: IndexReader) -> ModelSpec:
        model = reader.manifest.model
        return ModelSpec(model["name"], Prompts(**model["prompts"]))

    def _load(self) -> IndexReader:
        self._pointer = (self.index_dir / CURRENT).read_text(encoding="utf-8").strip() if (self.index_dir / CURRENT).is_file() else ""
        return IndexReader.open(self.index_dir)

    @property
    def reader(self) -> IndexReader:
        """The live index; a newly swapped-in generation is picked up here, between requests."""
        pointer = self.index_dir / CURRENT
        try:
            live = pointer.read_text(encoding="utf-8").strip()
        except OSError:
            return self._reader
        if live != self._pointer:
            with self._swap_lock:
                if live != self._pointer:
                    reader = IndexReader.open(self.index_dir)
                    reader.check_model(self.encoder.spec.name)
                    self._reader, self._pointer = reader, live
        return self._reader

    # --- the search ---------------------------------------------------------------------------
    def search(self, request: SearchRequest) -> dict:
        request.validate()
        started = time.perf_counter()
        reader = self.reader
        allowed = self._allowed(reader, request)
        numbers = named_numbers(reader, request.query)
        content = content_query(request.query, numbers)
        match, query_words = fts_query(content)
        ranked: dict[str, list[tuple[int, float]]] = {}
        if request.mode in ("dense", "hybrid"):
            vector = self.encoder.encode_query(content)
            ranked["dense"] = reader.dense(vector, CANDIDATES, allowed)
        if request.mode in ("lexical", "hybrid"):
            # hybrid needs every match's score; lexical alone only the top (unless filters thin it out)
            limit = CANDIDATES if request.mode == "lexical" and allowed is None else None
            lexical_scores = self._lexical(reader, match, numbers, allowed, limit)
            ranked["lexical"] = sorted(lexical_scores.items(), key=lambda item: -item[1])[:CANDIDATES]
        if request.mode == "hybrid":
            ranked = self._score_union(reader, ranked, vector, lexical_scores)
        fused = self._fuse(ranked)
        # enough passages for the signals and for k results after dropping near-duplicates
        passages = reader.passages([c.chunk_id for c in fused[: max(SIGNAL_DEPTH, 3 * request.k) + 30]])
        if request.mode == "hybrid":
            fused = self._apply_signals(request.query, fused, passages)
        results = self._select(fused, passages, request)
        terms = [t for t in query_words if len(t) > 1 or t.isdigit()]
        sentences: dict[int, tuple[int, int]] = {}
        if request.mode != "lexical":
            nearest = reader.best_sentences(vector, [c.chunk_id for c in results])
            for c in results:
                passage = passages[c.chunk_id]  # a passage of one sentence is its own nearest sentence
                sentences[c.chunk_id] = nearest[c.chunk_id][:2] if c.chunk_id in nearest else (passage["start"], passage["end"])
        payload = [self._result(passages[c.chunk_id], c, terms, sentences.get(c.chunk_id)) for c in results]
        response = {
            "query": request.query,
            "mode": request.mode,
            "took_ms": round((time.perf_counter() - started) * 1000, 1),
            "results": payload,
        }
        if not payload:
            response["reason"] = self._empty_reason(allowed)
        return response

    @staticmethod
    def _empty_reason(allowed: list[int] | None) -> str:
        if allowed is not None and not allowed:
            return "没有文档符合筛选条件 / no documents match the filters"
        return "没有找到相关段落 / no passages matched the query"

    @staticmethod
    def _allowed(reader: IndexReader, request: SearchRequest) -> list[int] | None:
        """Chunk ids that pass the request's filters, or None when it has none."""
        return reader.filter_chunks(request.doc_type, request.year_from, request.year_to, request.issuer,
                                    request.commitments_only)

    @staticmethod
    def _lexical(reader: IndexReader, match: str, numbers: dict[str, NamedNumber], allowed: list[int] | None,
                 limit: int | None) -> dict[int, float]:
        """BM25 over jieba words; passages of a named document number are put first."""
        scores = reader.lexical(match, limit)
        allowed_set = set(allowed) if allowed is not None else None
        if allowed_set is not None:
            scores = {chunk_id: score for chunk_id, score in scores.items() if chunk_id in allowed_set}
        top = max(scores.values(), default=1.0)  # the best match before any bonus, so each number counts the same
        for number in numbers.values():
            for chunk_id in number.documents | number.citing:
                if allowed_set is None or chunk_id in allowed_set:
                    scores[chunk_id] = scores.get(chunk_id, 0.0) + IDENTIFIER_BONUS * top
        return scores

    @staticmethod
    def _score_union(reader: IndexReader, ranked: dict, vector: np.ndarray, lexical_scores: dict[int, float]) -> dict:
        """Score every candidate in both modes, so a passage one mode missed is not blended as a zero.

        The dense score of a lexical-only candidate is computed exactly; the BM25 score of a
        dense-only candidate is its score among all matches (0 when it shares no query word).
        """
        union = {chunk_id for hits in ranked.values() for chunk_id, _ in hits}
        dense = dict(ranked["dense"])
        dense.update(reader.dense_scores(vector, [i for i in union if i not in dense]))
        lexical = {i: lexical_scores.get(i, 0.0) for i in union}
        return {mode: sorted(scores.items(), key=lambda item: -item[1]) for mode, scores in (("dense", dense), ("lexical", lexical))}

    @staticmethod
    def _fuse(ranked: dict[str, list[tuple[int, float]]]) -> list[Candidate]:
        """Blend min-max normalized scores; a single mode keeps its own scores and order."""
        candidates: dict[int, Candidate] = {}
        single_mode = len(ranked) == 1
        for mode, hits in ranked.items():
            if not hits:
                continue
            high, low = max(score for _, score in hits), min(score for _, score in hits)
            for rank, (chunk_id, score) in enumerate(hits, 1):
                candidate = candidates.setdefault(chunk_id, Candidate(chunk_id))
                candidate.ranks[mode] = {"rank": rank, "score": round(score, 4)}
                normalized = (score - low) / (high - low) if high > low else 1.0
                candidate.score += score if single_mode else MODE_WEIGHTS[mode] * normalized
        return sorted(candidates.values(), key=lambda c: -c.score)

    @staticmethod
    def _apply_signals(query: str, fused: list[Candidate], passages: dict[int, dict]) -> list[Candidate]:
        """Add the query's year and recency signals to the top candidates' blended scores."""
        top = [c for c in fused[:SIGNAL_DEPTH] if c.chunk_id in passages]
        years = named_years(query)
        if years:
            for candidate in top:
                passage = passages[candidate.chunk_id]
                share = _year_share(years, passage)
                if share:
                    candidate.ranks["year"] = {"rank": 1, "score": round(SIGNAL_WEIGHTS["year"] * share, 4)}
                    candidate.score += SIGNAL_WEIGHTS["year"] * share
        if RECENCY_WORDS.search(query):
            newest_first = sorted(top, key=lambda c: _date_key(passages[c.chunk_id]), reverse=True)
            for rank, candidate in enumerate(newest_first):
                bonus = SIGNAL_WEIGHTS["recency"] * (1 - rank / len(newest_first))
                candidate.ranks["recency"] = {"rank": rank + 1, "score": round(bonus, 4)}
                candidate.score += bonus
        return sorted(fused, key=lambda c: -c.score)

    @staticmethod
    def _select(fused: list[Candidate], passages: dict[int, dict], request: SearchRequest) -> list[Candidate]:
        """Top k after dropping passages mostly contained in a better one of the same document.

        Neighbouring passages share one sentence by design; that alone does not make them duplicates.
        """
        chosen: list[Candidate] = []
        per_doc: dict[int, int] = {}
        for candidate in fused:
            passage = passages.get(candidate.chunk_id)
            if passage is None:
                continue
            doc_id = passage["doc_id"]
            overlaps = any(
                passages[c.chunk_id]["doc_id"] == doc_id
                and _shared(passage, passages[c.chunk_id]) * 2 > passage["end"] - passage["start"]
                for c in chosen
            )
            if overlaps or (request.per_doc and per_doc.get(doc_id, 0) >= request.per_doc):
                continue
            chosen.append(candidate)
            per_doc[doc_id] = per_doc.get(doc_id, 0) + 1
            if len(chosen) == request.k:
                break
        if request.sort == "date":
            chosen.sort(key=lambda c: _date_key(passages[c.chunk_id]), reverse=True)
        return chosen

    @staticmethod
    def _result(passage: dict, candidate: Candidate, terms: list[str], sentence: tuple[int, int] | None = None) -> dict:
        """A result as the API returns it; ``sentence`` is the document span of its sentence nearest the query."""
        return {
            **{key: passage[key] for key in (
                "chunk_id", "doc_id", "title", "doc_type", "issuer", "date", "year", "doc_number",
                "proposal_number", "answer_category", "section", "page", "end_page", "start", "end", "text",
                "is_commitment", "source")},
            "highlight": highlight(passage["text"], terms),
            "score": round(candidate.score, 6),
            "ranks": candidate.ranks,
            "citation": citation(passage),
            "best_sentence": None if sentence is None else {
                "start": sentence[0], "end": sentence[1],
                "text": passage["text"][sentence[0] - passage["start"] : sentence[1] - passage["start"]],
            },
        }

    # --- documents and passages for the views ---------------------------------------------------
    def document(self, doc_id: int) -> dict | None:
        reader = self.reader
        found = reader.document(doc_id)
        if found is None:
            return None
        spans = reader.passages(reader.document_passages(doc_id))
        found["passages"] = [
            {key: p[key] for key in ("chunk_id", "start", "end", "section", "page", "is_commitment")}
            for p in sorted(spans.values(), key=lambda p: p["ordinal"])
        ]
        return found

    def passage_with_neighbours(self, chunk_id: int, width: int = 1) -> dict | None:
        reader = self.reader
        ids = reader.neighbours(chunk_id, width)
        if chunk_id not in ids:
            return None
        passages = reader.passages(ids)
        views = {i: self._result(passages[i], Candidate(i), []) for i in ids}
        return {"passage": views[chunk_id], "neighbours": [views[i] for i in ids if i != chunk_id]}


def _year_share(years: set[int], passage: dict) -> float:
    """How well a passage answers the years a query names (0..1): the share of them it speaks of,
    and the share that is its document's year, weighted by ``YEAR_READINGS``."""
    spoken = len(years & years_spoken_of(passage["text"], passage["section"], passage["year"]))
    dated = 1 if passage["year"] in years else 0
    return (YEAR_READINGS["spoken_of"] * spoken + YEAR_READINGS["dated"] * dated) / len(years)


def _date_key(passage: dict) -> str:
    """Sortable date: the full date where known, else the year."""
    return passage.get("date") or str(passage.get("year") or "")


def _shared(a: dict, b: dict) -> int:
    """Characters two passages of one document share."""
    return max(0, min(a["end"], b["end"]) - max(a["start"], b["start"]))
