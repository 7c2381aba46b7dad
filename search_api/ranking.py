"""How candidates are scored and ordered: the dense sentence blend, hybrid fusion, query signals
and the final selection. Pure functions over scores, so each can be tested with hand-made numbers.

Dense: a passage's score blends its own cosine with its best sentence's (``sentence_share``): the
passage vector carries the title and headings, the sentence vector the one item a query is about.
On the dev sets this lifted dense Recall@10 from 0.733 to 0.867 (policy); see ``eval/README.md``.

Hybrid fusion is a weighted blend of normalized scores: the union of each mode's top
``candidates`` is scored in both modes, each mode's scores are min-max scaled to 0..1 within the
query (so BM25 and cosine, which live on unrelated scales, become comparable), and the two are
blended 0.6 dense / 0.4 lexical, the middle of the 0.55-0.65 range that did best. On the dev sets
the blend beat reciprocal rank fusion (k=60): RRF lets a passage ranked 10th by both modes outrank
one that a single mode puts first by a wide margin, and such single-mode wins are common for
exact figures (lexical) and paraphrases (dense).

Query-side signals (a year named in the query, recency words) then add small bonuses to the top
candidates; see ``apply_signals``.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np

from indexer.index import Passage
from indexer.years import years_spoken_of
from search_api.query import NamedNumber

# words such as 现在/目前/最新 ask for the newest statement on a topic
RECENCY_WORDS = re.compile(r"现在|目前|最新|最近|当前|如今|眼下|近期")
# what a query says when it asks for a letter's frame rather than its answer (see indexer.roles)
ROLE_ASKED = {
    "header": re.compile(r"标题|题目|文号|签发人"),
    "opening": re.compile(r"收悉|会同|协办|会办|哪些部门|哪几个部门|办理单位"),
    "closing": re.compile(r"联系人|联系电话|联系方式|电话|答复类别|[ABCＡＢＣ]类|抄送"),
    "signature": re.compile(r"落款|署名|答复日期|发文日期|成文日期|哪天|几月几日|什么时候答复|何时答复"),
}
Span = tuple[int, int]
Ranked = dict[str, list[tuple[int, float]]]


@dataclass(frozen=True)
class RankingConfig:
    """Every weight of the ranking, in one place; recorded in eval reports and ``/stats``."""

    mode_weights: Mapping[str, float] = field(default_factory=lambda: {"dense": 0.6, "lexical": 0.4})
    sentence_share: float = 0.5  # weight of the best sentence in a passage's dense score
    bm25_weights: tuple[float, float] = (1.0, 0.5)  # passage body, then title and headings
    candidates: int = 100  # passages each mode hands to fusion
    identifier_bonus: float = 1.0  # share of the best BM25 score added per named document number
    # added to the blended scores (0..1) of the top candidates; recency words state the wish outright
    signal_weights: Mapping[str, float] = field(
        default_factory=lambda: {"year": 0.3, "recency": 0.4, "issuer": 0.2}
    )
    signal_depth: int = 50  # how many fused candidates the signals reorder
    # subtracted from a letterhead, framing, closing or signature passage, as a share of the spread
    # of the top candidates' scores, unless the query asks for that part (``ROLE_ASKED``)
    role_penalty: float = 0.3
    # the same share, for a passage stating a figure a later document replaced (indexer.supersession)
    superseded_penalty: float = 0.3
    # A year in a query names what a passage is about (2006年节能减排指标完成没有) or when its
    # document was written (2019年民政局答复); the first reading is the more common one.
    year_readings: Mapping[str, float] = field(default_factory=lambda: {"spoken_of": 0.7, "dated": 0.3})

    def to_dict(self) -> dict:
        return {
            key: dict(value) if isinstance(value, Mapping) else value for key, value in asdict(self).items()
        }


@dataclass
class Candidate:
    """A passage on its way through ranking, with its nearest sentence when dense scored it."""

    chunk_id: int
    score: float = 0.0
    ranks: dict = field(default_factory=dict)
    sentence: Span | None = None


@dataclass
class DenseScores:
    """Dense scores by chunk id, and the document span of each passage's best sentence."""

    scores: dict[int, float] = field(default_factory=dict)
    sentences: dict[int, Span] = field(default_factory=dict)

    def update(self, other: DenseScores) -> None:
        self.scores.update(other.scores)
        self.sentences.update(other.sentences)

    def top(self, limit: int) -> list[tuple[int, float]]:
        return by_score(self.scores, limit)


def blend_dense(
    own: Mapping[int, float] | Mapping[int, np.floating],
    best: Mapping[int, tuple[int, int, float]],
    share: float,
) -> DenseScores:
    """Each passage's own cosine blended with its best sentence's; a passage of one sentence (no
    units) is its own best sentence."""
    scores = {}
    for i in own:
        sentence = best[i][2] if i in best else own[i]
        scores[i] = float((1 - share) * own[i] + share * sentence)
    return DenseScores(scores, {i: (start, end) for i, (start, end, _) in best.items()})


def with_number_bonus(
    scores: dict[int, float], numbers: Mapping[str, NamedNumber], allowed: set[int] | None, bonus: float
) -> dict[int, float]:
    """Lexical scores with passages of a named document number (or citing it) put first.

    The bonus is a share of the best match before any bonus, so each number counts the same.
    """
    top = max(scores.values(), default=1.0)
    boosted = dict(scores)
    for number in numbers.values():
        for chunk_id in number.documents | number.citing:
            if allowed is None or chunk_id in allowed:
                boosted[chunk_id] = boosted.get(chunk_id, 0.0) + bonus * top
    return boosted


def by_score(scores: Mapping[int, Any], limit: int | None = None) -> list[tuple[int, Any]]:
    """(chunk id, score) pairs, best first, the best ``limit`` of them; equal scores keep their
    order (a stable sort, like ``key=-score``, without a Python call per item: hybrid ranks every
    lexical match)."""
    if limit is None:
        return sorted(scores.items(), key=itemgetter(1), reverse=True)
    return heapq.nlargest(limit, scores.items(), key=itemgetter(1))


def union_of(ranked: Ranked) -> set[int]:
    return {chunk_id for hits in ranked.values() for chunk_id, _ in hits}


def both_modes(dense: dict[int, float], lexical: Mapping[int, float], union: Iterable[int]) -> Ranked:
    """Every union candidate ranked in both modes, so a passage one mode missed is not blended as a
    zero: ``dense`` holds exact scores for the whole union, ``lexical`` every match's BM25 (a
    passage sharing no query word scores 0)."""
    lexical_union = {i: lexical.get(i, 0.0) for i in union}
    pairs = (("dense", dense), ("lexical", lexical_union))
    return {mode: by_score(scores) for mode, scores in pairs}


def fuse(ranked: Ranked, weights: Mapping[str, float]) -> list[Candidate]:
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
            candidate.score += score if single_mode else weights[mode] * normalized
    return sorted(candidates.values(), key=lambda c: -c.score)


def apply_signals(
    query: str,
    years: set[int],
    issuers: Iterable[str],
    fused: list[Candidate],
    passages: Mapping[int, Passage],
    config: RankingConfig,
) -> list[Candidate]:
    """Add the signals of the years a query asks about, the bodies it names (by any of their
    names, ``issuers``) and its recency words to the top candidates' blended scores."""
    top = [c for c in fused[: config.signal_depth] if c.chunk_id in passages]
    names = tuple(issuers)
    if names:
        weight = config.signal_weights["issuer"]
        for candidate in top:
            issuer = passages[candidate.chunk_id].issuer or ""
            if any(name in issuer for name in names):
                candidate.ranks["issuer"] = {"rank": 1, "score": weight}
                candidate.score += weight
    if years:
        weight = config.signal_weights["year"]
        for candidate in top:
            share = year_share(years, passages[candidate.chunk_id], config.year_readings)
            if share:
                candidate.ranks["year"] = {"rank": 1, "score": round(weight * share, 4)}
                candidate.score += weight * share
    if RECENCY_WORDS.search(query):
        weight = config.signal_weights["recency"]
        newest_first = sorted(top, key=lambda c: date_key(passages[c.chunk_id]), reverse=True)
        for rank, candidate in enumerate(newest_first):
            bonus = weight * (1 - rank / len(newest_first))
            candidate.ranks["recency"] = {"rank": rank + 1, "score": round(bonus, 4)}
            candidate.score += bonus
    return sorted(fused, key=lambda c: -c.score)


def demote_frames(
    query: str,
    fused: list[Candidate],
    passages: Mapping[int, Passage],
    config: RankingConfig,
    named: set[int],
) -> list[Candidate]:
    """Move passages that frame an answer (header, opening, closing, signature) down.

    They repeat the topic words of the proposal and so match every query on it. A query naming a
    document's number may want that document's letterhead (``named``: its passages), and one asking
    for a contact or a date the closing. The penalty is a share of the top candidates' score
    spread, so it weighs the same in every mode.
    """
    top = [c for c in fused[: config.signal_depth] if c.chunk_id in passages]
    if not top:
        return fused
    spread = max(c.score for c in top) - min(c.score for c in top)
    wanted = {role for role, asked in ROLE_ASKED.items() if asked.search(query)}
    penalty = config.role_penalty * spread
    for candidate in top:
        role = passages[candidate.chunk_id].role
        asked_for = role in wanted or (role == "header" and candidate.chunk_id in named)
        if role != "body" and not asked_for:
            candidate.ranks["role"] = {"rank": 1, "score": round(-penalty, 4)}
            candidate.score -= penalty
    return sorted(fused, key=lambda c: -c.score)


def demote_superseded(
    fused: list[Candidate],
    superseded: set[int],
    years: set[int],
    passages: Mapping[int, Passage],
    config: RankingConfig,
) -> list[Candidate]:
    """Move passages whose figures a later document replaced below the current ones, unless the
    query asks about their time (``2019年的补贴标准`` wants the 2019 figure)."""
    top = [c for c in fused[: config.signal_depth] if c.chunk_id in passages]
    stale = [c for c in top if c.chunk_id in superseded and passages[c.chunk_id].year not in years]
    if not stale:
        return fused
    penalty = config.superseded_penalty * (max(c.score for c in top) - min(c.score for c in top))
    for candidate in stale:
        candidate.ranks["superseded"] = {"rank": 1, "score": round(-penalty, 4)}
        candidate.score -= penalty
    return sorted(fused, key=lambda c: -c.score)


def select(
    fused: list[Candidate],
    passages: Mapping[int, Passage],
    k: int,
    per_doc: int | None = None,
    sort: str = "relevance",
) -> list[Candidate]:
    """Top k after dropping passages mostly contained in a better one of the same document.

    Neighbouring passages share one sentence by design; that alone does not make them duplicates.
    """
    chosen: list[Candidate] = []
    taken: dict[int, int] = {}
    for candidate in fused:
        passage = passages.get(candidate.chunk_id)
        if passage is None:
            continue
        doc_id = passage.doc_id
        overlaps = any(
            passages[c.chunk_id].doc_id == doc_id
            and shared(passage, passages[c.chunk_id]) * 2 > passage.end - passage.start
            for c in chosen
        )
        if overlaps or (per_doc and taken.get(doc_id, 0) >= per_doc):
            continue
        chosen.append(candidate)
        taken[doc_id] = taken.get(doc_id, 0) + 1
        if len(chosen) == k:
            break
    if sort == "date":
        chosen.sort(key=lambda c: date_key(passages[c.chunk_id]), reverse=True)
    return chosen


def group_by_document(
    chosen: list[Candidate], passages: Mapping[int, Passage], k: int
) -> list[tuple[Candidate, list[Candidate]]]:
    """The best passage of each of the first ``k`` documents, with that document's other passages
    (in rank order) folded under it."""
    groups: dict[int, tuple[Candidate, list[Candidate]]] = {}
    for candidate in chosen:
        doc_id = passages[candidate.chunk_id].doc_id
        if doc_id in groups:
            groups[doc_id][1].append(candidate)
        elif len(groups) < k:
            groups[doc_id] = (candidate, [])
    return list(groups.values())


def year_share(years: set[int], passage: Passage, readings: Mapping[str, float]) -> float:
    """How well a passage answers the years a query names (0..1): the share of them it speaks of,
    and the share that is its document's year, weighted by ``readings``."""
    spoken = len(years & years_spoken_of(passage.text, passage.section, passage.year))
    dated = 1 if passage.year in years else 0
    return (readings["spoken_of"] * spoken + readings["dated"] * dated) / len(years)


def date_key(passage: Passage) -> str:
    """Sortable date: the full date where known, else the year."""
    return passage.date or str(passage.year or "")


def shared(a: Passage, b: Passage) -> int:
    """Characters two passages of one document share."""
    return max(0, min(a.end, b.end) - max(a.start, b.start))
