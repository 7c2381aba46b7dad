"""A running uvicorn server follows an index swap without a restart and without failed requests."""

from __future__ import annotations

import shutil
import threading
import time

import httpx

from indexer.build import build_index
from search_api.app import create_app
from search_api.auth import ApiKeys
from search_api.retrieval import Searcher
from tests.conftest import REPLIES, running_server


def test_swap_under_running_server(tmp_path, small_corpus, spec, encoder):
    index_dir = tmp_path / "index"
    build_index([small_corpus], index_dir, spec, lambda: encoder, progress=False)
    app = create_app(index_dir, searcher=Searcher(index_dir, encoder), api_keys=ApiKeys([]))
    with running_server(app) as base:
        _hammer_during_swap(base, index_dir, small_corpus, spec, encoder)


def _hammer_during_swap(base, index_dir, small_corpus, spec, encoder) -> None:
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(base_url=base, timeout=30) as client:
            while not stop.is_set():
                statuses.append(client.get("/search", params={"q": "老年助餐 送餐上门", "k": 5}).status_code)

    workers = [threading.Thread(target=hammer) for _ in range(3)]
    try:
        for worker in workers:
            worker.start()
        assert httpx.get(base + "/stats").json()["documents"] == 3
        shutil.copy(REPLIES / "reply-2022-0196-old-community-renovation.txt", small_corpus)
        build_index([small_corpus], index_dir, spec, lambda: encoder, progress=False)
        time.sleep(0.5)
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert statuses and set(statuses) == {200}
    assert httpx.get(base + "/stats").json()["documents"] == 4
    hits = httpx.get(base + "/search", params={"q": "既有住宅加装电梯开工多少部"}).json()["results"]
    assert hits[0]["source"] == "reply-2022-0196-old-community-renovation.txt"
