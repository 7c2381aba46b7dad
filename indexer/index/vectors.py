"""FAISS indexes for passage and sentence vectors: how they are built, described and searched.

Exact inner product up to ``EXACT_SEARCH_LIMIT`` vectors, an HNSW graph above it; the scale bench
(``policy-search bench --only scale``) measures both with the same construction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

EXACT_SEARCH_LIMIT = 50_000
HNSW_NEIGHBOURS = 32
HNSW_EF_SEARCH = 128


def faiss_description(count: int) -> dict:
    if count <= EXACT_SEARCH_LIMIT:
        return {"type": "flat", "metric": "inner_product"}
    return {"type": "hnsw", "metric": "inner_product", "M": HNSW_NEIGHBOURS, "efSearch": HNSW_EF_SEARCH}


def empty_faiss(dimension: int, kind: str) -> Any:
    """An empty ``flat`` or ``hnsw`` inner-product index."""
    import faiss

    if kind == "flat":
        return faiss.IndexFlatIP(dimension)
    index = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def build_faiss(ids: np.ndarray, vectors: np.ndarray, dimension: int) -> Any:
    """An id-mapped index over ``vectors``, its kind chosen by their count."""
    import faiss

    index = faiss.IndexIDMap2(empty_faiss(dimension, faiss_description(len(ids))["type"]))
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    return index


def nearest(index: Any, vector: np.ndarray, limit: int, allowed: list[int] | None) -> list[tuple[int, float]]:
    """FAISS search for one query vector, optionally restricted to ``allowed`` ids."""
    import faiss

    if index.ntotal == 0 or limit <= 0 or (allowed is not None and not allowed):
        return []
    params = None
    if allowed is not None:
        selector = faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64))
        params = faiss.SearchParameters(sel=selector)  # type: ignore[call-arg]  # SWIG keyword, not in stubs
    query = vector.reshape(1, -1).astype(np.float32)
    with _one_thread():
        scores, ids = index.search(query, min(limit, index.ntotal), params=params)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]


def to_blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def stack_blobs(blobs: list[bytes], dimension: int) -> np.ndarray:
    """float32 BLOBs as one (n, dimension) matrix."""
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dimension)


@contextmanager
def _one_thread() -> Iterator[None]:
    """FAISS on one OpenMP thread for one query: more threads mostly spin (measured: a quarter of
    a hybrid request's CPU). OpenMP counts threads per calling thread, and the service searches
    from its request threads, so the count is set around each search, not once."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
