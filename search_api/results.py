"""Results and views as the API returns them: passages with highlight, citation and best sentence."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from dataclasses import fields as dataclass_fields

from indexer.chunking import leading_heading_chars
from indexer.index import Document, Passage
from search_api.citations import citation, highlight
from search_api.ranking import Candidate, Span

# what a document view lists of each of its passages
PASSAGE_OUTLINE = ("chunk_id", "start", "end", "section", "page", "is_commitment", "role")
# what a result says of its passage
RESULT_FIELDS = tuple(f.name for f in dataclass_fields(Passage) if f.name != "ordinal")


def passage_result(
    passage: Passage, candidate: Candidate, terms: list[str], sentence: Span | None = None
) -> dict:
    """A passage as a result; ``sentence`` is the document span of its sentence nearest the query."""
    fields = {name: getattr(passage, name) for name in RESULT_FIELDS}  # all plain values
    return {
        **fields,
        "highlight": highlight(passage.text, terms),
        "score": round(candidate.score, 6),
        "ranks": candidate.ranks,
        "citation": citation(fields),
        "best_sentence": None if sentence is None else sentence_view(passage, sentence),
    }


def sentence_view(passage: Passage, sentence: Span) -> dict:
    """The best sentence as a quote: an exact span of the passage, without a heading line over it."""
    start, end = sentence
    start += leading_heading_chars(passage.text[start - passage.start : end - passage.start])
    return {"start": start, "end": end, "text": passage.text[start - passage.start : end - passage.start]}


def superseded_view(later: tuple[int, int, int, int], passages: Mapping[int, Passage]) -> dict:
    """The later span replacing a passage's figure: its document, passage, exact text and citation."""
    doc_id, chunk_id, start, end = later
    passage = passages[chunk_id]
    text = passage.text[start - passage.start : end - passage.start]
    fields = {name: getattr(passage, name) for name in RESULT_FIELDS}
    return {"doc_id": doc_id, "chunk_id": chunk_id, "title": passage.title, "year": passage.year} | {
        "start": start,
        "end": end,
        "text": text,
        "citation": citation(fields),
    }


def document_view(document: Document, passages: list[Passage]) -> dict:
    """A whole document with the outline of its passages, in order."""
    view = asdict(document)
    ordered = sorted(passages, key=lambda p: p.ordinal)
    view["passages"] = [{key: getattr(p, key) for key in PASSAGE_OUTLINE} for p in ordered]
    return view
