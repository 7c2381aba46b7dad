"""Which years a query or a passage speaks of.

Reports and reply letters mostly say 今年, 去年 or 过去五年 rather than the year itself, and a
report reviews the year before it: the 2013 report's 过去五年工作回顾 is about 2008-2012. Relative
words are resolved against the document's year, so a query naming a year can be matched with the
passages about that year rather than with every passage of a document dated that year.
"""

from __future__ import annotations

import re

from indexer.metadata import chinese_number
from indexer.normalize import fold

_YEAR = r"(?:19|20)\d{2}|[一二三四五六七八九〇零○]{4}"
# 2019年; 2008到2012年, 2008—2012年, 2008年至2012年 (ranges are expanded)
NAMED_YEARS = re.compile(rf"({_YEAR})(?:\s*年?\s*(?:到|至|—|-|－|~|～)\s*({_YEAR}))?\s*年")
LONGEST_RANGE = 30
THIS_YEAR = re.compile(r"今年|本年|年内|当年")
LAST_YEAR = re.compile(r"去年|上年|上一年|过去一年|一年来|前一年")
NEXT_YEAR = re.compile(r"明年|下一年")
# what a query means by a relative word, in years from today (年内, 当年 and 一年来 read as the
# year of a document, not of the asker)
QUERY_RELATIVE = (
    (re.compile(r"今年|本年"), 0),
    (re.compile(r"去年|上年|上一年"), -1),
    (re.compile(r"前年"), -2),
    (re.compile(r"明年"), 1),
)
PAST_YEARS = re.compile(
    r"(?:过去|近|前)(\d{1,2}|[两二三四五六七八九十]{1,2})年|(\d{1,2}|[两二三四五六七八九十]{1,2})年来"
)


def _year(text: str) -> int | None:
    return int(text) if text.isdigit() else chinese_number(text.replace("两", "二"))


def named_years(text: str) -> set[int]:
    """Years written out in the text, ranges expanded."""
    found: set[int] = set()
    for match in NAMED_YEARS.finditer(fold(text)):
        first = _year(match.group(1))
        last = _year(match.group(2)) if match.group(2) else first
        if first and last and 0 <= last - first <= LONGEST_RANGE:
            found.update(range(first, last + 1))
        elif first:
            found.add(first)
    return found


def relative_years(text: str, this_year: int) -> dict[str, list[int]]:
    """Relative time words of a query (今年, 去年, 前年, 明年, 近三年, 五年来) → the years they mean
    as of ``this_year``; a span of recent years includes this one (in December 2026, 近三年 is
    2024-2026)."""
    found: dict[str, list[int]] = {}
    for pattern, offset in QUERY_RELATIVE:
        for match in pattern.finditer(text):
            found[match.group(0)] = [this_year + offset]
    for match in PAST_YEARS.finditer(text):
        span = _year(match.group(1) or match.group(2)) or 0
        if 1 < span <= LONGEST_RANGE:
            found[match.group(0)] = list(range(this_year - span + 1, this_year + 1))
    return found


def years_spoken_of(text: str, section: str, doc_year: int | None) -> set[int]:
    """Years a passage (its text and heading path) is about, relative words resolved against ``doc_year``.

    A passage with no time word at all is taken to be about its document's year or the year
    before it, which a report or a letter reviews.
    """
    both = f"{section}\n{text}"
    years = named_years(both)
    if doc_year:
        if THIS_YEAR.search(both):
            years.add(doc_year)
        if LAST_YEAR.search(both):
            years.add(doc_year - 1)
        if NEXT_YEAR.search(both):
            years.add(doc_year + 1)
        for match in PAST_YEARS.finditer(both):
            span = _year(match.group(1) or match.group(2)) or 0
            if 1 < span <= LONGEST_RANGE:
                years.update(range(doc_year - span, doc_year))
        if not years:
            years = {doc_year, doc_year - 1}
    return years
