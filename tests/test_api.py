"""The HTTP service over the bundled reply corpus, with the real model, FAISS and SQLite."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import date

import pytest
from fastapi.testclient import TestClient

from search_api.app import create_app
from search_api.auth import ApiKeys
from search_api.retrieval import Searcher
from tests.conftest import SEED


@pytest.fixture(scope="module")
def client(replies_index, searcher):
    return TestClient(create_app(replies_index, searcher=searcher, api_keys=ApiKeys([])))


def _document(client, doc_id):
    return client.get(f"/documents/{doc_id}").json()


def test_seed_passage_is_top_hybrid_result(client):
    body = client.get("/search", params={"q": "天津有多少家企业在香港上市"}).json()
    assert body["mode"] == "hybrid" and body["took_ms"] > 0
    top = body["results"][0]
    assert "在港上市企业共20" in top["text"]
    assert top["source"] == "000_dcdf98dc2feff78d.txt"
    assert top["section"] == "四、在金融领域"
    assert top["citation"].startswith(
        "《关于大力发展高端科技应用促进经济社会发展的提案的答复》（天津市人民政府"
    )
    assert "<mark>" in top["highlight"] and set(top["ranks"]) == {"dense", "lexical"}


@pytest.mark.parametrize("mode", ["hybrid", "dense", "lexical"])
def test_every_text_is_the_document_slice(client, mode):
    body = client.get("/search", params={"q": "加装电梯补贴", "k": 20, "mode": mode}).json()
    assert len(body["results"]) >= 10
    documents = {}
    for hit in body["results"]:
        doc = documents.setdefault(hit["doc_id"], _document(client, hit["doc_id"]))
        assert doc["text"][hit["start"] : hit["end"]] == hit["text"]
        assert any(p["chunk_id"] == hit["chunk_id"] for p in doc["passages"])
        sentence = hit["best_sentence"]
        if mode == "lexical":
            assert sentence is None
        else:
            assert hit["start"] <= sentence["start"] < sentence["end"] <= hit["end"]
            assert doc["text"][sentence["start"] : sentence["end"]] == sentence["text"]


def test_best_sentence_is_the_one_asked_about(client):
    """Asked with one sentence of a multi-sentence passage, the result names that sentence."""
    body = client.get("/search", params={"q": "加装电梯补贴", "k": 10}).json()
    passage = next(r for r in body["results"] if r["best_sentence"]["text"] != r["text"])
    doc_text = _document(client, passage["doc_id"])["text"]
    others = [
        s
        for s in _sentences(doc_text[passage["start"] : passage["end"]])
        if s != passage["best_sentence"]["text"]
    ]
    asked = max(others, key=len)
    hit = next(
        r
        for r in client.get("/search", params={"q": asked, "k": 10}).json()["results"]
        if r["chunk_id"] == passage["chunk_id"]
    )
    assert asked in hit["best_sentence"]["text"]


def _sentences(text: str) -> list[str]:
    from indexer.chunking import sentence_units

    return [text[a:b] for a, b in sentence_units(text)]


def test_post_matches_get(client):
    query = {"q": "津民规〔2022〕3号 照料护理补贴标准", "k": 5}
    got = client.get("/search", params=query).json()["results"]
    posted = client.post("/search", json=query).json()["results"]
    assert [r["chunk_id"] for r in got] == [r["chunk_id"] for r in posted]
    assert got[0]["doc_number"] == "津民规〔2022〕3号" or "津民规〔2022〕3号" in got[0]["text"]


def test_filters(client):
    q = "养老服务补贴"
    policy = client.get("/search", params={"q": q, "doc_type": "policy"}).json()["results"]
    assert policy and all(r["doc_type"] == "policy" for r in policy)
    years = client.get("/search", params={"q": q, "year_from": 2021, "year_to": 2022}).json()["results"]
    assert years and all(2021 <= r["year"] <= 2022 for r in years)
    issuer = client.get("/search", params={"q": q, "issuer": "民政局"}).json()["results"]
    assert issuer and all("民政局" in r["issuer"] for r in issuer)
    promises = client.get("/search", params={"q": q, "commitments_only": True}).json()["results"]
    assert promises and all(r["is_commitment"] for r in promises)
    capped = client.get("/search", params={"q": q, "k": 10, "per_doc": 1}).json()["results"]
    assert len({r["doc_id"] for r in capped}) == len(capped)
    nothing = client.get("/search", params={"q": q, "year_from": 1990, "year_to": 1991}).json()
    assert nothing["results"] == [] and "filters" in nothing["reason"]


def test_sort_by_date_is_newest_first(client):
    results = client.get(
        "/search", params={"q": "居家养老服务补贴", "sort": "date", "doc_type": "reply"}
    ).json()["results"]
    dates = [r["date"] for r in results]
    assert len(set(dates)) > 2 and dates == sorted(dates, reverse=True)


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"q": "   "}, "不能为空"),
        ({"q": "长" * 513}, "512"),
        ({"q": "养老", "k": 0}, "1 到 100"),
        ({"q": "养老", "k": 101}, "1 到 100"),
        ({"q": "养老", "mode": "fuzzy"}, "检索模式"),
        ({"q": "养老", "doc_type": "memo"}, "文档类型"),
        ({"q": "养老", "sort": "oldest"}, "排序"),
        ({"q": "养老", "k": "ten"}, "请求参数无效"),
        ({}, "请求参数无效"),
    ],
)
def test_bad_requests_get_bilingual_4xx(client, params, fragment, replies_index):
    response = client.get("/search", params=params)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert (
        fragment in detail["zh"] and detail["en"] and detail["message"] == f"{detail['zh']} / {detail['en']}"
    )
    assert "Traceback" not in response.text and str(replies_index) not in response.text


def test_unknown_ids_are_404(client):
    assert client.get("/documents/99999").status_code == 404
    assert client.get("/passages/99999").json()["detail"]["en"] == "no such passage"


def test_passage_with_neighbours(client):
    hit = client.get("/search", params={"q": "下一步 科技信贷服务体系", "k": 1}).json()["results"][0]
    view = client.get(f"/passages/{hit['chunk_id']}", params={"width": 1}).json()
    assert view["passage"]["chunk_id"] == hit["chunk_id"]
    assert view["neighbours"] and all(n["doc_id"] == hit["doc_id"] for n in view["neighbours"])


def test_stats_health_page_and_openapi(client):
    stats = client.get("/stats").json()
    assert (
        stats["documents"] == 41
        and stats["chunks"] > 300
        and stats["model"]["name"] == "bundled:multilingual-e5-small"
    )
    assert client.get("/healthz").json() == {"status": "ok"}
    page = client.get("/")
    assert page.status_code == 200 and "政策文件" in page.text and "/static/favicon.svg" in page.text
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")
    schema = client.get("/openapi.json").json()
    assert "天津有多少家企业在香港上市" in str(schema["paths"]["/search"])


def test_api_keys(replies_index, searcher):
    keyed = TestClient(create_app(replies_index, searcher=searcher, api_keys=ApiKeys(["s3cret", "other"])))
    assert keyed.get("/search", params={"q": "养老"}).status_code == 401
    assert (
        keyed.get("/search", params={"q": "养老"}, headers={"Authorization": "Bearer wrong"}).status_code
        == 401
    )
    assert keyed.get("/stats").status_code == 401 and keyed.get("/documents/1").status_code == 401
    assert (
        keyed.get("/search", params={"q": "养老"}, headers={"Authorization": "Bearer s3cret"}).status_code
        == 200
    )
    assert keyed.get("/healthz").status_code == 200
    assert keyed.get("/").status_code == 200 and keyed.get("/static/app.js").status_code == 200
    assert keyed.get("/favicon.ico").status_code == 200
    body = keyed.get("/stats").json()["detail"]
    assert body["zh"] and body["en"] == "missing or invalid API key"


def test_api_keys_from_file(tmp_path, monkeypatch):
    key_file = tmp_path / "keys"
    key_file.write_text("# staff\nalpha\nbeta\n")
    monkeypatch.setenv("POLICY_SEARCH_API_KEYS_FILE", str(key_file))
    monkeypatch.setenv("POLICY_SEARCH_API_KEYS", "gamma")
    keys = ApiKeys.from_environment()
    assert keys.allows("Bearer beta") and keys.allows("Bearer gamma") and not keys.allows("Bearer # staff")
    assert not keys.allows(None) and not keys.allows("Basic alpha")


def test_concurrent_searches_and_health(client):
    queries = [
        "居家养老服务补贴",
        "加装电梯",
        "充电桩建设",
        "异地就医结算",
        "托育服务",
        "垃圾分类",
        "技工院校",
        "文物保护",
    ]
    with ThreadPoolExecutor(8) as pool:
        searches = [pool.submit(client.get, "/search", params={"q": q}) for q in queries * 2]
        health = client.get("/healthz")
        assert health.status_code == 200
        assert all(f.result().status_code == 200 for f in searches)


def test_cli_query_json_has_the_api_shape(replies_index):
    import json
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "policy_search.cli",
            "query",
            "加装电梯的补贴标准",
            "--index",
            str(replies_index),
            "--k",
            "3",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert set(body) == {"query", "mode", "took_ms", "results"} and len(body["results"]) == 3
    assert {"citation", "start", "end", "text", "section", "is_commitment"} <= set(body["results"][0])
    bad = subprocess.run(
        [sys.executable, "-m", "policy_search.cli", "query", " ", "--index", str(replies_index)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "不能为空" in bad.stderr


def test_cli_query_json_says_why_nothing_was_found_as_the_api_does(client, replies_index):
    import json
    import subprocess
    import sys

    issuer = "不存在的机关"
    api = client.get("/search", params={"q": "加装电梯的补贴标准", "issuer": issuer}).json()
    arguments = ["query", "加装电梯的补贴标准", "--index", str(replies_index), "--issuer", issuer, "--json"]
    result = subprocess.run(
        [sys.executable, "-m", "policy_search.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["results"] == [] == api["results"]
    assert body["reason"] == api["reason"] == "没有文档符合筛选条件 / no documents match the filters"


def test_a_document_number_picks_the_document_and_leaves_the_rest_to_pick_the_passage(client, searcher):
    from search_api.query import content_query, named_numbers

    def content(query: str) -> str:
        return content_query(query, named_numbers(searcher.store, query))

    assert content("津民函〔2024〕142号 补贴核销率") == "补贴核销率"
    assert (
        content("津民函〔2099〕1号 补贴核销率") == "津民函〔2099〕1号 补贴核销率"
    )  # names no indexed document
    assert content("津民函〔2024〕142号") == "津民函〔2024〕142号"  # nothing else to search with
    for mode in ("hybrid", "lexical"):
        results = client.get(
            "/search", params={"q": "津民函〔2024〕142号 补贴核销率", "k": 3, "mode": mode}
        ).json()["results"]
        assert {r["doc_number"] for r in results} == {"津民函〔2024〕142号"}, mode
        assert "核销率" in results[0]["text"], mode


def test_a_named_year_favours_passages_about_that_year(client):
    results = client.get("/search", params={"q": "2023年新增托位多少个", "k": 5}).json()["results"]
    from indexer.years import years_spoken_of

    top = results[0]
    assert (
        2023 in years_spoken_of(top["text"], top["section"], top["year"])
        and top["ranks"]["year"]["score"] > 0
    )


@pytest.mark.parametrize("today, reason", [(date(2026, 12, 2), True), (date(2025, 3, 1), False)])
def test_relative_years_are_read_against_today_and_said(replies_index, encoder, today, reason):
    from search_api.retrieval import Searcher

    dated = Searcher(replies_index, encoder, today=lambda: today)
    with TestClient(create_app(replies_index, searcher=dated, api_keys=ApiKeys([]))) as client:
        body = client.get("/search", params={"q": "去年对加装电梯提案是怎么答复的", "k": 5}).json()
    last_year = today.year - 1
    assert body["interpreted"] == {"去年": [last_year]}
    years = {r["year"] for r in body["results"]}
    if reason:  # no elevator letter of 2025: said, and answered from the years there are
        assert f"没有{last_year}年" in body["reason"] and last_year not in years and body["results"]
    else:  # the 2024 letter exists and leads
        assert not body.get("reason") and body["results"][0]["year"] == last_year


def test_grouping_folds_each_documents_other_passages_under_its_best(client):
    flat = client.get("/search", params={"q": "加装电梯", "k": 10}).json()["results"]
    grouped = client.get("/search", params={"q": "加装电梯", "k": 3, "group": "true"}).json()["results"]
    heads = [r["doc_id"] for r in grouped]
    assert len(heads) == len(set(heads)) == 3
    assert grouped[0]["chunk_id"] == flat[0]["chunk_id"]  # the best passage heads its document
    shown = [r["chunk_id"] for g in grouped for r in (g, *g["folded"])]
    assert len(shown) == len(set(shown)) > 3
    for head in grouped:
        assert all(f["doc_id"] == head["doc_id"] and f["score"] <= head["score"] for f in head["folded"])
    assert not flat[0].get("folded")


def test_filters_by_answer_category_proposal_number_and_date(client):
    q = "答复"
    category_b = client.get("/search", params={"q": q, "answer_category": "B", "k": 20}).json()["results"]
    assert category_b and all(r["answer_category"] == "B" for r in category_b)
    numbered = client.get("/search", params={"q": q, "proposal_number": " 0215 "}).json()["results"]
    assert numbered and all("0215" in r["proposal_number"] for r in numbered)
    spring = {"q": q, "date_from": "2022-01-01", "date_to": "2022-12-31", "k": 20}
    dated = client.get("/search", params=spring).json()["results"]
    assert dated and all("2022-01-01" <= r["date"] <= "2022-12-31" for r in dated)
    posted = client.post("/search", json=spring).json()["results"]
    assert [r["chunk_id"] for r in posted] == [r["chunk_id"] for r in dated]


def test_a_letter_dated_only_by_its_year_is_in_a_date_range_that_overlaps_the_year(client):
    """The seed letter carries 2023 and no day: a range within 2023 keeps it, one outside leaves it out."""
    seed = {"q": "高端科技应用", "k": 50}
    spring = client.get("/search", params={**seed, "date_from": "2023-03-01", "date_to": "2023-04-30"}).json()
    assert any(
        r["source"].endswith(SEED.name) and not r["date"] and r["year"] == 2023 for r in spring["results"]
    )
    assert all(
        (not r["date"] and r["year"] == 2023) or "2023-03-01" <= r["date"] <= "2023-04-30"
        for r in spring["results"]
    )
    later = client.get("/search", params={**seed, "date_from": "2024-01-01"}).json()["results"]
    assert not any(r["source"].endswith(SEED.name) for r in later)


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"answer_category": "D"}, "答复类别"),
        ({"date_from": "2024-13-01"}, "请求参数无效"),
        ({"date_from": "2024-05-01", "date_to": "2024-01-01"}, "起始日期"),
    ],
)
def test_bad_reply_filters_get_bilingual_422(client, params, fragment):
    response = client.get("/search", params={"q": "养老", **params})
    detail = response.json()["detail"]
    assert response.status_code == 422 and fragment in detail["zh"] and detail["en"]


def test_stats_give_the_overview_and_documents_come_newest_first(client):
    stats = client.get("/stats").json()
    assert sum(stats["by_type"].values()) == stats["documents"] and stats["by_type"]["reply"] > 20
    assert stats["years"]["first"] <= stats["years"]["last"] and stats["build"] is None
    documents = client.get("/documents").json()
    assert len(documents) == stats["documents"]
    assert {"issuer", "date", "proposal_number", "answer_category", "doc_number"} <= set(documents[0])
    years = [d["year"] or 0 for d in documents]
    assert years == sorted(years, reverse=True)


def test_stats_report_a_build_in_progress_written_beside_the_live_index(tmp_path, replies_index, encoder):
    from indexer.index.build_status import BuildProgress

    index_dir = tmp_path / "index"
    shutil.copytree(replies_index, index_dir)
    app = TestClient(create_app(index_dir, searcher=Searcher(index_dir, encoder), api_keys=ApiKeys([])))
    with BuildProgress(index_dir) as status:
        status.update("embedding", 120, 900, documents_new=12)
        build = app.get("/stats").json()["build"]
        assert (build["state"], build["phase"], build["done"], build["total"]) == (
            "running",
            "embedding",
            120,
            900,
        )
        assert build["documents_new"] == 12
        during = app.get("/search", params={"q": "加装电梯"}).json()
        assert during["results"] and "embedding 120/900" in during["index_notice"]
        assert "新索引正在建立" in during["index_notice"] and "may be partial" in during["index_notice"]
    assert app.get("/stats").json()["build"] is None  # a build that ended well leaves no status
    assert app.get("/search", params={"q": "加装电梯"}).json().get("index_notice") is None
