"""What a running build is doing, written where a running service can read it.

A build writes ``INDEX/BUILD_STATUS.json`` while it runs (phase, items done of the phase's total,
documents to embed), so ``/stats`` and the page can say that the live index is partial and how far
its successor has come. The file is replaced atomically, at most once a second, by the one writer
that holds the index's lock; it is removed when the build ends well and says ``failed`` when it
does not. A file naming a process that no longer runs is read as ``interrupted`` (a killed build
cannot clean up after itself).
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

STATUS_FILE = "BUILD_STATUS.json"
WRITE_EVERY_S = 1.0


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class BuildProgress:
    """The status file of one build; use it as a context manager around the build."""

    def __init__(self, index_dir: Path) -> None:
        self.path = Path(index_dir) / STATUS_FILE
        self.status: dict = {
            "state": "running",
            "phase": "reading",
            "done": 0,
            "total": 0,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": _now(),
        }
        self._written = 0.0

    def __enter__(self) -> BuildProgress:
        self._write()
        return self

    def __exit__(
        self, _: type[BaseException] | None, error: BaseException | None, __: TracebackType | None
    ) -> None:
        if error is None:
            self.path.unlink(missing_ok=True)
            return
        interrupted = isinstance(error, KeyboardInterrupt)
        self.status |= {
            "state": "interrupted" if interrupted else "failed",
            "error": str(error) or type(error).__name__,
        }
        self._write()

    def update(self, phase: str, done: int = 0, total: int = 0, **facts: int) -> None:
        """Record progress; written when the phase changes, a phase ends, or a second has passed."""
        changed = phase != self.status["phase"] or done >= total
        self.status |= {"phase": phase, "done": done, "total": total, **facts}
        if changed or time.monotonic() - self._written >= WRITE_EVERY_S:
            self._write()

    def _write(self) -> None:
        self.status["updated_at"] = _now()
        partial = self.path.with_name(f".{STATUS_FILE}.{os.getpid()}")
        partial.write_text(json.dumps(self.status, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, self.path)
        self._written = time.monotonic()


def read_build_status(index_dir: Path) -> dict | None:
    """The status of the build running on ``index_dir`` or of the last one that did not end well;
    None when no build is running and the last one succeeded."""
    try:
        status = json.loads((Path(index_dir) / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(status, dict):
        return None
    here = status.get("host") == socket.gethostname()
    if status.get("state") == "running" and here and not _running(int(status.get("pid", 0))):
        status["state"] = "interrupted"
    return status


def _running(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True
