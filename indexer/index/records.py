"""What the reader hands out: a document's metadata, a whole document, and a passage.

The field lists live here once; the SQL, the API schemas and the result views follow them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class DocumentInfo:
    """What a passage and its document both say about the document."""

    doc_id: int
    source: str
    title: str | None
    doc_type: str | None
    issuer: str | None
    date: str | None
    year: int | None
    doc_number: str | None
    proposal_number: str | None
    answer_category: str | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PassageFilter:
    """Which passages a search may return; hashable, so a reader can cache each filter's scan.

    ``issuer`` holds the forms of one body (its name, its short form spelled out), any of which the
    document's issuer may contain; ``proposal_number`` is matched as a substring; ``date_from`` and
    ``date_to`` are ISO dates (``2024-03-05``) compared with the document's date; a document dated
    only by its year (most Government Work Reports, some letters) is kept when that year overlaps
    the range, one with neither is left out.
    """

    doc_type: str | None = None
    year_from: int | None = None
    year_to: int | None = None
    issuer: tuple[str, ...] | None = None
    commitments_only: bool = False
    answer_category: str | None = None
    proposal_number: str | None = None
    date_from: str | None = None
    date_to: str | None = None


# the metadata columns of the documents table, in order (doc_id and source are stored apart)
DOCUMENT_FIELDS = tuple(f.name for f in fields(DocumentInfo))[2:]


@dataclass(frozen=True)
class Document(DocumentInfo):
    """A document with its canonical text: every passage's ``start``/``end`` point into ``text``."""

    metadata: dict
    text: str


@dataclass(frozen=True)
class Passage(DocumentInfo):
    """A passage: an exact span ``text == document.text[start:end]`` with its place in the document."""

    chunk_id: int
    ordinal: int
    start: int
    end: int
    section: str
    page: int | None
    end_page: int | None
    is_commitment: bool
    role: str  # header, opening, body, closing or signature: see indexer.roles
    text: str


@dataclass(frozen=True)
class FollowUp(DocumentInfo):
    """A later span reporting on a commitment: ``text == document.text[start:end]``."""

    start: int
    end: int
    text: str
    relation: str  # progress, done, revised or restated
    explicit: bool  # the later document cites the commitment's document
    score: float


@dataclass(frozen=True)
class CommitmentRecord(DocumentInfo):
    """A promise: an exact span of its document, what it promises, and what became of it."""

    commitment_id: int
    chunk_id: int
    start: int
    end: int
    section: str
    text: str
    deadline_year: int | None
    target: str | None
    topic: str
    follow_ups: tuple[FollowUp, ...]
