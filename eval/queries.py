"""Query-set formats and how gold evidence is located in the indexed documents.

Two shapes are read:

* the project's JSON Lines format (``eval/data/README.md``): ``{"id", "query", "kind",
  "relevant": [{"doc", "quote"}]}``; gold is an exact quote, located in the document's canonical
  text after normalizing it with the indexer's own function, so any chunking can be scored;
* the sentence-transformers ``InformationRetrievalEvaluator`` shape, one JSON object with
  ``queries`` (id → text), ``corpus`` (id → text) and ``relevant_docs`` (query id → corpus ids),
  where corpus ids are the index's chunk ids.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from indexer.normalize import canonical_text


@dataclass
class GoldSpan:
    """A gold item: a span of one document, or one chunk id."""

    doc_id: int | None = None
    start: int = 0
    end: int = 0
    chunk_id: int | None = None
    quote: str = ""
    doc_name: str = ""


@dataclass
class Query:
    id: str
    text: str
    kind: str
    line: int
    gold: list[GoldSpan] = field(default_factory=list)


@dataclass
class QuerySet:
    name: str
    queries: list[Query]
    errors: list[str]


class DocumentIndex:
    """Gold ``doc`` names resolved to indexed documents: file name, or JSON Lines ``title``."""

    def __init__(self, documents: list[dict]) -> None:
        self.by_name: dict[str, dict] = {}
        for doc in documents:
            name = doc["title"] if doc["source"].endswith(".jsonl") else doc["source"]
            self.by_name.setdefault(name, doc)

    def locate(self, name: str, quote: str) -> tuple[GoldSpan | None, str | None]:
        doc = self.by_name.get(name)
        if doc is None:
            return None, f"document {name!r} is not in the index"
        needle = canonical_text(quote)
        start = doc["text"].find(needle)
        if start < 0:
            return None, f"quote {quote[:30]!r}… not found in {name!r}"
        return GoldSpan(doc["doc_id"], start, start + len(needle), quote=quote, doc_name=name), None


def load_query_set(path: Path, documents: DocumentIndex) -> QuerySet:
    """Read either format; lines whose gold cannot be located become data errors, not misses."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if (stripped.startswith("{") and '"relevant_docs"' in stripped[:2000]) or path.suffix == ".json":
        return _load_ir_evaluator_shape(path, json.loads(text))
    queries, errors = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            query = Query(str(record["id"]), record["query"], record.get("kind", "all"), number)
            relevant = record["relevant"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            errors.append(f"{path.name}:{number}: not a query object ({exc})")
            continue
        for item in relevant:
            gold, error = documents.locate(item.get("doc", ""), item.get("quote", ""))
            if gold is None:
                errors.append(f"{path.name}:{number} ({query.id}): {error}")
            else:
                query.gold.append(gold)
        if query.gold:
            queries.append(query)
    return QuerySet(path.stem, queries, errors)


def _load_ir_evaluator_shape(path: Path, data: dict) -> QuerySet:
    queries, errors = [], []
    relevant = data.get("relevant_docs", {})
    for number, (query_id, text) in enumerate(data.get("queries", {}).items(), 1):
        ids = relevant.get(query_id) or []
        gold = []
        for corpus_id in ids:
            try:
                gold.append(GoldSpan(chunk_id=int(corpus_id)))
            except (TypeError, ValueError):
                errors.append(f"{path.name}: query {query_id}: corpus id {corpus_id!r} is not a chunk id")
        if gold:
            queries.append(Query(str(query_id), text, "all", number, gold))
        else:
            errors.append(f"{path.name}: query {query_id} has no relevant chunk ids")
    return QuerySet(path.stem, queries, errors)


def matches(passage: dict, gold: GoldSpan) -> bool:
    """A passage is relevant when it is the gold chunk, or overlaps the gold quote by half its length."""
    if gold.chunk_id is not None:
        return passage.get("chunk_id") == gold.chunk_id
    if passage.get("doc_id") != gold.doc_id:
        return False
    overlap = min(passage["end"], gold.end) - max(passage["start"], gold.start)
    return overlap >= (gold.end - gold.start) / 2
