"""Structured, quiet logging: one JSON object per line on stderr, warnings and above by default."""

from __future__ import annotations

import json
import logging
import os
import sys

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"level": record.levelname.lower(), "logger": record.name, "event": record.getMessage()}
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    if not verbose:  # transformers and optimum give their own loggers their own handlers at this level
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    for noisy in (
        "pypdf",
        "sentence_transformers",
        "transformers",
        "optimum",
        "nncf",
        "httpx",
        "faiss",
        "bm25s",
        "jieba",
    ):
        logging.getLogger(noisy).setLevel(logging.ERROR if not verbose else logging.WARNING)
