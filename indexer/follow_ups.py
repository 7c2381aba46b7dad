"""Link each commitment to the later passages that report what became of it.

A candidate follow-up is a sentence unit of a later document (a later year, or a later date in the
same year) from the same region: a Chongqing letter on childcare does not report on a Tianjin
promise. Among those, the units nearest the commitment's vector are weighed by meaning (cosine),
by the words they share (character bigrams of the commitment found in the unit) and by whether
the later document cites the commitment's document by number or title. Only a unit that clears
``LINK_THRESHOLD`` is linked, so a commitment with no follow-up in the corpus gets none. The
relation (progress, done, revised, restated) is read from the unit's wording and figures.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from indexer.commitments import FIGURE, YEAR_MENTION
from indexer.commitments import deadline_year as _deadline_year

CANDIDATES_PER_COMMITMENT = 40
MAX_FOLLOW_UPS = 8
MAX_FIGURE_CANDIDATES = 200
# weights and threshold of the link score, set on the dev file's commitments (not per line)
WORD_WEIGHT = 0.35
EXPLICIT_BONUS = 0.04
FIGURE_BONUS = 0.1  # the same figure of the same subject
NAME_BONUS = 0.05
SUBJECT_CHARS = 8
SUBJECT_RARITY = 4.0
LINK_THRESHOLD = 1.04
MIN_SHARED_WORDS = 0.25
BLOCK = 256
TEXT_CACHE = 1 << 16
# what became of a promise is told within a few years; a report a decade on restates, it does not follow up
MAX_YEARS_AFTER = 6
# a follow-up's document is on the promise's topic (see document_similarity), or cites it
MIN_DOCUMENT_SIMILARITY = 0.6
MIN_DOCUMENTS_FOR_TOPIC = 20
TOPIC_NEIGHBOURS = 10

PAST = re.compile(r"已|累计|截至|截止")
FINISHED = re.compile(r"基本实现|全面完成|提前完成|如期完成|顺利完成|全部完成|已完成|全覆盖|开通|印发|出台")
RATE = re.compile(r"(每[\u4e00-\u9fff]{1,3})(\d+(?:\.\d+)?)(元|万元|%)")
REVISED = re.compile(
    r"调整为|调整至|调整到|提高到|提高至|降低到|降低至|下调|上调|延长至|延长到|提前|扩大至|扩大到|缩短|改为|由[^，。；]{1,30}(?:提高|调整|降低)"
)
DONE = re.compile(r"开通|建成|完成|实现|发放|启动|上线|设立|控制在")
ISSUED = re.compile(r"印发|出台")
ISSUANCE_PROMISE = re.compile(r"出台|印发|制定|发布|修订|另行")
STILL_FUTURE = re.compile(r"确保|力争|争取|将继续|将进一步|还将|计划|拟|到20\d\d年|20\d\d年(?:底|末)?前")
PROGRESS = re.compile(r"已有|累计|目前|正在|正会同|正研究|覆盖率|进展|逐步|陆续|截至|截止|达到")
NATIONAL = re.compile(r"国务院|中华人民共和国|^国家|全国")
REGION = re.compile(r"^(.{2,8}?)(?:省|市|自治区|特别行政区)")
# words that compare a figure, not name its subject (不低于20%, 控制在2.8%)
COMPARISON = re.compile(
    r"不低于|不少于|不超过|不高于|不大于|超过|达到|控制在|增长|提高到|提高至|下降|降至|约为|约|拟按|按照|按|为"
)
QUOTED = re.compile(r"[“《]([^“”《》]{2,40})[”》]")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class DocumentFacts:
    """What decides whether one document can follow up another."""

    doc_id: int
    year: int | None
    date: str | None
    region: str | None
    title: str | None


@dataclass(frozen=True)
class Span:
    """A commitment or a candidate unit: a span of a document with its text and vector row."""

    doc_id: int
    start: int
    end: int
    text: str
    row: int  # row of its vector in the matrix passed alongside


@dataclass(frozen=True)
class Link:
    commitment: int  # index into the commitments given
    doc_id: int
    start: int
    end: int
    relation: str
    explicit: bool
    score: float


def region_of(issuer: str | None, title: str | None) -> str | None:
    """The region a document speaks for: 全国 for the State Council and national bodies, else
    the province or municipality its issuer (or, without one, its title) names."""
    for text in (issuer or "", title or ""):
        if NATIONAL.search(text):
            return "全国"
        if match := REGION.match(text):
            return match.group(1)
    return None


def is_later(follow: DocumentFacts, promise: DocumentFacts) -> bool:
    """A later year (within ``MAX_YEARS_AFTER``), or a later full date in the same year; copies
    of a document are not later."""
    if follow.title and follow.title == promise.title:
        return False
    if follow.year is None or promise.year is None:
        return False
    if follow.year != promise.year:
        return promise.year < follow.year <= promise.year + MAX_YEARS_AFTER
    return bool(follow.date and promise.date and len(follow.date) == len(promise.date) == 10) and (
        (follow.date or "") > (promise.date or "")
    )


def may_follow(follow: DocumentFacts, promise: DocumentFacts, cites: bool) -> bool:
    """Later, and from the same region (or citing the promise's document, whatever the region)."""
    if not is_later(follow, promise):
        return False
    return cites or (promise.region is not None and follow.region == promise.region)


class BigramRarity:
    """Inverse document frequency of Chinese character bigrams over a corpus's units, with each
    text's total weight kept (the linker weighs one promise against many units)."""

    def __init__(self, texts: list[str]) -> None:
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(_bigrams(text))
        self.weights = {gram: math.log(len(texts) / count) for gram, count in counts.items()}
        self._totals: dict[str, float] = {}

    def of(self, grams: frozenset[str]) -> float:
        return sum(self.weights.get(gram, 0.0) for gram in grams)

    def of_text(self, text: str) -> float:
        if text not in self._totals:
            self._totals[text] = self.of(_bigrams(text))
        return self._totals[text]


def shared_words(promise: str, follow: str, rarity: BigramRarity) -> float:
    """Weight of the Chinese character bigrams the two share, over the smaller of their weights
    (a short report of a long promise still counts); a bigram weighs its inverse document
    frequency among the corpus's units, so 全市 or 年底 count for little."""
    smaller = min(rarity.of_text(promise), rarity.of_text(follow))
    return rarity.of(_bigrams(promise) & _bigrams(follow)) / smaller if smaller else 0.0


@lru_cache(maxsize=TEXT_CACHE)
def _bigrams(text: str) -> frozenset[str]:
    return frozenset(
        {text[i : i + 2] for i in range(len(text) - 1) if _CJK.match(text[i]) and _CJK.match(text[i + 1])}
    )


def same_figure_subject(promise: str, follow: str, rarity: BigramRarity) -> bool:
    """Both state one figure (``2.8%``) of the same subject: a bigram from the few characters
    before the figure in the promise stands before it in the follow-up too (赤字率 … 2.8%).
    A figure alone is not enough: 5.5% is the growth target of one year and the jobless
    rate of another."""
    theirs = _figure_subjects(follow)
    for figure, subject in _figure_subjects(promise).items():
        if figure in theirs and rarity.of(subject & theirs[figure]) >= SUBJECT_RARITY:
            return True
    return False


@lru_cache(maxsize=TEXT_CACHE)
def _figure_subjects(text: str) -> dict[str, frozenset[str]]:
    """Each figure of the text with the bigrams of the few characters before it."""
    subjects: dict[str, frozenset[str]] = {}
    for match in FIGURE.finditer(text):
        before = _bigrams(COMPARISON.sub("|", text[max(0, match.start() - SUBJECT_CHARS) : match.start()]))
        figure = _bare(match.group(1))
        subjects[figure] = subjects.get(figure, frozenset()) | before
    return subjects


def _bare(figure: str) -> str:
    """A figure without its qualifier, its per cent sign half-width: 2.8％左右 → 2.8%."""
    return re.sub(r"(?:左右|以上|以内|以下)$", "", figure).replace("％", "%")


def shared_names(promise: str, follow: str) -> bool:
    """Both name the same quoted measure or document (“统建统营”, 《实施方案》)."""
    return bool(_names(promise) & _names(follow))


@lru_cache(maxsize=TEXT_CACHE)
def _names(text: str) -> frozenset[str]:
    return frozenset(QUOTED.findall(text))


def relation_of(promise: str, follow: str, follow_year: int | None = None) -> str:
    """What a follow-up does to the promise: changes it, reports it done, reports progress, or
    states it again. A rate or share of the promise stated with another value is a revision; a
    follow-up that promises again (确保到2025年…) restates; issuing a document (印发《…》) completes
    only a promise to issue one, not the targets the document sets; a figure dated before the
    follow-up's own year (2022年…新建…26座, in a 2023 letter) reports progress."""
    finished = FINISHED.search(follow)
    if finished and ISSUED.fullmatch(finished.group(0)) and not ISSUANCE_PROMISE.search(promise):
        finished = None
    if finished and (PAST.search(follow) or not REVISED.search(follow)):
        return "done"
    if REVISED.search(follow):
        return "revised"
    if STILL_FUTURE.search(follow):
        return "restated"
    if PROGRESS.search(follow):
        return "progress"
    if _rate_changed(promise, follow):
        return "revised"
    if DONE.search(follow):
        return "done"
    if _outcome_reported(promise, follow) or _dated_figure(follow, follow_year):
        return "progress"
    return "restated"


def _dated_figure(text: str, year: int | None) -> bool:
    return bool(year and FIGURE.search(text) and _names_year_by(text, year - 1))


def _outcome_reported(promise: str, follow: str) -> bool:
    """The follow-up states a figure of the promise's subject with its own value (新增就业1100万人
    以上 → 新增就业1206万人): a report of how it went."""
    theirs = _figure_subjects(follow)
    for figure, subject in _figure_subjects(promise).items():
        unit = _unit(figure)
        if any(
            _unit(other) == unit and other != figure and subject & bigrams
            for other, bigrams in theirs.items()
        ):
            return True
    return False


def _rate_changed(promise: str, follow: str) -> bool:
    """A rate (每千瓦400元) or share (30%) of the promise appears in the follow-up with another value."""
    mine, theirs = _rates(promise), _rates(follow)
    return any(unit in theirs and theirs[unit] != value for unit, value in mine.items())


def _rates(text: str) -> dict[str, str]:
    return {match.group(1) + match.group(3): match.group(2) for match in RATE.finditer(text)}


def link_follow_ups(
    commitments: list[Span],
    units: list[Span],
    vectors: np.ndarray,
    documents: dict[int, DocumentFacts],
    cites: set[tuple[int, int]],
) -> list[Link]:
    """Follow-ups of every commitment among ``units`` (the corpus's sentence units), best first.

    ``vectors`` holds the unit and commitment vectors (normalized) at their ``row``; ``cites``
    holds (citing doc, cited doc) pairs. Candidates are the units nearest in meaning and the
    units stating one of the commitment's figures (a work report's review sentence that reports
    a target can be far from it in meaning).
    """
    if not commitments or not units:
        return []
    rarity = BigramRarity([u.text for u in units])
    by_figure: dict[str, list[int]] = {}
    for number, unit in enumerate(units):
        for figure in {_bare(f) for f in FIGURE.findall(unit.text)}:
            by_figure.setdefault(figure, []).append(number)
    doc_ids = sorted(documents)
    position = {doc_id: i for i, doc_id in enumerate(doc_ids)}
    unit_position = np.array([position[u.doc_id] for u in units])
    unit_matrix = vectors[[u.row for u in units]]
    related = document_similarity(unit_matrix, unit_position, len(doc_ids))
    allowed = {}
    for promise in {c.doc_id for c in commitments}:
        cited = np.array([(d, promise) in cites for d in doc_ids])
        later = np.array(
            [may_follow(documents[d], documents[promise], (d, promise) in cites) for d in doc_ids]
        )
        allowed[promise] = later & (cited | on_topic(related[position[promise]], position[promise]))
    links: list[Link] = []
    for first in range(0, len(commitments), BLOCK):
        block = commitments[first : first + BLOCK]
        scores = vectors[[c.row for c in block]] @ unit_matrix.T
        for offset, commitment in enumerate(block):
            eligible = allowed[commitment.doc_id][unit_position]
            if not eligible.any():
                continue
            row = np.where(eligible, scores[offset], -np.inf)
            count = min(CANDIDATES_PER_COMMITMENT, int(eligible.sum()))
            chosen = set(np.argpartition(-row, count - 1)[:count].tolist())
            for figure in {_bare(f) for f in FIGURE.findall(commitment.text)}:
                chosen.update(n for n in by_figure.get(figure, ())[:MAX_FIGURE_CANDIDATES] if eligible[n])
            candidates = [(units[n], float(row[n])) for n in sorted(chosen)]
            links += _weigh(first + offset, commitment, candidates, documents, cites, rarity)
    return links


@lru_cache(maxsize=TEXT_CACHE)
def deadline_year(text: str, year: int | None) -> int | None:
    return _deadline_year(text, year)


def on_topic(similarity: np.ndarray, own: int) -> np.ndarray:
    """Documents on a document's topic: similar enough, or among its ``TOPIC_NEIGHBOURS`` most
    similar (how similar a related pair looks depends on how varied the corpus is)."""
    others = np.delete(similarity, own)
    nearest = np.sort(others)[::-1][:TOPIC_NEIGHBOURS]
    floor = min(MIN_DOCUMENT_SIMILARITY, float(nearest[-1])) if len(nearest) else MIN_DOCUMENT_SIMILARITY
    return similarity >= floor


def document_similarity(unit_matrix: np.ndarray, unit_position: np.ndarray, documents: int) -> np.ndarray:
    """Cosine between documents' mean unit vectors, centred on the corpus mean: a letter on
    elderly care and a plan for charging piles share many words of the genre but little topic.

    Centring needs a corpus to estimate the genre from; below ``MIN_DOCUMENTS_FOR_TOPIC`` every
    pair counts as related.
    """
    if documents < MIN_DOCUMENTS_FOR_TOPIC:
        return np.ones((documents, documents), dtype=np.float32)
    sums = np.zeros((documents, unit_matrix.shape[1]), dtype=np.float64)
    np.add.at(sums, unit_position, unit_matrix)
    counts = np.bincount(unit_position, minlength=documents)[:, None]
    centroids = sums / np.maximum(counts, 1) - unit_matrix.mean(axis=0)
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    return (centroids @ centroids.T).astype(np.float32)


def _unit(figure: str) -> str:
    """What a figure counts: 1100万人 → 万人."""
    return re.sub(r"^[\d.]+", "", figure)


def _names_year_by(text: str, year: int) -> bool:
    return any(int(named) <= year for named in YEAR_MENTION.findall(text))


def _weigh(
    index: int,
    commitment: Span,
    candidates: list[tuple[Span, float]],
    documents: dict[int, DocumentFacts],
    cites: set[tuple[int, int]],
    rarity: BigramRarity,
) -> list[Link]:
    """The candidates that clear the threshold, one per distinct text and span, best first.

    A later promise for another year (``今年赤字率拟按3%安排`` in the next report) is a new
    promise, not news of this one, unless it says it changes this one (提前, 调整为 …).
    """
    due = deadline_year(commitment.text, documents[commitment.doc_id].year)
    weighed: list[tuple[float, Span, Link]] = []
    for unit, cosine in candidates:
        words = shared_words(commitment.text, unit.text, rarity)
        figure = same_figure_subject(commitment.text, unit.text, rarity)
        named = shared_names(commitment.text, unit.text)
        explicit = (unit.doc_id, commitment.doc_id) in cites
        score = cosine + WORD_WEIGHT * words
        score += EXPLICIT_BONUS * explicit + FIGURE_BONUS * figure + NAME_BONUS * named
        if (words < MIN_SHARED_WORDS and not figure and not named) or score < LINK_THRESHOLD:
            continue
        later_year = documents[unit.doc_id].year
        later_due = deadline_year(unit.text, later_year)
        if due is not None and later_due not in (None, due) and not REVISED.search(unit.text):
            continue
        if (
            due is not None
            and later_year is not None
            and later_year > due + 1
            and not _names_year_by(unit.text, due)
        ):
            continue  # two or more years after the deadline, naming none of its years: another year's review
        relation = relation_of(commitment.text, unit.text, later_year)
        link = Link(index, unit.doc_id, unit.start, unit.end, relation, explicit, round(score, 4))
        weighed.append((score, unit, link))
    weighed.sort(key=lambda item: -item[0])
    seen: set[str] = set()
    kept: list[Link] = []
    for _, unit, link in weighed:
        if unit.text not in seen and not any(_mostly_within(link, other) for other in kept):
            seen.add(unit.text)
            kept.append(link)
    return kept[:MAX_FOLLOW_UPS]


def _mostly_within(link: Link, other: Link) -> bool:
    """The two spans of one document overlap by more than half of the shorter (a sentence and
    the same sentence with the heading before it)."""
    if link.doc_id != other.doc_id:
        return False
    overlap = min(link.end, other.end) - max(link.start, other.start)
    return overlap * 2 > min(link.end - link.start, other.end - other.start)
