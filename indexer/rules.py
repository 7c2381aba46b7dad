"""One fingerprint of the text rules that shape passages and their words.

A document is re-chunked and re-embedded when its text, metadata, model or chunker settings
change, and also when the rules do: the module-level patterns and constants of normalization,
metadata, chunking, passage roles and lexical segmentation (stop words included), and jieba's version. Hashing
the rules themselves, rather than a version number someone must remember to raise, means an
edited pattern can never leave stale passages behind.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
import re
from functools import lru_cache
from types import ModuleType

from indexer import (
    chunking,
    citations,
    commitments,
    follow_ups,
    lexical,
    metadata,
    normalize,
    roles,
    sources,
    supersession,
    tracking,
)

RULE_MODULES: tuple[ModuleType, ...] = (normalize, sources, metadata, chunking, roles, lexical)
# commitment tracking is derived afresh for every generation, cheaply, so its whole source is
# fingerprinted: any change to it means a new generation, but no re-embedding
TRACKING_MODULES: tuple[ModuleType, ...] = (commitments, citations, follow_ups, supersession, tracking)


def _describe(value: object) -> object:
    """A stable, JSON-like description of a rule value; None for what is not a rule."""
    if isinstance(value, re.Pattern):
        return ["re", value.pattern, value.flags]
    if isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, frozenset | set):
        return sorted(str(item) for item in value)
    if isinstance(value, list | tuple):
        items = [_describe(item) for item in value]
        return None if any(item is None for item in items) else items
    if isinstance(value, dict):
        described = {str(key): _describe(item) for key, item in value.items()}
        return None if any(item is None for item in described.values()) else described
    return None


@lru_cache(maxsize=1)
def rules_fingerprint() -> str:
    return _fingerprint(RULE_MODULES)


@lru_cache(maxsize=1)
def tracking_fingerprint() -> str:
    sources = [inspect.getsource(module) for module in TRACKING_MODULES]
    return hashlib.sha256(repr([rules_fingerprint(), *sources]).encode("utf-8")).hexdigest()


def _fingerprint(modules: tuple[ModuleType, ...]) -> str:
    parts: list[object] = [importlib.metadata.version("jieba")]
    for module in modules:
        for name in sorted(vars(module)):
            if name.lstrip("_").isupper() and (described := _describe(vars(module)[name])) is not None:
                parts.append([module.__name__, name, described])
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()
