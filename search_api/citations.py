"""Highlighting and ready-to-paste Chinese citations for passages."""

from __future__ import annotations

import html
import re

from indexer.normalize import fold_with_offsets

MARK_OPEN, MARK_CLOSE = "<mark>", "</mark>"


def match_spans(text: str, terms: list[str]) -> list[tuple[int, int]]:
    """Where the terms occur in ``text`` (compared in folded form), as merged canonical spans."""
    folded, offsets = fold_with_offsets(text)
    spans = []
    for term in {t for t in terms if t}:
        start = folded.find(term)
        while start >= 0:
            spans.append((offsets[start], offsets[start + len(term) - 1] + 1))
            start = folded.find(term, start + len(term))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def highlight(text: str, terms: list[str]) -> str:
    """HTML-escaped text with the matched terms wrapped in <mark>…</mark>."""
    out, cursor = [], 0
    for start, end in match_spans(text, terms):
        out += [html.escape(text[cursor:start]), MARK_OPEN, html.escape(text[start:end]), MARK_CLOSE]
        cursor = end
    out.append(html.escape(text[cursor:]))
    return "".join(out)


def chinese_date(date: str | None, year: int | None) -> str:
    """``2022-07-15`` → ``2022年7月15日``; a year alone → ``2022年``."""
    if date:
        parts = [int(p) for p in date.split("-")]
        return "".join(f"{value}{unit}" for value, unit in zip(parts, ("年", "月", "日")))
    return f"{year}年" if year else ""


def citation(passage: dict) -> str:
    """《标题》（发文机关，文号，日期）章节，第N页 — each part only where it is known."""
    issuer = re.sub(r"（[^（）]*）$", "", passage.get("issuer") or "").strip()
    number = passage.get("doc_number") or passage.get("proposal_number") or ""
    details = "，".join(
        p for p in (issuer, number, chinese_date(passage.get("date"), passage.get("year"))) if p
    )
    title = passage.get("title") or passage.get("source") or ""
    parts = [f"《{title}》"]
    if details:
        parts.append(f"（{details}）")
    section = "".join((passage.get("section") or "").split(" > "))
    if section:
        parts.append(section)
    page, end_page = passage.get("page"), passage.get("end_page")
    if page:
        pages = f"第{page}页" if not end_page or end_page == page else f"第{page}—{end_page}页"
        parts.append(("，" if section else "") + pages)
    return "".join(parts)
