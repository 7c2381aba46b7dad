"""`policy-search serve --workers 2`: separate processes answer over real HTTP from one read-only index."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest


@pytest.mark.slow
def test_two_workers_answer_the_same_results(replies_index, searcher):
    from search_api.request import SearchRequest

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "policy_search.cli", "serve", "--index", str(replies_index)]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--workers", "2"], stderr=subprocess.PIPE, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            try:
                if httpx.get(base + "/search", params={"q": "养老"}, timeout=30).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        query = "加装电梯补贴"
        expected = [r["chunk_id"] for r in searcher.search(SearchRequest(query=query))["results"]]
        with httpx.Client(base_url=base, timeout=60) as client:
            answers = [client.get("/search", params={"q": query}).json() for _ in range(12)]
        assert all([r["chunk_id"] for r in a["results"]] == expected for a in answers)
        workers = subprocess.run(
            ["pgrep", "-P", str(server.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(workers) >= 2, workers
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def test_a_missing_index_is_reported_before_workers_start(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "policy_search.cli",
            "serve",
            "--index",
            str(tmp_path / "none"),
            "--workers",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1 and "no index in" in result.stderr
