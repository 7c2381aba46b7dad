"""The index directory: its on-disk layout and swap, the writer, the reader and its records.

Only this package opens SQLite and FAISS files; everything else goes through ``IndexReader``
(or the ``IndexStore`` protocol that a second engine can implement) and ``GenerationWriter``.
"""

from indexer.index.layout import CURRENT, live_generation, remove_abandoned, writer_lock
from indexer.index.live import LiveIndex
from indexer.index.manifest import FORMAT_VERSION, IndexFormatError, IndexStoreError, Manifest
from indexer.index.protocol import IndexStore
from indexer.index.reader import IndexReader
from indexer.index.records import DOCUMENT_FIELDS, Document, DocumentInfo, Passage, PassageFilter
from indexer.index.writer import GenerationWriter

__all__ = [
    "CURRENT",
    "DOCUMENT_FIELDS",
    "FORMAT_VERSION",
    "Document",
    "DocumentInfo",
    "GenerationWriter",
    "IndexFormatError",
    "IndexReader",
    "IndexStore",
    "IndexStoreError",
    "LiveIndex",
    "Manifest",
    "Passage",
    "PassageFilter",
    "live_generation",
    "remove_abandoned",
    "writer_lock",
]
