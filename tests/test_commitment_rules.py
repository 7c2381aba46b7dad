"""The rules of commitment tracking on sentences of the bundled corpus: what a commitment is, its
deadline and target, who cites whom, and how a follow-up is told apart (no model needed)."""

from __future__ import annotations

import pytest

from indexer.citations import CitedDocument, find_citations
from indexer.commitments import deadline_year, find_commitments, reads_as_commitment, target_figure
from indexer.follow_ups import DocumentFacts, is_later, may_follow, region_of, relation_of
from tests.conftest import REPLIES


@pytest.mark.parametrize(
    "sentence",
    [
        "2.结合乡村振兴战略实施，推进充电设施向乡镇政府驻地、中心村和乡村旅游重点村延伸，2025年底前实现乡镇公共充电站全覆盖。",
        "三是加强与北京市、河北省医保部门协作，争取2023年实现京津冀区域内参保人员异地就医免备案直接结算。",
        "提升积极的财政政策效能。今年赤字率拟按2.8%左右安排、比去年有所下调，有利于增强财政可持续性。",
        "居家养老服务补贴与长期护理保险待遇的衔接办法另行制定。",
    ],
)
def test_promises_read_as_commitments(sentence):
    assert reads_as_commitment(sentence, in_commitment_section=False, doc_year=2022)


@pytest.mark.parametrize(
    "sentence",
    [
        "全市128个乡镇中已有102个建成公共充电站，覆盖率约80%。",
        "本提案答复类别为A类。感谢您对我市文化和旅游工作的关心和支持。",
        "关于品牌建设，您建议整合分散的农产品品牌、打造区域公用品牌，这一建议很有针对性。",
        # an old plan's targets retold, and a deadline already met, are reports
        "2022年4月，市政府办公厅印发《实施方案》，提出到2025年底全市充电桩总量超过20万个。",
        "全市30个高速公路服务区已全部建成快充设施，提前完成实施方案确定的2022年底前全覆盖目标；",
    ],
)
def test_reports_closings_and_the_proposers_words_are_not_commitments(sentence):
    assert not reads_as_commitment(sentence, in_commitment_section=True, doc_year=2023)


def test_deadline_years_and_target_figures():
    assert deadline_year("到2025年底，全市充电桩总量超过20万个", 2022) == 2025
    assert deadline_year("力争两年内实现全覆盖", 2021) == 2023
    assert deadline_year("今年赤字率拟按2.8%左右安排", 2022) == 2022
    assert deadline_year("2019年拨付补贴资金6280万元", 2020) is None  # a past year is no deadline
    yearly_target = "城镇新增就业1100万人以上，城镇调查失业率5.5%左右；"
    assert deadline_year(yearly_target, 2021) == 2021
    assert target_figure("到2025年底，全市充电桩总量超过20万个") == "20万个"
    assert target_figure("今年赤字率拟按2.8%左右安排") == "2.8%左右"


def test_commitments_are_exact_spans_of_the_units_given():
    text = (REPLIES / "reply-2022-0309-medical-insurance.txt").read_text(encoding="utf-8")
    quote = "争取2023年实现京津冀区域内参保人员异地就医免备案直接结算"
    start = text.index("三是加强与北京市")
    end = text.index("。", start) + 1
    found = find_commitments(text, [(start, end, "三、下一步工作")], 2022)
    assert [(c.start, c.end) for c in found] == [(start, end)]
    assert quote in text[found[0].start : found[0].end] and found[0].deadline_year == 2023


def test_citations_by_number_and_title_and_never_of_a_copy():
    notice = CitedDocument(1, "关于印发《天津市既有住宅加装电梯管理办法》的通知", "津住建发〔2021〕8号")
    copy = CitedDocument(2, notice.title, notice.doc_number)
    letter = "市住房城乡建设委等五部门印发《天津市既有住宅加装电梯管理办法》（津住建发〔2021〕8号），明确了…"
    cited = {(c.cited, c.by) for c in find_citations(3, letter, [notice, copy])}
    assert cited == {(1, "number"), (2, "number"), (1, "title"), (2, "title")}
    assert find_citations(1, "本办法自印发之日起施行。津住建发〔2021〕8号", [notice, copy]) == []


def test_a_follow_up_is_later_and_from_the_same_region():
    tianjin_2020 = DocumentFacts(1, 2020, "2020-06-01", region_of("天津市卫生健康委员会", None), "甲")
    chongqing_2023 = DocumentFacts(2, 2023, "2023-06-01", region_of("重庆市卫生健康委员会", None), "乙")
    tianjin_2023 = DocumentFacts(3, 2023, None, region_of("天津市河西区民政局", None), "丙")
    tianjin_2020_later = DocumentFacts(4, 2020, "2020-09-01", "天津", "丁")
    assert region_of(None, "2023年中华人民共和国国务院政府工作报告") == "全国"
    assert not may_follow(chongqing_2023, tianjin_2020, cites=False)
    assert may_follow(tianjin_2023, tianjin_2020, cites=False)
    assert is_later(tianjin_2020_later, tianjin_2020) and not is_later(tianjin_2020, tianjin_2020_later)
    assert not is_later(DocumentFacts(5, 2033, None, "天津", "戊"), tianjin_2020)  # a decade on restates


@pytest.mark.parametrize(
    "promise, follow_up, relation",
    [
        ("2025年底前实现乡镇公共充电站全覆盖", "全市128个乡镇中已有102个建成公共充电站，覆盖率约80%。", "progress"),
        ("2025年底前实现乡镇公共充电站全覆盖", "三是2024年底前实现全市乡镇公共充电站全覆盖，较实施方案确定的目标提前一年完成。", "revised"),
        ("力争2020年启动京津冀区域门诊费用直接结算试点", "2020年9月，我市开通京津冀区域普通门诊费用直接结算；", "done"),
        ("按照直流充电设备每千瓦400元的标准给予一次性建设补贴", "按照直流充电设备每千瓦300元的标准给予一次性建设补贴", "revised"),
        ("到2025年底全市充电桩总量超过20万个", "2022年4月，市政府办公厅印发《天津市加快推进充电基础设施建设实施方案》", "restated"),
        ("到2025年底全市充电桩总量超过20万个", "五是持续推进实施方案落实，确保到2025年底全市充电桩总量超过20万个。", "restated"),
        ("城镇新增就业1100万人以上，城镇调查失业率5.5%左右；", "城镇新增就业1269万人，城镇调查失业率平均为5.1%。", "progress"),
    ],
)  # fmt: skip
def test_relations(promise, follow_up, relation):
    assert relation_of(promise, follow_up) == relation


def test_a_figure_dated_before_the_letter_reports_progress():
    promise = "2025年底前实现乡镇公共充电站全覆盖"
    report = "结合乡村振兴，2022年在蓟州区、宝坻区、武清区等涉农区新建乡镇公共充电站26座；"
    assert relation_of(promise, report, follow_year=2023) == "progress"
    assert relation_of(promise, report) == "restated"  # without the letter's year nothing dates it
