"""What a user would otherwise set up, scored in the same run as our modes.

* ``baseline-bm25``: BM25 (bm25s) over jieba words on fixed 300-character windows, 50 overlapping.
* ``baseline-naive-dense``: the same embedding model on fixed 512-character windows (50 overlap),
  with no prompts and no titles or headings: the common LangChain-style setup.

Both cut the same canonical document texts as the index, so their passages are scored by the
same span overlap. Baseline vectors are cached by corpus fingerprint, outside the index.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numpy as np

from indexer.lexical import words
from indexer.model.bundled import cache_root


@dataclass
class Window:
    doc_id: int
    start: int
    end: int


def windows(documents: list[dict], size: int, overlap: int) -> list[Window]:
    step = size - overlap
    out = []
    for doc in documents:
        length = len(doc["text"])
        for start in range(0, max(length - overlap, 1), step):
            out.append(Window(doc["doc_id"], start, min(start + size, length)))
    return out


def _passage(window: Window, texts: dict[int, str]) -> dict:
    return {
        "doc_id": window.doc_id,
        "start": window.start,
        "end": window.end,
        "text": texts[window.doc_id][window.start : window.end],
    }


class BM25Baseline:
    name = "baseline-bm25"

    def __init__(self, documents: list[dict]) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every index build at DEBUG
        self.texts = {d["doc_id"]: d["text"] for d in documents}
        self.windows = windows(documents, 300, 50)
        corpus = [words(self.texts[w.doc_id][w.start : w.end]) for w in self.windows]
        self.retriever = bm25s.BM25()
        self.retriever.index(corpus, show_progress=False)

    def search(self, query: str, k: int) -> list[dict]:
        tokens = [t for t in words(query) if t in self.retriever.vocab_dict]
        if not tokens:
            return []
        ids, scores = self.retriever.retrieve([tokens], k=min(k, len(self.windows)), show_progress=False)
        return [_passage(self.windows[int(i)], self.texts) for i, s in zip(ids[0], scores[0]) if s > 0]


class NaiveDenseBaseline:
    name = "baseline-naive-dense"

    def __init__(self, documents: list[dict], encoder, fingerprint: str, progress: bool = False) -> None:
        self.texts = {d["doc_id"]: d["text"] for d in documents}
        self.windows = windows(documents, 512, 50)
        self.model = encoder.model
        key = hashlib.sha256(f"{fingerprint}|{encoder.location}|512/50".encode()).hexdigest()[:16]
        cache = cache_root() / "eval" / f"naive-dense-{key}.npy"
        if cache.is_file():
            self.vectors = np.load(cache)
        else:
            texts = [self.texts[w.doc_id][w.start : w.end] for w in self.windows]
            self.vectors = np.asarray(
                self.model.encode(
                    texts, batch_size=32, normalize_embeddings=True, show_progress_bar=progress
                ),
                dtype=np.float32,
            )
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.save(cache, self.vectors)

    def search(self, query: str, k: int) -> list[dict]:
        vector = np.asarray(self.model.encode([query], normalize_embeddings=True), dtype=np.float32)[0]
        order = np.argsort(-(self.vectors @ vector))[:k]
        return [_passage(self.windows[int(i)], self.texts) for i in order]
