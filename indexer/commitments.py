"""Which sentence units of a document are commitments, and what each one promises.

A commitment states future action by the issuing body or government: a target with a figure or a
deadline (``到2025年底全市充电桩总量超过20万个``), a plan (``下一步，我们将…``, the items under a
下一步/工作安排 heading), a yearly target of a work report (``国内生产总值增长5.5%左右``), or a
standing measure with its standard (``按照每千瓦300元的标准给予一次性建设补贴``), which later
documents restate or revise. Commitments are sentence units, whose vectors the index already
holds, so finding their follow-ups needs no extra embedding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from indexer.chunking import COMMITMENT_HEADING, FUTURE_ACTION, annotate_sentences, split_sentences
from indexer.metadata import chinese_number

# future cues beyond the chunker's FUTURE_ACTION (which flags whole passages)
FUTURE_CUE = re.compile(
    r"争取|力争|年底前|年内|明年|下一步|下步|另行制定|将(?:进一步|继续|加快|逐步|全面)|(?:两|三|五|二|\d)年内"
    r"|确保|(?:计划|预计|拟|推动|启动)(?:今年|明年|年底)"
)
# a date a promise can be due by; alone it promises only when the year is still to come
DATE_PHRASE = re.compile(r"(?:到|至|于|在|从)?(20\d\d)年(底|末|上半年|下半年|\d{1,2}月)?(前|以前)?")
# a report of a past event opens with its date: 2022年4月，市政府办公厅印发…
PAST_EVENT = re.compile(r"^(?:[一二三四五六七八九十]+是)?(20\d\d)年\d{1,2}月")
# a figure with a target's qualifier (左右, 以上 …), as work reports state yearly targets
QUALIFIED_TARGET = re.compile(
    r"\d(?:[\d.]*)\s*(?:%|％|万|亿|个|家|人|元|户|吨)?[^，。；\d]{0,4}?(?:左右|以上|以内|以下)"
)
# a standing measure: a standard by which something is granted
STANDING_MEASURE = re.compile(r"按(?:照)?[^。；]{0,40}标准给予|给予[^。；]{0,20}(?:补贴|补助|奖励|资助)")
# what a report of the past says; such a unit is not a promise unless a future cue is present too
PAST_REPORT = re.compile(r"已经|已有|已(?:全部)?(?:建成|完成|实现|开通|印发|出台|覆盖)|截至|截止|共计|共有")
FIGURE = re.compile(
    r"(?<![\d.年月第])(\d+(?:\.\d+)?(?:万|亿|千)?(?:%|％|个百分点|个|家|户|人次|人|元|千瓦|公里|平方米|张|所|座|台|辆|套|次|项|亩|吨|倍|岁)"
    r"(?:左右|以上|以内|以下)?)"
)
YEAR_MENTION = re.compile(r"(20\d\d)年")
RELATIVE_DEADLINE = (
    (re.compile(r"今年|年底前|年内|本年度"), 0),
    (re.compile(r"明年"), 1),
)
WITHIN_YEARS = re.compile(r"([两二三四五六七八九十\d])年内")
MIN_COMMITMENT_CHARS = 8
# a letter's closing formula thanks and gives contacts; it promises nothing
CLOSING = re.compile(r"感谢|答复类别|联系人|联系电话|此复|特此|欢迎.{0,6}(?:继续|提出)")
# what the proposer asked for, restated in the reply, is not the issuer's promise
PROPOSER = re.compile(
    r"您(?:们)?(?:在提案中|在建议中)?(?:建议|提出|提到|反映|所提|希望)|(?:提案|建议)(?:中)?(?:提出|建议)"
)


@dataclass(frozen=True)
class Commitment:
    """One promise: an exact span of its document and what can be read from it."""

    start: int
    end: int
    section: str
    deadline_year: int | None
    target: str | None
    unit: tuple[int, int]  # the sentence unit holding it, whose vector stands for it


def commitment_sections(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, under a commitment heading or lead) for each sentence of the document."""
    return [(s.start, s.end, s.in_commitment) for s in annotate_sentences(text)]


def reads_as_commitment(unit: str, in_commitment_section: bool, doc_year: int | None) -> bool:
    """Whether a unit's text promises future action (the rules are in the module docstring).

    A future verb (将, 力争, 确保 …) promises; a date still to come promises unless the unit
    reports the past (已建成…, or opens with a past date: a letter retelling an old plan's
    targets is not making them).
    """
    if len(unit) < MIN_COMMITMENT_CHARS or CLOSING.search(unit) or PROPOSER.search(unit):
        return False
    undated = DATE_PHRASE.sub("", unit)
    if FUTURE_ACTION.search(undated) or FUTURE_CUE.search(undated):
        return True
    past = PAST_REPORT.search(unit) is not None or _opens_with_past_date(unit, doc_year)
    if _names_future_date(unit, doc_year) and not past:
        return True
    if past:
        return False
    return (
        in_commitment_section
        or QUALIFIED_TARGET.search(unit) is not None
        or STANDING_MEASURE.search(unit) is not None
    )


def _names_future_date(unit: str, doc_year: int | None) -> bool:
    """A year after the document's, or its own year as a deadline (2022年底前 in a 2022 text)."""
    if doc_year is None:
        return any(match.group(2) or match.group(3) for match in DATE_PHRASE.finditer(unit))
    for match in DATE_PHRASE.finditer(unit):
        year = int(match.group(1))
        if year > doc_year or (
            year == doc_year and (match.group(3) or match.group(2) in ("底", "末", "下半年"))
        ):
            return True
    return False


def _opens_with_past_date(unit: str, doc_year: int | None) -> bool:
    match = PAST_EVENT.match(unit)
    return bool(match and doc_year is not None and int(match.group(1)) <= doc_year)


def deadline_year(unit: str, doc_year: int | None) -> int | None:
    """The year a commitment is due: the latest year it names from its own year on, or one read
    from 今年 / 明年 / 两年内 against the document's year. A target with a qualifier and no year
    (城镇新增就业1100万人以上, under a report's 今年主要预期目标) is due in the document's year."""
    named = [int(y) for y in YEAR_MENTION.findall(unit)]
    if doc_year is not None:
        named = [y for y in named if y >= doc_year]
        for pattern, offset in RELATIVE_DEADLINE:
            if pattern.search(unit):
                named.append(doc_year + offset)
        if match := WITHIN_YEARS.search(unit):
            digit = match.group(1)
            count = int(digit) if digit.isdigit() else chinese_number(digit.replace("两", "二"))
            if count:
                named.append(doc_year + count)
        if not named and QUALIFIED_TARGET.search(unit):
            named.append(doc_year)
    return max(named) if named else None


def target_figure(unit: str) -> str | None:
    """The first figure with its unit (``20万个``, ``5.5%左右``), as text."""
    match = FIGURE.search(unit)
    return match.group(1) if match else None


def in_commitment_heading(section: str) -> bool:
    return COMMITMENT_HEADING.search(section) is not None


def find_commitments(text: str, units: list[tuple[int, int, str]], doc_year: int | None) -> list[Commitment]:
    """The commitments among a document's sentence units, given as (start, end, section path).

    Units overlapping one already taken by more than half (neighbouring passages share a
    sentence) are dropped, so each promise is stored once.
    """
    flagged = [(start, end) for start, end, inside in commitment_sections(text) if inside]
    found: list[Commitment] = []
    for unit_start, unit_end, section in sorted(units):
        inside = in_commitment_heading(section) or any(a < unit_end and unit_start < b for a, b in flagged)
        if not reads_as_commitment(text[unit_start:unit_end], inside, doc_year):
            continue
        start, end = _promising_part(text, unit_start, unit_end, inside, doc_year)
        if found and _overlap(found[-1], start, end) * 2 > end - start:
            continue
        promise = text[start:end]
        found.append(
            Commitment(
                start,
                end,
                section,
                deadline_year(promise, doc_year),
                target_figure(promise),
                (unit_start, unit_end),
            )
        )
    return found


def _promising_part(text: str, start: int, end: int, inside: bool, doc_year: int | None) -> tuple[int, int]:
    """The unit from its first sentence that promises on: a short sentence joined before it
    (已入住养老机构的，不享受…) is context, not the promise."""
    for sentence_start, sentence_end in split_sentences(text, start, end):
        if reads_as_commitment(text[sentence_start:sentence_end], inside, doc_year):
            return sentence_start, end
    return start, end


def _overlap(commitment: Commitment, start: int, end: int) -> int:
    return max(0, min(commitment.end, end) - max(commitment.start, start))
