"""Read source files into documents: canonical text plus where its pages and headings are.

Each format yields blocks (a page of a PDF, a paragraph of a DOCX, a whole text file); blocks are
normalized one by one and joined, so page numbers and Word heading styles keep exact offsets in
the canonical text. Unreadable input raises SourceError with a reason a person can act on.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from indexer.chunking import heading_marker
from indexer.metadata import ARABIC_DATE, DOC_NUMBER, ISSUER_SUFFIX, SIGNATURE_LINE
from indexer.normalize import canonical_text

SUPPORTED_SUFFIXES = {".txt", ".md", ".docx", ".pdf", ".jsonl"}
MANIFEST_NAMES = ("MANIFEST.tsv", "manifest.jsonl")
_SENTENCE_END = "。！？：；”」』）)!?:;"
# a PDF line starting an article (第三条) begins a paragraph, as does one starting a heading marker
_ARTICLE_START = re.compile(r"^第[一二三四五六七八九十百零〇]+条")
_CJK = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")
# pypdf puts a space where a run of digits or Latin letters meets Chinese text in another font run
_PDF_RUN_SPACE = re.compile(r"(?<=[\u4e00-\u9fff]) (?=[0-9A-Za-z])|(?<=[0-9A-Za-z]) (?=[\u4e00-\u9fff])")
_TITLE_END = re.compile(r"(?:答复|通知|方案|意见|办法|决定|规定|报告|函)$")


class SourceError(Exception):
    """A file that cannot be indexed; the message says why."""


@dataclass
class Block:
    """A piece of source text with what the format says about it."""

    text: str
    page: int | None = None
    is_heading: bool = False


@dataclass
class Document:
    """One document as the indexer sees it; offsets in ``pages``/``headings`` refer to ``text``."""

    key: str
    source: str
    text: str
    content_hash: str
    pages: list[tuple[int, int]] = field(default_factory=list)  # (start offset, page number)
    headings: list[int] = field(default_factory=list)  # start offsets of styled heading lines
    metadata: dict = field(default_factory=dict)


def assemble(key: str, source: str, blocks: list[Block], metadata: dict | None = None) -> Document:
    """Normalize blocks one by one and join them, recording page and heading offsets."""
    parts: list[str] = []
    pages: list[tuple[int, int]] = []
    headings: list[int] = []
    offset = 0
    for block in blocks:
        text = canonical_text(block.text)
        if not text:
            continue
        if parts:
            separator = "\n\n" if block.page is not None else "\n"
            parts.append(separator)
            offset += len(separator)
        if block.page is not None:
            pages.append((offset, block.page))
        if block.is_heading:
            headings.append(offset)
        parts.append(text)
        offset += len(text)
    text = "".join(parts)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Document(key, source, text, digest, pages, headings, dict(metadata or {}))


def decode_text(data: bytes) -> str:
    """UTF-16 with a BOM (Notepad's "Unicode"), UTF-8 (with or without BOM), else GB18030, which
    covers GBK and GB2312 files."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise SourceError("text starts like UTF-16 but does not decode as UTF-16") from exc
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SourceError("text is neither UTF-8 nor GB18030/GBK")


def read_text_file(path: Path) -> list[Document]:
    text = decode_text(path.read_bytes())
    doc = assemble(str(path), path.name, [Block(text)])
    if not doc.text:
        raise SourceError("the file has no text (empty, blank or control characters only)")
    return [doc]


def read_docx(path: Path) -> list[Document]:
    """Paragraphs and tables in body order; paragraphs styled Heading/Title are marked as headings."""
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except Exception as exc:  # python-docx raises several unrelated types for broken packages
        raise SourceError(f"not a readable Word file ({type(exc).__name__})") from exc
    blocks: list[Block] = []
    for item in document.iter_inner_content():
        if isinstance(item, Paragraph):
            style = (item.style.name if item.style is not None else "") or ""
            blocks.append(Block(item.text, is_heading=style.startswith("Heading")))
        elif isinstance(item, Table):
            for row in item.rows:
                cells = [cell.text.strip() for cell in row.cells]
                blocks.append(Block(" | ".join(dict.fromkeys(cells))))
    title = next(
        (p.text.strip() for p in document.paragraphs if p.style is not None and p.style.name == "Title"), ""
    )
    doc = assemble(str(path), path.name, blocks, {"title": title} if title else None)
    if not doc.text:
        raise SourceError("the Word file has no text")
    return [doc]


def stands_alone(line: str) -> bool:
    """An issuing body, a date or a document number: lines a PDF must not join to their neighbours."""
    if DOC_NUMBER.fullmatch(line) or ARABIC_DATE.fullmatch(line):
        return True
    return (
        len(line) <= 30 and SIGNATURE_LINE.match(line) is not None and ISSUER_SUFFIX.search(line) is not None
    )


def merge_wrapped_title(lines: list[str]) -> list[str]:
    """Join the first two or three lines when together they are a title (``…的通知``) wrapped by layout."""
    for count in (3, 2):
        head = lines[:count]
        joined = "".join(head)
        if (
            len(head) == count
            and len(joined) <= 80
            and _TITLE_END.search(joined)
            and all(line[-1] not in _SENTENCE_END for line in head[:-1])
        ):
            return [joined, *lines[count:]]
    return lines


def join_pdf_lines(page_text: str, first_page: bool = False) -> str:
    """Undo the hard line breaks a PDF puts inside paragraphs and titles.

    A break is kept where the line ends a sentence, the next line starts a heading or is a
    signature or document number, or the line is clearly shorter than the page's full lines (a
    paragraph's last line). On the first page a title wrapped over two or three lines is joined
    (``关于…第0108`` + ``号提案的答复``). Joined lines get no space between Chinese characters and
    one space between Latin words.
    """
    lines = [_PDF_RUN_SPACE.sub("", line.strip()) for line in page_text.split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    title: list[str] = []
    if first_page and (merged := merge_wrapped_title(lines)) is not lines:
        title, lines = merged[:1], merged[1:]
        if not lines:
            return title[0]
    full_width = max(len(line) for line in lines)
    paragraphs = [lines[0]]
    for line, previous in zip(lines[1:], lines):
        ends_paragraph = (
            previous[-1] in _SENTENCE_END
            or heading_marker(line) is not None
            or _ARTICLE_START.match(line) is not None
            or stands_alone(line)
            or len(previous) < 0.8 * full_width
        )
        if ends_paragraph:
            paragraphs.append(line)
        elif _CJK.match(previous[-1]) or _CJK.match(line[0]):
            paragraphs[-1] += line
        else:
            paragraphs[-1] += " " + line
    return "\n".join(title + paragraphs)


def read_pdf(path: Path) -> list[Document]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise SourceError("encrypted PDF (password protected)")
        blocks = [
            Block(join_pdf_lines(page.extract_text() or "", first_page=number == 1), page=number)
            for number, page in enumerate(reader.pages, 1)
        ]
    except SourceError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise SourceError(f"corrupt or unreadable PDF ({exc.__class__.__name__}: {exc})") from exc
    doc = assemble(str(path), path.name, blocks)
    if not doc.text.strip():
        raise SourceError("no text layer (scanned image?)")
    return [doc]


def records_of(text: str) -> list[str]:
    """The lines of a JSON Lines or TSV file: split at newlines only, since ``str.splitlines``
    also splits at U+0085, U+2028 and other characters that JSON strings may carry unescaped."""
    return [line.removesuffix("\r") for line in text.split("\n")]


@dataclass
class Reading:
    """What one file gave: its documents, and the records in it that were left out, and why."""

    documents: list[Document]
    problems: list[str] = field(default_factory=list)


def read_jsonl(path: Path) -> Reading:
    """One document per line: ``title`` and ``content``, every other field is metadata.

    A bad line (not a JSON object, no text ``content``, an empty one) is left out and reported by
    number; the good lines are kept.
    """
    reading = Reading([])
    for number, line in enumerate(records_of(decode_text(path.read_bytes())), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            reading.problems.append(f"line {number}: not JSON ({exc.msg})")
            continue
        if not isinstance(record, dict):
            reading.problems.append(f"line {number}: a JSON {type(record).__name__}, not an object")
            continue
        content = record.pop("content", None)
        if not isinstance(content, str):
            reading.problems.append(
                f"line {number}: field content must be text, not {type(content).__name__}"
            )
            continue
        metadata = {k: v for k, v in record.items() if v not in (None, "")}
        doc = assemble(f"{path}#{number}", path.name, [Block(content)], metadata)
        if not doc.text:
            reading.problems.append(f"line {number}: content is empty")
            continue
        reading.documents.append(doc)
    if not reading.documents:
        raise SourceError("no usable line: " + "; ".join(reading.problems[:3]))
    return reading


READERS: dict[str, Callable[[Path], list[Document] | Reading]] = {
    ".txt": read_text_file,
    ".md": read_text_file,
    ".docx": read_docx,
    ".pdf": read_pdf,
    ".jsonl": read_jsonl,
}


def read_source(path: Path) -> Reading:
    """All documents in one file and the records left out; raises SourceError when none is usable."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise SourceError(f"unsupported file type {path.suffix or '(none)'}")
    try:
        read = reader(path)
    except OSError as exc:
        raise SourceError(f"cannot read file ({exc.strerror or exc})") from exc
    return read if isinstance(read, Reading) else Reading(read)


def read_file(path: Path) -> list[Document]:
    """All usable documents in one file; raises SourceError when the file cannot be used."""
    return read_source(path).documents


@dataclass
class Discovery:
    """The files to index, and what was found but passed over, with the reason."""

    files: list[Path]
    passed_over: list[tuple[Path, str]] = field(default_factory=list)


def _walked(folder: Path) -> bool:
    """Folders that hold no documents of the user's: hidden ones, virtual environments, caches."""
    name = folder.name
    return not (name.startswith(".") or name == "__pycache__" or (folder / "pyvenv.cfg").exists())


def discover(paths: list[Path]) -> Discovery:
    """Files to index under the given files and folders, sorted, manifests left out.

    Unsupported files, dangling links and special files (FIFOs, sockets) are passed over and
    listed; hidden folders and virtual environments are not walked.
    """
    found: set[Path] = set()
    passed_over: list[tuple[Path, str]] = []
    for path in paths:
        if path.is_dir():
            for root, folders, names in os.walk(path):
                folders[:] = sorted(f for f in folders if _walked(Path(root) / f))
                for name in names:
                    _sort_out(Path(root) / name, found, passed_over)
        elif path.exists() or path.is_symlink():
            _sort_out(path, found, passed_over)
        else:
            raise SourceError(f"{path}: no such file or folder")
    files = sorted(p for p in found if p.name not in MANIFEST_NAMES)
    return Discovery(files, sorted(passed_over))


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _sort_out(path: Path, found: set[Path], passed_over: list[tuple[Path, str]]) -> None:
    if path.name in MANIFEST_NAMES or path.name.startswith("."):
        return
    if not str(path).isprintable() or not _utf8(str(path)):
        passed_over.append((path, "file name is not valid UTF-8 text; rename the file"))
    elif not path.exists():
        passed_over.append((path, "dangling link"))
    elif not path.is_file():
        passed_over.append((path, "not a regular file (FIFO, socket or device)"))
    elif path.suffix.lower() not in SUPPORTED_SUFFIXES:
        passed_over.append((path, f"unsupported file type {path.suffix or '(none)'}"))
    else:
        found.add(path)


def load_manifest(folder: Path, problems: list[str] | None = None) -> dict[str, dict]:
    """Metadata by file name from a MANIFEST.tsv or manifest.jsonl in ``folder`` (empty if none).

    Rows that cannot be read are left out and described in ``problems``.
    """
    problems = problems if problems is not None else []
    rows: list[dict] = []
    tsv, jsonl = folder / "MANIFEST.tsv", folder / "manifest.jsonl"
    try:
        if tsv.is_file():
            lines = records_of(decode_text(tsv.read_bytes()))
            header = lines[0].split("\t") if lines else []
            rows = [dict(zip(header, line.split("\t"))) for line in lines[1:] if line.strip()]
        elif jsonl.is_file():
            for number, line in enumerate(records_of(decode_text(jsonl.read_bytes())), 1):
                try:
                    row = json.loads(line) if line.strip() else None
                except json.JSONDecodeError as exc:
                    problems.append(f"{jsonl}: line {number}: not JSON ({exc.msg})")
                    continue
                if row is not None and not isinstance(row, dict):
                    problems.append(f"{jsonl}: line {number}: not a JSON object")
                elif row is not None:
                    rows.append(row)
    except (OSError, SourceError) as exc:
        problems.append(f"manifest in {folder} cannot be read: {exc}")
    return {
        str(row["file"]): {k: v for k, v in row.items() if k != "file" and v not in (None, "")}
        for row in rows
        if isinstance(row.get("file"), str) and row.get("file")
    }
