"""The Milvus engine: vectors, BM25 and the filters' fields in Milvus collections.

Selected with ``--store milvus://HOST:PORT`` (a Milvus server or cluster) or
``--store milvus-lite:PATH.db`` (Milvus Lite, in-process, from PyPI). A build still writes its
generation directory, which keeps the catalog: SQLite's documents with their texts, the spans of
passages and sentence units, commitments and citations, from which results, exact spans and
citation strings are cut. What grows with the corpus and is searched goes to two collections per
generation instead of the vector files:

- ``<prefix>_<generation>_passages``: chunk id, the passage vector (HNSW, inner product), its words
  scored by Milvus's own BM25 function, and the fields filters test (doc_type, year, issuer,
  commitment flag, answer category, proposal number, dates);
- ``<prefix>_<generation>_sentences``: sentence id, the unit's vector (HNSW), and its passage's
  chunk id and filter fields, so a filtered search of either kind is one expression.

A generation's collections are written completely (flushed, indexed and loaded) before it goes
live; then the aliases ``<prefix>_passages`` and ``<prefix>_sentences`` are switched to them and the
collections of pruned or abandoned generations are dropped. A reader uses the collections its own
manifest names, so one holding the previous generation keeps answering, as with the embedded store.

BM25 reads the words the indexer segmented (``indexer.lexical``), so both engines score the same
tokens: a server splits them on whitespace; Milvus Lite, whose only tokenizers are ``standard`` and
``jieba``, re-cuts each word with jieba's exact mode, which leaves jieba's own words whole.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from indexer.index.layout import MANIFEST
from indexer.index.manifest import IndexStoreError, Manifest
from indexer.index.reader import IndexReader
from indexer.index.records import PassageFilter
from indexer.index.vectors import KINDS, VectorTable
from indexer.lexical import words as segment

LITE_SCHEME = "milvus-lite:"
SERVER_SCHEME = "milvus://"
HNSW_BUILD = {"M": 16, "efConstruction": 200}
SEARCH_EF = 256  # HNSW's search list; raised to the limit when a search asks for more
MAX_TOP = 16_384  # the most hits Milvus returns for one search
INSERT_BATCH = 2_000
# BM25 as FTS5's bm25() scores it with column weights (1, 0.5): FTS5 adds a term's frequencies as
# 1 x body + 0.5 x headings, and one field holding the body words twice and the headings once,
# with k1 doubled, gives the same saturation up to a constant factor
BODY_REPEATS = 2
BM25_K1, BM25_B = 1.2, 0.75
FETCH_BATCH = 1_000  # ids per get or ``in`` list
TEXT_LIMIT = 65_535  # bytes in a VARCHAR field
# where the indexer's words are split again: on whitespace (a server), or by jieba's exact mode
# (Lite, whose tokenizers are only "standard" and "jieba")
SERVER_ANALYZER = {"tokenizer": "whitespace"}
LITE_ANALYZER = {"tokenizer": {"type": "jieba", "mode": "exact"}}
# the fields filters test, on passages and sentence units alike (a filtered search of either
# kind is one expression, however many passages it leaves)
_FILTER_COLUMNS = """
c.chunk_id, c.doc_id, c.is_commitment, d.doc_type, d.year, d.issuer, d.answer_category, d.proposal_number,
coalesce(nullif(d.date, ''), d.year || '-01-01') AS date_start,
coalesce(nullif(d.date, ''), d.year || '-12-31') AS date_end
"""
_ROWS = {
    "passages": f"""SELECT c.chunk_id AS id, {_FILTER_COLUMNS}, w.body, w.context
FROM chunks c JOIN documents d USING (doc_id) JOIN chunk_words w ON w.rowid = c.chunk_id
ORDER BY c.chunk_id""",
    "sentences": f"""SELECT s.sentence_id AS id, {_FILTER_COLUMNS}
FROM sentences s JOIN chunks c USING (chunk_id) JOIN documents d USING (doc_id) ORDER BY s.sentence_id""",
}
_TEXT_FIELDS = ("doc_type", "issuer", "answer_category", "proposal_number")


def resolve_store(store: str | None) -> str | None:
    """The store as a manifest records it: None for the embedded one, a Lite path made absolute."""
    if not store or store == "embedded":
        return None
    if store.startswith(LITE_SCHEME):
        path = Path(store[len(LITE_SCHEME) :]).expanduser()
        if path.suffix != ".db":
            raise IndexStoreError(
                f"a Milvus Lite store is a file ending in .db (milvus-lite:PATH.db), not {path}"
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        return LITE_SCHEME + str(path.resolve())
    if store.startswith(SERVER_SCHEME):
        return store
    raise IndexStoreError(
        f"unknown store {store!r}: use embedded (FAISS + SQLite), milvus://HOST:PORT or milvus-lite:PATH.db"
    )


@cache
def client(store: str) -> Any:
    """One client per store and process: Milvus Lite serves a path to one process only."""
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise IndexStoreError(
            "the Milvus store needs pymilvus (and milvus-lite for milvus-lite:): "
            "pip install 'policy-search[milvus]'"
        ) from exc
    if store.startswith(LITE_SCHEME):
        # Lite lacks two calls pymilvus tries first and then does without (a timestamp for
        # iterators); its in-process gRPC server and pymilvus log each attempt, which says nothing
        for noisy in ("grpc._server", "pymilvus.client.iterator.query_iterator"):
            logging.getLogger(noisy).setLevel(logging.CRITICAL)
        segment("")  # Lite's jieba analyzer would load jieba's dictionary with its chatty logging
        return MilvusClient(store[len(LITE_SCHEME) :])

    address = store[len(SERVER_SCHEME) :].rstrip("/")
    return MilvusClient(uri=f"http://{address}", token=os.environ.get("MILVUS_TOKEN", ""))


def prefix(index_dir: Path) -> str:
    """The collections' name prefix of an index directory: several indexes may share one server."""
    return "ps_" + hashlib.sha1(str(Path(index_dir).resolve()).encode()).hexdigest()[:10]


def collection(index_dir: Path, generation: str, kind: str) -> str:
    return f"{prefix(index_dir)}_{generation.replace('-', '_')}_{kind}"


# --- writing -----------------------------------------------------------------------------------
def publish(store: str, generation: Path, db: sqlite3.Connection) -> dict[str, dict]:
    """Write a generation's laid-out vectors, words and filter fields (read through the writer's
    connection ``db``) into its own new collections, flushed, indexed and loaded, then delete the
    local vector files (Milvus holds them now).

    Returns each kind's description for the manifest. Nothing is switched to the new collections
    here: ``went_live`` does that once the generation is live.
    """
    milvus = client(store)
    lite = store.startswith(LITE_SCHEME)
    tables = {kind: VectorTable.open(generation, kind, {}) for kind in KINDS}
    dimension = max(table.matrix.shape[1] for table in tables.values())
    described = {}
    for kind in KINDS:
        name = collection(generation.parent, generation.name, kind)
        if milvus.has_collection(name):  # left by an attempt that failed before going live
            milvus.drop_collection(name)
        milvus.create_collection(
            name, schema=_schema(kind, dimension, lite), index_params=_indexes(milvus, kind)
        )
        rows = _rows(db, kind)
        count = 0
        for batch in _batches(rows, tables[kind]):
            milvus.insert(name, batch)
            count += len(batch)
        milvus.flush(name)
        milvus.load_collection(name)
        described[kind] = {
            "type": "milvus-hnsw",
            "metric": "inner_product",
            "collection": name,
            "vectors": count,
            "hnsw": HNSW_BUILD,
            "ef": SEARCH_EF,
        }
    for kind in KINDS:
        for suffix in (".ids.npy", ".f32.npy", ".codes.faiss"):
            (generation / f"{kind}{suffix}").unlink(missing_ok=True)
    return described


def went_live(store: str, index_dir: Path) -> None:
    """Point the index's aliases at the live generation's collections (when it is in ``store``),
    and drop the collections of generations no longer on disk (pruned, or abandoned by a build
    that failed)."""
    milvus = client(store)
    own = prefix(index_dir) + "_"
    on_disk = {path.name.replace("-", "_") for path in Path(index_dir).glob("gen-*") if path.is_dir()}
    live = Manifest.load(_live_manifest(index_dir))
    aliases = set(milvus.list_aliases().get("aliases", []))
    for kind in KINDS if live.store == store else ():
        alias = f"{own}{kind}"
        name = live.vectors[kind]["collection"]
        if alias in aliases:
            milvus.alter_alias(name, alias)
        else:
            milvus.create_alias(name, alias)
    for name in milvus.list_collections():
        generation = name[len(own) :].rsplit("_", 1)[0]
        if name.startswith(own) and name.endswith(KINDS) and generation not in on_disk:
            milvus.drop_collection(name)


def _live_manifest(index_dir: Path) -> Path:
    from indexer.index.layout import live_generation

    generation = live_generation(Path(index_dir))
    if generation is None:
        raise IndexStoreError(f"no live generation in {index_dir}")
    return generation / MANIFEST


def _schema(kind: str, dimension: int, lite: bool) -> Any:
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    schema = MilvusClient.create_schema(auto_id=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field("chunk_id", DataType.INT64)
    schema.add_field("doc_id", DataType.INT64)
    schema.add_field("is_commitment", DataType.BOOL)
    schema.add_field("year", DataType.INT64, nullable=True)
    for name in (*_TEXT_FIELDS, "date_start", "date_end"):
        schema.add_field(name, DataType.VARCHAR, max_length=2048, nullable=True)
    if kind == "sentences":
        return schema
    analyzer = LITE_ANALYZER if lite else SERVER_ANALYZER
    schema.add_field(
        "words", DataType.VARCHAR, max_length=TEXT_LIMIT, enable_analyzer=True, analyzer_params=analyzer
    )
    schema.add_field("words_bm25", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="words_bm25",
            function_type=FunctionType.BM25,
            input_field_names=["words"],
            output_field_names=["words_bm25"],
        )
    )
    return schema


def _indexes(milvus: Any, kind: str) -> Any:
    params = milvus.prepare_index_params()
    params.add_index("vector", index_type="HNSW", metric_type="IP", params=HNSW_BUILD)
    if kind == "passages":
        params.add_index(
            "words_bm25",
            index_type="SPARSE_INVERTED_INDEX",
            metric_type="BM25",
            params={"bm25_k1": BM25_K1 * BODY_REPEATS, "bm25_b": BM25_B},
        )
    return params


def _rows(db: sqlite3.Connection, kind: str) -> Iterator[dict]:
    cursor = db.cursor()
    cursor.row_factory = sqlite3.Row
    for row in cursor.execute(_ROWS[kind]):
        values = dict(row)
        values["is_commitment"] = bool(values["is_commitment"])
        if kind == "passages":
            body, context = values.pop("body") or "", values.pop("context") or ""
            values["words"] = _fit(" ".join([body] * BODY_REPEATS + [context]))
        yield values


def _fit(words: str) -> str:
    """Words cut at whole words to a VARCHAR's byte limit (a passage's words are far shorter)."""
    encoded = words.encode()
    if len(encoded) <= TEXT_LIMIT:
        return words
    return encoded[:TEXT_LIMIT].decode(errors="ignore").rsplit(" ", 1)[0]


def _batches(rows: Iterator[dict], table: VectorTable) -> Iterator[list[dict]]:
    """Rows with their vectors attached, ``INSERT_BATCH`` at a time (rows and table both by id)."""
    batch: list[dict] = []
    for row in rows:
        batch.append(row)
        if len(batch) == INSERT_BATCH:
            yield _with_vectors(batch, table)
            batch = []
    if batch:
        yield _with_vectors(batch, table)


def _with_vectors(batch: list[dict], table: VectorTable) -> list[dict]:
    vectors = table.vectors([row["id"] for row in batch])
    for row, vector in zip(batch, vectors, strict=True):
        row["vector"] = vector.tolist()
    return batch


# --- reading -----------------------------------------------------------------------------------
class Selection(list):
    """Chunk ids a filter left, with the Milvus expression that selected them: a filtered search
    sends the expression, not the ids (a year of a large corpus is hundreds of thousands)."""

    def __init__(self, chunk_ids: tuple[int, ...], expression: str) -> None:
        super().__init__(chunk_ids)
        self.expression = expression


def _where(allowed: list[int] | None, field: str) -> str:
    """The expression limiting a search to ``allowed`` chunks ("" for no limit)."""
    if allowed is None:
        return ""
    if isinstance(allowed, Selection):
        return allowed.expression
    return f"{field} in [{','.join(str(int(i)) for i in allowed)}]"


@dataclass
class MilvusVectors:
    """One kind's vectors in a collection, with the methods of ``VectorTable`` that readers use."""

    milvus: Any
    name: str
    description: dict

    def __len__(self) -> int:
        return int(self.description["vectors"])

    def vectors(self, ids: list[int] | np.ndarray) -> np.ndarray:
        """The stored vectors of ``ids``, in the order given (every id must be stored)."""
        ids = [int(i) for i in ids]
        found: dict[int, list[float]] = {}
        for begin in range(0, len(ids), FETCH_BATCH):
            rows = self.milvus.get(self.name, ids=ids[begin : begin + FETCH_BATCH], output_fields=["vector"])
            found.update((row["id"], row["vector"]) for row in rows)
        if not ids:
            return np.zeros((0, 0), dtype=np.float32)
        return np.asarray([found[i] for i in ids], dtype=np.float32)

    def cosines(self, query: np.ndarray, ids: list[int] | np.ndarray) -> np.ndarray:
        if not len(ids):
            return np.zeros(0, dtype=np.float32)
        return self.vectors(ids) @ np.asarray(query, dtype=np.float32).reshape(-1)

    def search(
        self, query: np.ndarray, limit: int, where: str = "", fields: tuple[str, ...] = ()
    ) -> list[dict]:
        """Hits of the HNSW search (``id``, ``distance`` = inner product, and ``fields``)."""
        if limit <= 0:
            return []
        limit = min(limit, MAX_TOP)
        hits = self.milvus.search(
            self.name,
            data=[np.asarray(query, dtype=np.float32).reshape(-1).tolist()],
            anns_field="vector",
            limit=limit,
            filter=where,
            output_fields=list(fields) or ["id"],
            search_params={"metric_type": "IP", "params": {"ef": max(SEARCH_EF, limit)}},
        )
        return list(hits[0])

    def nearest(self, query: np.ndarray, limit: int, allowed: list[int] | None) -> list[tuple[int, float]]:
        if allowed is not None and not allowed:
            return []
        hits = self.search(query, limit, _where(allowed, "id"))
        return [(int(hit["id"]), float(hit["distance"])) for hit in hits]


class MilvusReader(IndexReader):
    """A generation whose vectors, BM25 and filter fields are in Milvus (the catalog stays in the
    generation's SQLite): the same methods and answers as ``IndexReader``."""

    def __init__(self, generation: Path, manifest: Manifest | None = None) -> None:
        super().__init__(generation, manifest)
        self.store = str(self.manifest.store)

    def open_vectors(self) -> dict:
        """The kinds' collections, loaded (a collection reopened by another process starts released)."""
        milvus = client(str(self.manifest.store))
        opened = {}
        for kind in KINDS:
            description = self.manifest.vectors[kind]
            milvus.load_collection(description["collection"])
            opened[kind] = MilvusVectors(milvus, description["collection"], description)
        return opened

    def owners_of_nearest_sentences(
        self, vector: np.ndarray, limit: int, allowed: list[int] | None
    ) -> set[int]:
        if allowed is not None and not allowed:
            return set()
        table = self.stored_vectors["sentences"]
        hits = table.search(vector, limit, _where(allowed, "chunk_id"), ("chunk_id",))
        return {int(hit["chunk_id"]) for hit in hits}

    def lexical(
        self, words: list[str], weights: tuple[float, float], limit: int | None = None
    ) -> dict[int, float]:
        """BM25 from Milvus over each passage's body words (twice) and title/headings words: the
        column weights (1, 0.5) of FTS5's ``bm25()`` are built into the stored words, so ``weights``
        other than those are refused. Every match when ``limit`` is None, up to the ``MAX_TOP``
        hits a Milvus search returns."""
        if weights[1] * BODY_REPEATS != weights[0]:
            raise IndexStoreError(
                f"the Milvus store scores body and headings at 1 : {1 / BODY_REPEATS}, not {weights}"
            )
        words = list(dict.fromkeys(w for w in words if w))
        if not words:
            return {}
        hits = client(self.store).search(
            self.manifest.vectors["passages"]["collection"],
            data=[" ".join(words)],
            anns_field="words_bm25",
            limit=MAX_TOP if limit is None else min(MAX_TOP, limit),
            output_fields=["id"],
            search_params={"metric_type": "BM25"},
        )
        # Lite gives BM25 as a negative distance, a server as a positive score; the factor puts
        # them on FTS5's scale (its k1 + 1 where the stored words give BODY_REPEATS * k1 + 1)
        scale = weights[0] * (BM25_K1 + 1) / (BODY_REPEATS * BM25_K1 + 1)
        # the hits come best first and at most ``limit`` of them, as ``lexical`` promises
        return {int(hit["id"]): scale * abs(float(hit["distance"])) for hit in hits[0]}

    def filter_chunks(self, passage_filter: PassageFilter) -> list[int] | None:
        found = self._filtered(passage_filter)
        return None if found is None else Selection(found, milvus_filter(passage_filter))

    def _read_filtered(self, passage_filter: PassageFilter) -> tuple[int, ...] | None:
        where = milvus_filter(passage_filter)
        if not where:
            return None
        milvus = client(self.store)
        name = self.manifest.vectors["passages"]["collection"]
        found: list[int] = []
        pages = milvus.query_iterator(name, filter=where, output_fields=["id"], batch_size=10_000)
        while page := pages.next():
            found += [int(row["id"]) for row in page]
        pages.close()
        return tuple(sorted(found))

    def stats(self) -> dict:
        return super().stats() | {"store": self.store}


def milvus_filter(f: PassageFilter) -> str:
    """A ``PassageFilter`` as a Milvus boolean expression ("" when it sets nothing): the same
    conditions as the embedded store's SQL, on the fields each passage row carries."""
    conditions = []
    if f.doc_type:
        conditions.append(f"doc_type == {_literal(f.doc_type)}")
    if f.year_from is not None:
        conditions.append(f"year >= {int(f.year_from)}")
    if f.year_to is not None:
        conditions.append(f"year <= {int(f.year_to)}")
    if f.issuer:
        conditions.append("(" + " or ".join(f"issuer like {_literal(_contains(n))}" for n in f.issuer) + ")")
    if f.commitments_only:
        conditions.append("is_commitment == true")
    if f.answer_category:
        conditions.append(f"answer_category == {_literal(f.answer_category)}")
    if f.proposal_number:
        conditions.append(f"proposal_number like {_literal(_contains(f.proposal_number))}")
    if f.date_from:
        conditions.append(f"date_end >= {_literal(f.date_from)}")
    if f.date_to:
        conditions.append(f"date_start <= {_literal(f.date_to)}")
    return " and ".join(conditions)


def _literal(value: str) -> str:
    """A double-quoted expression string (JSON's escapes are the expression language's)."""
    return json.dumps(value, ensure_ascii=False)


def _contains(value: str) -> str:
    """A LIKE pattern matching ``value`` anywhere, its own wildcards escaped."""
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
