"""Ranking maths on hand-made scores and passages: the dense blend, fusion, signals, selection."""

from __future__ import annotations

from dataclasses import fields

import pytest

from indexer.index import Passage
from search_api import ranking
from search_api.query import NamedNumber
from search_api.ranking import Candidate, RankingConfig
from search_api.schemas import Passage as PassageSchema

CONFIG = RankingConfig()


def _passage(chunk_id: int, doc_id: int = 1, start: int = 0, end: int = 100, **given) -> Passage:
    values = {"source": f"{doc_id}.txt", "title": "t", "doc_type": "reply", "issuer": None, "date": None}
    values |= {"year": 2023, "doc_number": None, "proposal_number": None, "answer_category": None}
    values |= {"ordinal": chunk_id, "section": "", "page": None, "end_page": None, "is_commitment": False}
    values |= {"role": "body"}
    values |= {"text": "x" * (end - start)}
    values |= given
    return Passage(doc_id=doc_id, chunk_id=chunk_id, start=start, end=end, **values)


def test_dense_blend_weighs_the_passage_and_its_best_sentence():
    blended = ranking.blend_dense({1: 0.8, 2: 0.6}, {1: (10, 20, 0.4)}, share=0.5)
    assert blended.scores == {
        1: pytest.approx(0.6),
        2: pytest.approx(0.6),
    }  # 2 has no units: its own sentence
    assert blended.sentences == {1: (10, 20)}
    assert blended.top(1) == [(1, pytest.approx(0.6))]


def test_fusion_min_max_scales_each_mode_before_blending():
    ranked = {"dense": [(1, 0.9), (2, 0.5), (3, 0.1)], "lexical": [(3, 30.0), (2, 20.0), (1, 10.0)]}
    fused = ranking.fuse(ranked, {"dense": 0.6, "lexical": 0.4})
    scores = {c.chunk_id: c.score for c in fused}
    assert scores == {1: pytest.approx(0.6), 2: pytest.approx(0.5), 3: pytest.approx(0.4)}
    assert [c.chunk_id for c in fused] == [1, 2, 3]
    assert fused[0].ranks == {"dense": {"rank": 1, "score": 0.9}, "lexical": {"rank": 3, "score": 10.0}}


def test_a_single_mode_keeps_its_own_scores_and_equal_scores_normalize_to_one():
    assert [(c.chunk_id, c.score) for c in ranking.fuse({"lexical": [(4, 7.0), (5, 3.0)]}, {})] == [
        (4, 7.0),
        (5, 3.0),
    ]
    tied = ranking.fuse({"dense": [(1, 0.5), (2, 0.5)], "lexical": []}, {"dense": 0.6, "lexical": 0.4})
    assert [c.score for c in tied] == [pytest.approx(0.6), pytest.approx(0.6)]


def test_union_is_scored_in_both_modes_with_zero_for_no_shared_word():
    ranked = {"dense": [(1, 0.9)], "lexical": [(2, 5.0)]}
    union = ranking.union_of(ranked)
    both = ranking.both_modes({1: 0.9, 2: 0.3}, {2: 5.0}, union)
    assert both == {"dense": [(1, 0.9), (2, 0.3)], "lexical": [(2, 5.0), (1, 0.0)]}


def test_number_bonus_is_a_share_of_the_best_match_and_respects_filters():
    numbers = {"津民函〔2024〕142号": NamedNumber(documents={7}, citing={8, 9})}
    boosted = ranking.with_number_bonus({1: 4.0, 7: 1.0}, numbers, allowed={1, 7, 8}, bonus=1.0)
    assert boosted == {1: 4.0, 7: 5.0, 8: 4.0}  # 9 is filtered out


def test_year_signal_prefers_passages_about_the_named_year():
    about_2020 = _passage(1, text="2020年新建充电桩1000个", year=2021)
    dated_2020 = _passage(2, doc_id=2, text="今年将继续推进", year=2020)
    other = _passage(3, doc_id=3, text="2015年情况", year=2015)
    fused = [Candidate(3, 0.9), Candidate(2, 0.8), Candidate(1, 0.7)]
    passages = {p.chunk_id: p for p in (about_2020, dated_2020, other)}
    reordered = ranking.apply_signals("2020年充电桩建设", {2020}, (), fused, passages, CONFIG)
    # speaking of 2020 adds 0.7 × 0.3; speaking of it as 今年 in a letter dated 2020 adds the whole 0.3
    assert {c.chunk_id: round(c.score, 4) for c in reordered} == {1: 0.91, 2: 1.1, 3: 0.9}
    assert [c.chunk_id for c in reordered] == [2, 1, 3]


def test_recency_words_put_the_newest_first_among_the_top():
    passages = {
        1: _passage(1, date="2019-05-01", year=2019),
        2: _passage(2, doc_id=2, date="2024-06-26", year=2024),
    }
    reordered = ranking.apply_signals(
        "目前的补贴标准", set(), (), [Candidate(1, 0.5), Candidate(2, 0.4)], passages, CONFIG
    )
    assert [c.chunk_id for c in reordered] == [2, 1]
    assert reordered[0].ranks["recency"] == {"rank": 1, "score": CONFIG.signal_weights["recency"]}


def test_select_drops_passages_mostly_inside_a_better_one_and_caps_per_document():
    passages = {
        1: _passage(1, start=0, end=100),
        2: _passage(2, start=40, end=120),  # shares 60 of its 80 characters with 1: a duplicate
        3: _passage(3, start=90, end=200),  # shares 10 with 1, 30 with 2: kept
        4: _passage(4, doc_id=2, start=0, end=100),
    }
    fused = [Candidate(i, 1 - i / 10) for i in (1, 2, 3, 4)]
    assert [c.chunk_id for c in ranking.select(fused, passages, k=10)] == [1, 3, 4]
    assert [c.chunk_id for c in ranking.select(fused, passages, k=10, per_doc=1)] == [1, 4]
    assert [c.chunk_id for c in ranking.select(fused, passages, k=1)] == [1]


def test_sorting_by_date_puts_the_newest_first():
    passages = {1: _passage(1, date="2019-01-01"), 2: _passage(2, doc_id=2, year=2024)}
    chosen = ranking.select([Candidate(1, 0.9), Candidate(2, 0.1)], passages, k=2, sort="date")
    assert [c.chunk_id for c in chosen] == [2, 1]


def test_api_schema_lists_the_fields_a_passage_record_has():
    record = {f.name for f in fields(Passage)} - {"ordinal"}
    assert record <= set(PassageSchema.model_fields)


def test_ranking_config_is_plain_data():
    data = CONFIG.to_dict()
    assert data["mode_weights"] == {"dense": 0.6, "lexical": 0.4} and data["sentence_share"] == 0.5
