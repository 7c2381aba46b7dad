"""Shared fixtures: the real bundled model and real indexes built once per test session."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
REPLIES = CORPUS / "replies"
FORMATS = CORPUS / "formats"
SEED = REPLIES / "000_dcdf98dc2feff78d.txt"


# fixtures that load the real model or build an index with it: tests using them are `slow`
MODEL_FIXTURES = {"encoder", "replies_index", "searcher", "client"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that needs the real model as ``slow``, so ``-m "not slow"`` is a fast lane."""
    for item in items:
        if MODEL_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def spec():
    from indexer.model.specs import resolve_spec

    return resolve_spec("bundled:multilingual-e5-small")


@pytest.fixture(scope="session")
def encoder(spec):
    from indexer.model.encoder import Encoder

    return Encoder(spec, progress=False)


@pytest.fixture(scope="session")
def replies_index(tmp_path_factory, spec, encoder) -> Path:
    """The bundled reply letters and notices (seed letter included), indexed with the real model."""
    from indexer.build import build_index

    index_dir = tmp_path_factory.mktemp("replies-index")
    build_index([REPLIES], index_dir, spec, lambda: encoder, progress=False)
    return index_dir


@pytest.fixture(scope="session")
def searcher(replies_index, encoder):
    from search_api.retrieval import Searcher

    return Searcher(replies_index, encoder)


@pytest.fixture()
def small_corpus(tmp_path) -> Path:
    """A writable folder with three reply letters, for tests that change files."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name in (
        "000_dcdf98dc2feff78d.txt",
        "reply-2022-0017-elderly-meal.txt",
        "reply-2024-0031-elevator-retrofit.txt",
    ):
        shutil.copy(REPLIES / name, folder / name)
    return folder


class CountingEncoder:
    """The real encoder, counting the texts each build asks it to embed (so a test
    can tell what an incremental run re-embedded)."""

    def __init__(self, encoder) -> None:
        self.encoder = encoder
        self.embedded = 0

    def __getattr__(self, name):
        return getattr(self.encoder, name)

    def encode_passages(self, texts, **kwargs):
        self.embedded += len(texts)
        return self.encoder.encode_passages(texts, **kwargs)


@contextmanager
def running_server(app):
    """Serve ``app`` with a real uvicorn on a free loopback port; yields the base URL."""
    import httpx
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def client(replies_index, searcher):
    """The service over the reply corpus, through FastAPI's test client (real HTTP handling)."""
    from fastapi.testclient import TestClient

    from search_api.app import create_app
    from search_api.auth import ApiKeys

    return TestClient(create_app(replies_index, searcher=searcher, api_keys=ApiKeys([])))
