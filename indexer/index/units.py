"""The sentence units' places, held in memory: which passage owns a unit and where it lies.

Every dense query asks which passages own its nearest units and which unit of each candidate
passage is nearest (a few hundred passages): as SQL ``IN`` lists these were a fifth of a hybrid
query's time. The table is small (four integers a unit) and a generation never changes, so it is
read once.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SentenceUnits:
    """Units in (passage, start, end) order, the order in which SQLite's covering index lists them."""

    chunk_ids: np.ndarray  # int64, the owning passage
    sentence_ids: np.ndarray  # int64, the unit's FAISS id
    starts: np.ndarray  # int64, document offsets
    ends: np.ndarray
    sorted_ids: np.ndarray  # the sentence ids in ascending order, for looking owners up
    owner_of_sorted: np.ndarray  # the owning passage of each of ``sorted_ids``

    @classmethod
    def read(cls, db: sqlite3.Connection) -> SentenceUnits:
        rows = db.execute(
            "SELECT chunk_id, sentence_id, start, end FROM sentences"
            " ORDER BY chunk_id, start, end, sentence_id"
        )
        table = np.array(rows.fetchall(), dtype=np.int64).reshape(-1, 4)
        chunk_ids, sentence_ids, starts, ends = table.T.copy()
        by_sentence = np.argsort(sentence_ids, kind="stable")
        return cls(chunk_ids, sentence_ids, starts, ends, sentence_ids[by_sentence], chunk_ids[by_sentence])

    def owners(self, sentence_ids: list[int]) -> set[int]:
        """The passages owning the given units."""
        found = np.searchsorted(self.sorted_ids, sentence_ids)
        inside = found < len(self.sorted_ids)
        found = found[inside][self.sorted_ids[found[inside]] == np.asarray(sentence_ids)[inside]]
        return set(self.owner_of_sorted[found].tolist())

    def of_chunks(self, chunk_ids: list[int]) -> np.ndarray:
        """Positions of the units of the given passages, passage by passage in ascending id order."""
        wanted = np.unique(np.asarray(chunk_ids, dtype=np.int64))
        lows = np.searchsorted(self.chunk_ids, wanted, side="left")
        highs = np.searchsorted(self.chunk_ids, wanted, side="right")
        ranges = [np.arange(low, high) for low, high in zip(lows, highs, strict=True) if high > low]
        return np.concatenate(ranges) if ranges else np.zeros(0, dtype=np.int64)
