"""The embedding model behind indexing and search: a thin wrapper around SentenceTransformer.

It applies the spec's prompts, reports the model's token limit and counts tokens for the chunker,
and serializes the model's use between indexing batches and queries.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import cached_property

import numpy as np
from tqdm import tqdm

from indexer.model.backends import exported_model, load_model
from indexer.model.selection import BackendChoice, choose_backend
from indexer.model.specs import ModelSpec, model_location

log = logging.getLogger(__name__)


class Encoder:
    """Embeds passages and queries with one model and its prompts; vectors are L2-normalized."""

    def __init__(
        self,
        spec: ModelSpec,
        backend: str | BackendChoice | None = None,
        progress: bool = True,
        threads: int | None = None,
    ) -> None:
        """``backend`` is a name (``auto`` or None measures, see ``selection``) or a choice already
        made; ``threads`` are the model's compute threads (default: one per usable core)."""
        if not progress:
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        self.spec = spec
        # Fast tokenizers ("Already borrowed") and OpenVINO infer requests ("busy") must not be
        # entered by two threads at once; a query waits for the batch in progress.
        self._lock = threading.Lock()
        choice = backend if isinstance(backend, BackendChoice) else choose_backend(backend, spec, progress)
        self.backend, self.backend_reason, self.measurements = choice.name, choice.reason, choice.measurements
        log.info("encoder backend", extra={"backend": self.backend, "reason": self.backend_reason})
        self.location = exported_model(
            model_location(spec, progress=progress), self.backend, spec.prompts.passage, progress=progress
        )
        self.model = load_model(self.location, self.backend, threads)

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

    def encode_passages(
        self,
        texts: list[str],
        batch_size: int = 32,
        progress: bool = False,
        on_step: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """Vectors for passages, in the order given.

        Texts are embedded longest first so that batches pad little, a few batches per lock so that
        queries arriving meanwhile are not starved. ``on_step(done, total)`` follows the distinct
        texts embedded (a build's status file, see ``indexer.index.build_status``).
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # a text given twice is embedded once (a sentence shared by overlapping passages is a sentence
        # unit of each: a sixth of the corpus's units)
        distinct = list(dict.fromkeys(texts))
        order = sorted(range(len(distinct)), key=lambda i: -len(distinct[i]))
        vectors = np.zeros((len(distinct), self.dimension), dtype=np.float32)
        step = batch_size * 4
        with tqdm(total=len(distinct), desc="Embedding", unit="text", disable=not progress) as bar:
            for start in range(0, len(order), step):
                rows = order[start : start + step]
                with self._lock:
                    vectors[rows] = self.model.encode(
                        [distinct[i] for i in rows],
                        prompt=self.spec.prompts.passage,
                        batch_size=batch_size,
                        normalize_embeddings=True,
                        show_progress_bar=False,
                        convert_to_numpy=True,
                    )
                bar.update(len(rows))
                if on_step:
                    on_step(start + len(rows), len(order))
        if len(distinct) == len(texts):
            return vectors
        position = {text: row for row, text in enumerate(distinct)}
        return vectors[[position[text] for text in texts]]

    def encode_query(self, text: str) -> np.ndarray:
        with self._lock:
            vector = self.model.encode(
                [text], prompt=self.spec.prompts.query, normalize_embeddings=True, convert_to_numpy=True
            )
        return np.asarray(vector[0], dtype=np.float32)
