"""The index directory on disk: generations, the CURRENT pointer, the writer lock, durable swaps.

Layout::

    INDEX/
      CURRENT               name of the live generation
      .lock                 held by the one writer
      gen-<time>-<rand>/    manifest.json, index.sqlite, words.*.npy (postings), and per vector kind
                            (passages, sentences) .ids.npy, .f32.npy and, at scale, .codes.faiss

A build writes a whole new generation beside the live one and then replaces CURRENT in one
``os.replace``; a killed build leaves only an unreferenced directory behind, and readers never
see a half-written index.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from indexer.index.manifest import IndexStoreError

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
KEEP_GENERATIONS = 2  # the live one and the one before, for readers still holding it


def live_pointer(index_dir: Path) -> str:
    """The name CURRENT holds, or "" when there is none (no index yet, or it cannot be read)."""
    try:
        return (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def live_generation(index_dir: Path) -> Path | None:
    name = live_pointer(index_dir)
    generation = index_dir / name
    return generation if name and generation.is_dir() else None


@contextmanager
def writer_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's writer lock; a second writer fails at once instead of waiting."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexStoreError(
                f"another process is writing the index in {index_dir}; wait for it to finish"
            ) from exc
        yield


def remove_abandoned(index_dir: Path) -> list[str]:
    """Delete generations that never went live: those newer than the one CURRENT names.

    A killed build may have written its manifest before the swap; such a generation is complete
    but was never served, and keeping it would make it look like "the previous generation" and
    push the real one out. Only CURRENT says what was live. Hold the writer lock.
    """
    live = live_generation(index_dir)
    removed = []
    for path in index_dir.glob("gen-*"):
        if path.is_dir() and (live is None or path.name > live.name):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def new_generation(index_dir: Path) -> Path:
    """A fresh, empty generation directory; it is not live until ``make_live``."""
    path = index_dir / f"gen-{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(3)}"
    path.mkdir(parents=True)
    return path


def make_live(generation: Path) -> None:
    """Flush the generation to disk, point CURRENT at it atomically, and prune old generations."""
    index_dir = generation.parent
    _fsync_tree(generation)
    pointer = index_dir / f".{CURRENT}.{secrets.token_hex(3)}"
    pointer.write_text(generation.name)
    _fsync_file(pointer)
    os.replace(pointer, index_dir / CURRENT)
    _fsync_file(index_dir)
    _prune(index_dir, generation.name)


def _prune(index_dir: Path, live: str) -> None:
    generations = sorted(p for p in index_dir.glob("gen-*") if p.is_dir())
    recent = {p.name for p in generations[-KEEP_GENERATIONS:]}
    keep = {live} | {p.name for p in generations if p.name < live}.intersection(recent)
    for path in generations:
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(path: Path) -> None:
    for child in path.iterdir():
        _fsync_file(child)
    _fsync_file(path)
