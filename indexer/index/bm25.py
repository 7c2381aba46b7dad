"""BM25 over the FTS5 word table, held in memory: the scores of FTS5's own ``bm25()``, computed
with numpy instead of row by row in SQLite.

Hybrid search needs the BM25 of every passage that shares a word with the query (thousands per
query, so that no candidate is blended as a zero), and FTS5 scores them one row at a time: a
quarter of a hybrid query's time on the bundled corpus. The postings here are read from the FTS5
table itself (its ``fts5vocab`` view), so the words and token counts are FTS5's, and the score is
FTS5's formula in FTS5's order of operations (k1 = 1.2, b = 0.75, IDF floored at 1e-6, phrases
summed in query order), which gives the same figures. The writer saves them beside the vector
files (``words.*.npy``), which the reader maps into memory: a query reads only its words' postings,
so a large corpus's postings cost page cache, not process memory. A generation written without
them builds them when first opened. A query
word that FTS5 splits into several tokens (``3.5``) is a phrase, which the reader leaves to FTS5.
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

POSTINGS = "words"  # a generation's files words.<array>.npy
_ARRAYS = ("rowids", "lengths", "starts", "rows", "counts")
WORD_TABLE = "chunk_words"  # the FTS5 table of passages' jieba words (see ``writer``)
K1 = 1.2
B = 0.75
IDF_FLOOR = 1e-6  # FTS5's floor for words in more than half the rows
READ_BLOCK = 1_000_000  # postings read from FTS5 at a time


@dataclass(frozen=True)
class Postings:
    """Which rows hold each word, and how often in each column."""

    rowids: np.ndarray  # int64, one per FTS row
    lengths: np.ndarray  # float64, tokens in each row (all columns)
    vocabulary: dict[str, int]  # word → its number
    starts: np.ndarray  # int64, word i's postings are [starts[i], starts[i + 1])
    rows: np.ndarray  # int32, positions in ``rowids``
    counts: np.ndarray  # int32 (postings, columns): occurrences per column

    @classmethod
    def from_fts(cls, db: sqlite3.Connection, table: str) -> Postings:
        """Read the postings of FTS5 ``table``: each word's rows with its count per column.

        Read in blocks into arrays: a million passages hold some 60 million postings, which as
        one list of Python tuples would need more memory than the arrays by an order of magnitude."""
        columns = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
        view = f"temp.{table}_instances"
        per_column = ", ".join(f"sum(col = '{name}')" for name in columns)
        rowids = np.array([r[0] for r in db.execute(f"SELECT rowid FROM {table} ORDER BY rowid")], np.int64)
        vocabulary: dict[str, int] = {}
        firsts: list[np.ndarray] = []
        rows: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        read, last = 0, None
        db.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS {view} USING fts5vocab(main, {table}, instance)")
        try:
            cursor = db.execute(
                f"SELECT term, doc, {per_column} FROM {view} GROUP BY term, doc ORDER BY term, doc"
            )
            while block := cursor.fetchmany(READ_BLOCK):
                terms = np.array([p[0] for p in block], dtype=object)
                new = np.r_[terms[0] != last, terms[1:] != terms[:-1]]
                for word in terms[new]:
                    vocabulary[word] = len(vocabulary)
                firsts.append(np.flatnonzero(new) + read)
                rows.append(np.searchsorted(rowids, np.fromiter((p[1] for p in block), np.int64, len(block))))
                counts.append(np.array([p[2:] for p in block], np.int32).reshape(len(block), len(columns)))
                read, last = read + len(block), terms[-1]
        finally:
            db.execute(f"DROP TABLE {view}")
        all_rows = np.concatenate(rows).astype(np.int32) if rows else np.zeros(0, np.int32)
        all_counts = np.concatenate(counts) if counts else np.zeros((0, len(columns)), np.int32)
        lengths = np.bincount(all_rows, weights=all_counts.sum(axis=1), minlength=len(rowids))
        starts = np.concatenate([*firsts, [read]]).astype(np.int64)
        return cls(rowids, lengths.astype(np.float64), vocabulary, starts, all_rows, all_counts)

    def save(self, generation: Path) -> None:
        """Write each array to its own ``.npy`` file, which ``load`` maps into memory."""
        for name in _ARRAYS:
            np.save(generation / f"{POSTINGS}.{name}.npy", getattr(self, name))
        words = np.array(sorted(self.vocabulary, key=self.vocabulary.__getitem__), dtype=str)
        np.save(generation / f"{POSTINGS}.words.npy", words)

    @staticmethod
    def saved_in(generation: Path) -> bool:
        return (generation / f"{POSTINGS}.words.npy").exists()

    @classmethod
    def load(cls, generation: Path) -> Postings:
        """The saved postings, memory-mapped (the vocabulary is read: it is a dict)."""
        arrays = {name: np.load(generation / f"{POSTINGS}.{name}.npy", mmap_mode="r") for name in _ARRAYS}
        words = np.load(generation / f"{POSTINGS}.words.npy")
        return cls(vocabulary={str(word): number for number, word in enumerate(words)}, **arrays)

    @cached_property
    def _norms(self) -> np.ndarray:
        """``k1 * (1 - b + b * D / avgdl)`` of each row, as FTS5 computes it."""
        average = float(self.lengths.sum()) / len(self.rowids)
        return K1 * ((1 - B) + B * self.lengths / average)

    def scores(
        self, words: list[str], weights: tuple[float, ...], limit: int | None = None
    ) -> dict[int, float]:
        """FTS5's ``-bm25(table, *weights)`` of every row holding one of ``words`` (each one token
        of the table, one phrase each as in an OR query; a word it lacks adds nothing), by rowid,
        or the best ``limit`` best first."""
        if not len(self.rowids):
            return {}
        norms = self._norms
        column_weights = np.asarray(weights, dtype=np.float64)
        total = np.zeros(len(self.rowids))
        matched = np.zeros(len(self.rowids), dtype=bool)
        for word in words:
            number = self.vocabulary.get(word)
            if number is None:
                continue
            start, end = self.starts[number], self.starts[number + 1]
            rows = self.rows[start:end]
            frequency = self.counts[start:end] @ column_weights
            idf = math.log((len(self.rowids) - (end - start) + 0.5) / ((end - start) + 0.5))
            total[rows] += (idf if idf > 0.0 else IDF_FLOOR) * (
                (frequency * (K1 + 1.0)) / (frequency + norms[rows])
            )
            matched[rows] = True
        found = np.flatnonzero(matched)
        if limit is not None:  # best first; equal scores in rowid order
            found = found[np.argsort(-total[found], kind="stable")[:limit]]
        return dict(zip(self.rowids[found].tolist(), total[found].tolist(), strict=True))


def fts_phrases(words: list[str]) -> str:
    """An FTS5 query matching any of ``words``, each quoted as a phrase."""
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)
