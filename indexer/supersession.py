"""Which stated figures a later document replaces: a rate of 2019 that a 2022 notice raised.

Staff asking 失能老人居家养老补贴多少钱 need today's figure, not the 2019 letter's. A sentence that
states a rate (``每人每月200元``) is superseded by a sentence of a later document from the same
region, issued by the same body or a higher one (its issuer names the older one's, or it is the
region's government), that is about the same thing (cosine of their vectors at least
``MIN_COSINE``), states the same kind of rate (every person, every month, in 元) and states a value
the older one does not. Of several, a rule-setting document (a policy) comes before a letter that
reports it, then the nearest in meaning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from indexer.follow_ups import DocumentFacts, Span, may_follow

# the same figure restated in other words sits above this; different subsidies of one topic
# (照料护理补贴 against 基础服务补贴) lie around 0.92 with the e5 models
MIN_COSINE = 0.9
RATE = re.compile(r"(每[\u4e00-\u9fff]{1,3})(\d+(?:\.\d+)?)(元|万元|%)")
GOVERNMENT = re.compile(r"人民政府|国务院")


@dataclass(frozen=True)
class Issuing:
    """What decides whether one document may supersede another's figures."""

    facts: DocumentFacts
    issuer: str
    doc_type: str | None


@dataclass(frozen=True)
class Supersession:
    """``old`` (a span of an older document) is replaced by ``new`` (a span of a later one)."""

    old: Span
    new: Span


def rates(text: str) -> dict[str, set[str]]:
    """Rates a text states: their kind (``每人每月`` + unit) → the values given."""
    found: dict[str, set[str]] = {}
    for match in RATE.finditer(text):
        found.setdefault(match.group(1) + match.group(3), set()).add(match.group(2))
    return found


def same_or_higher(newer: Issuing, older: Issuing) -> bool:
    """The newer document's issuer names the older one's (a joint notice of 民政局 and 财政局
    after a 民政局 letter), or it is the government of the older one's region."""
    if not newer.issuer or not older.issuer:
        return False
    return older.issuer in newer.issuer or GOVERNMENT.search(newer.issuer) is not None


def find_supersessions(
    spans: Sequence[Span], vectors: np.ndarray, documents: Mapping[int, Issuing]
) -> list[Supersession]:
    """Each span stating a rate that a later span replaces, with the one that replaces it."""
    rated = [(span, rates(span.text)) for span in spans]
    rated = [(span, found) for span, found in rated if found]
    if not rated:
        return []
    matrix = vectors[[span.row for span, _ in rated]]
    similarity = matrix @ matrix.T
    found_pairs = []
    for i, (old, old_rates) in enumerate(rated):
        older = documents[old.doc_id]
        best: tuple[tuple, Span] | None = None
        for j, (new, new_rates) in enumerate(rated):
            newer = documents[new.doc_id]
            if similarity[i, j] < MIN_COSINE or not may_follow(newer.facts, older.facts, False):
                continue
            restated = any(
                kind in old_rates and values - old_rates[kind] for kind, values in new_rates.items()
            )
            if not restated or not same_or_higher(newer, older):
                continue
            rank = (newer.doc_type == "policy", float(similarity[i, j]))
            if best is None or rank > best[0]:
                best = (rank, new)
        if best is not None:
            found_pairs.append(Supersession(old, best[1]))
    return found_pairs
