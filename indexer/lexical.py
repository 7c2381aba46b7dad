"""Words for lexical search: jieba segmentation of the folded (NFKC, lower-case) text.

The indexer stores these words in SQLite FTS5 and the search side segments queries the same way,
so both sides agree on full-width digits, letters and word boundaries.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from indexer.normalize import fold

# Function words and question words that carry no topic; BM25 would mostly ignore them anyway,
# but dropping them keeps FTS queries short.
STOPWORDS = frozenset(
    "的 了 是 在 和 与 及 或 等 对 把 被 为 从 以 于 也 都 就 而 并 其 之 这 那 有 吗 呢 吧 啊 么 "
    "什么 多少 怎么 怎样 如何 哪些 哪个 哪里 是否 有没有 是不是 为什么 关于 进行 一个 我们 你们 他们".split()
)
_WORD_CHAR = re.compile(r"[0-9a-z\u3400-\u9fff]")


@lru_cache(maxsize=1)
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def words(text: str) -> list[str]:
    """Search words of ``text`` in order, with jieba's finer search-mode splits of long words."""
    folded = fold(text)
    return [
        word
        for word in (w.strip() for w in _jieba().cut_for_search(folded))
        if word and word not in STOPWORDS and _WORD_CHAR.search(word)
    ]


def fts_text(text: str) -> str:
    """What goes into the FTS5 column: the words separated by spaces."""
    return " ".join(words(text))
