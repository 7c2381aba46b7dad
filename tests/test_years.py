"""Years named in queries and spoken of by passages, relative words resolved."""

from __future__ import annotations

from indexer.years import named_years, years_spoken_of


def test_named_years_and_ranges():
    assert named_years("2019年赤字率") == {2019}
    assert named_years("2008到2012年国内生产总值") == set(range(2008, 2013))
    assert named_years("2008年至2012年") == set(range(2008, 2013))
    assert named_years("一九七九年的人口") == {1979}
    assert named_years("２０２２年") == {2022}  # full-width digits
    assert named_years("增长8%左右，投资300亿元") == set()


def test_relative_years_are_resolved_against_the_document_year():
    assert years_spoken_of("今年中央财政用于“三农”的支出达到3397亿元", "二、今年主要任务", 2006) == {2006}
    assert years_spoken_of("全年城镇新增就业859万人", "一、一年来工作回顾", 2004) == {2003}
    assert years_spoken_of("国内生产总值增加到51.9万亿元", "一、过去五年工作回顾", 2013) == set(
        range(2008, 2013)
    )
    assert years_spoken_of("明年将在全国全部免征农业税", "", 2005) == {2006}
    assert years_spoken_of("2019年、2020年分别新建中心34个、62个", "一、工作进展", 2021) == {2019, 2020}
    assert years_spoken_of("累计新建中心96个", "一、近两年工作进展", 2021) == {2019, 2020}


def test_a_passage_without_time_words_is_about_its_year_or_the_one_before():
    assert years_spoken_of("建立问题台账，明确责任单位", "三、下一步工作", 2024) == {2023, 2024}
    assert years_spoken_of("建立问题台账", "", None) == set()


def test_relative_words_of_a_query_are_read_against_today():
    from indexer.years import relative_years

    assert relative_years("去年对加装电梯提案是怎么答复的", 2026) == {"去年": [2025]}
    assert relative_years("近三年的养老补贴", 2026) == {"近三年": [2024, 2025, 2026]}
    assert relative_years("今年和明年的计划，前年呢", 2026) == {
        "今年": [2026],
        "明年": [2027],
        "前年": [2024],
    }
    assert relative_years("年内完成的项目", 2026) == {}  # a document's 年内, not the asker's


def test_a_year_written_out_anchors_the_query():
    from search_api.query import query_years

    assert query_years("去年的答复", 2026).years == {2025}
    anchored = query_years("去年对加装电梯提案是怎么答复的，2022年计划开工多少部", 2026)
    assert anchored.years == {2022} and anchored.interpreted == {"去年": [2025]}
