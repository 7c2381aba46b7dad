"""Citations gathered from several searches, exported together: Word, Markdown or CSV.

A drafting assistant collects passages (or their best sentences) while searching and pastes them
into a reply. The client sends only where each quote is (a passage and, optionally, a span inside
it); the quote is cut here from the stored text, so every exported quote is exact whatever the
client kept, and each carries its citation string and a numbered reference.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from indexer.index import IndexStore
from search_api.citations import citation
from search_api.request import QueryError
from search_api.results import RESULT_FIELDS

MAX_ITEMS = 200
MEDIA_TYPES = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}
CSV_COLUMNS = (
    "n",
    "quote",
    "citation",
    "title",
    "issuer",
    "date",
    "doc_number",
    "doc_id",
    "chunk_id",
    "start",
    "end",
)


class ExportItem(BaseModel):
    chunk_id: int = Field(ge=0, description="段落编号 / the passage quoted")
    start: int | None = Field(
        None, ge=0, description="引文起点（默认整段）/ quote start; the whole passage if absent"
    )
    end: int | None = Field(None, ge=0, description="引文终点 / quote end, in document offsets")


class ExportRequest(BaseModel):
    format: Literal["docx", "md", "csv"] = Field("docx", description="docx | md | csv")
    title: str = Field("引文汇编", max_length=100, description="文档标题 / heading of the export")
    items: list[ExportItem] = Field(min_length=1, max_length=MAX_ITEMS)


@dataclass(frozen=True)
class Quote:
    """One exported quote: exact text of its document, with where it is and how to cite it."""

    number: int
    text: str
    citation: str
    fields: dict


def gather(store: IndexStore, request: ExportRequest) -> list[Quote]:
    """The quotes, in the order given, cut from the stored passages; a bilingual ``QueryError``
    names the items that no longer exist or whose span leaves their passage."""
    passages = store.passages([item.chunk_id for item in request.items])
    missing = [item.chunk_id for item in request.items if item.chunk_id not in passages]
    if missing:
        ids = "、".join(str(i) for i in missing)
        raise QueryError(
            f"段落 {ids} 不存在（索引可能已更新，请重新检索）", f"no passage {ids}; search again"
        )
    quotes = []
    for number, item in enumerate(request.items, 1):
        passage = passages[item.chunk_id]
        start = passage.start if item.start is None else item.start
        end = passage.end if item.end is None else item.end
        if not passage.start <= start < end <= passage.end:
            raise QueryError(
                f"第{number}条的引文范围不在段落 {item.chunk_id} 之内",
                f"item {number}: the span lies outside passage {item.chunk_id}",
            )
        fields = {name: getattr(passage, name) for name in RESULT_FIELDS} | {"start": start, "end": end}
        text = passage.text[start - passage.start : end - passage.start]
        quotes.append(Quote(number, text, citation(fields), fields | {"text": text}))
    return quotes


def to_markdown(quotes: list[Quote], title: str) -> str:
    """Numbered quotes with footnote markers, and the footnotes as the reference list."""
    lines = [f"# {title}", ""]
    lines += [f"{q.number}. “{q.text}”[^{q.number}]" for q in quotes]
    lines += ["", *(f"[^{q.number}]: {q.citation}" for q in quotes), ""]
    return "\n".join(lines)


def to_csv(quotes: list[Quote]) -> str:
    """One row a quote, with a byte-order mark so that Excel reads the Chinese as UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for q in quotes:
        row = {"n": q.number, "quote": q.text, "citation": q.citation} | q.fields
        writer.writerow([row.get(column) if row.get(column) is not None else "" for column in CSV_COLUMNS])
    return "\ufeff" + out.getvalue()


def to_docx(quotes: list[Quote], title: str) -> bytes:
    """A Word document: the quotes, each with its reference number, then the numbered references."""
    from docx import Document

    document = Document()
    document.add_heading(title, level=1)
    for q in quotes:
        paragraph = document.add_paragraph(style="List Number")
        paragraph.add_run(f"“{q.text}”")
        marker = paragraph.add_run(f"[{q.number}]")
        marker.font.superscript = True
    document.add_heading("引文出处", level=2)
    for q in quotes:
        document.add_paragraph(f"[{q.number}] {q.citation}")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def export(store: IndexStore, request: ExportRequest) -> tuple[bytes, str]:
    """The export's bytes and media type."""
    quotes = gather(store, request)
    if request.format == "docx":
        return to_docx(quotes, request.title), MEDIA_TYPES["docx"]
    text = to_markdown(quotes, request.title) if request.format == "md" else to_csv(quotes)
    return text.encode("utf-8"), MEDIA_TYPES[request.format]
