"""The live index of a directory, followed across swaps: what a long-running reader holds."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from indexer.index.layout import live_pointer
from indexer.index.reader import IndexReader


class LiveIndex:
    """Opens the live generation and reopens when CURRENT names a new one.

    ``check`` runs on every newly opened reader before it replaces the old one (the service
    checks the model there), so a generation that cannot be served never goes live in a reader.
    """

    def __init__(self, index_dir: Path, check: Callable[[IndexReader], None] = lambda reader: None) -> None:
        self.index_dir = Path(index_dir)
        self._check = check
        self._lock = threading.Lock()
        self._pointer = live_pointer(self.index_dir)
        self._reader = IndexReader.open(self.index_dir)

    def set_check(self, check: Callable[[IndexReader], None]) -> None:
        """Check the open reader now and every later one as it is opened."""
        check(self._reader)
        self._check = check

    @property
    def reader(self) -> IndexReader:
        """The live generation's reader; a newly swapped-in generation is picked up here."""
        live = live_pointer(self.index_dir)
        if live and live != self._pointer:
            with self._lock:
                if live != self._pointer:
                    reader = IndexReader.open(self.index_dir)
                    self._check(reader)
                    self._reader, self._pointer = reader, live
        return self._reader
