"""Bad requests, tried as a careless user or an attacker would: every one gets a 4xx with the
bilingual error body, quickly, and nothing searchable returns an empty result with a reason."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import search_api.app as app_module
from search_api.app import create_app
from search_api.auth import ApiKeyError, ApiKeys
from tests.conftest import running_server

HUGE = "9223372036854775808"
BAD_REQUESTS = [
    ("GET", f"/search?q=养老&year_from={HUGE}", None),
    ("GET", "/search?q=养老&year_to=-99999999999999999999", None),
    ("GET", "/search?q=养老&k=0", None),
    ("GET", "/search?q=养老&k=99999999999999999999999", None),
    ("GET", "/search?q=养老&per_doc=0", None),
    ("GET", "/search?q=养老&mode=fuzzy", None),
    ("GET", "/search?q=养老&sort=oldest", None),
    ("GET", "/search?q=养老&doc_type=memo", None),
    ("GET", "/search?q=养老&year_from=2024&year_to=2020", None),
    ("GET", "/search?q=", None),
    ("GET", "/search?q=" + "养" * 600, None),
    ("GET", "/search", None),
    ("GET", f"/documents/{HUGE}", None),
    ("GET", "/documents/-1", None),
    ("GET", "/documents/abc", None),
    ("GET", "/documents/999999", None),
    ("GET", "/passages/99999999999999999999999?width=1", None),
    ("GET", "/passages/1?width=99", None),
    ("GET", "/passages/999999", None),
    ("GET", "/no-such-page", None),
    ("DELETE", "/search?q=养老", None),
    ("PUT", "/documents/1", None),
    ("POST", "/search", b'{"q": "\\ud800"}'),
    ("POST", "/search", b'{"q": "\\udfff\\u517b"}'),
    ("POST", "/search", b'{"q": "\xe5\x85\xbb", "issuer": "\\ud800"}'),
    ("POST", "/search", b'{"q": "\xe5\x85\xbb", "mode": "\\ud800"}'),
    ("POST", "/search", b'{"q": "\xe5\x85\xbb", "doc_type": "\\ud800"}'),
    ("POST", "/search", b'{"q": "\xe5\x85\xbb", "sort": "\\ud800"}'),
    ("POST", "/search", f'{{"q": "养老", "year_from": {HUGE}}}'.encode()),
    ("POST", "/search", b'{"q": "\xe5\x85\xbb", "k": "ten"}'),
    ("POST", "/search", b'{"q": '),
    ("POST", "/search", b"[1, 2, 3]"),
    ("POST", "/search", b"not json"),
    ("POST", "/search", b"{}"),
    ("POST", "/search", b"x" * (app_module.MAX_BODY_BYTES + 1)),
    ("GET", "/search?q=" + "a" * (app_module.MAX_URL_CHARS + 1), None),
]
NOTHING_SEARCHABLE = ["\u200b\u200b\u200b", "\x00", "\ue000\ue001", "😀🎉", "？！。……", "   \t"]


@pytest.fixture(scope="module")
def client(replies_index, searcher) -> TestClient:
    return TestClient(create_app(replies_index, searcher=searcher, api_keys=ApiKeys([])))


def _assert_bilingual_4xx(response, started: float) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:200])
    detail = response.json()["detail"]
    assert detail["zh"] and detail["en"] and detail["message"] == f"{detail['zh']} / {detail['en']}"
    assert time.perf_counter() - started < 2


@pytest.mark.parametrize(("method", "url", "body"), BAD_REQUESTS)
def test_bad_request_gets_a_bilingual_4xx(client, method, url, body):
    started = time.perf_counter()
    response = client.request(method, url, content=body, headers={"Content-Type": "application/json"})
    _assert_bilingual_4xx(response, started)


@pytest.mark.parametrize("query", NOTHING_SEARCHABLE)
def test_a_query_with_nothing_to_search_answers_empty_with_a_reason(client, query):
    response = client.post(
        "/search", content=json.dumps({"q": query}), headers={"Content-Type": "application/json"}
    )
    if not query.strip():
        assert response.status_code == 422
        return
    assert response.status_code == 200
    assert response.json()["results"] == [] and "no letters or digits" in response.json()["reason"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    query=st.text(min_size=0, max_size=80),
    k=st.integers(min_value=-(2**70), max_value=2**70),
    year=st.one_of(st.none(), st.integers(min_value=-(2**70), max_value=2**70)),
    mode=st.sampled_from(["hybrid", "dense", "lexical", "", "HYBRID", "\ud800"]),
)
def test_any_search_is_answered_or_refused_never_failed(client, query, k, year, mode):
    body = json.dumps({"q": query, "k": k, "year_from": year, "mode": mode})  # ensure_ascii keeps surrogates
    response = client.post("/search", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (200, 422), response.text[:200]
    if response.status_code == 422:
        assert response.json()["detail"]["zh"]
    elif not response.json()["results"]:
        assert response.json()["reason"]


def test_a_stalled_body_is_answered_408(replies_index, searcher, monkeypatch):
    monkeypatch.setattr(app_module, "BODY_TIMEOUT_S", 0.5)
    app = create_app(replies_index, searcher=searcher, api_keys=ApiKeys([]))
    with running_server(app) as base:
        parts = urlsplit(base)
        with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
            sock.sendall(
                b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 1000\r\n\r\n{"q": "1"'
            )
            started = time.perf_counter()
            reply = sock.recv(4096).decode("utf-8", "replace")
        assert reply.startswith("HTTP/1.1 408"), reply[:100]
        assert time.perf_counter() - started < 2


def test_a_huge_declared_body_is_refused_at_once(replies_index, searcher):
    app = create_app(replies_index, searcher=searcher, api_keys=ApiKeys([]))
    with running_server(app) as base:
        parts = urlsplit(base)
        with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
            sock.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n123456789")
            reply = b""
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(
                b"}"
            ):  # head and body may come apart
                if not (piece := sock.recv(4096)):
                    break
                reply += piece
        text = reply.decode("utf-8", "replace")
        assert text.startswith("HTTP/1.1 413") and "请求体过大" in text


def test_auth_edges(monkeypatch, tmp_path, replies_index, searcher):
    for value in (" ", ",", " , "):
        monkeypatch.setenv("POLICY_SEARCH_API_KEYS", value)
        with pytest.raises(ApiKeyError, match="names no key"):
            ApiKeys.from_environment()
    monkeypatch.delenv("POLICY_SEARCH_API_KEYS")
    key_file = tmp_path / "keys"
    key_file.write_text("  # a comment, indented\nsecret-1\n\n", encoding="utf-8")
    monkeypatch.setenv("POLICY_SEARCH_API_KEYS_FILE", str(key_file))
    keys = ApiKeys.from_environment()
    assert keys.allows("Bearer secret-1") and not keys.allows("Bearer # a comment, indented")
    monkeypatch.setenv("POLICY_SEARCH_API_KEYS_FILE", str(tmp_path / "missing"))
    with pytest.raises(ApiKeyError, match="cannot read the key file"):
        ApiKeys.from_environment()
    guarded = TestClient(create_app(replies_index, searcher=searcher, api_keys=ApiKeys(["k1"])))
    refused = guarded.get("/search", params={"q": "养老"})
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    assert refused.json()["detail"]["zh"]
