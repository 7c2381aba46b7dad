"""What a query says besides its words: its search words, document and proposal numbers it names.

A number that names an indexed document picks that document; the rest of the query picks the
passage (see ``content_query``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from indexer.index import IndexStore
from indexer.lexical import words
from indexer.metadata import DOC_NUMBER
from indexer.normalize import fold
from indexer.years import named_years, relative_years

SHORT_NUMBER = re.compile(r"第\s*(\d{1,5})\s*号")


def query_words(query: str) -> list[str]:
    """The query's search words, each once, in order (for BM25 and highlighting)."""
    return list(dict.fromkeys(words(query)))


def highlight_terms(terms: list[str]) -> list[str]:
    """The words worth marking in a result: single characters only when they are digits."""
    return [t for t in terms if len(t) > 1 or t.isdigit()]


def searchable(query: str) -> bool:
    """Whether a query holds anything to search for: a letter or a digit (emoji, punctuation,
    invisible and private-use characters are not)."""
    return any(unicodedata.category(char)[0] in "LN" for char in fold(query))


def identifiers(query: str) -> dict[str, str]:
    """Document numbers (津政办发〔2022〕15号) and proposal numbers (第0137号) named in a query:
    the span of the query that names one → its normalized form."""
    found = {m.group(0): fold(m.group(0)).replace(" ", "") for m in DOC_NUMBER.finditer(query)}
    found.update({m.group(0): f"第{fold(m.group(1))}号" for m in SHORT_NUMBER.finditer(query)})
    return found


@dataclass
class NamedNumber:
    """Where the index has a number a query names: the chunks of documents carrying it as their
    own number, and the chunks whose text cites it."""

    documents: set[int]
    citing: set[int]


def named_numbers(store: IndexStore, query: str) -> dict[str, NamedNumber]:
    """Each document or proposal number the query names (its span in the query), looked up once."""
    return {
        span: NamedNumber(
            set(store.chunks_of_documents_numbered(number)), set(store.chunks_containing(number))
        )
        for span, number in identifiers(query).items()
    }


@dataclass
class QueryYears:
    """The years a query asks about: those it writes out, else those its relative words mean today
    (``interpreted``, returned with the response so the reader sees how 去年 was taken)."""

    years: set[int]
    interpreted: dict[str, list[int]]


def query_years(query: str, this_year: int) -> QueryYears:
    """A year written out anchors the query (``去年…2022年计划`` is asked about 2022, whenever it is
    asked); relative words count only in a query that writes out none."""
    interpreted = relative_years(query, this_year)
    named = named_years(query)
    return QueryYears(named or {year for years in interpreted.values() for year in years}, interpreted)


def content_query(query: str, numbers: dict[str, NamedNumber]) -> str:
    """The query without the numbers that name indexed documents.

    Such a number picks the document (lexical search puts its passages first); the rest of the
    query picks the passage, and the number's characters would only pull every search towards
    the letterhead that prints it.
    """
    rest = query
    for span, number in numbers.items():
        if number.documents:
            rest = rest.replace(span, " ")
    return rest.strip() or query
