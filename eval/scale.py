"""The scale bench: the bundled index grown to N passages, written by the real writer and served by
the real reader, with each compact-code choice measured against exact search.

Growing copies every document of a built index with deterministic variations until N passages
are written: the copy's key, title and a word of its own in every passage's FTS5 row, and every
passage and sentence-unit vector moved by Gaussian noise (cosine about 0.93 to its source) and
made unit length again. Commitment tracking is left out (it derives from the texts, which repeat).
The generation is then opened in a child process, so that its resident memory is the service's:
the same ``Searcher`` the service runs answers the eval queries in each mode.

``python -m eval.scale INDEX`` is that child: it prints one JSON line of serving figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from eval.metrics import percentile
from indexer.chunking import Chunk
from indexer.index import FORMAT_VERSION, GenerationWriter, IndexReader, Manifest
from indexer.index.ids import stable_id
from indexer.index.layout import live_generation
from indexer.index.vectors import KINDS, VectorTable, build_codes, compact_recipe
from indexer.model.encoder import Encoder

NOISE = 0.02
CHUNK_FIELDS = ("ordinal", "start", "end", "section", "page", "end_page", "role")
# the compact choices measured beside the one the writer picks, by factory string
ALTERNATIVES = {"exact": None, "ivf-sq8": "SQ8", "ivf-sq4": "SQ4", "ivf-pq": "PQ{m}x8"}
# PQ is compared up to this size only: at 100k it missed a tenth of the exact top 10 with every
# list probed and took 111 s to train, and its training grows with the lists (4x at a million)
PQ_COMPARED_UP_TO = 100_000


def bench_scale(index_dir: Path, sizes: list[int], queries: list[str]) -> dict:
    """For each size: build time and disk of the grown generation, the service's memory and
    latency per mode on it, and every compact choice's recall@10 and latency on its vectors."""
    from search_api.retrieval import Searcher

    source = IndexReader.open(index_dir)
    encoder = Searcher(index_dir).encoder
    query_vectors = np.stack([encoder.encode_query(q) for q in queries])
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory(dir=index_dir.parent) as tmp:
            grown = Path(tmp) / "index"
            figures, probe_queries = grow(source, grown, size, encoder)
            row: dict[str, Any] = {"passages": size} | figures
            served = subprocess.run(
                [sys.executable, "-m", "eval.scale", str(grown)], capture_output=True, text=True, check=True
            )
            row["serving"] = json.loads(served.stdout.strip().splitlines()[-1])
            generation = live_generation(grown)
            assert generation is not None
            passages = VectorTable.open(generation, "passages", {})
            row["choices"] = compare_choices(passages, query_vectors, probe_queries, Path(tmp))
        rows.append(row)
    return {"scale": rows, "queries": len(queries)}


def grow(source: IndexReader, index_dir: Path, passages: int, encoder: Encoder) -> tuple[dict, np.ndarray]:
    """Write a generation of ``passages`` passages copied from ``source``; returns its build
    seconds (split into rows, vectors and the rest of the commit), vector counts and disk size, and
    the query vectors its compact codes were tuned with."""
    rng = np.random.default_rng(20261208)
    documents = source.all_documents()
    stored = {d.doc_id: source.stored_rows(d.doc_id) for d in documents}
    units_of: dict[int, list[dict]] = {}  # each passage's sentence-unit rows, in stored order
    for rows in stored.values():
        for unit in rows["sentences"]:
            units_of.setdefault(unit["chunk_id"], []).append(unit)
    writer = GenerationWriter(index_dir)
    doc_ids: set[int] = set()
    written = copy = 0
    started = time.perf_counter()
    while written < passages:
        for document in documents:
            rows = stored[document.doc_id]
            if written >= passages or not rows["chunks"]:
                continue
            key = f"{rows['documents'][0]['key']}#{copy}"
            doc_id = stable_id(("document", key), doc_ids)
            metadata = document.metadata | {"title": f"{document.title}（副本{copy}）"}
            writer.add_document(doc_id, key, document.source, key, document.text, metadata)
            chunks = rows["chunks"][: passages - written]
            own = _moved(source.stored_vectors["passages"].vectors([c["chunk_id"] for c in chunks]), rng)
            words = {w["rowid"]: w for w in rows["chunk_words"]}
            for chunk, vector in zip(chunks, own, strict=True):
                units = units_of.get(chunk["chunk_id"], [])
                unit_ids = [s["sentence_id"] for s in units]
                unit_vectors = _moved(source.stored_vectors["sentences"].vectors(unit_ids), rng)
                passage = Chunk(**{f: chunk[f] for f in CHUNK_FIELDS}, text="")
                passage.is_commitment = bool(chunk["is_commitment"])
                writer.add_chunk(
                    stable_id(("passage", key, chunk["start"], chunk["end"]), writer.chunk_ids),
                    doc_id,
                    passage,
                    vector,
                    f"{words[chunk['chunk_id']]['body']} 副本{copy}",
                    words[chunk["chunk_id"]]["context"],
                    [(s["start"], s["end"], v) for s, v in zip(units, unit_vectors, strict=True)],
                )
            written += len(chunks)
        copy += 1
    rows_done = time.perf_counter()
    probe_queries = np.stack([encoder.encode_query(text) for text in writer.probe_texts()])
    vectors = writer.finish_vectors(source.manifest.dimension, probe_queries)
    vectors_done = time.perf_counter()
    manifest = Manifest(
        format_version=FORMAT_VERSION,
        model=source.manifest.model,
        backend=source.manifest.backend,
        dimension=source.manifest.dimension,
        chunker=source.manifest.chunker,
        corpus_fingerprint=writer.corpus_fingerprint(),
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        documents=len(doc_ids),
        chunks=written,
        sentences=writer.count_sentences(),
        vectors=vectors,
    )
    writer.commit(manifest)
    finished = time.perf_counter()
    generation = live_generation(index_dir)
    assert generation is not None
    figures = {
        "documents": len(doc_ids),
        "sentence_units": manifest.sentences,
        "build_s": {
            "rows": round(rows_done - started, 1),
            "vectors": round(vectors_done - rows_done, 1),
            "postings_and_swap": round(finished - vectors_done, 1),
        },
        "vectors": vectors,
        "disk_mb": {f.name: round(f.stat().st_size / 2**20, 1) for f in sorted(generation.iterdir())},
    }
    return figures, probe_queries


def _moved(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    moved = vectors + rng.normal(0, NOISE, vectors.shape).astype(np.float32)
    return moved / np.linalg.norm(moved, axis=1, keepdims=True)


def compare_choices(
    table: VectorTable, query_vectors: np.ndarray, probe_queries: np.ndarray, workdir: Path
) -> dict:
    """Each compact choice over the same passage vectors: memory, build seconds, probes, recall@10
    against exact search for the build's probe queries (titles and headings) and for the eval
    queries, which the build never saw, and query latency."""
    exact = [{i for i, _ in table.exact(q, 10, None)} for q in query_vectors]
    choices: dict[str, dict] = {}
    dimension = table.matrix.shape[1]
    for name, codes in ALTERNATIVES.items():
        if name == "ivf-pq" and len(table) > PQ_COMPARED_UP_TO:
            continue
        candidate = VectorTable(table.ids, table.matrix, {"type": "exact"})
        figures: dict[str, Any] = {}
        if codes is not None:
            recipe = compact_recipe(len(table), dimension, force_codes=codes.format(m=dimension // 8))
            started = time.perf_counter()
            build_codes(candidate, recipe, workdir / f"{name}.faiss", probe_queries)
            figures["build_s"] = round(time.perf_counter() - started, 1)
            figures["memory_mb"] = round((workdir / f"{name}.faiss").stat().st_size / 2**20, 1)
            figures |= {k: candidate.description[k] for k in ("factory", "probes", "recall", "recall_depth")}
        else:
            figures["memory_mb"] = round(table.matrix.nbytes / 2**20, 1)
        times, found = [], []
        for q in query_vectors:
            clock = time.perf_counter()
            found.append({i for i, _ in candidate.nearest(q, 10, None)})
            times.append((time.perf_counter() - clock) * 1000)
        figures["queries_recall_at_10"] = round(
            float(np.mean([len(a & b) / 10 for a, b in zip(exact, found, strict=True)])), 4
        )
        figures |= {"p50_ms": round(percentile(times, 50), 2), "p95_ms": round(percentile(times, 95), 2)}
        choices[name] = figures
    return choices


def serving_figures(index_dir: Path) -> dict:
    """In this process: open the index as the service does, answer the eval queries in each
    mode, and report memory and the dense recall of the stored structures against exact search."""
    from eval.bench import _queries
    from search_api.request import MODES, SearchRequest
    from search_api.retrieval import Searcher

    searcher = Searcher(index_dir)
    opened_rss = _memory_mb()["rss_mb"]
    texts = _queries()
    searcher.search(SearchRequest(query=texts[0]))  # warm-up
    figures: dict[str, Any] = {"rss_after_open_mb": opened_rss}
    for mode in MODES:
        times = []
        for text in texts:
            clock = time.perf_counter()
            searcher.search(SearchRequest(query=text, k=10, mode=mode))
            times.append((time.perf_counter() - clock) * 1000)
        figures[mode] = {"p50_ms": round(percentile(times, 50), 1), "p95_ms": round(percentile(times, 95), 1)}
    # the service's memory after the queries, before the exact searches below read whole matrices:
    # resident in all, of it anonymous (the process's own) and file-backed (page cache of the
    # memory-mapped vector rows the queries touched, which the kernel can drop), and the peak
    figures |= _memory_mb()
    store = searcher.store
    assert isinstance(store, IndexReader)
    for kind in KINDS:
        table = store.stored_vectors[kind]
        overlaps = []
        for text in texts:
            vector = searcher.encoder.encode_query(text)
            exact = {i for i, _ in table.exact(vector, 10, None)}
            overlaps.append(len(exact & {i for i, _ in table.nearest(vector, 10, None)}) / 10)
        figures[f"{kind}_recall_at_10"] = round(float(np.mean(overlaps)), 4)
    return figures


def _memory_mb() -> dict[str, float]:
    """This process's memory from /proc: VmHWM is its own peak (``ru_maxrss`` of a child also
    counts the parent it was forked from)."""
    fields = {
        "VmRSS": "rss_mb",
        "RssAnon": "rss_anonymous_mb",
        "RssFile": "rss_file_mb",
        "VmHWM": "peak_rss_mb",
    }
    found = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in fields:
            found[fields[name]] = round(int(value.split()[0]) / 1024, 1)
    return found


if __name__ == "__main__":
    print(json.dumps(serving_figures(Path(sys.argv[1]))))
