"""Index lifecycle edges: a build killed after writing its manifest but before the swap."""

from __future__ import annotations

from indexer.index.layout import CURRENT, MANIFEST, live_generation, make_live, remove_abandoned


def _generation(index_dir, name: str, with_manifest: bool = True):
    path = index_dir / name
    path.mkdir(parents=True)
    (path / "index.sqlite").write_bytes(b"")
    if with_manifest:
        (path / MANIFEST).write_text("{}", encoding="utf-8")
    return path


def test_a_complete_generation_that_never_went_live_is_removed_and_the_previous_live_one_kept(tmp_path):
    index_dir = tmp_path / "index"
    _generation(index_dir, "gen-20260101T000000-aaaaaa")
    live = _generation(index_dir, "gen-20260102T000000-bbbbbb")
    (index_dir / CURRENT).write_text(live.name, encoding="utf-8")
    never_live = _generation(index_dir, "gen-20260103T000000-cccccc")  # killed after its manifest
    unfinished = _generation(index_dir, "gen-20260104T000000-dddddd", with_manifest=False)
    assert sorted(remove_abandoned(index_dir)) == [never_live.name, unfinished.name]
    assert live_generation(index_dir) == live

    new = _generation(index_dir, "gen-20260105T000000-eeeeee")
    make_live(new)
    kept = sorted(p.name for p in index_dir.glob("gen-*"))
    assert kept == [live.name, new.name]  # the previous live generation, not the orphan, is kept
    assert (index_dir / CURRENT).read_text(encoding="utf-8") == new.name


def test_without_a_live_generation_every_generation_is_abandoned(tmp_path):
    index_dir = tmp_path / "index"
    first = _generation(index_dir, "gen-20260101T000000-aaaaaa")
    assert remove_abandoned(index_dir) == [first.name] and not first.exists()


def test_ids_are_stable_across_a_rebuild_and_an_old_passage_id_names_its_replacement(
    tmp_path, small_corpus, spec, encoder
):
    from fastapi.testclient import TestClient

    from indexer.build import build_index
    from indexer.index import IndexReader
    from search_api.app import create_app
    from search_api.auth import ApiKeys
    from search_api.retrieval import Searcher

    index_dir = tmp_path / "index"
    build_index([small_corpus], index_dir, spec, lambda: encoder, progress=False)
    first = IndexReader.open(index_dir)
    ids = {d.source: d.doc_id for d in first.all_documents()}
    passages = {d.source: first.document_passages(d.doc_id) for d in first.all_documents()}
    build_index([small_corpus], index_dir, spec, lambda: encoder, rebuild=True, progress=False)
    rebuilt = IndexReader.open(index_dir)
    assert {d.source: d.doc_id for d in rebuilt.all_documents()} == ids
    assert {d.source: rebuilt.document_passages(d.doc_id) for d in rebuilt.all_documents()} == passages

    changed = small_corpus / "reply-2022-0017-elderly-meal.txt"
    changed.write_text(
        "关于老年助餐的答复\n\n一、新的开头。" + changed.read_text(encoding="utf-8"), encoding="utf-8"
    )
    build_index([small_corpus], index_dir, spec, lambda: encoder, progress=False)
    updated = IndexReader.open(index_dir)
    assert {d.source: d.doc_id for d in updated.all_documents()} == ids
    old_id = passages[changed.name][0]
    assert updated.passages([old_id]) == {}
    client = TestClient(create_app(index_dir, searcher=Searcher(index_dir, encoder), api_keys=ApiKeys([])))
    gone = client.get(f"/passages/{old_id}")
    assert gone.status_code == 410
    detail = gone.json()["detail"]
    assert detail["doc_id"] == ids[changed.name] and detail["zh"] and detail["en"]
    assert client.get(f"/passages/{detail['replacement']}").status_code == 200
    unchanged = next(p for source, ps in passages.items() if source != changed.name for p in ps)
    assert client.get(f"/passages/{unchanged}").status_code == 200


def test_real_builds_killed_between_manifest_and_swap_keep_serving_the_live_generation(
    tmp_path, small_corpus, spec, encoder
):
    """The state a `kill -9` between writing the manifest and swapping CURRENT leaves (the swap is
    one rename, so no signal can be timed into it): a second real build complete on disk, CURRENT
    still naming the first. The service keeps answering from the first; the next run removes the
    orphan, keeps the first as the previous generation and swaps in a new one."""
    from indexer.build import build_index
    from search_api.request import SearchRequest
    from search_api.retrieval import Searcher

    index_dir = tmp_path / "index"
    build_index([small_corpus], index_dir, spec, lambda: encoder, progress=False)
    live = live_generation(index_dir)
    assert live is not None
    extra = small_corpus / "reply-2023-0999-river.txt"
    extra.write_text("关于河道保洁的答复\n\n今年完成河道清淤12公里。", encoding="utf-8")
    build_index([small_corpus], index_dir, spec, lambda: encoder, progress=False)
    orphan = live_generation(index_dir)
    assert orphan is not None and orphan != live and (orphan / MANIFEST).is_file() and live.is_dir()
    (index_dir / CURRENT).write_text(live.name, encoding="utf-8")  # as it was before the swap

    searcher = Searcher(index_dir, encoder)
    sources = {r["source"] for r in searcher.search(SearchRequest(query="河道清淤", k=20))["results"]}
    assert extra.name not in sources  # the never-live generation is not served

    extra.write_text("关于河道保洁的答复\n\n今年完成河道清淤15公里。", encoding="utf-8")
    build_index([small_corpus], index_dir, spec, lambda: encoder, progress=False)
    newest = live_generation(index_dir)
    assert not orphan.exists() and live.is_dir() and newest not in (live, orphan)
    assert sorted(p.name for p in index_dir.glob("gen-*")) == sorted([live.name, newest.name])
    top = searcher.search(SearchRequest(query="河道清淤15公里"))["results"][0]
    assert top["source"] == extra.name and "15公里" in top["text"]
