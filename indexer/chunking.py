"""Cut a document's canonical text into passages that can be embedded, found and quoted.

The genre has a strong structure: numbered headings (``一、`` ``（一）`` ``1.`` ``（1）`` ``第一章``
``第一条``), inline enumerations (``一是…二是…``) and sentences ending in ``。！？；``. Passages
follow that structure: a heading or a change of role (``indexer.roles``) starts a new passage,
whole sentences are packed up to a target size, and one sentence overlaps between neighbours in a
section. Offsets are recorded as
the passage is cut, never found again by searching, so ``text == doc_text[start:end]`` holds.

A passage's sentences are also embedded one by one (``sentence_units``): a query usually asks
about one item of a passage that lists several, and a whole-passage vector blurs that item.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from indexer.roles import sentence_roles

# Heading markers, in the order a reader expects them to nest. A marker kind seen again closes
# everything nested below it, which copes with documents that skip or reorder levels.
HEADING_MARKERS: list[tuple[str, re.Pattern]] = [
    ("part", re.compile(r"^第[一二三四五六七八九十百零〇]+[编部分]+[\s\u3000]*")),
    ("chapter", re.compile(r"^第[一二三四五六七八九十百零〇]+章[\s\u3000]*")),
    ("section", re.compile(r"^第[一二三四五六七八九十百零〇]+节[\s\u3000]*")),
    ("cn", re.compile(r"^[一二三四五六七八九十]+、")),
    ("paren_cn", re.compile(r"^（[一二三四五六七八九十]+）")),
    ("arabic", re.compile(r"^\d{1,2}(?:[.．、](?!\d)|\s)")),
    ("paren_arabic", re.compile(r"^[（(]\d{1,2}[）)]")),
]
# Articles (第一条) and inline enumerations (一是) are items: a passage prefers to start at one,
# but several short ones may share a passage, and they do not enter the heading path.
ENUMERATION = re.compile(
    r"^(?:[一二三四五六七八九十]+是|首先|其次|再次|最后|第[一二三四五六七八九十百零〇]+条|\d{1,2}[.．、](?!\d)|[（(]\d{1,2}[）)])"
)
# Numbered by Arabic digits, a line heads a section only when it is nothing but its title;
# ``1.新建住宅小区……。`` with body text is a list item.
ITEM_KINDS = {"arabic", "paren_arabic"}
SENTENCE_END = set("。！？；!?;")
OPENING = {
    "“": "”",
    "‘": "’",
    "「": "」",
    "『": "』",
    "《": "》",
    "（": "）",
    "(": ")",
    "【": "】",
    "〔": "〕",
    "[": "]",
}
MAX_HEADING_CHARS = 30
# no tokenizer reads more characters than this per token, so a longer piece can never fit
MAX_CHARS_PER_TOKEN = 16
MIN_UNIT_CHARS = 24  # shorter sentences (headings, 一是… leads) join the next one before embedding
COMMITMENT_HEADING = re.compile(
    r"下一步|下一阶段|下步|今后|工作安排|工作计划|工作打算|重点工作|工作任务|主要任务|重点任务|主要目标|目标任务|发展目标|工作思路|总体要求"
)
COMMITMENT_LEAD = re.compile(r"^(?:下一步|下一阶段|下步|今后|今后一个时期|明年|新的一年)[，,：:]?")
FUTURE_ACTION = re.compile(
    r"(?:我们|我市|我省|我区|我局|我委|我厅|本市|全市|市政府|各地|各级|政府)(?:将|要|还将|也将|将继续|将进一步)"
    r"|力争|计划(?:于|在|到|用)|拟(?:于|在|将)|预计(?:到|于)|到20\d\d年(?:底|末|前)?|20\d\d年(?:底|末)?前"
    r"|今年(?:要|将|计划|拟|重点|主要预期目标)"
)


@dataclass
class Chunk:
    """A passage: an exact span of the document text and where it sits."""

    ordinal: int
    start: int
    end: int
    text: str
    section: str
    page: int | None = None
    end_page: int | None = None
    is_commitment: bool = False
    role: str = "body"  # see indexer.roles


@dataclass
class _Sentence:
    start: int
    end: int
    path: tuple[str, ...]
    starts_section: bool = False
    heading_only: bool = False
    starts_item: bool = False
    in_commitment: bool = False
    role: str = "body"


@dataclass
class ChunkerSettings:
    """How passages are sized: target characters, and the token limit the model allows."""

    target_chars: int = 200
    max_tokens: int = 512
    overlap_sentences: int = 1

    def to_dict(self) -> dict:
        return {
            "target_chars": self.target_chars,
            "max_tokens": self.max_tokens,
            "overlap_sentences": self.overlap_sentences,
        }


def heading_marker(line: str) -> str | None:
    """The marker kind a line starts with, if the line reads as a heading."""
    for kind, pattern in HEADING_MARKERS:
        if pattern.match(line):
            return kind
    return None


def heading_text(line: str) -> str:
    """The heading part of a line: up to its first sentence end (the rest is body text)."""
    cut = min((line.find(p) for p in "。；：:" if p in line), default=len(line))
    return line[:cut].strip()


def leading_heading_chars(span: str) -> int:
    """How many characters of ``span`` are a heading line over its first sentence (with the line
    break after it): a short heading joins the sentence below it as one unit to embed, but a quote
    of that sentence leaves the heading out (the result shows it as the section)."""
    line, newline, rest = span.partition("\n")
    kind = heading_marker(line)
    if not newline or not rest.strip() or kind is None or heading_text(line) != line.strip():
        return 0
    if not is_heading_label(line.strip(), line, kind):
        return 0
    return len(span) - len(rest.lstrip())


def is_heading_label(label: str, line: str, kind: str) -> bool:
    """A numbered line is a heading when its label is short and reads as a title, not a list item.

    ``（一）业主自筹；`` ends like a list entry and ``2.加快…建设，在…`` is a sentence; neither heads
    a section.
    """
    if kind in ITEM_KINDS and line.strip().rstrip("。") != label:
        return False
    return (
        len(label) <= MAX_HEADING_CHARS
        and "，" not in label
        and not line.rstrip().endswith(("；", "，", "、", ";", ","))
    )


def split_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans in text[start:end]: ends at 。！？； outside quotes and brackets, and at line ends."""
    spans: list[tuple[int, int]] = []
    closers: list[str] = []
    begin = start
    for index in range(start, end):
        char = text[index]
        closes_quoted_sentence = False
        if char in OPENING:
            closers.append(OPENING[char])
        elif closers and char == closers[-1]:
            closers.pop()
            # “……。” ends a sentence at its closing quote
            closes_quoted_sentence = (
                char in "”’」』" and not closers and index > start and text[index - 1] in SENTENCE_END
            )
        if char == "\n":
            if text[begin:index].strip():
                spans.append(_trim(text, begin, index))
            begin = index + 1
            closers.clear()
        elif closes_quoted_sentence or (char in SENTENCE_END and not closers):
            stop = index + 1
            while stop < end and text[stop] in "”’」』" and not closes_quoted_sentence:
                stop += 1
            if stop > index + 1:  # quotes closed right after the stop belong to this sentence
                closers.clear()
            if text[begin:stop].strip():
                spans.append(_trim(text, begin, stop))
            begin = stop
    if text[begin:end].strip():
        spans.append(_trim(text, begin, end))
    return spans


def sentence_units(passage: str) -> list[tuple[int, int]]:
    """Spans of ``passage`` embedded on their own, besides the whole passage: its sentences, a
    short one joined to the sentence after it. Empty for a passage of one unit, whose own vector
    already is that unit's."""
    units: list[tuple[int, int]] = []
    for start, end in split_sentences(passage, 0, len(passage)):
        if units and units[-1][1] - units[-1][0] < MIN_UNIT_CHARS:
            units[-1] = (units[-1][0], end)
        else:
            units.append((start, end))
    return units if len(units) > 1 else []


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _lines(text: str) -> list[tuple[int, int]]:
    spans, offset = [], 0
    for line in text.split("\n"):
        spans.append((offset, offset + len(line)))
        offset += len(line) + 1
    return spans


def annotate_sentences(text: str, styled_headings: list[int] | None = None) -> list[_Sentence]:
    """Sentences with their heading path and the structural facts the packer needs."""
    styled = set(styled_headings or [])
    stack: list[tuple[str, str]] = []
    sentences: list[_Sentence] = []
    commitment_from_depth: int | None = None
    for line_start, line_end in _lines(text):
        line = text[line_start:line_end]
        if not line.strip():
            continue
        kind = heading_marker(line)
        label = None
        if kind is not None:
            label = heading_text(line)
            if not is_heading_label(label, line, kind):
                kind = label = None
        elif line_start in styled and len(line) <= MAX_HEADING_CHARS * 2:
            kind, label = "styled", line.strip()
        if kind is not None and label:
            kinds = [k for k, _ in stack]
            stack = stack[: kinds.index(kind)] if kind in kinds else stack
            stack.append((kind, label))
            if commitment_from_depth is not None and len(stack) <= commitment_from_depth:
                commitment_from_depth = None
            if commitment_from_depth is None and COMMITMENT_HEADING.search(label):
                commitment_from_depth = len(stack)
        path = tuple(label for _, label in stack)
        for index, (start, end) in enumerate(split_sentences(text, line_start, line_end)):
            sentence_text = text[start:end]
            leads_commitment = index == 0 and COMMITMENT_LEAD.match(sentence_text) is not None
            if commitment_from_depth is None and leads_commitment:
                commitment_from_depth = len(stack) + 1  # until the next heading at this depth or above
            sentences.append(
                _Sentence(
                    start,
                    end,
                    path,
                    starts_section=(kind is not None or leads_commitment) and index == 0,
                    heading_only=kind is not None
                    and index == 0
                    and (start, end) == _trim(text, line_start, line_end)
                    and len(sentence_text) <= MAX_HEADING_CHARS,
                    starts_item=ENUMERATION.match(sentence_text) is not None,
                    in_commitment=commitment_from_depth is not None,
                )
            )
    for sentence, role in zip(
        sentences, sentence_roles(text, [(s.start, s.end) for s in sentences]), strict=True
    ):
        sentence.role = role
    return sentences


def _split_long(
    text: str, start: int, end: int, fits: Callable[[int, int], bool], window: int
) -> list[tuple[int, int]]:
    """Cut an over-long sentence at commas, or at fixed widths when it has none that help.

    Each piece is the longest run from its start that fits, ending after a comma, searched by
    bisection over the commas within ``window`` characters (no piece longer can fit the model),
    so the work grows linearly with the sentence, not with its square.
    """
    pieces: list[tuple[int, int]] = []
    begin = start
    while begin < end:
        limit = min(end, begin + window)
        stop = None
        while stop is None:
            cuts = [i + 1 for i in range(begin + 1, limit - 1) if text[i] in "，,、"] + [limit]
            low, high = 0, len(cuts) - 1
            while low <= high:  # the last cut that fits; fitting shrinks as the piece grows
                middle = (low + high) // 2
                if fits(begin, cuts[middle]):
                    stop, low = cuts[middle], middle + 1
                else:
                    high = middle - 1
            if stop is None:
                limit = begin + max(1, (limit - begin) // 2)
        pieces.append((begin, stop))
        begin = stop
    return pieces


def chunk_document(
    text: str,
    settings: ChunkerSettings,
    count_tokens: Callable[[str], int] | None = None,
    context: Callable[[tuple[str, ...]], str] = lambda path: "",
    pages: list[tuple[int, int]] | None = None,
    styled_headings: list[int] | None = None,
) -> list[Chunk]:
    """Cut ``text`` into chunks; ``context(path)`` is the title/heading text embedded in front.

    ``count_tokens`` measures what the model will read (context plus passage); no chunk exceeds
    ``settings.max_tokens``. Without a counter, characters stand in for tokens.
    """
    measure = count_tokens or len

    def fits(path: tuple[str, ...], start: int, end: int) -> bool:
        return measure(context(path) + text[start:end]) <= settings.max_tokens

    sentences: list[_Sentence] = []
    for sentence in annotate_sentences(text, styled_headings):
        if fits(sentence.path, sentence.start, sentence.end):
            sentences.append(sentence)
            continue
        for index, (start, end) in enumerate(
            _split_long(
                text,
                sentence.start,
                sentence.end,
                partial(fits, sentence.path),
                MAX_CHARS_PER_TOKEN * settings.max_tokens,
            )
        ):
            sentences.append(
                _Sentence(
                    start,
                    end,
                    sentence.path,
                    sentence.starts_section and index == 0,
                    in_commitment=sentence.in_commitment,
                    role=sentence.role,
                )
            )

    groups: list[list[_Sentence]] = []
    current: list[_Sentence] = []
    for sentence in sentences:
        if current:
            size = sentence.end - current[0].start
            only_headings = all(s.heading_only for s in current)
            new_section = sentence.role != current[-1].role or (
                not only_headings and (sentence.starts_section or sentence.path != current[-1].path)
            )
            item_break = (
                sentence.starts_item and (current[-1].end - current[0].start) >= settings.target_chars // 2
            )
            too_big = size > settings.target_chars or not fits(sentence.path, current[0].start, sentence.end)
            if new_section or item_break or too_big:
                groups.append(current)
                overlap = (
                    current[-settings.overlap_sentences :]
                    if settings.overlap_sentences and not new_section
                    else []
                )
                overlap = [
                    s
                    for s in overlap
                    if s.end - s.start <= settings.target_chars // 2 and fits(s.path, s.start, sentence.end)
                ]
                current = overlap if len(overlap) < len(groups[-1]) else []
        current.append(sentence)
    if current:
        groups.append(current)
    return [_make_chunk(text, ordinal, group, pages or []) for ordinal, group in enumerate(groups)]


def _page_at(pages: list[tuple[int, int]], offset: int) -> int | None:
    if not pages:
        return None
    index = bisect.bisect_right([start for start, _ in pages], offset) - 1
    return pages[max(index, 0)][1]


def _make_chunk(text: str, ordinal: int, group: list[_Sentence], pages: list[tuple[int, int]]) -> Chunk:
    start, end = group[0].start, group[-1].end
    span = text[start:end]
    path = group[-1].path  # a heading line carried into the passage below it is an ancestor
    commitment = any(s.in_commitment for s in group) or FUTURE_ACTION.search(span) is not None
    return Chunk(
        ordinal=ordinal,
        start=start,
        end=end,
        text=span,
        section=" > ".join(path),
        page=_page_at(pages, start),
        end_page=_page_at(pages, max(start, end - 1)),
        is_commitment=commitment,
        role=group[-1].role,
    )
