"""A generation's manifest: what the index was built with, and the errors of reading an index."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

FORMAT_VERSION = 5  # 3: stable ids and retired passages; 4: passage roles; 5: vectors stored once


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
    vectors: dict  # by kind: search structure, vector count, measured recall of compact codes
    # fingerprint of the commitment-tracking rules the generation was derived with; None for a
    # generation written before tracking existed (the next run derives it, without re-embedding)
    tracking: str | None = None
    # where the vectors, BM25 and filter fields live: None for this directory (FAISS + SQLite), or
    # a Milvus store (``milvus://HOST:PORT``, ``milvus-lite:/PATH.db``; see indexer.index.milvus)
    store: str | None = None

    @classmethod
    def load(cls, path: Path) -> Manifest:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format_version") != FORMAT_VERSION:
            raise IndexFormatError(
                f"index format version {data.get('format_version')} cannot be read by this version "
                f"(it reads format {FORMAT_VERSION}); run `policy-search index` on the documents again "
                "to rebuild it"
            )
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2))
