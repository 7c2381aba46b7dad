"""Evaluate commitment tracking against gold lines (``eval/data/commitment_links_dev.jsonl``).

Each line names a commitment by document and exact quote, its year, the gold follow-ups (quote,
relation, whether the later document cites the earlier one) and a staff query; ``"follow_ups": []``
says the corpus holds no follow-up. Scored, on the index through the service's own code:

* coverage: the gold quote is overlapped by at least half by a stored commitment;
* follow-up recall@3 / @5 (covered lines): a gold follow-up is among the commitment's first k
  follow-ups by link score, overlapping the quote by half. Copies of a document (a .txt and its
  .pdf) count as the same document: the quote is looked for in the linked document itself;
* no-follow-up precision: the share of ``follow_ups: []`` lines returned with none;
* query recall@5: the gold commitment is among the first 5 of ``/commitments?q=``;
* per relation: recall@5 of the gold follow-ups of that relation, and how often a found one is
  given the gold relation.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from eval.queries import DocumentIndex
from indexer.index.records import CommitmentRecord
from indexer.model.machine import describe
from indexer.normalize import canonical_text
from search_api.commitments import CommitmentRequest, list_commitments
from search_api.retrieval import Searcher

CUTOFFS = (3, 5)
QUERY_CUTOFF = 5


@dataclass
class LineResult:
    id: str
    covered: bool
    follow_up_ranks: list[tuple[str, int | None, str | None]] = field(
        default_factory=list
    )  # gold relation, rank, given
    returned_follow_ups: int = 0
    expects_none: bool = False
    query_rank: int | None = None
    error: str | None = None


def _overlaps_half(start: int, end: int, text: str, quote: str) -> bool:
    """Whether ``text[start:end]`` overlaps an occurrence of ``quote`` in ``text`` by half its length."""
    needle = canonical_text(quote)
    at = text.find(needle)
    while at >= 0:
        if min(end, at + len(needle)) - max(start, at) >= len(needle) / 2:
            return True
        at = text.find(needle, at + 1)
    return False


def evaluate_commitments(paths: list[Path], searcher: Searcher) -> dict:
    """Score every line of every file; returns the summary and the per-line results."""
    store = searcher.store
    documents = DocumentIndex([vars(d) for d in store.all_documents()])
    texts = {d["doc_id"]: d["text"] for d in documents.by_name.values()}
    lines: list[LineResult] = []
    for path in paths:
        for number, raw in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
            if raw.strip():
                lines.append(
                    _score_line(json.loads(raw), f"{path.name}:{number}", searcher, documents, texts)
                )
    return {"summary": summarize(lines), "lines": [vars(line) for line in lines]}


def _text_of(searcher: Searcher, texts: dict[int, str], doc_id: int) -> str:
    if doc_id not in texts:
        document = searcher.store.document(doc_id)
        texts[doc_id] = document.text if document else ""
    return texts[doc_id]


def _score_line(
    gold: dict, where: str, searcher: Searcher, documents: DocumentIndex, texts: dict[int, str]
) -> LineResult:
    store = searcher.store
    result = LineResult(str(gold.get("id", where)), covered=False, expects_none=not gold["follow_ups"])
    span, error = documents.locate(gold["commitment"]["doc"], gold["commitment"]["quote"])
    if span is None:
        result.error = f"{where}: {error}"
        return result
    records = store.commitments(store.filter_commitments(doc_id=span.doc_id))
    overlap = {r.commitment_id: min(r.end, span.end) - max(r.start, span.start) for r in records}
    covering = [r for r in records if overlap[r.commitment_id] * 2 >= span.end - span.start]
    if covering:
        result.covered = True
        record = max(covering, key=lambda r: overlap[r.commitment_id])
        result.follow_up_ranks = _follow_up_ranks(record, gold["follow_ups"], searcher, texts)
        result.returned_follow_ups = len(record.follow_ups)
    found = list_commitments(searcher, CommitmentRequest(q=gold["query"], k=QUERY_CUTOFF))["commitments"]
    for rank, view in enumerate(found):
        if _overlaps_half(
            view["start"], view["end"], _text_of(searcher, texts, view["doc_id"]), gold["commitment"]["quote"]
        ):
            result.query_rank = rank
            break
    return result


def _follow_up_ranks(
    record: CommitmentRecord, gold_follow_ups: list[dict], searcher: Searcher, texts: dict[int, str]
) -> list[tuple[str, int | None, str | None]]:
    by_score = sorted(record.follow_ups, key=lambda f: -f.score)
    ranks = []
    for gold in gold_follow_ups:
        rank = next(
            (
                n
                for n, follow in enumerate(by_score)
                if _overlaps_half(
                    follow.start, follow.end, _text_of(searcher, texts, follow.doc_id), gold["quote"]
                )
            ),
            None,
        )
        ranks.append((gold["relation"], rank, by_score[rank].relation if rank is not None else None))
    return ranks


def summarize(lines: list[LineResult]) -> dict:
    scored = [line for line in lines if line.error is None]
    covered = [line for line in scored if line.covered]
    golds = [rank for line in covered for rank in line.follow_up_ranks]
    none_lines = [line for line in covered if line.expects_none]
    summary: dict = {
        "lines": len(scored),
        "data_errors": [line.error for line in lines if line.error],
        "coverage": _share(len(covered), len(scored)),
        "gold_follow_ups": len(golds),
        "no_follow_up_lines": len(none_lines),
        "no_follow_up_precision": _share(
            sum(line.returned_follow_ups == 0 for line in none_lines), len(none_lines)
        ),
        f"query_recall@{QUERY_CUTOFF}": _share(
            sum(line.query_rank is not None for line in scored), len(scored)
        ),
    }
    for k in CUTOFFS:
        summary[f"follow_up_recall@{k}"] = _share(
            sum(r is not None and r < k for _, r, _ in golds), len(golds)
        )
    per_relation: dict[str, list[tuple[int | None, str | None]]] = defaultdict(list)
    for relation, rank, given in golds:
        per_relation[relation].append((rank, given))
    summary["per_relation"] = {
        relation: {
            "gold": len(items),
            f"recall@{CUTOFFS[-1]}": _share(
                sum(r is not None and r < CUTOFFS[-1] for r, _ in items), len(items)
            ),
            "relation_agreement": _share(
                sum(given == relation for r, given in items if r is not None),
                sum(r is not None for r, _ in items),
            ),
        }
        for relation, items in sorted(per_relation.items())
    }
    return summary


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def markdown(summary: dict) -> str:
    """The summary as Markdown tables: the headline figures, then one row per relation."""
    keys = [
        "coverage",
        "follow_up_recall@3",
        "follow_up_recall@5",
        "no_follow_up_precision",
        f"query_recall@{QUERY_CUTOFF}",
    ]
    rows = [
        f"Machine: {describe()}.",
        "",
        f"lines: {summary['lines']}, gold follow-ups: {summary['gold_follow_ups']}, "
        f"lines with no follow-up: {summary['no_follow_up_lines']}",
        "",
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
        "| " + " | ".join(_cell(summary[k]) for k in keys) + " |",
        "",
        "| relation | gold | recall@5 | relation agreement |",
        "|---|---|---|---|",
    ]
    for relation, figures in summary["per_relation"].items():
        cells = [str(figures["gold"]), _cell(figures["recall@5"]), _cell(figures["relation_agreement"])]
        rows.append(f"| {relation} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"
