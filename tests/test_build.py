"""Incremental, crash-safe indexing with the real model, FAISS and SQLite."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from indexer.build import build_index
from indexer.index import (
    CURRENT,
    FORMAT_VERSION,
    IndexReader,
    IndexStoreError,
    live_generation,
    vectors,
    writer_lock,
)
from search_api.ranking import RankingConfig
from search_api.request import SearchRequest
from search_api.retrieval import Searcher
from tests.conftest import FORMATS, ROOT, CountingEncoder


def _run(paths, index_dir, spec, encoder, **kwargs):
    counting = CountingEncoder(encoder)
    summary = build_index(paths, index_dir, spec, lambda: counting, progress=False, **kwargs)
    return summary, counting.embedded


def test_incremental_runs(tmp_path, small_corpus, spec, encoder):
    index_dir = tmp_path / "index"
    first, embedded = _run([small_corpus], index_dir, spec, encoder)
    assert (first.added, first.updated, first.removed) == (3, 0, 0)
    assert first.embedded_chunks == first.chunks > 0 and first.embedded_sentences > first.chunks
    assert embedded == first.chunks + first.embedded_sentences
    sentences_before = _sentence_rows(IndexReader.open(index_dir))

    again, embedded = _run([small_corpus], index_dir, spec, encoder)
    assert (again.added, again.updated, again.unchanged, embedded) == (0, 0, 3, 0)
    assert _sentence_rows(IndexReader.open(index_dir)) == sentences_before  # copied with their vectors

    changed = small_corpus / "reply-2022-0017-elderly-meal.txt"
    changed.write_text(changed.read_text(encoding="utf-8") + "\n五是新增一条工作安排。", encoding="utf-8")
    before = IndexReader.open(index_dir)
    doc_id = next(d.doc_id for d in before.all_documents() if d.source == changed.name)
    chunks_of_changed = len(chunk_ids := before.document_passages(doc_id))
    update, embedded = _run([small_corpus], index_dir, spec, encoder)
    assert (update.added, update.updated, update.unchanged) == (0, 1, 2)
    assert update.embedded_chunks == update.chunks - (first.chunks - chunks_of_changed)
    assert embedded == update.embedded_chunks + update.embedded_sentences
    after = IndexReader.open(index_dir)
    untouched = [d for d in after.all_documents() if d.source != changed.name]
    assert all(d.doc_id in {x.doc_id for x in before.all_documents()} for d in untouched)
    assert doc_id in {d.doc_id for d in after.all_documents()}  # an updated document keeps its id
    # each old passage either kept its id (same span) or is recorded as replaced
    kept = set(after.passages(chunk_ids))
    assert kept and all(i in kept or after.retired_passage(i)[0] == doc_id for i in chunk_ids)

    (small_corpus / "reply-2024-0031-elevator-retrofit.txt").unlink()
    removal, embedded = _run([small_corpus], index_dir, spec, encoder)
    assert (removal.removed, removal.unchanged, embedded) == (1, 2, 0)
    assert len(IndexReader.open(index_dir).all_documents()) == 2

    forced, embedded = _run([small_corpus], index_dir, spec, encoder, rebuild=True)
    assert forced.added == 2 and embedded == forced.chunks + forced.embedded_sentences


def _db(reader: IndexReader) -> sqlite3.Connection:
    """The generation's SQLite file, opened read-only to check what the writer stored."""
    db = sqlite3.connect(f"file:{reader.generation / 'index.sqlite'}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    return db


def _sentence_rows(reader: IndexReader) -> list[tuple]:
    """Every sentence unit's row with its stored vector's bytes."""
    rows = [tuple(r) for r in _db(reader).execute("SELECT * FROM sentences ORDER BY sentence_id")]
    vectors = reader.stored_vectors["sentences"].vectors([r[0] for r in rows])
    return [(*row, vector.tobytes()) for row, vector in zip(rows, vectors, strict=True)]


def test_sentence_units_are_stored_within_their_passages(replies_index, encoder):
    reader = IndexReader.open(replies_index)
    texts = {d.doc_id: d.text for d in reader.all_documents()}
    rows = (
        _db(reader)
        .execute(
            "SELECT s.sentence_id, s.start, s.end, c.chunk_id, c.start AS c_start, c.end AS c_end, c.doc_id"
            " FROM sentences s JOIN chunks c USING (chunk_id) ORDER BY s.sentence_id"
        )
        .fetchall()
    )
    assert (
        len(rows)
        == len(reader.stored_vectors["sentences"])
        == reader.manifest.sentences
        == reader.stats()["sentences"]
        > len(reader.stored_vectors["passages"])
    )
    assert all(r["c_start"] <= r["start"] < r["end"] <= r["c_end"] for r in rows)
    # a stored vector is the embedding of exactly that slice of the document
    sample = rows[:: max(1, len(rows) // 5)]
    stored = reader.stored_vectors["sentences"].vectors([r["sentence_id"] for r in sample])
    fresh = encoder.encode_passages([texts[r["doc_id"]][r["start"] : r["end"]] for r in sample])
    assert np.allclose((stored * fresh).sum(axis=1), 1.0, atol=1e-3)


def test_kinds_over_the_exact_limit_are_searched_through_codes_tuned_by_query_vectors(
    tmp_path, small_corpus, spec, encoder, monkeypatch
):
    monkeypatch.setattr(vectors, "EXACT_SEARCH_LIMIT", 20)  # the small corpus stands in for a large one
    index_dir = tmp_path / "index"
    _run([small_corpus], index_dir, spec, encoder)
    reader = IndexReader.open(index_dir)
    for kind in vectors.KINDS:
        described = reader.manifest.vectors[kind]
        assert (
            described["type"] == "ivf-sq8" and described["vectors"] == len(reader.stored_vectors[kind]) > 20
        )
        assert described["recall_queries"] > 0
        assert described["recall"] >= vectors.TARGET_RECALL or described["probes"] == described["lists"]
        assert (reader.generation / f"{kind}.codes.faiss").exists()
    assert "vector" not in {row[1] for row in _db(reader).execute("PRAGMA table_info(chunks)")}
    # a sentence asked as a query finds its own passage first, scored exactly
    chunk_id, start, end = (
        _db(reader).execute("SELECT chunk_id, start, end FROM sentences LIMIT 1 OFFSET 7").fetchone()
    )
    passage = reader.passages([chunk_id])[chunk_id]
    query = passage.text[start - passage.start : end - passage.start]
    vector = encoder.encode_query(query)
    found = reader.nearest_passages(vector, 10, None)
    exact = reader.stored_vectors["passages"].exact(vector, 10, None)
    assert [i for i, _ in found] == [i for i, _ in exact]
    assert [score for _, score in found] == pytest.approx([score for _, score in exact], abs=1e-6)
    top = Searcher(index_dir, encoder).search(SearchRequest(query=query, k=3, mode="dense"))["results"]
    assert chunk_id in {r["chunk_id"] for r in top}


def test_dense_score_blends_the_passage_and_its_best_sentence(replies_index, encoder):
    reader = IndexReader.open(replies_index)
    chunk_id, start, end = (
        _db(reader)
        .execute(
            "SELECT chunk_id, start, end FROM sentences WHERE chunk_id IN"
            " (SELECT chunk_id FROM sentences GROUP BY chunk_id HAVING count(*) >= 3) ORDER BY sentence_id LIMIT 1 OFFSET 1"
        )
        .fetchone()
    )
    passage = reader.passages([chunk_id])[chunk_id]
    doc_text = reader.document(passage.doc_id).text
    units = [
        doc_text[a:b]
        for a, b in _db(reader).execute("SELECT start, end FROM sentences WHERE chunk_id = ?", [chunk_id])
    ]
    query = encoder.encode_query(doc_text[start:end])
    own = float(reader.stored_vectors["passages"].vectors([chunk_id])[0] @ query)
    best = float(max(encoder.encode_passages(units) @ query))
    share = RankingConfig().sentence_share
    expected = (1 - share) * own + share * best
    searcher = Searcher(replies_index, encoder)
    assert searcher._dense_scores(reader, query, [chunk_id]).scores[chunk_id] == pytest.approx(
        expected, abs=2e-3
    )
    # asked with one of its sentences, the passage comes first, found through that sentence
    assert searcher._dense(reader, query, None).top(5)[0][0] == chunk_id


def test_index_of_an_older_format_is_rebuilt(tmp_path, small_corpus, spec, encoder):
    index_dir = tmp_path / "index"
    _run([small_corpus], index_dir, spec, encoder)
    manifest = live_generation(index_dir) / "manifest.json"
    manifest.write_text(
        manifest.read_text(encoding="utf-8").replace(
            f'"format_version": {FORMAT_VERSION}', '"format_version": 1'
        ),
        encoding="utf-8",
    )
    with pytest.raises(IndexStoreError, match="format version 1"):
        IndexReader.open(index_dir)
    summary, embedded = _run([small_corpus], index_dir, spec, encoder)
    assert summary.added == 3 and embedded == summary.chunks + summary.embedded_sentences
    assert IndexReader.open(index_dir).manifest.format_version == FORMAT_VERSION


def test_index_contents_and_pdf_docx(tmp_path, spec, encoder):
    index_dir = tmp_path / "index"
    summary, _ = _run([FORMATS], index_dir, spec, encoder)
    reasons = {Path(s["path"]).name: s["reason"] for s in summary.skipped}
    assert set(reasons) == {
        "scanned-no-text-layer.pdf",
        "encrypted-password-secret.pdf",
        "truncated-corrupt.pdf",
    }
    assert "no text layer" in reasons["scanned-no-text-layer.pdf"]
    reader = IndexReader.open(index_dir)
    assert len(reader.stored_vectors["passages"]) == reader.stats()["chunks"] == summary.chunks
    docs = {d.source: d for d in reader.all_documents()}
    pdf = docs["reply-2024-0108-elderly-care.pdf"]
    passages = reader.passages(reader.document_passages(pdf.doc_id))
    assert {p.page for p in passages.values()} >= {1, 2}
    for passage in passages.values():
        assert passage.text == pdf.text[passage.start : passage.end]
    from search_api.citations import citation

    second_page = next(p for p in passages.values() if p.page == 2)
    assert citation(asdict(second_page)).endswith(("第2页", "第2—3页")) and citation(
        asdict(second_page)
    ).startswith("《关于市政协十五届二次会议第0108号提案的答复")
    docx = docs["reply-2024-0108-elderly-care.docx"]
    sections = {p.section for p in reader.passages(reader.document_passages(docx.doc_id)).values()}
    assert any(s.startswith("一、") for s in sections)
    assert docx.title == "关于市政协十五届二次会议第0108号提案的答复"


def test_another_model_is_refused(tmp_path, small_corpus, spec, encoder):
    from indexer.model.specs import resolve_spec

    index_dir = tmp_path / "index"
    _run([small_corpus], index_dir, spec, encoder)
    other = resolve_spec("BAAI/bge-small-zh-v1.5")
    with pytest.raises(IndexStoreError, match=r"bge-small-zh-v1\.5.*--rebuild|--rebuild"):
        build_index([small_corpus], index_dir, other, lambda: encoder, progress=False)
    with pytest.raises(IndexStoreError, match="bundled:multilingual-e5-small"):
        IndexReader.open(index_dir).check_model(other.name)


def test_second_writer_is_refused(tmp_path):
    with (
        writer_lock(tmp_path),
        pytest.raises(IndexStoreError, match="another process"),
        writer_lock(tmp_path),
    ):
        pass


def test_killed_build_leaves_old_index(tmp_path, small_corpus, spec, encoder):
    """Kill a real `policy-search index` run while it embeds: the old index still answers."""
    index_dir = tmp_path / "index"
    _run([small_corpus], index_dir, spec, encoder)
    live_before = (index_dir / CURRENT).read_text()
    big = tmp_path / "big"
    shutil.copytree(ROOT / "corpus" / "replies", big)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "policy_search.cli",
            "index",
            str(big),
            str(small_corpus),
            "--index",
            str(index_dir),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 240
    while time.time() < deadline and not [p for p in index_dir.glob("gen-*") if p.name != live_before]:
        time.sleep(0.2)
    time.sleep(3)  # well into embedding 440 passages
    assert process.poll() is None, process.stdout.read().decode()
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (index_dir / CURRENT).read_text() == live_before
    from search_api.request import SearchRequest

    response = Searcher(index_dir, encoder).search(SearchRequest(query="天津在港上市企业有多少家", k=3))
    assert response["results"] and "20" in response["results"][0]["text"]
    # the next run cleans up and completes
    summary, _ = _run([small_corpus], index_dir, spec, encoder)
    assert summary.unchanged == 3 and live_generation(index_dir).name == live_before
    assert [p.name for p in index_dir.glob("gen-*")] == [live_before]


def test_cli_json_summary(tmp_path, small_corpus):
    (small_corpus / "broken.pdf").write_bytes(b"%PDF-1.4 broken")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "policy_search.cli",
            "index",
            str(small_corpus),
            "--index",
            str(tmp_path / "ix"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["added"] == 3 and summary["chunks"] > 0 and summary["seconds"] > 0
    assert summary["embedded_sentences"] > summary["embedded_chunks"] == summary["chunks"]
    assert set(summary["timings"]) == {"parse", "chunk", "embed", "write", "track"}
    assert summary["commitments"] >= 0 and summary["follow_ups"] >= 0
    assert summary["skipped"][0]["path"].endswith("broken.pdf") and summary["skipped"][0]["reason"]


def test_a_running_build_writes_its_progress_where_the_service_reads_it(
    tmp_path, small_corpus, spec, encoder
):
    from indexer.index.build_status import read_build_status

    index_dir = tmp_path / "index"
    seen: list[dict] = []

    class WatchedEncoder(CountingEncoder):
        def encode_passages(self, texts, on_step=None, **kwargs):
            def step(done, total):
                on_step(done, total)
                seen.append(read_build_status(index_dir))

            return super().encode_passages(texts, on_step=step, **kwargs)

    build_index(
        [small_corpus], index_dir, spec, lambda: WatchedEncoder(encoder), progress=False, batch_size=16
    )
    assert len(seen) > 1 and all(s["state"] == "running" and s["documents_new"] == 3 for s in seen)
    assert seen[-1]["phase"] == "embedding" and seen[-1]["done"] == seen[-1]["total"] > 16
    assert read_build_status(index_dir) is None
