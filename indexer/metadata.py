"""Metadata that policy documents and reply letters carry in their text.

Title, type, date, issuing body, document number, proposal or suggestion number and answer
category are read with patterns of this genre. Every field is optional: a pattern that does not
match leaves the field empty, because a wrong issuer or date in a citation is worse than none.
"""

from __future__ import annotations

import re

CN_DIGITS = {
    "〇": 0,
    "零": 0,
    "○": 0,
    "Ｏ": 0,
    "一": 1,
    "二": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}

DOC_NUMBER = re.compile(r"[\u4e00-\u9fa5]{1,10}[〔［\[（(]\s*(\d{4})\s*[〕］\]）)]\s*\d{1,4}\s*号")
PROPOSAL_NUMBER = re.compile(
    r"((?:[\u4e00-\u9fa5]{1,12}?)?(?:政协|人大|人民代表大会)[\u4e00-\u9fa5]{0,16}?会议)第(\d{1,5})号(提案|建议)"
)
ARABIC_DATE = re.compile(r"((?:19|20)\d{2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_CN_DATE = re.compile(
    r"([一二三四五六七八九〇零○]{4})年([一二三四五六七八九十]{1,2})月(?:([一二三四五六七八九十]{1,3})日)?"
)
_ANSWER_CATEGORY = re.compile(r"答复类别为\s*([ABC])\s*类")
_LETTER_TOPIC = re.compile(r"您(?:们)?(?:所)?提出的《?(关于.{2,80}?的(?:提案|建议))》?")
_LETTER_TITLE = re.compile(r"^(?:关于|对).{2,80}(?:的答复|答复的函)$")
ISSUER_SUFFIX = re.compile(
    r"(?:政府|办公厅|办公室|委员会|局|厅|委|部|署|院|中心|总局)(?:（[^（）]{1,20}）)?$"
)
SIGNATURE_LINE = re.compile(r"^[\u4e00-\u9fa5（）\u3000 ]{4,80}$")
# a report or resolution is not signed: its body is in the title (国务院政府工作报告, …会议关于…的决议)
TITLE_ISSUER = re.compile(
    r"^(?:\d{4}年)?(?:中华人民共和国)?([\u4e00-\u9fa5]{0,16}?(?:国务院|人民政府))政府工作报告"
    r"|^([\u4e00-\u9fa5]{2,30}?(?:会议|委员会|人民政府|国务院|办公厅))关于"
)
# and its date is a line under the title: ——2024年3月5日在…会议上, （2023年3月13日…会议通过）
DATELINE = re.compile(r"^[—–\-（(\s]*\S*?年\S*?日\S*?(?:会议上|会議上|通过|通過|讲话)[）)]?$")
DATELINE_SPAN = 8


def chinese_number(text: str) -> int | None:
    """Value of a small Chinese numeral such as 十四 or 二十三 (up to 99)."""
    if not text:
        return None
    if all(ch in CN_DIGITS for ch in text):
        return int("".join(str(CN_DIGITS[ch]) for ch in text))
    if "十" in text:
        tens, _, units = text.partition("十")
        return (CN_DIGITS.get(tens, 1) if tens else 1) * 10 + (CN_DIGITS.get(units, 0) if units else 0)
    return None


def find_dates(text: str) -> list[tuple[int, str]]:
    """All full dates in the text as (offset, ISO date or year-month), Arabic and Chinese numerals."""
    found = []
    for match in ARABIC_DATE.finditer(text):
        year, month, day = (int(g) for g in match.groups())
        if 1 <= month <= 12 and 1 <= day <= 31:
            found.append((match.start(), f"{year:04d}-{month:02d}-{day:02d}"))
    for match in _CN_DATE.finditer(text):
        cn_year = chinese_number(match.group(1))
        cn_month = chinese_number(match.group(2))
        cn_day = chinese_number(match.group(3) or "")
        if cn_year and cn_month and 1 <= cn_month <= 12:
            found.append(
                (match.start(), f"{cn_year:04d}-{cn_month:02d}" + (f"-{cn_day:02d}" if cn_day else ""))
            )
    return sorted(found)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.split("\n") if line.strip()]


def _signature(lines: list[str]) -> tuple[str | None, str | None]:
    """Issuer and date from the last signature block: body names on the lines right above a date line.

    Letters sign at the end; notices sign their cover letter, before the attached text.
    """
    for index in range(len(lines) - 1, 0, -1):
        if len(lines[index]) > 20 or not (dates := find_dates(lines[index])):
            continue
        issuers: list[str] = []
        for above in reversed(lines[max(0, index - 3) : index]):
            names = [n for n in re.split(r"[\u3000 ]+", above) if n]
            if not SIGNATURE_LINE.match(above) or not all(ISSUER_SUFFIX.search(n) for n in names):
                break
            issuers[:0] = names
        if issuers:
            return "、".join(issuers), dates[-1][1]
    return None, None


def _title_issuer(title: str | None) -> str | None:
    match = TITLE_ISSUER.search(title or "")
    return (match.group(1) or match.group(2)) if match else None


def _dateline(lines: list[str]) -> str | None:
    """The date stated under the title of a speech, report or resolution, if it states one."""
    for line in lines[:DATELINE_SPAN]:
        if DATELINE.match(line) and (dates := find_dates(line)):
            return dates[0][1]
    return None


def _title(lines: list[str], text: str) -> str | None:
    head = lines[:3]
    topic = _LETTER_TOPIC.search(text[:600])
    for line in head:
        if _LETTER_TITLE.match(line):
            return f"{line}（{topic.group(1)}）" if topic and "号" in line else line
    if topic:
        return f"{topic.group(1)}的答复"
    for line in head:
        if len(line) <= 60 and not _issuer_line(line) and not line.endswith(("：", ":", "。")):
            return line
    return None


def _issuer_line(line: str) -> bool:
    names = [n for n in re.split(r"[\u3000 ]+", line) if n]
    return len(names) > 1 and all(ISSUER_SUFFIX.search(n) for n in names)


def _own_document_number(lines: list[str]) -> str | None:
    """The document's own number: a line of its own near the top (numbers cited in the text are others')."""
    for line in lines[:8]:
        compact = re.sub(r"\s+", "", line)
        if DOC_NUMBER.fullmatch(compact):
            return compact
    return None


def doc_type_of(title: str | None, text: str) -> str:
    head = (title or "") + text[:400]
    if "政府工作报告" in (title or "") and "决议" not in (title or ""):
        return "report"
    if "答复" in (title or "") or re.search(r"现答复如下|答复如下", text[:1500]):
        return "reply"
    if DOC_NUMBER.search(head) or re.search(r"(通知|办法|方案|意见|规定|决定|决议|条例)$", title or ""):
        return "policy"
    return "other"


def extract_metadata(text: str) -> dict:
    """Metadata read from a document's canonical text; absent fields are left out."""
    lines = _lines(text)
    title = _title(lines, text)
    issuer, date = _signature(lines)
    issuer = issuer or _title_issuer(title)
    date = date or _dateline(lines)
    meta: dict = {"title": title, "doc_type": doc_type_of(title, text), "issuer": issuer, "date": date}
    if date:
        meta["year"] = int(date[:4])
    if number := _own_document_number(lines):
        meta["doc_number"] = number
    if proposal := PROPOSAL_NUMBER.search("\n".join(lines[:3])):
        meta["proposal_number"] = re.sub(r"^(?:关于|对)", "", proposal.group(0))
    if category := _ANSWER_CATEGORY.search(text):
        meta["answer_category"] = category.group(1)
    return {key: value for key, value in meta.items() if value not in (None, "")}


def proposal_key(number: str) -> tuple | None:
    """What identifies a proposal whatever the wording: (届, 次, number, 提案/建议).

    ``河西区第十八届人民代表大会第一次会议第17号建议`` and ``河西区十八届人大一次会议第17号建议``
    name the same suggestion; comparing keys makes them equal.
    """
    match = re.search(
        r"第?([一二三四五六七八九十]+)届.*?第?([一二三四五六七八九十]+)次会议第(\d+)号(提案|建议)", number
    )
    if not match:
        return None
    return (
        chinese_number(match.group(1)),
        chinese_number(match.group(2)),
        int(match.group(3)),
        match.group(4),
    )


MANIFEST_FIELDS = {"issuing_body": "issuer", "topic_tags": "topics"}


TEXT_FIELDS = (
    "title", "doc_type", "issuer", "issuing_body", "date", "doc_number", "proposal_number",
    "proposal_or_doc_number", "answer_category",
)  # fmt: skip
GIVEN_DATE = re.compile(r"\d{4}(?:-\d{1,2}(?:-\d{1,2})?)?")
YEAR_RANGE = range(1, 10_000)


def clean_given(given: dict) -> tuple[dict, list[str]]:
    """The given metadata without fields that cannot be right, and a reason for each one dropped.

    Text fields must be text, a date must read ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``, a year
    must be a whole number of four digits at most; what the text itself says stands in for them.
    """
    kept, problems = {}, []
    for key, value in given.items():
        if key in TEXT_FIELDS and not isinstance(value, str):
            problems.append(f"field {key} must be text, not {type(value).__name__}")
        elif key == "date" and not GIVEN_DATE.fullmatch(value.strip()):
            problems.append(f"field date {value!r} is not a date like 2024-06-26")
        elif key == "year" and not _plausible_year(value):
            problems.append(f"field year {value!r} is not a year")
        else:
            kept[key] = value
    return kept, problems


def _plausible_year(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return False
    text = str(value).strip()
    return text.isdigit() and int(text) in YEAR_RANGE


def document_metadata(text: str, given: dict) -> dict:
    """Metadata read from the text, overridden by what a JSON Lines record or a manifest row says.

    A manifest's combined ``proposal_or_doc_number`` column is a proposal number when it reads like
    one and a document number otherwise; the type follows the given title when only that is given.
    """
    merged = extract_metadata(text)
    for key, value in given.items():
        if key != "proposal_or_doc_number":
            merged[MANIFEST_FIELDS.get(key, key)] = value
    if "title" in given and "doc_type" not in given:
        merged["doc_type"] = doc_type_of(given["title"], text)
    if "issuer" not in merged and (issuer := _title_issuer(merged.get("title"))):
        merged["issuer"] = issuer
    number = given.get("proposal_or_doc_number", "")
    if proposal_key(number):
        merged["proposal_number"] = number
    elif DOC_NUMBER.search(number):
        merged["doc_number"] = number
    try:
        merged["year"] = int(merged["year"])
    except (KeyError, TypeError, ValueError):
        merged.pop("year", None)
        if merged.get("date"):
            merged["year"] = int(str(merged["date"])[:4])
    return merged
