"""Commitment tracking for a whole generation: commitments, their follow-ups, and citations.

Everything here is derived from what a generation already stores (document texts and metadata,
sentence units and their vectors), so it is computed afresh for every generation the writer
makes: a new letter becomes the follow-up of an old promise without touching the old document,
and changed rules take effect without re-embedding anything.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from indexer.chunking import MAX_HEADING_CHARS
from indexer.citations import Citation, CitedDocument, find_citations
from indexer.commitments import Commitment, find_commitments
from indexer.follow_ups import DocumentFacts, Link, Span, link_follow_ups, region_of
from indexer.supersession import Issuing, Supersession, find_supersessions

log = logging.getLogger(__name__)

# a unit found word for word in this many documents (of different titles) is boilerplate:
# a licence line, a closing formula, 感谢您对…的关心和支持
BOILERPLATE_DOCUMENTS = 3
TOPIC_WORDS = 3
# figures and list markers (一是, 第三条, （二）) say nothing of a topic
TOPIC_NOISE = re.compile(
    r"[\d.%％]+|[一二三四五六七八九十]+是|第[一二三四五六七八九十百]+条|[（(][一二三四五六七八九十\d]+[)）]"
)


@dataclass(frozen=True)
class StoredDocument:
    doc_id: int
    title: str | None
    issuer: str | None
    year: int | None
    date: str | None
    doc_number: str | None
    doc_type: str | None
    text: str


@dataclass(frozen=True)
class StoredUnit:
    """A sentence unit (or a passage of one unit) as stored: its document span and vector."""

    doc_id: int
    start: int
    end: int
    section: str
    chunk_id: int
    sentence_id: int | None
    vector: np.ndarray


@dataclass(frozen=True)
class TrackedCommitment:
    commitment: Commitment
    doc_id: int
    chunk_id: int
    sentence_id: int | None
    topic: str


@dataclass
class Tracking:
    commitments: list[TrackedCommitment] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)  # Link.commitment indexes ``commitments``
    citations: list[Citation] = field(default_factory=list)
    supersessions: list[Supersession] = field(default_factory=list)  # Span.row indexes ``unit_chunks``
    unit_chunks: list[int] = field(default_factory=list)  # the chunk of each unit the spans index


def track(documents: list[StoredDocument], units: list[StoredUnit]) -> Tracking:
    """Commitments of every document, the later units that follow each up, and who cites whom."""
    by_id = {d.doc_id: d for d in documents}
    cited = [CitedDocument(d.doc_id, d.title, d.doc_number) for d in documents]
    citations = [c for d in documents for c in find_citations(d.doc_id, d.text, cited)]
    kept = _without_boilerplate(_unique_units(units), by_id)
    # spans without the heading lines a short heading joined onto, with their vector's row
    spans = [
        Span(u.doc_id, *_trimmed(by_id[u.doc_id].text, u.start, u.end), row=n) for n, u in enumerate(kept)
    ]
    row_of = {(s.doc_id, s.start, s.end): s.row for s in spans}
    tracked: list[TrackedCommitment] = []
    promises: list[Span] = []
    for doc_id, doc_spans in _by_document(spans).items():
        document = by_id[doc_id]
        given = [(s.start, s.end, kept[s.row].section) for s in doc_spans]
        for commitment in find_commitments(document.text, given, document.year):
            row = row_of[(doc_id, *commitment.unit)]
            text = document.text[commitment.start : commitment.end]
            unit = kept[row]
            tracked.append(
                TrackedCommitment(commitment, doc_id, unit.chunk_id, unit.sentence_id, topic_of(text))
            )
            promises.append(Span(doc_id, commitment.start, commitment.end, text, row))
    facts = {
        d.doc_id: DocumentFacts(d.doc_id, d.year, d.date, region_of(d.issuer, d.title), d.title)
        for d in documents
    }
    vectors = np.stack([u.vector for u in kept]) if kept else np.zeros((0, 0), dtype=np.float32)
    cites = {(c.citing, c.cited) for c in citations}
    links = link_follow_ups(promises, spans, vectors, facts, cites)
    issuing = {d.doc_id: Issuing(facts[d.doc_id], d.issuer or "", d.doc_type) for d in documents}
    supersessions = find_supersessions(spans, vectors, issuing)
    log.info(
        "tracked",
        extra={
            "commitments": len(tracked),
            "follow_ups": len(links),
            "citations": len(citations),
            "supersessions": len(supersessions),
        },
    )
    return Tracking(tracked, links, citations, supersessions, [u.chunk_id for u in kept])


def _unique_units(units: list[StoredUnit]) -> list[StoredUnit]:
    """One unit per document span (neighbouring passages share a sentence), in document order."""
    unique: dict[tuple[int, int, int], StoredUnit] = {}
    for unit in units:
        unique.setdefault((unit.doc_id, unit.start, unit.end), unit)
    return [unique[key] for key in sorted(unique)]


def _without_boilerplate(units: list[StoredUnit], documents: dict[int, StoredDocument]) -> list[StoredUnit]:
    """Units whose text is not found word for word in several documents of different titles."""
    titles: dict[str, set[str | None]] = {}
    for unit in units:
        titles.setdefault(_text(unit, documents), set()).add(documents[unit.doc_id].title)
    return [u for u in units if len(titles[_text(u, documents)]) < BOILERPLATE_DOCUMENTS]


def _text(unit: StoredUnit, documents: dict[int, StoredDocument]) -> str:
    return documents[unit.doc_id].text[unit.start : unit.end]


def _by_document(spans: list[Span]) -> dict[int, list[Span]]:
    grouped: dict[int, list[Span]] = {}
    for span in spans:
        grouped.setdefault(span.doc_id, []).append(span)
    return grouped


def _trimmed(text: str, start: int, end: int) -> tuple[int, int, str]:
    """A unit's span and text without leading heading lines (``三、下一步工作``), which a short
    heading sentence joined onto; a unit that is nothing but such lines stays whole."""
    while (newline := text.find("\n", start, end)) != -1:
        line = text[start:newline].strip()
        rest = newline + 1
        while rest < end and text[rest].isspace():
            rest += 1
        if rest >= end or len(line) > MAX_HEADING_CHARS or line.endswith(("。", "；", "！", "？")):
            break
        start = rest
    return start, end, text[start:end]


@lru_cache(maxsize=1)
def _keywords():
    import jieba.analyse

    return jieba.analyse


def topic_of(text: str) -> str:
    """A short topic key: the commitment's most telling words by jieba's TF-IDF, in text order."""
    plain = TOPIC_NOISE.sub(" ", text)
    words = _keywords().extract_tags(plain, topK=TOPIC_WORDS)
    return " ".join(sorted(words, key=text.find))
