"""Which indexed documents a document cites, by document number or by title.

A reply that says ``印发《天津市既有住宅加装电梯管理办法》（津住建发〔2021〕8号）`` cites the notice
with that number. A number is matched exactly against the numbers the index holds; a title in
``《》`` is matched against a document's title when that title is the quoted one or wraps it
(``关于印发《X》的通知``, or a title ending in X). A quoted title that fits several documents cites
none of them: a wrong link is worse than a missing one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from indexer.metadata import DOC_NUMBER

QUOTED_TITLE = re.compile(r"《([^《》]{4,80})》")
# a title often carries its period, which a citing text may leave out
TITLE_PERIOD = re.compile(r"[（(]\s*20\d\d\s*[—\-－–~至]+\s*20\d\d\s*年?\s*[）)]")


@dataclass(frozen=True)
class CitedDocument:
    """A document's title and number, as a citing text may name it."""

    doc_id: int
    title: str | None
    doc_number: str | None


@dataclass(frozen=True)
class Citation:
    """``citing`` names ``cited`` at ``start``:``end`` of its text."""

    citing: int
    cited: int
    start: int
    end: int
    by: str  # "number" or "title"


def _title_forms(title: str) -> set[str]:
    """The names a title is cited by: itself, what its 《》 wrap, and both without a period."""
    forms = {title, *QUOTED_TITLE.findall(title)}
    if match := re.search(r"关于印发(.+?)的通知$", title):
        forms.add(match.group(1))
    forms |= {TITLE_PERIOD.sub("", form) for form in forms}
    return {form for form in forms if len(form) >= 4}


def find_citations(doc_id: int, text: str, documents: list[CitedDocument]) -> list[Citation]:
    """Every mention in ``text`` of another indexed document, by number or title.

    Copies of one document (the same title, say a .txt and a .pdf) are all cited.
    """
    by_number: dict[str, list[tuple[str, int]]] = {}  # bracket and serial → (whole number, doc)
    by_title: dict[str, dict[str, list[int]]] = {}  # cited form → title → docs
    own = next((d for d in documents if d.doc_id == doc_id), CitedDocument(doc_id, None, None))
    for document in documents:
        if document.doc_id == doc_id or _same_document(own, document):
            continue
        for number in DOC_NUMBER.finditer(document.doc_number or ""):
            whole = _compact(number.group(0))
            by_number.setdefault(_serial(whole), []).append((whole, document.doc_id))
        for form in _title_forms(document.title or ""):
            by_title.setdefault(form, {}).setdefault(document.title or "", []).append(document.doc_id)
    found: list[Citation] = []
    for match in DOC_NUMBER.finditer(text):
        mention = _compact(match.group(0))  # its prefix may have run into the words before it
        for whole, cited in by_number.get(_serial(mention), []):
            if mention.endswith(whole):
                found.append(Citation(doc_id, cited, match.start(), match.end(), "number"))
    for match in QUOTED_TITLE.finditer(text):
        titles = by_title.get(match.group(1)) or by_title.get(TITLE_PERIOD.sub("", match.group(1))) or {}
        if len(titles) == 1:
            for cited in next(iter(titles.values())):
                found.append(Citation(doc_id, cited, match.start(), match.end(), "title"))
    return found


def _same_document(one: CitedDocument, other: CitedDocument) -> bool:
    """Copies of one document (a .txt and its .pdf) share a title or a number; neither cites the other."""
    return bool(one.title and one.title == other.title) or bool(
        one.doc_number and one.doc_number == other.doc_number
    )


def _compact(number: str) -> str:
    """A document number without spaces and with its brackets made uniform."""
    return re.sub(r"\s+", "", number).translate(str.maketrans("［[（(］]）)", "〔〔〔〔〕〕〕〕"))


def _serial(number: str) -> str:
    """The bracketed year and serial of a compact number: 〔2021〕8号."""
    return number[number.index("〔") :]
