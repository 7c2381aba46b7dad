"""Writes one new generation of the index: documents, passages, sentence units, words, vectors.

SQLite holds documents, chunks and their sentence units, an FTS5 table of jieba words, and the
commitments, follow-ups and citations derived from all of them (``track_commitments``). Vectors
are stored once, outside SQLite (``indexer.index.vectors``: passage vectors by chunk id, sentence
vectors by sentence id), and unchanged documents carry theirs over from the live generation
instead of being re-embedded; ``commit`` writes the word postings and the manifest and makes the
generation live.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from indexer.index.bm25 import WORD_TABLE, Postings
from indexer.index.ids import stable_id
from indexer.index.layout import MANIFEST, make_live, new_generation
from indexer.index.manifest import Manifest
from indexer.index.milvus import publish
from indexer.index.records import DOCUMENT_FIELDS
from indexer.index.vectors import KINDS, PROBE_QUERIES, VectorSpool, VectorTable
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
    page INTEGER, end_page INTEGER, is_commitment INTEGER NOT NULL, role TEXT NOT NULL
);
CREATE INDEX chunks_by_doc ON chunks(doc_id, ordinal);
CREATE TABLE sentences (
    sentence_id INTEGER PRIMARY KEY, chunk_id INTEGER NOT NULL REFERENCES chunks(chunk_id),
    start INTEGER NOT NULL, end INTEGER NOT NULL
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
)  # fmt: skip
SENTENCE_COLUMNS = ("sentence_id", "chunk_id", "start", "end")
WORD_COLUMNS = ("rowid", "body", "context")
COMMITMENT_COLUMNS = (
    "commitment_id", "doc_id", "chunk_id", "sentence_id", "start", "end", "section", "deadline_year",
    "target", "topic",
)  # fmt: skip
FOLLOW_UP_COLUMNS = ("commitment_id", "doc_id", "start", "end", "relation", "explicit", "score")
CITATION_COLUMNS = ("citing", "cited", "start", "end", "by")
SUPERSESSION_COLUMNS = ("doc_id", "start", "end", "by_doc", "by_chunk", "by_start", "by_end")
RETIRED_COLUMNS = ("chunk_id", "doc_id", "start", "end")
# every sentence unit, and each passage of a single unit (its own vector is that unit's): the query
# and the vector kind its id (column 4 or 5) is stored under
_UNITS_SQL = (
    (
        "SELECT c.doc_id, s.start, s.end, c.section, c.chunk_id, s.sentence_id"
        " FROM sentences s JOIN chunks c USING (chunk_id)",
        "sentences",
        5,
    ),
    (
        "SELECT c.doc_id, c.start, c.end, c.section, c.chunk_id, NULL FROM chunks c"
        " WHERE NOT EXISTS (SELECT 1 FROM sentences s WHERE s.chunk_id = c.chunk_id)",
        "passages",
        4,
    ),
)


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
        self.spools = {kind: VectorSpool(self.path, kind) for kind in KINDS}

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
        }
        self.db.execute(DOCUMENT_TABLES["chunks"], row)
        self.chunk_ids.add(chunk_id)
        self.spools["passages"].add([chunk_id], vector)
        words = {"rowid": chunk_id, "body": body_words, "context": context_words}
        self.db.execute(DOCUMENT_TABLES["chunk_words"], words)
        insert = DOCUMENT_TABLES["sentences"]
        for start, end, unit in sentences:  # one at a time: SQLite gives each unit its id
            unit_row = {"sentence_id": None, "chunk_id": chunk_id, "start": start, "end": end}
            sentence_id = self.db.execute(insert, unit_row).lastrowid
            self.spools["sentences"].add([int(sentence_id or 0)], unit)

    def copy_document(self, old: IndexReader, doc_id: int) -> int:
        """Carry a document, its chunks, vectors, words and sentence units over unchanged.

        Returns its chunk count.
        """
        rows = old.stored_rows(doc_id)
        for table, insert in DOCUMENT_TABLES.items():
            self.db.executemany(insert, rows[table])
        chunk_ids = [row["chunk_id"] for row in rows["chunks"]]
        sentence_ids = [row["sentence_id"] for row in rows["sentences"]]
        self.chunk_ids.update(chunk_ids)
        self.spools["passages"].add(chunk_ids, old.stored_vectors["passages"].vectors(chunk_ids))
        self.spools["sentences"].add(sentence_ids, old.stored_vectors["sentences"].vectors(sentence_ids))
        return len(chunk_ids)

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
        for spool in self.spools.values():
            spool.lay_out(self._dimension())
        units: list[StoredUnit] = []
        for sql, kind, id_column in _UNITS_SQL:
            found = db.execute(sql).fetchall()
            vectors = VectorTable.open(self.path, kind, {}).vectors([unit[id_column] for unit in found])
            units += [
                StoredUnit(doc_id, start, end, section, chunk_id, sentence_id, vector)
                for (doc_id, start, end, section, chunk_id, sentence_id), vector in zip(
                    found, vectors, strict=True
                )
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

    def needs_probe_queries(self) -> bool:
        """Whether a kind holds more vectors than are searched exactly, so that ``finish_vectors``
        needs query vectors to set its compact codes' probes."""
        return any(spool.needs_codes() for spool in self.spools.values())

    def probe_texts(self, count: int = PROBE_QUERIES) -> list[str]:
        """Query-like texts to embed as queries for ``finish_vectors``: the first clause (6 to 24
        characters) of sentence units spread evenly over the generation. Such fragments lie as far
        from the passages holding them as typed questions do (measured on the scale bench: the
        probes they need match the eval queries'), unlike titles and headings, which every passage
        vector carries and which were found at a quarter of the probes the eval queries need."""
        ids = [row[0] for row in self.db.execute("SELECT sentence_id FROM sentences ORDER BY sentence_id")]
        texts: list[str] = []
        for row in (
            np.unique(np.linspace(0, len(ids) - 1, min(len(ids), 3 * count), dtype=int)) if ids else []
        ):
            unit = self.db.execute(
                "SELECT substr(d.text, s.start + 1, s.end - s.start) FROM sentences s"
                " JOIN chunks c USING (chunk_id) JOIN documents d USING (doc_id) WHERE s.sentence_id = ?",
                [ids[row]],
            ).fetchone()[0]
            clauses = [c.strip() for c in re.split(r"[，。；：、！？\n]", unit)]
            texts += [c for c in clauses if 6 <= len(c) <= 24][:1]
        return texts[:count]

    def _dimension(self, given: int = 0) -> int:
        """The vectors' dimension: as written, or ``given`` when nothing was written."""
        return max(spool.dimension for spool in self.spools.values()) or given

    def publish_vectors(self, store: str, dimension: int = 0) -> dict[str, dict]:
        """Lay the vectors out by id and hand them, with the words and filter fields, to a Milvus
        store (which builds its own search structures); returns each kind's description."""
        for spool in self.spools.values():
            spool.lay_out(self._dimension(dimension))
        return publish(store, self.path, self.db)

    def finish_vectors(self, dimension: int = 0, queries: np.ndarray | None = None) -> dict[str, dict]:
        """Lay the vectors out by id and build their search structures (``queries`` are needed
        where ``needs_probe_queries``); returns each kind's description for the manifest."""
        dimension = self._dimension(dimension)
        probes = np.zeros((0, dimension), dtype=np.float32) if queries is None else queries
        return {kind: spool.finish(dimension, probes) for kind, spool in self.spools.items()}

    def commit(self, manifest: Manifest) -> None:
        """Write the word postings (unless a Milvus store scores the words) and the manifest (its
        ``vectors`` from ``finish_vectors`` or ``publish_vectors``), then swap CURRENT."""
        self.db.commit()
        if not manifest.store:
            Postings.from_fts(self.db, WORD_TABLE).save(self.path)
        self.db.close()
        manifest.write(self.path / MANIFEST)
        make_live(self.path)

    def abort(self) -> None:
        try:
            for spool in self.spools.values():
                spool.abort()
            self.db.close()
        finally:
            shutil.rmtree(self.path, ignore_errors=True)
