"""Ids that stay the same across re-indexing, so a saved link or a draft's citation keeps working.

A document's id is derived from its key (source path, and line for JSON Lines), a passage's from
its document's key and its span; FAISS takes them as its ids. They fit in 52 bits, which
JavaScript numbers (the page, most JSON clients) hold exactly.
"""

from __future__ import annotations

import hashlib

ID_BITS = 52


def stable_id(parts: tuple[object, ...], taken: set[int]) -> int:
    """The id ``parts`` hash to, moved on to the next free one in the rare case it is taken."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    candidate = int.from_bytes(digest[:8], "big") >> (64 - ID_BITS)
    while candidate in taken or candidate == 0:
        candidate = (candidate + 1) % 2**ID_BITS
    taken.add(candidate)
    return candidate
