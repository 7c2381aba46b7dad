"""The embedding model behind indexing and search: a thin wrapper around SentenceTransformer.

It applies the spec's prompts, reports the model's token limit and counts tokens for the chunker,
and keeps torch to the machine's cores so that indexing does not oversubscribe a small server.
"""

from __future__ import annotations

import logging
import os
import threading
from functools import cached_property

import numpy as np
from tqdm import tqdm

from indexer.model.backends import choose_backend, exported_model
from indexer.model.specs import ModelSpec, model_location

log = logging.getLogger(__name__)


def _limit_threads() -> None:
    """One torch thread per core, and no tokenizer thread pool fighting torch for them."""
    import torch

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, cores))


class Encoder:
    """Embeds passages and queries with one model and its prompts; vectors are L2-normalized."""

    def __init__(self, spec: ModelSpec, backend: str | None = None, progress: bool = True) -> None:
        from sentence_transformers import SentenceTransformer

        _limit_threads()
        if not progress:
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        self.spec = spec
        # Fast tokenizers ("Already borrowed") and OpenVINO infer requests ("busy") must not be
        # entered by two threads at once; a query waits for the batch in progress.
        self._lock = threading.Lock()
        choice = choose_backend(backend)
        self.backend, self.backend_reason = choice.name, choice.reason
        log.info("encoder backend", extra={"backend": self.backend, "reason": self.backend_reason})
        self.location = exported_model(
            model_location(spec, progress=progress), self.backend, progress=progress
        )
        self.model = SentenceTransformer(
            self.location,
            device="cpu",
            backend=self.backend,  # type: ignore[arg-type]  # one of BACKENDS, checked by choose_backend
            local_files_only=os.path.isdir(self.location),
        )

    @cached_property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension() or 0)

    @property
    def max_tokens(self) -> int:
        """Tokens the model reads per text, special tokens included; longer input is cut."""
        return int(self.model.max_seq_length or 0)

    def count_tokens(self, text: str, is_query: bool = False) -> int:
        """Tokens the model would see for ``text`` with its prompt, special tokens included."""
        prompt = self.spec.prompts.query if is_query else self.spec.prompts.passage
        with self._lock:
            return len(self.model.tokenizer(prompt + text, add_special_tokens=True)["input_ids"])

    def encode_passages(self, texts: list[str], batch_size: int = 32, progress: bool = False) -> np.ndarray:
        """Vectors for passages, in the order given.

        Texts are embedded longest first so that batches pad little, a few batches per lock so that
        queries arriving meanwhile are not starved.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        step = batch_size * 4
        with tqdm(total=len(texts), desc="Embedding", unit="passage", disable=not progress) as bar:
            for start in range(0, len(order), step):
                rows = order[start : start + step]
                with self._lock:
                    vectors[rows] = self.model.encode(
                        [texts[i] for i in rows],
                        prompt=self.spec.prompts.passage,
                        batch_size=batch_size,
                        normalize_embeddings=True,
                        show_progress_bar=False,
                        convert_to_numpy=True,
                    )
                bar.update(len(rows))
        return vectors

    def encode_query(self, text: str) -> np.ndarray:
        with self._lock:
            vector = self.model.encode(
                [text], prompt=self.spec.prompts.query, normalize_embeddings=True, convert_to_numpy=True
            )
        return np.asarray(vector[0], dtype=np.float32)
