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
