"""What each sentence of a document is for: the letterhead, the framing, the answer, the sign-off.

A reply letter wraps its answer in fixed parts: a header (title, document number, 签发人, the
addressee ``秦××委员：``), an opening (``您提出的…提案收悉…现答复如下：``), the body, a closing
(``本提案答复类别为B类。感谢您…``, contact lines, 抄送) and a signature (the body's name and the
date). Those parts repeat the topic words of the proposal, so they match every query on the topic
and answer none. Passages are cut at role changes (``indexer.chunking``) so that each passage has one
role, and the ranking demotes the non-body ones unless the query asks for them.

Policy texts have a header (title, 文号, addressee) and often a signature; their framing sentences
(``为…，现就…通知如下``) state purposes and stay body. Roles are found from layout and a few fixed
phrases of the genre, never from a document's topic.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from indexer.metadata import DOC_NUMBER

ROLES = ("header", "opening", "body", "closing", "signature")
HEADER_LINE_CHARS = 80  # a title may be long, a paragraph is longer and has sentence ends
ADDRESSEE_CHARS = 60
HEADER_SEARCH_LINES = 8  # the addressee comes within the first lines or there is none
OPENING_PARAGRAPHS = 2
CLOSING_LINES = 4  # the closing sits in the last lines before the signature

# lines of a letterhead besides the title: numbers, the signer, the answer category
HEADER_FIELD = re.compile(
    r"^(?:签发人|签发|答复类别|类别|公开方式|公开属性|主办单位|协办单位|会办单位|提案号|建议号|编号)[:：]"
    r"|^[（(]?[ABCＡＢＣ]类[)）]?$"
)
ADDRESSEE = re.compile(rf"^[^。；！？]{{1,{ADDRESSEE_CHARS}}}[:：]$")
# the sentence that hands over to the answer
OPENING_CUE = re.compile(r"收悉|答复如下|现答复|函复如下|研究答复|现将.{0,30}答复|现就.{0,30}答复")
CLOSING_CUE = re.compile(
    r"感谢|谢谢|答复类别|联系人|联系电话|联系方式|继续关心|关心和支持|关注和支持|此复|特此(?:函复|答复)|专此"
    r"|如有(?:疑问|问题|意见)|欢迎.{0,10}(?:提出|批评|指导|监督)|抄送|附件[:：]|此件|公开发布"
)
DATE_LINE = re.compile(
    r"^(?:\d{4}|[〇零一二三四五六七八九]{4})年[\d〇零一二三四五六七八九十]{1,3}月[\d〇零一二三四五六七八九十]{1,3}日$"
)
BODY_NAME = re.compile(
    r"^[^。，；：:！？]{2,40}(?:委员会|局|委|厅|办公室|办|政府|院|中心|公司|部|处|署|会|站|所|队)(?:[（(][^（()）]{2,20}[)）])?$"
)


def sentence_roles(text: str, sentences: Sequence[tuple[int, int]]) -> list[str]:
    """The role of each sentence span of ``text`` (spans in document order, none crossing a line)."""
    lines = _line_numbers(text, sentences)
    roles = ["body"] * len(sentences)
    header_end = _header_lines(text, sentences, lines)
    for i, line in enumerate(lines):
        if line < header_end:
            roles[i] = "header"
    _mark_opening(text, sentences, lines, roles)
    _mark_tail(text, sentences, lines, roles)
    return roles


def _line_numbers(text: str, sentences: Sequence[tuple[int, int]]) -> list[int]:
    """For each sentence, the index of its line among the document's non-empty lines."""
    numbers, line, last_start = [], -1, -1
    for start, _ in sentences:
        line_start = text.rfind("\n", 0, start) + 1
        if line_start != last_start:
            line, last_start = line + 1, line_start
        numbers.append(line)
    return numbers


def _line_text(text: str, start: int) -> str:
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", start)
    return text[line_start : len(text) if line_end < 0 else line_end].strip()


def _header_lines(text: str, sentences: Sequence[tuple[int, int]], lines: list[int]) -> int:
    """How many leading lines are letterhead: up to the addressee line, or the short title lines
    before the first paragraph when there is no addressee."""
    first_of_line = {line: sentences[i][0] for i, line in reversed(list(enumerate(lines)))}
    short_run = 0
    for line in range(min(HEADER_SEARCH_LINES, len(first_of_line))):
        content = _line_text(text, first_of_line[line])
        if ADDRESSEE.match(content) and not _heading_like(content) and "如下" not in content:
            return line + 1
        is_field = HEADER_FIELD.search(content) or DOC_NUMBER.fullmatch(content) or DATE_LINE.match(content)
        is_title = (
            len(content) <= HEADER_LINE_CHARS
            and not re.search(r"[。；！？]", content)
            and not content.endswith(("：", ":"))
            and not OPENING_CUE.search(content)
        )
        if short_run == line and (is_field or (is_title and not _heading_like(content))):
            short_run = line + 1
    # without an addressee only a title block followed by a paragraph is a header
    return short_run if short_run < len(first_of_line) else 0


def _heading_like(content: str) -> bool:
    from indexer.chunking import heading_marker  # the chunker calls this module: import at use

    return heading_marker(content) is not None


def _mark_opening(
    text: str, sentences: Sequence[tuple[int, int]], lines: list[int], roles: list[str]
) -> None:
    """The framing of a reply: from the first body sentence to the last one handing over to the
    answer (``…收悉``, ``…现答复如下：``) within the first paragraphs."""
    body = [i for i, role in enumerate(roles) if role == "body"]
    if not body:
        return
    first_line = lines[body[0]]
    window = [i for i in body if lines[i] < first_line + OPENING_PARAGRAPHS]
    cues = [i for i in window if OPENING_CUE.search(text[sentences[i][0] : sentences[i][1]])]
    if cues and not _heading_like(_line_text(text, sentences[body[0]][0])):
        for i in range(body[0], cues[-1] + 1):
            roles[i] = "opening"


def _mark_tail(text: str, sentences: Sequence[tuple[int, int]], lines: list[int], roles: list[str]) -> None:
    """Signature lines (a body's name, a date) and closing sentences (thanks, the answer category,
    contact lines, 抄送) at the end of the document, walking back until the answer's last words."""
    index = len(sentences) - 1
    while index >= 0 and roles[index] == "body":
        content = _line_text(text, sentences[index][0])
        if DATE_LINE.match(content) or BODY_NAME.match(content) or _name_and_date(content):
            roles[index] = "signature"
        elif CLOSING_CUE.search(text[sentences[index][0] : sentences[index][1]]):
            roles[index] = "closing"
        else:
            break
        index -= 1
    # the closing lines may also hold a sentence of answer (``所提…将作为今后工作的参考。感谢…``)
    last_line = lines[index] if index >= 0 else -1
    while index >= 0 and lines[index] > last_line - CLOSING_LINES and roles[index] == "body":
        if CLOSING_CUE.search(text[sentences[index][0] : sentences[index][1]]) and _is_meta(
            text[sentences[index][0] : sentences[index][1]]
        ):
            roles[index] = "closing"
        index -= 1


def _is_meta(sentence: str) -> bool:
    """A closing sentence said about the letter itself, not about the work (``答复类别为B类``)."""
    return len(sentence) <= 60


def _name_and_date(content: str) -> bool:
    """``天津市民政局　2024年6月26日`` on one line."""
    parts = content.split()
    return len(parts) == 2 and BODY_NAME.match(parts[0]) is not None and DATE_LINE.match(parts[1]) is not None
