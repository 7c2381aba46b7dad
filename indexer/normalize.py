"""The one normalization function for document text, and the matching form used by search.

``canonical_text`` removes only noise (export residue, control and zero-width characters,
indentation, runs of spaces, extra blank lines, a subscript split onto its own line); punctuation
and digits stay as printed, because a drafter quotes passages exactly. Every offset in the index
refers to this text, and evaluation normalizes gold quotes with the same function so that they
line up.

``fold`` is the separate matching form (NFKC, lower case) that lexical search and highlighting
compare on; ``fold_with_offsets`` maps it back to canonical offsets.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_DOCX_RESIDUE = re.compile(r"\[bookmark: [^\]]*\]")
_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HORIZONTAL_RUN = re.compile(r"([ \t\u3000\u00a0])[ \t\u3000\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
# a subscript that a PDF or web export put on a line of its own (广义货币M\n2\n增长, PM\n10\n）):
# one or two digits alone between a Latin letter and the sentence's continuation
_SPLIT_SUBSCRIPT = re.compile(r"(?<=[A-Za-z])\n(\d{1,2})\n(?=[\u4e00-\u9fff，。；：、）)%])")


def canonical_text(raw: str) -> str:
    """Clean a document's raw text into the canonical text that offsets and citations refer to."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    text = _DOCX_RESIDUE.sub("", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("", text)
    lines = [line.strip(" \t\u3000\u00a0") for line in text.split("\n")]
    lines = [_HORIZONTAL_RUN.sub(lambda m: " " if m.group(1) == "\t" else m.group(1), line) for line in lines]
    text = _SPLIT_SUBSCRIPT.sub(r"\1", "\n".join(lines))
    return _BLANK_LINES.sub("\n\n", text).strip("\n")


def fold(text: str) -> str:
    """Matching form: NFKC (full-width digits and letters become ASCII) and lower case."""
    return unicodedata.normalize("NFKC", text).lower()


@lru_cache(maxsize=1 << 16)
def _fold_char(char: str) -> str:
    """One character folded; cached, since highlighting folds every passage it shows per query."""
    return fold(char)


def fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """Fold ``text`` character by character; ``offsets[i]`` is the source index of folded char i.

    Per-character folding keeps a map back to canonical offsets, which highlighting needs; a
    trailing sentinel equal to ``len(text)`` makes end offsets map too.
    """
    pieces = list(map(_fold_char, text))
    folded = "".join(pieces)
    if len(folded) == len(text):  # no character folds to none, so each folded to one
        return folded, list(range(len(text) + 1))
    offsets = [index for index, piece in enumerate(pieces) for _ in piece]
    offsets.append(len(text))
    return folded, offsets
