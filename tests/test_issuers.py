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


def test_a_query_names_bodies_by_short_or_full_name():
    from search_api.issuers import issuers_named

    assert issuers_named("发改委对充电桩建议的答复") == {"发改委": ("发展和改革委员会", "发展改革委员会")}
    assert issuers_named("市场监管委的食品安全答复") == {"市场监管委": ("市场监督管理委员会",)}
    assert issuers_named("民政局 居家养老") == {"民政局": ("民政局",)}
    assert issuers_named("加装电梯") == {}


def test_users_extend_the_table_with_their_own_file(tmp_path, monkeypatch):
    from search_api import issuers

    extra = tmp_path / "aliases.tsv"
    extra.write_text("# 本单位常用简称\n大数据局\t大数据管理局|数据管理局\n", encoding="utf-8")
    monkeypatch.setenv(issuers.USER_ALIASES_ENV, str(extra))
    issuers.short_forms.cache_clear()
    try:
        assert issuers.issuer_forms("市大数据局") == ("市大数据局", "市大数据管理局", "市数据管理局")
        assert "发改委" in issuers.short_forms()  # the bundled forms stay
        extra.write_text("大数据局 大数据管理局\n", encoding="utf-8")  # a space, not a tab
        issuers.short_forms.cache_clear()
        with pytest.raises(issuers.AliasFileError, match=r"aliases\.tsv:1"):
            issuers.short_forms()
    finally:
        monkeypatch.delenv(issuers.USER_ALIASES_ENV)
        issuers.short_forms.cache_clear()


def test_a_body_named_in_the_query_favours_its_documents(client):
    response = client.get("/search", params={"q": "发改委 充电设施建设", "k": 5}).json()
    assert response["interpreted"] == {"发改委": ["发展和改革委员会", "发展改革委员会"]}
    assert all("发展和改革委员会" in (r["issuer"] or "") for r in response["results"][:3])
    assert response["results"][0]["ranks"]["issuer"]["score"] > 0
