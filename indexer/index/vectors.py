"""Passage and sentence vectors, stored once: a float32 matrix in id order, searched exactly or
through compact codes chosen by size.

Each kind (``passages``, ``sentences``) is two files in a generation, ``<kind>.ids.npy`` (sorted
int64 ids) and ``<kind>.f32.npy`` (the unit-length vectors, row i for id i), read memory-mapped:
the service touches only the rows a query scores, so a large corpus costs page cache, not process
memory (the compact codes' lists below are mapped too). Up to ``EXACT_SEARCH_LIMIT`` rows the
matrix is searched exactly. Above it a compressed FAISS index (``<kind>.codes.faiss``, IVF over
8-bit scalar codes) proposes candidates and the float rows re-score them, so every score a caller
sees is exact. Its probe count is raised at build time until the recall against exact search, at
the depth a search asks for, reaches ``TARGET_RECALL`` on a sample of query-like texts cut from
the corpus (``GenerationWriter.probe_texts``); the choice and the measured recall go into the
manifest. ``policy-search bench --only scale`` measures each choice against exact search on the
eval queries, which the build never sees.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

EXACT_SEARCH_LIMIT = 50_000  # rows searched exactly; a query over 50k rows of 384 floats is ~2 ms
# above it, IVF over 8-bit scalar codes at every size. Measured on 3.36M grown sentence-unit
# vectors in one process: 4-bit codes needed the same 256 probes for recall@100 0.982 (8-bit: 0.991)
# and searched at 57 ms p50 against 31.6 ms; halving the codes bought memory only, and the lists
# are memory-mapped. PQ codes of 48 or 96 bytes missed a tenth of the exact top 100 with every
# list probed (the scale bench at 100k).
TARGET_RECALL = 0.98
RERANK_FACTOR = 4  # compact codes propose this many times the asked-for count for exact re-scoring
RERANK_MINIMUM = 200
PROBE_QUERIES = 200  # query vectors the build measures compact codes with
RECALL_DEPTH = 100  # the candidates a search asks each kind for (``RankingConfig.candidates``)
KINDS = ("passages", "sentences")


def compact_recipe(count: int, dimension: int, force_codes: str | None = None) -> dict:
    """The search structure for ``count`` vectors: exact, or IVF with 8-bit codes (or the
    ``force_codes`` FAISS code string, for the scale bench's comparison). The lists grow with the
    square root of the count and keep at least 39 training vectors each, as FAISS asks."""
    if count <= EXACT_SEARCH_LIMIT and force_codes is None:
        return {"type": "exact", "metric": "inner_product"}
    lists = min(4096, 2 ** round(math.log2(4 * math.sqrt(count))), 2 ** int(math.log2(max(count // 39, 1))))
    codes = force_codes or "SQ8"
    kind = "ivf-" + ("pq" if codes.startswith("PQ") else codes.lower())
    return {"type": kind, "metric": "inner_product", "factory": f"IVF{lists},{codes}"}


class VectorSpool:
    """Collects one kind's vectors as they are written (in any id order) on disk, then lays them
    out sorted by id and builds their search structure; memory holds only the ids meanwhile."""

    def __init__(self, generation: Path, kind: str) -> None:
        self.generation = generation
        self.kind = kind
        self._raw = generation / f"{kind}.spool"
        self._handle = open(self._raw, "wb")  # noqa: SIM115 (closed in finish)
        self._ids: list[int] = []
        self.dimension = 0

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(ids), -1)
        if len(ids):
            self.dimension = vectors.shape[1]
            self._handle.write(vectors.tobytes())
            self._ids.extend(ids)

    def lay_out(self, dimension: int) -> None:
        """Write the ids sorted and the matrix in their order (once), and drop the raw file."""
        if self._handle.closed:
            return
        self._handle.close()
        dimension = self.dimension or dimension
        ids = np.asarray(self._ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        np.save(self.generation / f"{self.kind}.ids.npy", ids[order])
        matrix = np.lib.format.open_memmap(
            self.generation / f"{self.kind}.f32.npy", mode="w+", dtype=np.float32, shape=(len(ids), dimension)
        )
        if len(ids):
            raw = np.memmap(self._raw, dtype=np.float32, mode="r", shape=(len(ids), dimension))
            for begin in range(0, len(ids), 65_536):  # in blocks: the raw file may not fit in memory
                rows = order[begin : begin + 65_536]
                matrix[begin : begin + len(rows)] = raw[rows]
            del raw
        matrix.flush()
        del matrix
        self._raw.unlink()

    def finish(self, dimension: int, queries: np.ndarray) -> dict:
        """Lay the vectors out and build their search structure, its probes set by the recall of
        ``queries`` (query vectors of the corpus's own subjects); returns the manifest's description."""
        self.lay_out(dimension)
        table = VectorTable.open(self.generation, self.kind, {"type": "exact"})
        recipe = compact_recipe(len(table), table.matrix.shape[1])
        if recipe["type"] != "exact":
            recipe |= build_codes(table, recipe, self.generation / f"{self.kind}.codes.faiss", queries)
        return recipe | {"vectors": len(table)}

    def needs_codes(self) -> bool:
        return len(self._ids) > EXACT_SEARCH_LIMIT

    def abort(self) -> None:
        with suppress(OSError):
            self._handle.close()


@dataclass
class VectorTable:
    """One kind's stored vectors, read-only: ids, their memory-mapped rows, the compact index."""

    ids: np.ndarray
    matrix: np.ndarray
    description: dict
    codes: Any = None  # a FAISS IVF index over the same ids, or None for exact search

    @classmethod
    def open(cls, generation: Path, kind: str, description: dict) -> VectorTable:
        ids = np.load(generation / f"{kind}.ids.npy")
        matrix = np.load(generation / f"{kind}.f32.npy", mmap_mode="r")
        codes = None
        if description.get("type", "exact") != "exact":
            import faiss

            # the lists memory-mapped, like the float rows: a query touches only the lists it probes
            codes = faiss.read_index(str(generation / f"{kind}.codes.faiss"), faiss.IO_FLAG_MMAP)
        return cls(ids, matrix, description, codes)

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, ids: list[int] | np.ndarray) -> np.ndarray:
        """Row numbers of stored ids (every id given must be stored)."""
        return np.searchsorted(self.ids, np.asarray(ids, dtype=np.int64))

    def vectors(self, ids: list[int] | np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids``, in the order given."""
        rows = self.rows(ids)
        if not len(rows):
            return np.zeros((0, self.matrix.shape[1]), dtype=np.float32)
        return np.asarray(self.matrix[rows])

    def cosines(self, query: np.ndarray, ids: list[int] | np.ndarray) -> np.ndarray:
        if not len(ids):
            return np.zeros(0, dtype=np.float32)
        return self.vectors(ids) @ np.asarray(query, dtype=np.float32).reshape(-1)

    def nearest(self, query: np.ndarray, limit: int, allowed: list[int] | None) -> list[tuple[int, float]]:
        """The ``limit`` ids nearest ``query`` by inner product, best first, optionally among
        ``allowed``. Scores are exact: compact codes only choose the candidates."""
        if not len(self) or limit <= 0 or (allowed is not None and not allowed):
            return []
        query = np.asarray(query, dtype=np.float32).reshape(1, -1)
        if allowed is not None:
            allowed_ids = np.intersect1d(np.asarray(allowed, dtype=np.int64), self.ids)
            if self.codes is None or len(allowed_ids) <= EXACT_SEARCH_LIMIT:
                return self.exact(query, limit, allowed_ids)
            return self._proposed(query, limit, allowed_ids)
        if self.codes is None:
            return self.exact(query, limit, None)
        return self._proposed(query, limit, None)

    def exact(self, query: np.ndarray, limit: int, ids: np.ndarray | None) -> list[tuple[int, float]]:
        """The ``limit`` nearest by exact inner product over every row, or over ``ids``."""
        import faiss

        query = np.asarray(query, dtype=np.float32).reshape(1, -1)
        matrix = self.matrix if ids is None else self.matrix[self.rows(ids)]
        ids = self.ids if ids is None else ids
        if not len(ids):
            return []
        with one_thread():
            scores, rows = faiss.knn(
                query, np.ascontiguousarray(matrix), min(limit, len(ids)), faiss.METRIC_INNER_PRODUCT
            )
        return [(int(ids[r]), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def _proposed(self, query: np.ndarray, limit: int, allowed: np.ndarray | None) -> list[tuple[int, float]]:
        """Candidates from the compact codes, re-scored from the float rows."""
        import faiss

        probes = self.description["probes"]
        selector = None
        if allowed is not None:  # a filter keeping a share of the rows needs that many more lists probed
            probes = min(self.codes.nlist, math.ceil(probes * len(self) / max(len(allowed), 1)))
            selector = faiss.IDSelectorBatch(allowed)
        params = faiss.SearchParametersIVF(nprobe=probes, sel=selector)  # type: ignore[call-arg]
        wanted = max(limit * RERANK_FACTOR, RERANK_MINIMUM)
        with one_thread():
            _, found = self.codes.search(query, wanted, params=params)
        candidates = found[0][found[0] >= 0]
        scores = self.cosines(query, candidates)
        best = np.argsort(-scores, kind="stable")[:limit]
        return [(int(candidates[i]), float(scores[i])) for i in best]


def build_codes(table: VectorTable, recipe: dict, path: Path, queries: np.ndarray) -> dict:
    """Train and fill the IVF index, then raise its probe count until the re-scored recall of
    ``queries`` against exact search, at the depth a search asks for (``RECALL_DEPTH``), reaches
    ``TARGET_RECALL``; returns what was measured, and leaves ``table`` searching through the
    new codes with that description.

    The queries must be real query vectors of query-like texts: questions lie in another region
    of the space than passages (e5's ``query:`` prompt), and stored vectors moved by noise, or
    titles and headings that every passage vector carries, overstate the recall (measured on the
    scale bench: 0.99 for either at probes where the eval queries found 0.79 and 0.88)."""
    import faiss

    dimension = table.matrix.shape[1]
    index = faiss.index_factory(dimension, recipe["factory"], faiss.METRIC_INNER_PRODUCT)
    rng = np.random.default_rng(20261208)
    lists = faiss.extract_index_ivf(index).nlist
    sample = np.sort(rng.choice(len(table), min(len(table), 64 * lists), replace=False))
    index.train(np.ascontiguousarray(table.matrix[sample]))
    for begin in range(0, len(table), 65_536):
        block = slice(begin, begin + 65_536)
        index.add_with_ids(np.ascontiguousarray(table.matrix[block]), table.ids[block])
    faiss.write_index(index, str(path))
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    depth = min(RECALL_DEPTH, len(table))
    _, nearest_rows = faiss.knn(
        queries, np.ascontiguousarray(table.matrix), depth, faiss.METRIC_INNER_PRODUCT
    )
    exact = [set(table.ids[rows].tolist()) for rows in nearest_rows]
    table.codes = index
    probes, recall = 1, 0.0
    while True:
        table.description = {"probes": probes}
        found = [{i for i, _ in table._proposed(q.reshape(1, -1), depth, None)} for q in queries]
        recall = float(np.mean([len(a & b) / depth for a, b in zip(exact, found, strict=True)]))
        if recall >= TARGET_RECALL or probes >= lists:
            break
        probes = min(lists, probes * 2)
    measured = {"lists": lists, "probes": probes, "recall": round(recall, 4), "recall_depth": depth,
                "recall_queries": len(queries)}  # fmt: skip
    table.description = recipe | measured
    return measured


@contextmanager
def one_thread() -> Iterator[None]:
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
