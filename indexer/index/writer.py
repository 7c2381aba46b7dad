"""Writes one new generation of the index: documents, passages, sentence units, words, vectors.

SQLite holds documents, chunks and their sentence units (with their vectors, so that unchanged
documents are copied, not re-embedded), an FTS5 table of jieba words, and the commitments,
follow-ups and citations derived from all of them (``track_commitments``); ``commit`` builds the
FAISS files from the stored vectors (FAISS ids are chunk ids and sentence ids) and makes the
generation live.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer.index.bm25 import POSTINGS_FILE, WORD_TABLE, Postings
from indexer.index.ids import stable_id
from indexer.index.layout import MANIFEST, make_live, new_generation
from indexer.index.manifest import Manifest
from indexer.index.records import DOCUMENT_FIELDS
from indexer.index.vectors import build_faiss, stack_blobs, to_blob
from indexer.tracking import StoredDocument, StoredUnit, Tracking, track

if TYPE_CHECKING:
    from indexer.chunking import Chunk
    from indexer.index.reader import IndexReader

SCHEMA = """
CREATE TABLE documents (
    doc_id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, source TEXT NOT NULL,
    fingerprint TEXT NOT NULL, title TEXT, doc_type TEXT, issuer TEXT, date TEXT, year INTEGER,
    doc_number TEXT, proposal_number TEXT, answer_category TEXT, metadata TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE TABLE chunks (
    chunk_id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL REFERENCES documents(doc_id),
    ordinal INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL, section TEXT NOT NULL,
    page INTEGER, end_page INTEGER, is_commitment INTEGER NOT NULL, role TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX chunks_by_doc ON chunks(doc_id, ordinal);
CREATE TABLE sentences (
    sentence_id INTEGER PRIMARY KEY, chunk_id INTEGER NOT NULL REFERENCES chunks(chunk_id),
    start INTEGER NOT NULL, end INTEGER NOT NULL, vector BLOB NOT NULL
);
CREATE INDEX sentences_by_chunk ON sentences(chunk_id, start, end);  -- covers best_sentences
CREATE TABLE retired (
    chunk_id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL
);
CREATE TABLE commitments (
    commitment_id INTEGER PRIMARY KEY, doc_id INTEGER NOT NULL REFERENCES documents(doc_id),
    chunk_id INTEGER NOT NULL, sentence_id INTEGER, start INTEGER NOT NULL, end INTEGER NOT NULL,
    section TEXT NOT NULL, deadline_year INTEGER, target TEXT, topic TEXT NOT NULL
);
CREATE INDEX commitments_by_doc ON commitments(doc_id, start);
CREATE TABLE commitment_chunks (
    commitment_id INTEGER NOT NULL, chunk_id INTEGER NOT NULL, PRIMARY KEY (chunk_id, commitment_id)
) WITHOUT ROWID;
CREATE TABLE follow_ups (
    commitment_id INTEGER NOT NULL, doc_id INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    relation TEXT NOT NULL, explicit INTEGER NOT NULL, score REAL NOT NULL
);
CREATE INDEX follow_ups_by_commitment ON follow_ups(commitment_id);
CREATE TABLE citations (
    citing INTEGER NOT NULL, cited INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    by TEXT NOT NULL
);
CREATE TABLE supersessions (
    doc_id INTEGER NOT NULL, start INTEGER NOT NULL, end INTEGER NOT NULL,
    by_doc INTEGER NOT NULL, by_chunk INTEGER NOT NULL, by_start INTEGER NOT NULL, by_end INTEGER NOT NULL
);
CREATE INDEX supersessions_by_doc ON supersessions(doc_id, start);
CREATE VIRTUAL TABLE chunk_words USING fts5(body, context, tokenize = 'unicode61 remove_diacritics 0');
"""
DOCUMENT_COLUMNS = ("doc_id", "key", "source", "fingerprint", *DOCUMENT_FIELDS, "metadata", "text")
CHUNK_COLUMNS = (
    "chunk_id", "doc_id", "ordinal", "start", "end", "section", "page", "end_page", "is_commitment", "role",
    "vector",
)  # fmt: skip
SENTENCE_COLUMNS = ("sentence_id", "chunk_id", "start", "end", "vector")
WORD_COLUMNS = ("rowid", "body", "context")
COMMITMENT_COLUMNS = (
    "commitment_id", "doc_id", "chunk_id", "sentence_id", "start", "end", "section", "deadline_year",
    "target", "topic",
)  # fmt: skip
FOLLOW_UP_COLUMNS = ("commitment_id", "doc_id", "start", "end", "relation", "explicit", "score")
CITATION_COLUMNS = ("citing", "cited", "start", "end", "by")
SUPERSESSION_COLUMNS = ("doc_id", "start", "end", "by_doc", "by_chunk", "by_start", "by_end")
RETIRED_COLUMNS = ("chunk_id", "doc_id", "start", "end")
# every sentence unit, and each passage of a single unit (its own vector is that unit's)
_UNITS_SQL = """
SELECT c.doc_id, s.start, s.end, c.section, c.chunk_id, s.sentence_id, s.vector
FROM sentences s JOIN chunks c USING (chunk_id)
UNION ALL
SELECT c.doc_id, c.start, c.end, c.section, c.chunk_id, NULL, c.vector FROM chunks c
WHERE NOT EXISTS (SELECT 1 FROM sentences s WHERE s.chunk_id = c.chunk_id)
"""
VECTOR_FILES = (("chunks", "chunk_id", "vectors.faiss"), ("sentences", "sentence_id", "sentences.faiss"))


def insert_sql(table: str, columns: Sequence[str], verb: str = "INSERT") -> str:
    """An INSERT naming its columns, with one named parameter per column."""
    return f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})"


# the tables a document's rows live in, in the order they are written
DOCUMENT_TABLES = {
    "documents": insert_sql("documents", DOCUMENT_COLUMNS),
    "chunks": insert_sql("chunks", CHUNK_COLUMNS),
    "chunk_words": insert_sql("chunk_words", WORD_COLUMNS),
    "sentences": insert_sql("sentences", SENTENCE_COLUMNS),
}
# the tables commitment tracking derives for a whole generation
TRACKING_TABLES = {
    "commitments": insert_sql("commitments", COMMITMENT_COLUMNS),
    "follow_ups": insert_sql("follow_ups", FOLLOW_UP_COLUMNS),
    "citations": insert_sql("citations", CITATION_COLUMNS),
    "supersessions": insert_sql("supersessions", SUPERSESSION_COLUMNS),
}
INSERT_RETIRED = insert_sql("retired", RETIRED_COLUMNS, verb="INSERT OR REPLACE")


class GenerationWriter:
    """Writes one new generation; ``commit`` makes it live, ``abort`` leaves the old one."""

    def __init__(self, index_dir: Path) -> None:
        self.path = new_generation(index_dir)
        self.db = sqlite3.connect(self.path / "index.sqlite")
        self.db.executescript(SCHEMA)
        self.chunk_ids: set[int] = set()  # taken in this generation

    def add_document(
        self, doc_id: int, key: str, source: str, fingerprint: str, text: str, metadata: dict
    ) -> None:
        row = {field: metadata.get(field) for field in DOCUMENT_FIELDS}
        row |= {"doc_id": doc_id, "key": key, "source": source, "fingerprint": fingerprint, "text": text}
        row["metadata"] = json.dumps(metadata, ensure_ascii=False)
        self.db.execute(DOCUMENT_TABLES["documents"], row)

    def add_chunk(
        self,
        chunk_id: int,
        doc_id: int,
        chunk: Chunk,
        vector: np.ndarray,
        body_words: str,
        context_words: str,
        sentences: Sequence[tuple[int, int, np.ndarray]] = (),
    ) -> None:
        """Store a passage, its words, and its sentence units as (start, end, vector) in document offsets."""
        row = {
            "chunk_id": chunk_id,
            "doc_id": doc_id,
            "ordinal": chunk.ordinal,
            "start": chunk.start,
            "end": chunk.end,
            "section": chunk.section,
            "page": chunk.page,
            "end_page": chunk.end_page,
            "is_commitment": int(chunk.is_commitment),
            "role": chunk.role,
            "vector": to_blob(vector),
        }
        self.db.execute(DOCUMENT_TABLES["chunks"], row)
        self.chunk_ids.add(chunk_id)
        words = {"rowid": chunk_id, "body": body_words, "context": context_words}
        self.db.execute(DOCUMENT_TABLES["chunk_words"], words)
        units = [
            {"sentence_id": None, "chunk_id": chunk_id, "start": start, "end": end, "vector": to_blob(unit)}
            for start, end, unit in sentences
        ]
        self.db.executemany(DOCUMENT_TABLES["sentences"], units)

    def copy_document(self, old: IndexReader, doc_id: int) -> int:
        """Carry a document, its chunks, vectors, words and sentence units over unchanged.

        Returns its chunk count.
        """
        rows = old.stored_rows(doc_id)
        for table, insert in DOCUMENT_TABLES.items():
            self.db.executemany(insert, rows[table])
        self.chunk_ids.update(row["chunk_id"] for row in rows["chunks"])
        return len(rows["chunks"])

    def retire_passages(self, old: IndexReader, updated: list[int], kept: list[int]) -> None:
        """Remember the passages an update replaced (and those retired before, of documents still
        here), so an old passage id can say which document and span it became."""
        present = set(updated) | set(kept)
        rows = [row for row in old.retired_rows() if row["doc_id"] in present]
        for doc_id in updated:
            rows += [
                {"chunk_id": p.chunk_id, "doc_id": doc_id, "start": p.start, "end": p.end}
                for p in old.passages(old.document_passages(doc_id)).values()
            ]
        rows = [row for row in rows if row["chunk_id"] not in self.chunk_ids]
        self.db.executemany(INSERT_RETIRED, rows)

    def track_commitments(self) -> Tracking:
        """Derive commitments, their follow-ups and citations from what this generation holds,
        store them, and flag exactly the passages holding a commitment."""
        db = self.db
        documents = [StoredDocument(*row) for row in db.execute(
            "SELECT doc_id, title, issuer, year, date, doc_number, doc_type, text FROM documents"
        )]  # fmt: skip
        units = [
            StoredUnit(
                doc_id, start, end, section, chunk_id, sentence_id, np.frombuffer(blob, dtype=np.float32)
            )
            for doc_id, start, end, section, chunk_id, sentence_id, blob in db.execute(_UNITS_SQL)
        ]
        tracking = track(documents, units)
        taken: set[int] = set()
        ids = []
        for item in tracking.commitments:
            commitment = item.commitment
            ids.append(stable_id(("commitment", item.doc_id, commitment.start, commitment.end), taken))
            row: dict[str, object] = {
                "commitment_id": ids[-1],
                "doc_id": item.doc_id,
                "chunk_id": item.chunk_id,
            }
            row |= {"sentence_id": item.sentence_id, "topic": item.topic}
            row |= {
                key: getattr(commitment, key)
                for key in ("start", "end", "section", "deadline_year", "target")
            }
            db.execute(TRACKING_TABLES["commitments"], row)
        db.execute(
            "INSERT INTO commitment_chunks SELECT m.commitment_id, c.chunk_id FROM commitments m"
            " JOIN chunks c ON c.doc_id = m.doc_id AND c.start <= m.start AND m.end <= c.end"
        )
        db.execute(
            "UPDATE chunks SET is_commitment ="
            " EXISTS (SELECT 1 FROM commitment_chunks m WHERE m.chunk_id = chunks.chunk_id)"
        )
        db.executemany(
            TRACKING_TABLES["follow_ups"],
            [asdict(link) | {"commitment_id": ids[link.commitment]} for link in tracking.links],
        )
        db.executemany(TRACKING_TABLES["citations"], [asdict(c) for c in tracking.citations])
        db.executemany(
            TRACKING_TABLES["supersessions"],
            [
                {"doc_id": s.old.doc_id, "start": s.old.start, "end": s.old.end, "by_doc": s.new.doc_id}
                | {"by_chunk": tracking.unit_chunks[s.new.row], "by_start": s.new.start, "by_end": s.new.end}
                for s in tracking.supersessions
            ],
        )
        return tracking

    def count_sentences(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM sentences").fetchone()[0])

    def corpus_fingerprint(self) -> str:
        """One hash of every stored document's fingerprint, in key order."""
        rows = self.db.execute("SELECT fingerprint FROM documents ORDER BY key").fetchall()
        return hashlib.sha256("".join(r[0] for r in rows).encode()).hexdigest()

    def commit(self, manifest: Manifest) -> None:
        """Build FAISS and the word postings from the stored rows, write the manifest, then swap
        CURRENT."""
        import faiss

        for table, key, file in VECTOR_FILES:
            rows = self.db.execute(f"SELECT {key}, vector FROM {table} ORDER BY {key}").fetchall()
            ids = np.array([r[0] for r in rows], dtype=np.int64)
            vectors = stack_blobs([r[1] for r in rows], manifest.dimension)
            faiss.write_index(build_faiss(ids, vectors, manifest.dimension), str(self.path / file))
        self.db.commit()
        Postings.from_fts(self.db, WORD_TABLE).save(self.path / POSTINGS_FILE)
        self.db.close()
        manifest.write(self.path / MANIFEST)
        make_live(self.path)

    def abort(self) -> None:
        try:
            self.db.close()
        finally:
            shutil.rmtree(self.path, ignore_errors=True)
