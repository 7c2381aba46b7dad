"""Short forms of issuing bodies in filters: 发改委 finds the 发展和改革委员会's letters."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from search_api.app import create_app
from search_api.auth import ApiKeys
from search_api.issuers import issuer_forms


def test_short_forms_are_spelled_out_inside_the_value():
    assert issuer_forms("天津市发改委") == ("天津市发改委", "天津市发展和改革委员会", "天津市发展改革委员会")
    assert issuer_forms("民政局") == ("民政局",)
    assert issuer_forms("  ") is None and issuer_forms(None) is None


@pytest.fixture(scope="module")
def client(replies_index, searcher):
    return TestClient(create_app(replies_index, searcher=searcher, api_keys=ApiKeys([])))


@pytest.mark.parametrize(
    "short, full",
    [("发改委", "发展和改革委员会"), ("人社局", "人力资源和社会保障局"), ("卫健委", "卫生健康委员会")],
)
def test_a_short_form_filters_like_the_full_name(client, short, full):
    by_short = client.get("/search", params={"q": "补贴", "issuer": short, "k": 20}).json()["results"]
    by_full = client.get("/search", params={"q": "补贴", "issuer": full, "k": 20}).json()["results"]
    assert by_short and [r["chunk_id"] for r in by_short] == [r["chunk_id"] for r in by_full]
    assert all(full in r["issuer"] for r in by_short)
    promises = client.get("/commitments", params={"issuer": short, "k": 5}).json()["commitments"]
    assert promises and all(full in c["issuer"] for c in promises)
