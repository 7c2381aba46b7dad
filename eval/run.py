"""Evaluation runs: every query set × every mode (ours and the baselines), tables and reports.

Our modes go through ``Searcher.search`` in process, or through a running service with ``--url``,
so the numbers describe what users get. Results are grouped per query file, per mode and per
``kind``; queries whose gold cannot be located are data errors, listed, and not scored.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval.metrics import summarize
from eval.queries import DocumentIndex, Query, QuerySet, load_query_set, matches
from search_api.request import MODES

if TYPE_CHECKING:
    from indexer.model.encoder import Encoder

BASELINES = ("baseline-bm25", "baseline-naive-dense")
ALL_MODES = (*MODES, *BASELINES)
DEPTH = 10


@dataclass
class EvalResult:
    runs: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    ranking: dict | None = None  # the searcher's RankingConfig, so a run says what it measured

    def to_dict(self) -> dict:
        return {"ranking": self.ranking, "runs": self.runs, "errors": self.errors, "failures": self.failures}


class LocalBackend:
    """Searches in process with the same Searcher the service uses."""

    def __init__(self, index_dir: Path) -> None:
        from search_api.retrieval import Searcher

        self.searcher = Searcher(index_dir)
        store = self.searcher.store
        self.documents = [asdict(document) for document in store.all_documents()]
        self.fingerprint = store.manifest.corpus_fingerprint
        self.encoder = self.searcher.encoder
        self.ranking = self.searcher.config.to_dict()

    def search(self, query: str, mode: str, k: int) -> list[dict]:
        from search_api.request import SearchRequest

        return self.searcher.search(SearchRequest(query=query, k=k, mode=mode))["results"]


class HttpBackend:
    """Searches a running service; documents are read through its API to locate gold quotes."""

    def __init__(self, url: str, api_key: str | None = None) -> None:
        import httpx

        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.client = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=60)
        listing = self.client.get("/documents").raise_for_status().json()
        self.documents = [
            self.client.get(f"/documents/{d['doc_id']}").raise_for_status().json() for d in listing
        ]
        stats = self.client.get("/stats").raise_for_status().json()
        self.fingerprint = stats.get("corpus_fingerprint", "")
        self.ranking = stats.get("ranking")
        self._model = stats["model"]
        self._encoder: Encoder | None = None

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            from indexer.model.encoder import Encoder
            from indexer.model.specs import ModelSpec

            self._encoder = Encoder(ModelSpec.from_dict(self._model), progress=False)
        return self._encoder

    def search(self, query: str, mode: str, k: int) -> list[dict]:
        response = self.client.post("/search", json={"q": query, "k": k, "mode": mode})
        return response.raise_for_status().json()["results"]


def _baseline(name: str, backend, progress: bool):
    from eval.baselines import BM25Baseline, NaiveDenseBaseline

    if name == "baseline-bm25":
        return BM25Baseline(backend.documents)
    return NaiveDenseBaseline(backend.documents, backend.encoder, backend.fingerprint, progress)


def _score_query(query: Query, results: list[dict]) -> list[set[int]]:
    return [{i for i, gold in enumerate(query.gold) if matches(passage, gold)} for passage in results[:DEPTH]]


def evaluate(
    query_files: list[Path], backend, modes: list[str], ks: list[int], progress: bool = False
) -> EvalResult:
    result = EvalResult(ranking=backend.ranking)
    documents = DocumentIndex(backend.documents)
    sets: list[QuerySet] = []
    for path in query_files:
        query_set = load_query_set(path, documents)
        sets.append(query_set)
        result.errors += query_set.errors
    searchers = {}
    for mode in modes:
        if mode in MODES:
            searchers[mode] = lambda q, mode=mode: backend.search(q, mode, DEPTH)
        else:
            baseline = _baseline(mode, backend, progress)
            searchers[mode] = lambda q, b=baseline: b.search(q, DEPTH)
    for query_set in sets:
        for mode, search in searchers.items():
            scored: list[dict[str, Any]] = []
            for query in query_set.queries:
                started = time.perf_counter()
                results = search(query.text)
                latency = (time.perf_counter() - started) * 1000
                hits = _score_query(query, results)
                scored.append(
                    {"query": query, "hits": hits, "n_gold": len(query.gold), "latency_ms": latency}
                )
                if not any(hits):
                    result.failures.append(_failure(query_set.name, mode, query, results))
            run = {"queries": query_set.name, "mode": mode, **summarize(scored, ks)}
            kinds = sorted({s["query"].kind for s in scored})
            run["by_kind"] = {
                kind: summarize([s for s in scored if s["query"].kind == kind], ks) for kind in kinds
            }
            result.runs.append(run)
    return result


def _failure(set_name: str, mode: str, query: Query, results: list[dict]) -> dict:
    return {
        "queries": set_name,
        "mode": mode,
        "id": query.id,
        "kind": query.kind,
        "query": query.text,
        "gold": [
            {"doc": g.doc_name, "quote": g.quote} if g.chunk_id is None else {"chunk_id": g.chunk_id}
            for g in query.gold
        ],
        "top3": [
            {
                "doc_id": r.get("doc_id"),
                "title": r.get("title"),
                "section": r.get("section"),
                "text": r.get("text", "")[:160],
            }
            for r in results[:3]
        ],
    }


# --- presentation -----------------------------------------------------------------------------
def metric_columns(ks: list[int]) -> list[str]:
    return [f"recall@{k}" for k in ks] + ["mrr@10", "ndcg@10", "gold_share@10"]


def _fmt(value) -> str:
    return "—" if value is None else (f"{value:.3f}" if isinstance(value, float) else str(value))


def markdown_tables(result: EvalResult, ks: list[int]) -> str:
    columns = metric_columns(ks)
    lines: list[str] = []
    for set_name in dict.fromkeys(r["queries"] for r in result.runs):
        runs = [r for r in result.runs if r["queries"] == set_name]
        lines += [
            f"### {set_name} (n={runs[0]['n']})",
            "",
            "| mode | " + " | ".join(columns) + " | p50 ms | p95 ms |",
            "|---" * (len(columns) + 3) + "|",
        ]
        for run in runs:
            lines.append(
                f"| {run['mode']} | "
                + " | ".join(_fmt(run.get(c)) for c in columns)
                + f" | {run['latency_ms']['p50']} | {run['latency_ms']['p95']} |"
            )
        kinds = sorted({k for r in runs for k in r["by_kind"]})
        lines += [
            "",
            f"Recall@10 / MRR@10 by kind ({set_name})",
            "",
            "| kind | n | " + " | ".join(r["mode"] for r in runs) + " |",
            "|---" * (len(runs) + 2) + "|",
        ]
        for kind in kinds:
            cells = [
                f"{r['by_kind'][kind]['recall@10']:.2f} / {r['by_kind'][kind]['mrr@10']:.2f}"
                if kind in r["by_kind"]
                else "—"
                for r in runs
            ]
            lines.append(
                f"| {kind} | {runs[0]['by_kind'].get(kind, {}).get('n', 0)} | " + " | ".join(cells) + " |"
            )
        lines.append("")
    return "\n".join(lines)


def write_report(result: EvalResult, ks: list[int], directory: Path) -> None:
    """results.json, report.md (tables, data errors, failures) and recall.png."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.json").write_text(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
    failures = [
        f"- **{f['queries']} {f['id']}** ({f['kind']}, {f['mode']}): {f['query']}\n"
        + "".join(f"  - gold: {g.get('doc', g.get('chunk_id'))}: {g.get('quote', '')}\n" for g in f["gold"])
        + "".join(
            f"  - got #{i}: {t['title']} {t['section'] or ''}: {t['text'][:80]}\n"
            for i, t in enumerate(f["top3"], 1)
        )
        for f in result.failures
        if f["mode"] == "hybrid"
    ]
    ranking = f"Ranking: `{json.dumps(result.ranking, ensure_ascii=False)}`" if result.ranking else ""
    report = [
        "# Retrieval evaluation",
        "",
        markdown_tables(result, ks),
        ranking,
        "",
        "![Recall by mode](recall.png)",
        "",
        "## Data errors",
        "",
        *(f"- {e}" for e in result.errors or ["none"]),
        "",
        "## Hybrid misses (no gold passage in the top 10)",
        "",
        *(failures or ["none"]),
    ]
    (directory / "report.md").write_text("\n".join(report) + "\n")
    plot(result, ks, directory / "recall.png")


def plot(result: EvalResult, ks: list[int], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets = list(dict.fromkeys(r["queries"] for r in result.runs))
    fig, axes = plt.subplots(2, len(sets), figsize=(6.5 * len(sets), 8), squeeze=False)
    for column, set_name in enumerate(sets):
        runs = [r for r in result.runs if r["queries"] == set_name]
        ax = axes[0][column]
        for run in runs:
            ax.plot(ks, [run[f"recall@{k}"] for k in ks], marker="o", label=run["mode"])
        ax.set(title=f"{set_name}: Recall@k by mode", xlabel="k", ylabel="Recall", ylim=(0, 1.02), xticks=ks)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax = axes[1][column]
        kinds = sorted({k for r in runs for k in r["by_kind"]})
        width = 0.8 / max(len(runs), 1)
        for index, run in enumerate(runs):
            ax.bar(
                [i + index * width for i in range(len(kinds))],
                [run["by_kind"].get(k, {}).get("recall@10", 0) for k in kinds],
                width,
                label=run["mode"],
            )
        ax.set(title=f"{set_name}: Recall@10 by kind", ylim=(0, 1.05))
        ax.set_xticks([i + 0.4 - width / 2 for i in range(len(kinds))], kinds, rotation=20)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
