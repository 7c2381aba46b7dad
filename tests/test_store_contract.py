"""The storage contract on both engines: the embedded store (FAISS + SQLite in the index directory)
and Milvus, through Milvus Lite. Real model, real SQLite, real FAISS, real Milvus Lite.

Each test runs once per engine; the engines must also give the same answers as each other.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from indexer.build import build_index
from indexer.index import IndexReader, IndexStoreError, PassageFilter, live_generation
from indexer.index.milvus import MilvusReader, client, milvus_filter, prefix
from search_api.app import create_app
from search_api.auth import ApiKeys
from search_api.request import SearchRequest
from search_api.retrieval import Searcher
from tests.conftest import CountingEncoder

ENGINES = ("embedded", "milvus-lite")
ELDERLY = "reply-2022-0017-elderly-meal.txt"
ELEVATOR = "reply-2024-0031-elevator-retrofit.txt"


@pytest.fixture(params=ENGINES)
def store(request, tmp_path) -> str:
    return "embedded" if request.param == "embedded" else f"milvus-lite:{tmp_path / 'milvus.db'}"


def _build(corpus, index_dir, spec, encoder, store) -> int:
    counting = CountingEncoder(encoder)
    build_index([corpus], index_dir, spec, lambda: counting, progress=False, store=store)
    return counting.embedded


def test_results_are_exact_spans_and_filters_hold(tmp_path, small_corpus, spec, encoder, store):
    index_dir = tmp_path / "index"
    _build(small_corpus, index_dir, spec, encoder, store)
    reader = IndexReader.open(index_dir)
    assert isinstance(reader, MilvusReader) == store.startswith("milvus")
    searcher = Searcher(index_dir, encoder)
    texts = {d.doc_id: d.text for d in reader.all_documents()}
    for mode in ("hybrid", "dense", "lexical"):
        results = searcher.search(SearchRequest(query="加装电梯补贴标准", mode=mode, k=5))["results"]
        assert results and results[0]["source"] == ELEVATOR
        for result in results:
            assert texts[result["doc_id"]][result["start"] : result["end"]] == result["text"]
            assert result["citation"]
    filters = {
        "year_from": (2024, lambda r: r["year"] >= 2024),
        "issuer": ("民政局", lambda r: "民政局" in r["issuer"]),
        "commitments_only": (True, lambda r: r["is_commitment"]),
    }
    for name, (value, holds) in filters.items():
        results = searcher.search(SearchRequest(query="补贴", k=10, **{name: value}))["results"]
        assert results and all(holds(r) for r in results), name
    assert searcher.stats()["chunks"] == len(reader.filter_chunks(PassageFilter(doc_type="reply")) or [])

    # the service over HTTP answers alike, and says where the vectors are
    http = TestClient(create_app(index_dir, searcher=searcher, api_keys=ApiKeys([])))
    answer = http.get("/search", params={"q": "加装电梯补贴标准", "k": 3, "year_from": 2024})
    assert answer.status_code == 200
    hits = answer.json()["results"]
    assert hits and all(texts[h["doc_id"]][h["start"] : h["end"]] == h["text"] for h in hits)
    assert http.get("/stats").json().get("store") == (None if store == "embedded" else reader.manifest.store)


def test_updates_and_deletions_carry_vectors_over(tmp_path, small_corpus, spec, encoder, store):
    index_dir = tmp_path / "index"
    _build(small_corpus, index_dir, spec, encoder, store)
    before = IndexReader.open(index_dir)
    kept = next(d.doc_id for d in before.all_documents() if d.source == "000_dcdf98dc2feff78d.txt")
    kept_chunks = before.document_passages(kept)
    kept_vectors = before.stored_vectors["passages"].vectors(kept_chunks)

    changed = small_corpus / ELDERLY
    changed.write_text(
        changed.read_text(encoding="utf-8") + "\n六是试点智慧助餐码头统一结算。", encoding="utf-8"
    )
    (small_corpus / ELEVATOR).unlink()
    embedded = _build(small_corpus, index_dir, spec, encoder, store)
    after = IndexReader.open(index_dir)
    changed_id = next(d.doc_id for d in after.all_documents() if d.source == ELDERLY)
    changed_chunks = after.document_passages(changed_id)
    assert embedded == sum(1 + len(after.sentence_spans(i)) for i in changed_chunks)  # that letter alone
    assert after.document_passages(kept) == kept_chunks
    assert (after.stored_vectors["passages"].vectors(kept_chunks) == kept_vectors).all()
    assert {d.source for d in after.all_documents()} == {"000_dcdf98dc2feff78d.txt", ELDERLY}

    searcher = Searcher(index_dir, encoder)
    for mode in ("lexical", "hybrid"):
        top = searcher.search(SearchRequest(query="智慧助餐码头统一结算", mode=mode, k=3))["results"][0]
        assert top["source"] == ELDERLY and "智慧助餐码头" in top["text"]
    sources = {r["source"] for r in searcher.search(SearchRequest(query="加装电梯补贴", k=10))["results"]}
    assert ELEVATOR not in sources
    assert len(after.filter_chunks(PassageFilter(year_from=2024)) or []) == 0  # the 2024 letter is gone


def test_a_build_swaps_whole_generations(tmp_path, small_corpus, spec, encoder, store):
    """A reader keeps its generation while a new one is written; a build that fails leaves the
    live one, and (Milvus) its aliases, as they were."""
    index_dir = tmp_path / "index"
    _build(small_corpus, index_dir, spec, encoder, store)
    first = IndexReader.open(index_dir)
    query = first.stored_vectors["passages"].vectors(
        first.document_passages(first.list_documents()[0].doc_id)[:1]
    )
    answer = first.nearest_passages(query[0], 5, None)

    class Failing(CountingEncoder):
        def encode_passages(self, texts, **kwargs):
            raise RuntimeError("the encoder failed half-way")

    (small_corpus / "new.txt").write_text(
        "关于推进社区食堂建设的通知\n\n一、各区要建设社区食堂。", encoding="utf-8"
    )
    with pytest.raises(RuntimeError):
        build_index([small_corpus], index_dir, spec, lambda: Failing(encoder), progress=False, store=store)
    assert live_generation(index_dir) == first.generation
    assert IndexReader.open(index_dir).nearest_passages(query[0], 5, None) == answer

    _build(small_corpus, index_dir, spec, encoder, store)
    second = IndexReader.open(index_dir)
    assert second.generation != first.generation and len(second.list_documents()) == 4
    assert first.nearest_passages(query[0], 5, None) == answer  # the old generation still answers
    if store.startswith("milvus"):
        milvus = client(store)
        own = prefix(index_dir)
        for kind in ("passages", "sentences"):
            assert (
                milvus.describe_alias(f"{own}_{kind}")["collection_name"]
                == second.manifest.vectors[kind]["collection"]
            )
        # the live generation's collections and those of the one before it, nothing of the failed build
        expected = {
            g.manifest.vectors[k]["collection"] for g in (first, second) for k in ("passages", "sentences")
        }
        assert {n for n in milvus.list_collections() if n.startswith(own)} == expected
        # a third generation prunes the first one, and its collections go with it
        (small_corpus / "new.txt").write_text(
            "关于推进社区食堂建设的通知\n\n二、社区食堂向老年人开放。", encoding="utf-8"
        )
        _build(small_corpus, index_dir, spec, encoder, store)
        third = IndexReader.open(index_dir)
        expected = {
            g.manifest.vectors[k]["collection"] for g in (second, third) for k in ("passages", "sentences")
        }
        assert {n for n in milvus.list_collections() if n.startswith(own)} == expected


def test_moving_between_engines_re_embeds_nothing(tmp_path, small_corpus, spec, encoder):
    index_dir = tmp_path / "index"
    _build(small_corpus, index_dir, spec, encoder, "embedded")
    embedded_reader = IndexReader.open(index_dir)
    lite = f"milvus-lite:{tmp_path / 'milvus.db'}"
    assert _build(small_corpus, index_dir, spec, encoder, lite) == 0
    milvus_reader = IndexReader.open(index_dir)
    assert isinstance(milvus_reader, MilvusReader)
    assert _build(small_corpus, index_dir, spec, encoder, None) == 0  # stays where it is
    assert isinstance(IndexReader.open(index_dir), MilvusReader)

    # the two engines answer alike: same filters, same nearest passages and units, same BM25 matches
    vector = encoder.encode_query("老年助餐服务补贴")
    for chosen in (
        PassageFilter(year_from=2024),
        PassageFilter(issuer=("民政",)),
        PassageFilter(commitments_only=True),
    ):
        assert sorted(milvus_reader.filter_chunks(chosen) or []) == sorted(
            embedded_reader.filter_chunks(chosen) or []
        )
        assert milvus_filter(chosen)
    nearest = [i for i, _ in embedded_reader.nearest_passages(vector, 10, None)]
    assert [i for i, _ in milvus_reader.nearest_passages(vector, 10, None)] == nearest
    for chosen in (PassageFilter(year_from=2024), PassageFilter(issuer=("民政",), commitments_only=True)):
        allowed = embedded_reader.filter_chunks(chosen)
        selected = milvus_reader.filter_chunks(chosen)  # searched by its expression, not by its ids
        assert embedded_reader.owners_of_nearest_sentences(vector, 20, allowed) == (
            milvus_reader.owners_of_nearest_sentences(vector, 20, selected)
        )
        assert [i for i, _ in embedded_reader.nearest_passages(vector, 5, allowed)] == [
            i for i, _ in milvus_reader.nearest_passages(vector, 5, selected)
        ]
    assert (
        milvus_reader.best_sentences(vector, nearest).keys()
        == embedded_reader.best_sentences(vector, nearest).keys()
    )
    words = ["老年", "助餐", "补贴"]
    assert (
        milvus_reader.lexical(words, (1.0, 0.5)).keys() == embedded_reader.lexical(words, (1.0, 0.5)).keys()
    )

    with pytest.raises(IndexStoreError, match=r"\.db"):
        build_index(
            [small_corpus], index_dir, spec, lambda: encoder, progress=False, store="milvus-lite:/tmp/x"
        )
