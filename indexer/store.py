"""The index directory: its format, the atomic swap, and the one reader API for it.

Layout::

    INDEX/
      CURRENT               name of the live generation
      .lock                 held by the one writer
      gen-<time>-<rand>/    manifest.json, vectors.faiss, sentences.faiss, index.sqlite

A build writes a whole new generation beside the live one and then replaces CURRENT in one
``os.replace``; a killed build leaves only an unreferenced directory behind, and readers never
see a half-written index. FAISS ids are chunk ids in ``vectors.faiss`` and sentence ids in
``sentences.faiss``; SQLite holds documents, chunks and their sentence units (with their vectors,
so unchanged documents are copied, not re-embedded) and an FTS5 table of jieba words.

A passage's dense score blends its own vector with its best sentence's (``SENTENCE_SHARE``): the
passage vector carries the title and headings, the sentence vector the one item a query is about.
On the dev sets this lifted dense Recall@10 from 0.733 to 0.867 (policy); see ``eval/README.md``.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT_VERSION = 2
CURRENT = "CURRENT"
EXACT_SEARCH_LIMIT = 50_000  # above this many passages, an HNSW graph replaces exact search
HNSW_NEIGHBOURS = 32
HNSW_EF_SEARCH = 128
SENTENCE_SHARE = 0.5  # weight of the best sentence in a passage's dense score
KEEP_GENERATIONS = 2  # the live one and the one before, for readers still holding it

SCHEMA = """
CREATE TABLE documents (
    doc_id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, source TEXT NOT NULL, fingerprint TEXT NOT NULL,
    title TEXT, doc_type TEXT, issuer TEXT, date TEXT, year INTEGER, doc_number TEXT,
    proposal_number TEXT, answer_category TEXT, metadata TEXT NOT NULL, text TEXT NOT NULL
);
CREATE TABLE chunks (
    chunk_id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL REFERENCES documents(doc_id), ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL, end INTEGER NOT NULL, section TEXT NOT NULL, page INTEGER, end_page INTEGER,
    is_commitment INTEGER NOT NULL, vector BLOB NOT NULL
);
CREATE INDEX chunks_by_doc ON chunks(doc_id, ordinal);
CREATE TABLE sentences (
    sentence_id INTEGER PRIMARY KEY, chunk_id INTEGER NOT NULL REFERENCES chunks(chunk_id),
    start INTEGER NOT NULL, end INTEGER NOT NULL, vector BLOB NOT NULL
);
CREATE INDEX sentences_by_chunk ON sentences(chunk_id);
CREATE VIRTUAL TABLE chunk_words USING fts5(body, context, tokenize = 'unicode61 remove_diacritics 0');
"""
DOCUMENT_FIELDS = ("title", "doc_type", "issuer", "date", "year", "doc_number", "proposal_number", "answer_category")


class IndexStoreError(RuntimeError):
    """The index directory is missing, locked, damaged or built for something else."""


class IndexFormatError(IndexStoreError):
    """The index was written in another format version; the indexer rebuilds such an index."""


@dataclass
class Manifest:
    format_version: int
    model: dict
    backend: str
    dimension: int
    chunker: dict
    corpus_fingerprint: str
    built_at: str
    documents: int
    chunks: int
    sentences: int
    faiss: dict

    @classmethod
    def load(cls, path: Path) -> "Manifest":
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format_version") != FORMAT_VERSION:
            raise IndexFormatError(
                f"index format version {data.get('format_version')} cannot be read by this version "
                f"(it reads format {FORMAT_VERSION}); run `policy-search index` on the documents again to rebuild it"
            )
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def live_generation(index_dir: Path) -> Path | None:
    pointer = index_dir / CURRENT
    if not pointer.is_file():
        return None
    generation = index_dir / pointer.read_text(encoding="utf-8").strip()
    return generation if generation.is_dir() else None


@contextmanager
def writer_lock(index_dir: Path):
    """Hold the index's writer lock; a second writer fails at once instead of waiting."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexStoreError(f"another process is writing the index in {index_dir}; wait for it to finish") from exc
        yield


def remove_abandoned(index_dir: Path) -> list[str]:
    """Delete generations that a killed build left unfinished (newer than the live one). Hold the lock."""
    live = live_generation(index_dir)
    removed = []
    for path in index_dir.glob("gen-*"):
        if path.is_dir() and (live is None or path.name > live.name) and not (path / "manifest.json").is_file():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def build_faiss(ids: np.ndarray, vectors: np.ndarray, dimension: int):
    """Exact inner product up to EXACT_SEARCH_LIMIT passages, an HNSW graph above it."""
    import faiss

    if len(ids) <= EXACT_SEARCH_LIMIT:
        base = faiss.IndexFlatIP(dimension)
    else:
        base = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        base.hnsw.efSearch = HNSW_EF_SEARCH
    index = faiss.IndexIDMap2(base)
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), ids.astype(np.int64))
    return index


def faiss_description(count: int) -> dict:
    if count <= EXACT_SEARCH_LIMIT:
        return {"type": "flat", "metric": "inner_product"}
    return {"type": "hnsw", "metric": "inner_product", "M": HNSW_NEIGHBOURS, "efSearch": HNSW_EF_SEARCH}


class GenerationWriter:
    """Writes one new generation; ``commit`` makes it live, anything else leaves the old one."""

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir
        name = f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
        self.path = index_dir / name
        self.path.mkdir(parents=True)
        self.db = sqlite3.connect(self.path / "index.sqlite")
        self.db.executescript(SCHEMA)

    def add_document(self, doc_id: int, key: str, source: str, fingerprint: str, text: str, metadata: dict) -> None:
        values = [metadata.get(field) for field in DOCUMENT_FIELDS]
        self.db.execute(
            "INSERT INTO documents VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [doc_id, key, source, fingerprint, *values, json.dumps(metadata, ensure_ascii=False), text],
        )

    def add_chunk(self, chunk_id: int, doc_id: int, chunk, vector: np.ndarray, body_words: str, context_words: str,
                  sentences: list[tuple[int, int, np.ndarray]] = ()) -> None:
        """Store a passage, its words, and its sentence units as (start, end, vector) in document offsets."""
        self.db.execute(
            "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?,?)",
            [chunk_id, doc_id, chunk.ordinal, chunk.start, chunk.end, chunk.section, chunk.page, chunk.end_page,
             int(chunk.is_commitment), _blob(vector)],
        )
        self.db.execute("INSERT INTO chunk_words(rowid, body, context) VALUES (?,?,?)", [chunk_id, body_words, context_words])
        self.db.executemany(
            "INSERT INTO sentences(chunk_id, start, end, vector) VALUES (?,?,?,?)",
            [(chunk_id, start, end, _blob(unit_vector)) for start, end, unit_vector in sentences],
        )

    def copy_document(self, old: "IndexReader", doc_id: int) -> int:
        """Carry a document, its chunks, vectors and words over unchanged; returns its chunk count."""
        db = old.connection()
        row = db.execute("SELECT * FROM documents WHERE doc_id = ?", [doc_id]).fetchone()
        self.db.execute(f"INSERT INTO documents VALUES ({','.join('?' * len(row))})", list(row))
        chunks = db.execute("SELECT * FROM chunks WHERE doc_id = ?", [doc_id]).fetchall()
        self.db.executemany(f"INSERT INTO chunks VALUES ({','.join('?' * 10)})", [list(c) for c in chunks])
        words = db.execute(
            "SELECT rowid, body, context FROM chunk_words WHERE rowid IN (SELECT chunk_id FROM chunks WHERE doc_id = ?)",
            [doc_id],
        ).fetchall()
        self.db.executemany("INSERT INTO chunk_words(rowid, body, context) VALUES (?,?,?)", [list(w) for w in words])
        sentences = db.execute(
            "SELECT * FROM sentences WHERE chunk_id IN (SELECT chunk_id FROM chunks WHERE doc_id = ?)", [doc_id]
        ).fetchall()
        self.db.executemany("INSERT INTO sentences VALUES (?,?,?,?,?)", [list(s) for s in sentences])
        return len(chunks)

    def count_sentences(self) -> int:
        return self.db.execute("SELECT count(*) FROM sentences").fetchone()[0]

    def commit(self, manifest: Manifest) -> None:
        """Build FAISS from the stored vectors, write the manifest, then swap CURRENT."""
        import faiss

        for table, key, file in (("chunks", "chunk_id", "vectors.faiss"), ("sentences", "sentence_id", "sentences.faiss")):
            rows = self.db.execute(f"SELECT {key}, vector FROM {table} ORDER BY {key}").fetchall()
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            vectors = _stack_vectors([r[1] for r in rows], manifest.dimension)
            faiss.write_index(build_faiss(ids, vectors, manifest.dimension), str(self.path / file))
        self.db.commit()
        self.db.close()
        (self.path / "manifest.json").write_text(json.dumps(manifest.to_dict(), ensure_ascii=False, indent=2))
        _fsync_tree(self.path)
        pointer = self.index_dir / f".{CURRENT}.{secrets.token_hex(3)}"
        pointer.write_text(self.path.name)
        _fsync_file(pointer)
        os.replace(pointer, self.index_dir / CURRENT)
        _fsync_file(self.index_dir)
        self._prune()

    def abort(self) -> None:
        try:
            self.db.close()
        finally:
            shutil.rmtree(self.path, ignore_errors=True)

    def _prune(self) -> None:
        generations = sorted(p for p in self.index_dir.glob("gen-*") if p.is_dir())
        live = self.path.name
        keep = {live} | {p.name for p in generations if p.name < live}.intersection(
            p.name for p in generations[-KEEP_GENERATIONS:]
        )
        for path in generations:
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for child in path.iterdir():
        _fsync_file(child)
    _fsync_file(path)


class IndexReader:
    """Read-only access to one generation; safe to share between threads."""

    def __init__(self, generation: Path) -> None:
        import faiss

        self.generation = generation
        self.manifest = Manifest.load(generation / "manifest.json")
        self.faiss = faiss.read_index(str(generation / "vectors.faiss"))
        self.sentence_faiss = faiss.read_index(str(generation / "sentences.faiss"))
        self._local = threading.local()

    @classmethod
    def open(cls, index_dir: Path) -> "IndexReader":
        generation = live_generation(index_dir)
        if generation is None:
            raise IndexStoreError(f"no index in {index_dir}; build one with `policy-search index PATH --index {index_dir}`")
        return cls(generation)

    def connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            uri = f"file:{self.generation / 'index.sqlite'}?mode=ro&immutable=1"
            db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            db.row_factory = sqlite3.Row
            self._local.db = db
        return db

    def check_model(self, model_name: str) -> None:
        """Fail clearly when a query model differs from the one the index was built with."""
        built_with = self.manifest.model["name"]
        if model_name != built_with:
            raise IndexStoreError(f"the index was built with model {built_with!r}, not {model_name!r}; "
                              "search it with its own model or rebuild it with `--rebuild`")

    # --- documents and passages -------------------------------------------------------------
    def documents_by_key(self) -> dict[str, tuple[int, str]]:
        return {r["key"]: (r["doc_id"], r["fingerprint"]) for r in self.connection().execute("SELECT doc_id, key, fingerprint FROM documents")}

    def all_documents(self) -> list[dict]:
        """Every document with its canonical text (for evaluation and baselines)."""
        rows = self.connection().execute("SELECT * FROM documents ORDER BY doc_id").fetchall()
        return [_document_dict(row) for row in rows]

    def all_vectors(self) -> np.ndarray:
        """Every stored passage vector, in chunk id order."""
        rows = self.connection().execute("SELECT vector FROM chunks ORDER BY chunk_id").fetchall()
        return _stack_vectors([r[0] for r in rows], self.manifest.dimension)

    def max_chunk_id(self) -> int:
        return self.connection().execute("SELECT coalesce(max(chunk_id), 0) FROM chunks").fetchone()[0]

    def document(self, doc_id: int) -> dict | None:
        row = self.connection().execute("SELECT * FROM documents WHERE doc_id = ?", [doc_id]).fetchone()
        return _document_dict(row) if row else None

    def passages(self, chunk_ids: list[int]) -> dict[int, dict]:
        """Chunks with their document's metadata, by chunk id (vectors and full text left out)."""
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        rows = self.connection().execute(
            f"SELECT c.chunk_id, c.doc_id, c.ordinal, c.start, c.end, c.section, c.page, c.end_page, c.is_commitment,"
            f" substr(d.text, c.start + 1, c.end - c.start) AS text, d.source, d.metadata,"
            f" {', '.join('d.' + f for f in DOCUMENT_FIELDS)}"
            f" FROM chunks c JOIN documents d USING (doc_id) WHERE c.chunk_id IN ({marks})",
            chunk_ids,
        ).fetchall()
        return {row["chunk_id"]: _passage_dict(row) for row in rows}

    def neighbours(self, chunk_id: int, width: int = 1) -> list[int]:
        row = self.connection().execute("SELECT doc_id, ordinal FROM chunks WHERE chunk_id = ?", [chunk_id]).fetchone()
        if row is None:
            return []
        rows = self.connection().execute(
            "SELECT chunk_id FROM chunks WHERE doc_id = ? AND ordinal BETWEEN ? AND ? ORDER BY ordinal",
            [row["doc_id"], row["ordinal"] - width, row["ordinal"] + width],
        ).fetchall()
        return [r["chunk_id"] for r in rows]

    def document_passages(self, doc_id: int) -> list[int]:
        rows = self.connection().execute("SELECT chunk_id FROM chunks WHERE doc_id = ? ORDER BY ordinal", [doc_id])
        return [r["chunk_id"] for r in rows]

    # --- retrieval primitives ---------------------------------------------------------------
    def dense(self, vector: np.ndarray, limit: int, allowed: list[int] | None = None) -> list[tuple[int, float]]:
        """Best chunks by dense score (see ``dense_scores``), optionally only among ``allowed`` chunk ids.

        Candidates are the ``limit`` nearest passages and the owners of the ``limit`` nearest
        sentences (fetching three times as many sentences changed no result on the dev sets); each
        is then scored exactly, so a passage found through one sentence is ranked by the same measure.
        """
        candidates = {i for i, _ in _nearest(self.faiss, vector, limit, allowed)}
        allowed_sentences = None
        if allowed is not None:
            allowed_sentences = [r[0] for r in self.connection().execute(
                "SELECT sentence_id FROM sentences WHERE chunk_id IN (SELECT value FROM json_each(?))", [json.dumps(allowed)])]
        nearest_sentences = [i for i, _ in _nearest(self.sentence_faiss, vector, limit, allowed_sentences)]
        if nearest_sentences:
            marks = ",".join("?" * len(nearest_sentences))
            candidates.update(r[0] for r in self.connection().execute(
                f"SELECT chunk_id FROM sentences WHERE sentence_id IN ({marks})", nearest_sentences))
        scores = self.dense_scores(vector, list(candidates))
        return sorted(scores.items(), key=lambda item: -item[1])[:limit]

    def dense_scores(self, vector: np.ndarray, chunk_ids: list[int]) -> dict[int, float]:
        """Exact dense scores of the given chunks: their own cosine blended with their best sentence's.

        A passage without sentence units (one sentence) is its own best sentence.
        """
        if not chunk_ids:
            return {}
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        own = dict(zip(chunk_ids, self.faiss.reconstruct_batch(np.asarray(chunk_ids, dtype=np.int64)) @ query))
        best = {chunk_id: score for chunk_id, (_, _, score) in self.best_sentences(query, chunk_ids).items()}
        return {i: float((1 - SENTENCE_SHARE) * own[i] + SENTENCE_SHARE * best.get(i, own[i])) for i in chunk_ids}

    def best_sentences(self, vector: np.ndarray, chunk_ids: list[int]) -> dict[int, tuple[int, int, float]]:
        """For each given chunk with sentence units: (start, end, cosine) of the unit nearest the query."""
        if not chunk_ids:
            return {}
        marks = ",".join("?" * len(chunk_ids))
        units = self.connection().execute(
            f"SELECT sentence_id, chunk_id, start, end FROM sentences WHERE chunk_id IN ({marks})", chunk_ids).fetchall()
        best: dict[int, tuple[int, int, float]] = {}
        if units:
            query = np.asarray(vector, dtype=np.float32).reshape(-1)
            scores = self.sentence_faiss.reconstruct_batch(np.asarray([u[0] for u in units], dtype=np.int64)) @ query
            for (_, chunk_id, start, end), score in zip(units, scores):
                if chunk_id not in best or score > best[chunk_id][2]:
                    best[chunk_id] = (start, end, float(score))
        return best

    def lexical(self, fts_query: str, limit: int | None = None, weights: tuple[float, float] = (1.0, 0.5)) -> dict[int, float]:
        """BM25 of passages matching the FTS5 query (body, then title/headings at ``weights``).

        Scores are positive, larger is better; the best ``limit``, or every match when hybrid
        search needs the scores of passages beyond the lexical top list too.
        """
        if not fts_query:
            return {}
        sql = f"SELECT rowid, -bm25(chunk_words, {weights[0]}, {weights[1]}) AS score FROM chunk_words WHERE chunk_words MATCH ?"
        params: list = [fts_query]
        if limit is not None:
            sql += " ORDER BY score DESC LIMIT ?"
            params.append(limit)
        try:
            return {int(rowid): float(score) for rowid, score in self.connection().execute(sql, params)}
        except sqlite3.OperationalError:
            return {}

    def chunks_of_documents_matching(self, identifier: str) -> list[int]:
        """Chunk ids of documents whose document or proposal number contains ``identifier``."""
        rows = self.connection().execute(
            "SELECT c.chunk_id FROM chunks c JOIN documents d USING (doc_id)"
            " WHERE instr(d.doc_number, ?) > 0 OR instr(d.proposal_number, ?) > 0", [identifier, identifier]
        ).fetchall()
        return [r[0] for r in rows]

    def chunks_containing(self, needle: str) -> list[int]:
        """Chunk ids whose text contains ``needle``; documents are filtered first, which is cheap."""
        db = self.connection()
        docs = [r[0] for r in db.execute("SELECT doc_id FROM documents WHERE instr(text, ?) > 0", [needle])]
        if not docs:
            return []
        rows = db.execute(
            f"SELECT c.chunk_id FROM chunks c JOIN documents d USING (doc_id) WHERE d.doc_id IN ({','.join('?' * len(docs))})"
            " AND instr(substr(d.text, c.start + 1, c.end - c.start), ?) > 0", [*docs, needle]
        ).fetchall()
        return [r[0] for r in rows]

    def filter_chunks(self, doc_type: str | None = None, year_from: int | None = None, year_to: int | None = None,
                      issuer: str | None = None, commitments_only: bool = False) -> list[int] | None:
        """Chunk ids passing the given filters (issuer matches as a substring); None when no filter is set."""
        conditions = [
            ("d.doc_type = ?", doc_type),
            ("d.year >= ?", year_from),
            ("d.year <= ?", year_to),
            ("instr(d.issuer, ?) > 0", issuer),
            ("c.is_commitment = ?", 1 if commitments_only else None),
        ]
        chosen = [(clause, value) for clause, value in conditions if value]
        if not chosen:
            return None
        where = " AND ".join(clause for clause, _ in chosen)
        rows = self.connection().execute(
            f"SELECT c.chunk_id FROM chunks c JOIN documents d USING (doc_id) WHERE {where}", [value for _, value in chosen]
        ).fetchall()
        return [r[0] for r in rows]

    def stats(self) -> dict:
        db = self.connection()
        return {
            "documents": db.execute("SELECT count(*) FROM documents").fetchone()[0],
            "chunks": db.execute("SELECT count(*) FROM chunks").fetchone()[0],
            "sentences": self.sentence_faiss.ntotal,
            "model": self.manifest.model,
            "backend": self.manifest.backend,
            "dimension": self.manifest.dimension,
            "built_at": self.manifest.built_at,
            "corpus_fingerprint": self.manifest.corpus_fingerprint,
            "faiss": self.manifest.faiss,
            "format_version": self.manifest.format_version,
        }


def _nearest(index, vector: np.ndarray, limit: int, allowed: list[int] | None) -> list[tuple[int, float]]:
    """FAISS search for one query vector, optionally restricted to ``allowed`` ids."""
    import faiss

    if index.ntotal == 0 or limit <= 0 or (allowed is not None and not allowed):
        return []
    params = None
    if allowed is not None:
        params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed, dtype=np.int64)))
    scores, ids = index.search(vector.reshape(1, -1).astype(np.float32), min(limit, index.ntotal), params=params)
    return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]


def _blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def _stack_vectors(blobs: list[bytes], dimension: int) -> np.ndarray:
    """float32 BLOBs as one (n, dimension) matrix."""
    return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dimension)


def _document_dict(row: sqlite3.Row) -> dict:
    metadata = json.loads(row["metadata"])
    return {
        "doc_id": row["doc_id"],
        "source": row["source"],
        **{f: row[f] for f in DOCUMENT_FIELDS},
        "metadata": metadata,
        "text": row["text"],
    }


def _passage_dict(row: sqlite3.Row) -> dict:
    return {
        "chunk_id": row["chunk_id"],
        "doc_id": row["doc_id"],
        "ordinal": row["ordinal"],
        "start": row["start"],
        "end": row["end"],
        "section": row["section"],
        "page": row["page"],
        "end_page": row["end_page"],
        "is_commitment": bool(row["is_commitment"]),
        "text": row["text"],
        "source": row["source"],
        **{f: row[f] for f in DOCUMENT_FIELDS},
    }
