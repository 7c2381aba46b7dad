"""Read-only access to one generation of the index: records, filters and retrieval primitives.

The reader answers questions about what is stored (passages near a vector, BM25 matches, the
sentence of a passage nearest a vector, filters); how those answers are weighed into a ranking
belongs to ``search_api.ranking``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from indexer.index.bm25 import WORD_TABLE, Postings, fts_phrases
from indexer.index.layout import MANIFEST, live_generation
from indexer.index.manifest import IndexStoreError, Manifest
from indexer.index.records import (
    DOCUMENT_FIELDS,
    CommitmentRecord,
    Document,
    DocumentInfo,
    FollowUp,
    Passage,
    PassageFilter,
)
from indexer.index.units import SentenceUnits
from indexer.index.vectors import KINDS, VectorTable

_DOCUMENT_COLUMNS = ", ".join(f"d.{f}" for f in ("doc_id", "source", *DOCUMENT_FIELDS))
# the passage text is cut from the document text in Python: SQLite's substr would read a whole
# report (overflow pages and all) once per passage
_PASSAGE_SQL = f"""
SELECT {_DOCUMENT_COLUMNS}, c.chunk_id, c.ordinal, c.start, c.end, c.section, c.page, c.end_page,
       c.is_commitment, c.role
FROM chunks c JOIN documents d USING (doc_id)
"""
_COMMITMENT_SQL = f"""
SELECT {_DOCUMENT_COLUMNS}, m.commitment_id, m.chunk_id, m.start, m.end, m.section, m.deadline_year,
       m.target, m.topic
FROM commitments m JOIN documents d USING (doc_id)
WHERE m.commitment_id IN (SELECT value FROM json_each(?))
"""
_FOLLOW_UP_SQL = f"""
SELECT {_DOCUMENT_COLUMNS}, f.commitment_id, f.start, f.end, f.relation, f.explicit, f.score
FROM follow_ups f JOIN documents d USING (doc_id)
WHERE f.commitment_id IN (SELECT value FROM json_each(?))
ORDER BY d.year DESC, d.date DESC, f.score DESC
"""
TEXT_CACHE_DOCUMENTS = 256
PASSAGE_CACHE = 8192  # passages kept once read: a query reads ~100, and popular ones recur
FILTER_CACHE = 32
_INFO_FIELDS = ("doc_id", "source", *DOCUMENT_FIELDS)


class IndexReader:
    """Read-only access to one generation; safe to share between threads."""

    def __init__(self, generation: Path, manifest: Manifest | None = None) -> None:
        self.generation = generation
        self.manifest = manifest or Manifest.load(generation / MANIFEST)
        self.stored_vectors = self.open_vectors()
        self._local = threading.local()
        # document texts, cached: a generation never changes, and a query's passages come from few documents
        self._texts = lru_cache(maxsize=TEXT_CACHE_DOCUMENTS)(self._read_text)
        self._passage_cache: dict[int, Passage] = {}
        # filters repeat (a page's filter, /commitments' passages), and each costs a scan
        self._filtered = lru_cache(maxsize=FILTER_CACHE)(self._read_filtered)
        self._sentences_of = lru_cache(maxsize=FILTER_CACHE)(self._read_sentences_of)

    @classmethod
    def open(cls, index_dir: Path) -> IndexReader:
        generation = live_generation(index_dir)
        if generation is None:
            raise IndexStoreError(
                f"no index in {index_dir.resolve()}; build one with `policy-search index PATH --index "
                f"{index_dir}`, or point at an existing one with --index DIR or POLICY_SEARCH_INDEX"
            )
        return open_generation(generation)

    def open_vectors(self) -> dict:
        """Each kind's vectors: the generation's own files (another engine reads them elsewhere)."""
        return {kind: VectorTable.open(self.generation, kind, self.manifest.vectors[kind]) for kind in KINDS}

    def _db(self) -> sqlite3.Connection:
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
            raise IndexStoreError(
                f"the index was built with model {built_with!r}, not {model_name!r}; "
                "search it with its own model or rebuild it with `--rebuild`"
            )

    # --- documents and passages -------------------------------------------------------------
    def documents_by_key(self) -> dict[str, tuple[int, str]]:
        rows = self._db().execute("SELECT doc_id, key, fingerprint FROM documents")
        return {r["key"]: (r["doc_id"], r["fingerprint"]) for r in rows}

    def list_documents(self) -> list[DocumentInfo]:
        """Every document's metadata, without its text."""
        rows = self._db().execute(f"SELECT {_DOCUMENT_COLUMNS} FROM documents d ORDER BY doc_id")
        return [DocumentInfo(**{f: row[f] for f in _INFO_FIELDS}) for row in rows]

    def all_documents(self) -> list[Document]:
        """Every document with its canonical text (for evaluation and baselines)."""
        rows = self._db().execute("SELECT * FROM documents ORDER BY doc_id").fetchall()
        return [_document(row) for row in rows]

    def document(self, doc_id: int) -> Document | None:
        row = self._db().execute("SELECT * FROM documents WHERE doc_id = ?", [doc_id]).fetchone()
        return _document(row) if row else None

    def passages(self, chunk_ids: list[int]) -> dict[int, Passage]:
        """Passages with their document's metadata, by chunk id."""
        cache = self._passage_cache
        found = {i: cache[i] for i in set(chunk_ids) & cache.keys()}
        missing = [i for i in chunk_ids if i not in found]
        if missing:
            marks = ",".join("?" * len(missing))
            rows = self._db().execute(_PASSAGE_SQL + f" WHERE c.chunk_id IN ({marks})", missing).fetchall()
            read = {row["chunk_id"]: _passage(row, self._texts(row["doc_id"])) for row in rows}
            if len(cache) + len(read) > PASSAGE_CACHE:
                cache.clear()
            cache.update(read)
            found.update(read)
        return dict(sorted(found.items()))

    def _read_text(self, doc_id: int) -> str:
        return self._db().execute("SELECT text FROM documents WHERE doc_id = ?", [doc_id]).fetchone()[0]

    def neighbours(self, chunk_id: int, width: int = 1) -> list[int]:
        """Chunk ids of the passage and up to ``width`` passages either side of it, in order."""
        db = self._db()
        row = db.execute("SELECT doc_id, ordinal FROM chunks WHERE chunk_id = ?", [chunk_id]).fetchone()
        if row is None:
            return []
        rows = db.execute(
            "SELECT chunk_id FROM chunks WHERE doc_id = ? AND ordinal BETWEEN ? AND ? ORDER BY ordinal",
            [row["doc_id"], row["ordinal"] - width, row["ordinal"] + width],
        ).fetchall()
        return [r["chunk_id"] for r in rows]

    def document_passages(self, doc_id: int) -> list[int]:
        rows = self._db().execute("SELECT chunk_id FROM chunks WHERE doc_id = ? ORDER BY ordinal", [doc_id])
        return [r["chunk_id"] for r in rows]

    def sentence_spans(self, chunk_id: int) -> list[tuple[int, int]]:
        """The document spans of a passage's sentence units, in order."""
        rows = self._db().execute(
            "SELECT start, end FROM sentences WHERE chunk_id = ? ORDER BY sentence_id", [chunk_id]
        )
        return [(r["start"], r["end"]) for r in rows]

    def stored_rows(self, doc_id: int) -> dict[str, list[dict[str, Any]]]:
        """A document's rows in every table, for a writer that carries it over unchanged."""
        db = self._db()
        of_doc = "SELECT chunk_id FROM chunks WHERE doc_id = :doc"
        queries = {
            "documents": "SELECT * FROM documents WHERE doc_id = :doc",
            "chunks": "SELECT * FROM chunks WHERE doc_id = :doc",
            "chunk_words": f"SELECT rowid, body, context FROM chunk_words WHERE rowid IN ({of_doc})",
            "sentences": f"SELECT * FROM sentences WHERE chunk_id IN ({of_doc})",
        }
        return {
            table: [dict(row) for row in db.execute(sql, {"doc": doc_id})] for table, sql in queries.items()
        }

    def retired_rows(self) -> list[dict[str, Any]]:
        return [dict(row) for row in self._db().execute("SELECT * FROM retired")]

    def retired_passage(self, chunk_id: int) -> tuple[int, int, int] | None:
        """(doc_id, start, end) of a passage an update replaced, or None."""
        row = (
            self._db()
            .execute("SELECT doc_id, start, end FROM retired WHERE chunk_id = ?", [chunk_id])
            .fetchone()
        )
        return (row["doc_id"], row["start"], row["end"]) if row else None

    # --- retrieval primitives ---------------------------------------------------------------
    def nearest_passages(
        self, vector: np.ndarray, limit: int, allowed: list[int] | None
    ) -> list[tuple[int, float]]:
        """The ``limit`` passages whose own vectors are nearest, optionally among ``allowed`` chunk ids."""
        return self.stored_vectors["passages"].nearest(vector, limit, allowed)

    def owners_of_nearest_sentences(
        self, vector: np.ndarray, limit: int, allowed: list[int] | None
    ) -> set[int]:
        """Chunk ids owning the ``limit`` sentence units nearest the vector (units of ``allowed`` chunks)."""
        allowed_sentences = None if allowed is None else list(self._sentences_of(tuple(allowed)))
        sentence_ids = [
            i for i, _ in self.stored_vectors["sentences"].nearest(vector, limit, allowed_sentences)
        ]
        return self.units.owners(sentence_ids)

    def passage_cosines(self, vector: np.ndarray, chunk_ids: list[int]) -> dict[int, np.floating]:
        """Each given passage's own cosine with the (normalized) query vector, from its stored vector."""
        if not chunk_ids:
            return {}
        scores = self.stored_vectors["passages"].cosines(vector, chunk_ids)
        return dict(zip(chunk_ids, scores, strict=True))

    def best_sentences(self, vector: np.ndarray, chunk_ids: list[int]) -> dict[int, tuple[int, int, float]]:
        """For each given chunk with sentence units: (start, end, cosine) of the unit nearest the query."""
        if not chunk_ids:
            return {}
        units = self.units
        found = units.of_chunks(chunk_ids)
        if not len(found):
            return {}
        scores = self.stored_vectors["sentences"].cosines(vector, units.sentence_ids[found])
        # each passage's nearest unit, the first of equals: sort by passage, then score, then place
        order = np.lexsort((found, -scores, units.chunk_ids[found]))
        owners = units.chunk_ids[found[order]]
        heads = order[np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])]
        return {
            int(units.chunk_ids[found[i]]): (
                int(units.starts[found[i]]),
                int(units.ends[found[i]]),
                float(scores[i]),
            )
            for i in heads
        }

    @cached_property
    def units(self) -> SentenceUnits:
        """Where each sentence unit lies and which passage owns it (read once, see ``units``)."""
        return SentenceUnits.read(self._db())

    @cached_property
    def postings(self) -> Postings:
        """The word table's postings: saved with the generation, or read from FTS5 when it was
        written before they were."""
        if Postings.saved_in(self.generation):
            return Postings.load(self.generation)
        return Postings.from_fts(self._db(), WORD_TABLE)

    def lexical(
        self, words: list[str], weights: tuple[float, float], limit: int | None = None
    ) -> dict[int, float]:
        """BM25 of passages holding any of ``words``, body and title/headings columns at ``weights``.

        Scores are FTS5's ``bm25()`` (positive, larger is better); the best ``limit``, or every
        match when hybrid search needs the scores of passages beyond the lexical top list too.
        """
        words = list(dict.fromkeys(w for w in words if w))
        if not words:
            return {}
        try:
            if all(self._one_token(word) for word in words):
                return self.postings.scores(words, weights, limit)
            return self._fts_scores(words, weights, limit)
        except sqlite3.OperationalError:  # a word FTS5 cannot read as a phrase matches nothing
            return {}

    def _one_token(self, word: str) -> bool:
        """Whether FTS5 reads ``word`` as one token: it is in the vocabulary, or FTS5 finds it
        nowhere (then it adds nothing to any score)."""
        if word in self.postings.vocabulary:
            return True
        sql = f"SELECT 1 FROM {WORD_TABLE} WHERE {WORD_TABLE} MATCH ? LIMIT 1"
        return self._db().execute(sql, [fts_phrases([word])]).fetchone() is None

    def _fts_scores(
        self, words: list[str], weights: tuple[float, float], limit: int | None
    ) -> dict[int, float]:
        """The same scores from FTS5 itself, for queries with a word of several tokens (a phrase)."""
        sql = (
            f"SELECT rowid, -bm25({WORD_TABLE}, {float(weights[0])}, {float(weights[1])}) AS score"
            f" FROM {WORD_TABLE} WHERE {WORD_TABLE} MATCH ?"
        )
        params: list = [fts_phrases(words)]
        if limit is not None:
            sql += " ORDER BY score DESC LIMIT ?"
            params.append(limit)
        cursor = self._db().cursor()
        cursor.row_factory = None  # plain tuples: hybrid reads every match, thousands of rows
        return dict(cursor.execute(sql, params))

    def chunks_of_documents_numbered(self, identifier: str) -> list[int]:
        """Chunk ids of documents whose document or proposal number contains ``identifier``."""
        rows = self._db().execute(
            "SELECT c.chunk_id FROM chunks c JOIN documents d USING (doc_id)"
            " WHERE instr(d.doc_number, ?) > 0 OR instr(d.proposal_number, ?) > 0",
            [identifier, identifier],
        )
        return [r[0] for r in rows]

    def chunks_containing(self, needle: str) -> list[int]:
        """Chunk ids whose text contains ``needle``; documents are filtered first, which is cheap."""
        db = self._db()
        docs = [r[0] for r in db.execute("SELECT doc_id FROM documents WHERE instr(text, ?) > 0", [needle])]
        if not docs:
            return []
        rows = db.execute(
            "SELECT c.chunk_id FROM chunks c JOIN documents d USING (doc_id)"
            f" WHERE d.doc_id IN ({','.join('?' * len(docs))})"
            " AND instr(substr(d.text, c.start + 1, c.end - c.start), ?) > 0",
            [*docs, needle],
        )
        return [r[0] for r in rows]

    def _read_sentences_of(self, chunk_ids: tuple[int, ...]) -> tuple[int, ...]:
        units = self.units
        return tuple(units.sentence_ids[units.of_chunks(list(chunk_ids))].tolist())

    def filter_chunks(self, passage_filter: PassageFilter) -> list[int] | None:
        """Chunk ids passing ``passage_filter``; None when it sets nothing."""
        found = self._filtered(passage_filter)
        return None if found is None else list(found)

    def _read_filtered(self, passage_filter: PassageFilter) -> tuple[int, ...] | None:
        f = passage_filter
        where, params = _document_filters(
            f.doc_type,
            f.year_from,
            f.year_to,
            f.issuer,
            ("c.is_commitment = ?", 1 if f.commitments_only else None),
            ("d.answer_category = ?", f.answer_category),
            ("instr(d.proposal_number, ?) > 0", f.proposal_number),
            # a document known only by its year is in range when that year overlaps it
            ("coalesce(nullif(d.date, ''), d.year || '-12-31') >= ?", f.date_from),
            ("coalesce(nullif(d.date, ''), d.year || '-01-01') <= ?", f.date_to),
        )
        if not where:
            return None
        rows = self._db().execute(
            f"SELECT c.chunk_id FROM chunks c JOIN documents d USING (doc_id) WHERE {where}", params
        )
        return tuple(r[0] for r in rows)

    # --- commitment tracking ------------------------------------------------------------------
    @property
    def tracks_commitments(self) -> bool:
        """Whether this generation holds commitments (one written before tracking existed does not)."""
        return self.manifest.tracking is not None

    def commitments(self, commitment_ids: list[int]) -> list[CommitmentRecord]:
        """Commitments with their document's metadata and follow-ups (newest first), in the order given."""
        if not commitment_ids or not self.tracks_commitments:
            return []
        db = self._db()
        ids = json.dumps(commitment_ids)
        rows = db.execute(_COMMITMENT_SQL, [ids]).fetchall()
        follow_rows = db.execute(_FOLLOW_UP_SQL, [ids]).fetchall()
        follow_ups: dict[int, list[FollowUp]] = {}
        for row in follow_rows:
            info = {f: row[f] for f in _INFO_FIELDS}
            text = self._texts(row["doc_id"])[row["start"] : row["end"]]
            follow_ups.setdefault(row["commitment_id"], []).append(
                FollowUp(**info, start=row["start"], end=row["end"], text=text, relation=row["relation"],
                         explicit=bool(row["explicit"]), score=row["score"])
            )  # fmt: skip
        found = {}
        for row in rows:
            values = {key: row[key] for key in row.keys()}  # noqa: SIM118 (sqlite3.Row has no items())
            values["text"] = self._texts(row["doc_id"])[row["start"] : row["end"]]
            values["follow_ups"] = tuple(follow_ups.get(row["commitment_id"], ()))
            found[row["commitment_id"]] = CommitmentRecord(**values)
        return [found[i] for i in commitment_ids if i in found]

    def commitments_of_chunks(self, chunk_ids: list[int]) -> dict[int, list[int]]:
        """The commitment ids each passage holds, in text order."""
        if not chunk_ids or not self.tracks_commitments:
            return {}
        rows = self._db().execute(
            "SELECT p.chunk_id, m.commitment_id"
            " FROM commitment_chunks p JOIN commitments m USING (commitment_id)"
            " WHERE p.chunk_id IN (SELECT value FROM json_each(?)) ORDER BY m.start",
            [json.dumps(chunk_ids)],
        )
        held: dict[int, list[int]] = {}
        for chunk_id, commitment_id in rows:
            held.setdefault(chunk_id, []).append(commitment_id)
        return held

    def supersessions_of_chunks(self, chunk_ids: list[int]) -> dict[int, tuple[int, int, int, int]]:
        """For each given passage stating a figure a later document replaced: (document, passage,
        start, end) of the later span (see ``indexer.supersession``)."""
        if not chunk_ids or not self.tracks_commitments:
            return {}
        rows = self._db().execute(
            "SELECT c.chunk_id, s.by_doc, s.by_chunk, s.by_start, s.by_end"
            " FROM chunks c JOIN supersessions s"
            " ON s.doc_id = c.doc_id AND c.start <= s.start AND s.end <= c.end"
            " WHERE c.chunk_id IN (SELECT value FROM json_each(?)) ORDER BY s.start",
            [json.dumps(chunk_ids)],
        )
        found: dict[int, tuple[int, int, int, int]] = {}
        for chunk_id, *later in rows:
            found.setdefault(chunk_id, (later[0], later[1], later[2], later[3]))
        return found

    def filter_commitments(
        self,
        doc_type: str | None = None,
        year_from: int | None = None,
        year_to: int | None = None,
        issuer: tuple[str, ...] | None = None,
        doc_id: int | None = None,
    ) -> list[int]:
        """Commitment ids passing the filters, newest document first, in text order within one."""
        if not self.tracks_commitments:
            return []
        where, params = _document_filters(doc_type, year_from, year_to, issuer, ("d.doc_id = ?", doc_id))
        rows = self._db().execute(
            "SELECT m.commitment_id FROM commitments m JOIN documents d USING (doc_id)"
            f" WHERE {where or '1'} ORDER BY d.year DESC, d.date DESC, d.doc_id, m.start",
            params,
        )
        return [r[0] for r in rows]

    def commitment_cosines(self, vector: np.ndarray, commitment_ids: list[int]) -> dict[int, float]:
        """Each commitment's cosine with the query: its sentence unit's vector, or its passage's."""
        if not commitment_ids:
            return {}
        rows = (
            self._db()
            .execute(
                "SELECT commitment_id, chunk_id, sentence_id FROM commitments"
                " WHERE commitment_id IN (SELECT value FROM json_each(?))",
                [json.dumps(commitment_ids)],
            )
            .fetchall()
        )
        scores: dict[int, float] = {}
        units = [(r[0], r[2]) for r in rows if r[2] is not None]
        passages = [(r[0], r[1]) for r in rows if r[2] is None]
        for kind, pairs in (("sentences", units), ("passages", passages)):
            if pairs:
                cosines = self.stored_vectors[kind].cosines(vector, [p[1] for p in pairs])
                scores.update(zip([p[0] for p in pairs], cosines.tolist(), strict=True))
        return scores

    def citations(self, doc_id: int) -> tuple[list[DocumentInfo], list[DocumentInfo]]:
        """The documents this one cites, and those citing it (each once, by title order)."""
        if not self.tracks_commitments:
            return [], []
        db = self._db()
        found = []
        for mine, theirs in (("citing", "cited"), ("cited", "citing")):
            rows = db.execute(
                f"SELECT {_DOCUMENT_COLUMNS} FROM documents d WHERE d.doc_id IN"
                f" (SELECT {theirs} FROM citations WHERE {mine} = ?) ORDER BY d.year, d.title",
                [doc_id],
            )
            found.append([DocumentInfo(**{f: row[f] for f in _INFO_FIELDS}) for row in rows])
        return found[0], found[1]

    def stats(self) -> dict:
        db = self._db()
        by_type = db.execute(
            "SELECT coalesce(doc_type, 'other'), count(*) FROM documents GROUP BY 1 ORDER BY 2 DESC"
        )
        first_year, last_year = db.execute("SELECT min(year), max(year) FROM documents").fetchone()
        return {
            "documents": db.execute("SELECT count(*) FROM documents").fetchone()[0],
            "by_type": dict(by_type.fetchall()),
            "years": {"first": first_year, "last": last_year},
            "chunks": db.execute("SELECT count(*) FROM chunks").fetchone()[0],
            "sentences": len(self.stored_vectors["sentences"]),
            "model": self.manifest.model,
            "backend": self.manifest.backend,
            "dimension": self.manifest.dimension,
            "built_at": self.manifest.built_at,
            "corpus_fingerprint": self.manifest.corpus_fingerprint,
            "vectors": self.manifest.vectors,
            "format_version": self.manifest.format_version,
            "commitments": self._count("commitments"),
            "follow_ups": self._count("follow_ups"),
        }

    def _count(self, tracking_table: str) -> int | None:
        if not self.tracks_commitments:
            return None
        return self._db().execute(f"SELECT count(*) FROM {tracking_table}").fetchone()[0]


def open_generation(generation: Path) -> IndexReader:
    """A reader of ``generation`` for the engine its manifest names (the Milvus engine when it was
    built with ``--store milvus...``)."""
    manifest = Manifest.load(generation / MANIFEST)
    if manifest.store:
        from indexer.index.milvus import MilvusReader

        return MilvusReader(generation, manifest)
    return IndexReader(generation, manifest)


def _document_filters(
    doc_type: str | None,
    year_from: int | None,
    year_to: int | None,
    issuer: tuple[str, ...] | None,
    *extra: tuple[str, object],
) -> tuple[str, list]:
    """The WHERE clause (empty when nothing is set) and parameters of the document filters that
    passages and commitments share, plus ``extra`` conditions (each left out when its value is
    None or empty); the issuer contains one of the ``issuer`` forms (a body's name, its short form
    spelled out)."""
    conditions = [("d.doc_type = ?", doc_type), ("d.year >= ?", year_from), ("d.year <= ?", year_to), *extra]
    chosen = [(clause, [value]) for clause, value in conditions if value is not None and value != ""]
    if issuer:
        chosen.append(("(" + " OR ".join("instr(d.issuer, ?) > 0" for _ in issuer) + ")", list(issuer)))
    return " AND ".join(clause for clause, _ in chosen), [value for _, values in chosen for value in values]


def _document(row: sqlite3.Row) -> Document:
    return Document(
        **{f: row[f] for f in _INFO_FIELDS}, metadata=json.loads(row["metadata"]), text=row["text"]
    )


def _passage(row: sqlite3.Row, document_text: str) -> Passage:
    values = {key: row[key] for key in row.keys()}  # noqa: SIM118 (sqlite3.Row has no items())
    values["is_commitment"] = bool(values["is_commitment"])
    return Passage(**values, text=document_text[row["start"] : row["end"]])
