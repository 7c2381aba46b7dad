"""Vectors stored once: laid out by id, searched exactly or through compact codes re-scored exactly."""

from __future__ import annotations

import numpy as np
import pytest

from indexer.index import vectors
from indexer.index.vectors import VectorSpool, VectorTable, compact_recipe


def _clustered(count: int, dimension: int = 64, seed: int = 7) -> np.ndarray:
    """Unit vectors around 40 centres (the same centres for every seed), as embeddings of a
    corpus on a few subjects, and questions about them, lie."""
    centres = np.random.default_rng(0).normal(size=(40, dimension))
    rng = np.random.default_rng(seed)
    points = centres[rng.integers(0, 40, count)] + rng.normal(0, 0.6, (count, dimension))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def _stored(tmp_path, matrix: np.ndarray, ids: np.ndarray, queries: np.ndarray | None = None) -> VectorTable:
    spool = VectorSpool(tmp_path, "passages")
    order = np.random.default_rng(1).permutation(len(ids))  # written in any order
    for begin in range(0, len(ids), 333):
        rows = order[begin : begin + 333]
        spool.add(ids[rows].tolist(), matrix[rows])
    probes = np.zeros((0, matrix.shape[1]), np.float32) if queries is None else queries
    description = spool.finish(matrix.shape[1], probes)
    assert not (tmp_path / "passages.spool").exists()
    return VectorTable.open(tmp_path, "passages", description)


def test_the_recipe_is_exact_up_to_the_limit_then_compact_codes_by_size():
    assert compact_recipe(vectors.EXACT_SEARCH_LIMIT, 384)["type"] == "exact"
    mid = compact_recipe(100_000, 384)
    assert mid["type"] == "ivf-sq8" and mid["factory"] == "IVF1024,SQ8"
    large = compact_recipe(3_400_000, 384)
    assert large["type"] == "ivf-sq8" and large["factory"] == "IVF4096,SQ8"
    assert compact_recipe(100_000, 384, force_codes="PQ48x8")["type"] == "ivf-pq"
    # a small set keeps at least 39 training vectors a list
    assert compact_recipe(3_000, 384, force_codes="SQ8")["factory"] == "IVF64,SQ8"


def test_vectors_are_laid_out_by_id_and_found_exactly(tmp_path):
    matrix = _clustered(1_000)
    ids = np.random.default_rng(3).choice(2**52, 1_000, replace=False).astype(np.int64)
    table = _stored(tmp_path, matrix, ids)
    assert table.description == {"type": "exact", "metric": "inner_product", "vectors": 1_000}
    assert np.all(np.diff(table.ids) > 0)
    picked = ids[[5, 900, 17]]
    assert np.array_equal(table.vectors(picked), matrix[[5, 900, 17]])
    best = table.nearest(matrix[42], 5, None)
    assert best[0][0] == ids[42] and best[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [s for _, s in best] == sorted((s for _, s in best), reverse=True)
    allowed = ids[100:140].tolist()
    within = table.nearest(matrix[42], 5, allowed)
    assert {i for i, _ in within} <= set(allowed)
    expected = sorted(allowed, key=lambda i: -float(matrix[list(ids).index(i)] @ matrix[42]))[:5]
    assert [i for i, _ in within] == expected
    assert table.nearest(matrix[42], 5, []) == []


def test_compact_codes_reach_the_recall_target_and_scores_stay_exact(tmp_path, monkeypatch):
    monkeypatch.setattr(vectors, "EXACT_SEARCH_LIMIT", 500)
    matrix = _clustered(6_000)
    ids = np.arange(10, 6_010, dtype=np.int64)
    table = _stored(tmp_path, matrix, ids, queries=_clustered(200, seed=5))
    description = table.description
    assert description["type"] == "ivf-sq8" and (tmp_path / "passages.codes.faiss").exists()
    assert description["recall"] >= vectors.TARGET_RECALL
    assert 1 <= description["probes"] <= description["lists"]

    queries = _clustered(50, seed=11)  # not the ones the probes were set with
    overlap = []
    for query in queries:
        found = table.nearest(query, 10, None)
        exact = table.exact(query, 10, None)
        # the codes only choose candidates: every score is the stored vector's exact cosine
        assert [s for _, s in found] == pytest.approx(
            [float(table.vectors([i])[0] @ query) for i, _ in found]
        )
        overlap.append(len({i for i, _ in found} & {i for i, _ in exact}) / 10)
    assert np.mean(overlap) >= 0.95

    narrow = ids[:300].tolist()  # under the limit: searched exactly among the allowed
    assert table.nearest(queries[0], 10, narrow) == table.exact(queries[0], 10, np.asarray(narrow))
    wide = ids[::2].tolist()  # over it: the codes with a selector, more lists probed
    found = table.nearest(queries[0], 10, wide)
    assert len(found) == 10 and {i for i, _ in found} <= set(wide)


def test_a_kind_with_no_vectors_opens_and_answers_nothing(tmp_path):
    """A corpus whose passages are all one sentence long stores no sentence units."""
    spool = VectorSpool(tmp_path, "sentences")
    spool.lay_out(64)
    table = VectorTable.open(tmp_path, "sentences", spool.finish(64, np.zeros((0, 64), np.float32)))
    assert table.matrix.shape == (0, 64) and table.description["vectors"] == 0
    query = _clustered(1)[0]
    assert table.nearest(query, 5, None) == [] and table.nearest(query, 5, [1, 2]) == []
    assert table.cosines(query, []).shape == (0,) and table.vectors([]).shape == (0, 64)
