"""What the search side needs from a storage engine; ``IndexReader`` (FAISS + SQLite) is one.

A second engine (for example one backed by Milvus) implements the same methods, and the service,
the CLI and the evaluation work on it unchanged.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from indexer.index.manifest import Manifest
from indexer.index.records import CommitmentRecord, Document, DocumentInfo, Passage, PassageFilter


class IndexStore(Protocol):
    manifest: Manifest

    def check_model(self, model_name: str) -> None: ...

    def list_documents(self) -> list[DocumentInfo]: ...

    def all_documents(self) -> list[Document]: ...

    def document(self, doc_id: int) -> Document | None: ...

    def passages(self, chunk_ids: list[int]) -> dict[int, Passage]: ...

    def neighbours(self, chunk_id: int, width: int = 1) -> list[int]: ...

    def document_passages(self, doc_id: int) -> list[int]: ...

    def nearest_passages(
        self, vector: np.ndarray, limit: int, allowed: list[int] | None
    ) -> list[tuple[int, float]]: ...

    def owners_of_nearest_sentences(
        self, vector: np.ndarray, limit: int, allowed: list[int] | None
    ) -> set[int]: ...

    def passage_cosines(self, vector: np.ndarray, chunk_ids: list[int]) -> dict[int, np.floating]: ...

    def best_sentences(
        self, vector: np.ndarray, chunk_ids: list[int]
    ) -> dict[int, tuple[int, int, float]]: ...

    def lexical(
        self, words: list[str], weights: tuple[float, float], limit: int | None = None
    ) -> dict[int, float]: ...

    def chunks_of_documents_numbered(self, identifier: str) -> list[int]: ...

    def chunks_containing(self, needle: str) -> list[int]: ...

    def filter_chunks(self, passage_filter: PassageFilter) -> list[int] | None: ...

    @property
    def tracks_commitments(self) -> bool: ...

    def commitments(self, commitment_ids: list[int]) -> list[CommitmentRecord]: ...

    def commitments_of_chunks(self, chunk_ids: list[int]) -> dict[int, list[int]]: ...

    def supersessions_of_chunks(self, chunk_ids: list[int]) -> dict[int, tuple[int, int, int, int]]: ...

    def filter_commitments(
        self,
        doc_type: str | None = None,
        year_from: int | None = None,
        year_to: int | None = None,
        issuer: tuple[str, ...] | None = None,
        doc_id: int | None = None,
    ) -> list[int]: ...

    def commitment_cosines(self, vector: np.ndarray, commitment_ids: list[int]) -> dict[int, float]: ...

    def citations(self, doc_id: int) -> tuple[list[DocumentInfo], list[DocumentInfo]]: ...

    def retired_passage(self, chunk_id: int) -> tuple[int, int, int] | None: ...

    def stats(self) -> dict: ...
