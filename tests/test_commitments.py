"""Commitment tracking on the real corpus with the real model: promises linked to what became of
them, across incremental runs, over HTTP and from the command line."""

from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from indexer.build import build_index
from policy_search.cli import app as cli
from search_api.app import create_app
from search_api.auth import ApiKeys
from search_api.retrieval import Searcher
from tests.conftest import CORPUS, REPLIES

CHARGING_NOTICE = "policy-2022-charging-infrastructure.txt"
CHARGING_REPLY = "reply-2023-0233-charging-piles.txt"
TOWNSHIP_TARGET = "2025年底前实现乡镇公共充电站全覆盖"


@pytest.fixture(scope="module")
def client(replies_index, searcher):
    return TestClient(create_app(replies_index, searcher=searcher, api_keys=ApiKeys([])))


def _commitment(client, query: str, quote: str) -> dict:
    """The listed commitment whose text holds ``quote`` (the query ranks it near the top)."""
    found = client.get("/commitments", params={"q": query, "k": 10}).json()["commitments"]
    matching = [c for c in found if quote in c["text"]]
    assert matching, [c["text"] for c in found]
    return matching[0]


def _document_text(client, doc_id: int) -> str:
    return client.get(f"/documents/{doc_id}").json()["text"]


def test_charging_pile_chain_links_the_2025_target_to_the_2023_progress(client):
    promise = _commitment(client, "乡镇公共充电站全覆盖", TOWNSHIP_TARGET)
    assert (
        promise["source"] == CHARGING_NOTICE and promise["year"] == 2022 and promise["deadline_year"] == 2025
    )
    assert _document_text(client, promise["doc_id"])[promise["start"] : promise["end"]] == promise["text"]
    reports = {f["text"]: f for f in promise["follow_ups"] if f["source"] == CHARGING_REPLY}
    progress = next(f for text, f in reports.items() if "已有102个建成公共充电站" in text)
    revised = next(f for text, f in reports.items() if "提前一年完成" in text)
    assert progress["relation"] == "progress" and revised["relation"] == "revised"
    assert progress["explicit"] and revised["explicit"]  # the reply cites 津政办发〔2022〕15号
    assert _document_text(client, progress["doc_id"])[progress["start"] : progress["end"]] == progress["text"]
    assert progress["citation"].startswith("《对市十八届人大一次会议第0233号建议的答复")
    assert promise["status"] == "revised"


def test_a_commitment_with_no_follow_up_in_the_corpus_gets_none(client):
    promise = _commitment(
        client, "京津冀异地就医免备案直接结算", "争取2023年实现京津冀区域内参保人员异地就医免备案"
    )
    assert promise["follow_ups"] == [] and promise["status"] == "no_follow_up"


def test_listing_without_a_query_is_newest_first_and_filters_hold(client):
    body = client.get("/commitments", params={"k": 30}).json()
    years = [c["year"] for c in body["commitments"]]
    assert len(years) == 30 and years == sorted(years, reverse=True)
    done = client.get("/commitments", params={"status": "done", "k": 10, "year_to": 2021}).json()[
        "commitments"
    ]
    assert done and all(c["status"] == "done" and c["year"] <= 2021 for c in done)
    assert all(any(f["relation"] == "done" for f in c["follow_ups"]) for c in done)
    issuer = client.get("/commitments", params={"issuer": "天津市民政局", "k": 5}).json()["commitments"]
    assert issuer and all("天津市民政局" in c["issuer"] for c in issuer)


def test_bad_commitment_requests_are_refused_in_both_languages(client):
    for params in ({"status": "finished"}, {"k": 0}, {"year_from": 2024, "year_to": 2020}):
        response = client.get("/commitments", params=params)
        assert response.status_code == 422
        assert response.json()["detail"]["zh"] and response.json()["detail"]["en"]


def test_search_results_carry_the_commitments_they_hold(client):
    results = client.get("/search", params={"q": "乡镇公共充电站全覆盖", "k": 10}).json()["results"]
    holding = [r for r in results if r["commitment_ids"]]
    assert holding and all(r["is_commitment"] for r in holding)
    document = client.get(f"/documents/{holding[0]['doc_id']}").json()
    listed = {c["commitment_id"]: c for c in document["commitments"]}
    for commitment_id in holding[0]["commitment_ids"]:
        promise = listed[commitment_id]
        assert holding[0]["start"] <= promise["start"] < promise["end"] <= holding[0]["end"]


def test_documents_list_what_they_cite_and_who_cites_them(client):
    documents = {d["source"]: d["doc_id"] for d in client.get("/documents").json()}
    notice = client.get(f"/documents/{documents['policy-2021-elevator-retrofit.txt']}").json()
    assert notice["doc_number"] == "津住建发〔2021〕8号"
    cited_by = {d["source"] for d in notice["cited_by"]}
    assert {
        "reply-2022-0196-old-community-renovation.txt",
        "reply-2024-0031-elevator-retrofit.txt",
    } <= cited_by
    letter = client.get(f"/documents/{documents['reply-2024-0031-elevator-retrofit.txt']}").json()
    assert "policy-2021-elevator-retrofit.txt" in {d["source"] for d in letter["cites"]}


def test_a_letter_added_later_becomes_the_follow_up_of_an_older_promise(
    tmp_path, replies_index, spec, encoder
):
    """Start from the replies index without the 2023 reply (a run that drops it embeds nothing),
    then add the reply: only it is embedded, and the 2022 promise gains its follow-ups."""
    index_dir = tmp_path / "index"
    shutil.copytree(replies_index, index_dir)
    without = [p for p in REPLIES.iterdir() if p.name != CHARGING_REPLY]
    dropped = build_index(without, index_dir, spec, lambda: encoder, progress=False)
    assert dropped.removed == 1 and dropped.embedded_chunks == 0

    def township_target() -> dict:
        client = TestClient(
            create_app(index_dir, searcher=Searcher(index_dir, encoder), api_keys=ApiKeys([]))
        )
        return _commitment(client, "乡镇公共充电站全覆盖", TOWNSHIP_TARGET)

    assert CHARGING_REPLY not in {f["source"] for f in township_target()["follow_ups"]}
    added = build_index([REPLIES], index_dir, spec, lambda: encoder, progress=False)
    assert added.added == 1 and added.unchanged == dropped.unchanged
    follow_ups = township_target()["follow_ups"]
    assert any(f["source"] == CHARGING_REPLY and "已有102个" in f["text"] for f in follow_ups)


def test_a_work_report_target_is_followed_by_the_next_report(tmp_path, spec, encoder):
    reports = tmp_path / "reports"
    reports.mkdir()
    lines = (CORPUS / "policy" / "government_work_reports.jsonl").read_text(encoding="utf-8").split("\n")
    wanted = [line for line in lines if line and json.loads(line)["title"][:4] in ("2022", "2023")]
    (reports / "reports.jsonl").write_text("\n".join(wanted) + "\n", encoding="utf-8")
    index_dir = tmp_path / "index"
    build_index([reports], index_dir, spec, lambda: encoder, progress=False)
    client = TestClient(create_app(index_dir, searcher=Searcher(index_dir, encoder), api_keys=ApiKeys([])))
    promise = _commitment(client, "今年赤字率安排", "今年赤字率拟按2.8%左右安排")
    assert promise["year"] == 2022 and promise["deadline_year"] == 2022 and promise["target"] == "2.8%左右"
    outcome = [f for f in promise["follow_ups"] if "财政赤字率控制在2.8%" in f["text"]]
    assert outcome and outcome[0]["year"] == 2023 and outcome[0]["relation"] == "done"
    assert promise["status"] == "done"


def test_commitments_and_their_evaluation_from_the_command_line(replies_index):
    runner = CliRunner()
    listed = runner.invoke(
        cli, ["commitments", "乡镇公共充电站全覆盖", "--index", str(replies_index), "--json"]
    )
    assert listed.exit_code == 0, listed.output
    assert any(TOWNSHIP_TARGET in c["text"] for c in json.loads(listed.output)["commitments"])
    scored = runner.invoke(
        cli,
        ["eval-commitments", "eval/data/commitment_links_dev.jsonl", "--index", str(replies_index), "--json"],
    )
    assert scored.exit_code == 0, scored.output
    summary = json.loads(scored.output)["summary"]
    # the replies index lacks the work reports, whose line is a data error, not a miss
    assert summary["lines"] == 13 and len(summary["data_errors"]) == 1
    assert summary["coverage"] == 1.0 and summary["follow_up_recall@5"] >= 0.8
    assert summary["no_follow_up_precision"] == 1.0
