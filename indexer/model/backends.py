"""Which runtime executes the embedding model: torch fp32, OpenVINO, or ONNX Runtime.

Embedding is nearly all of indexing time. On CPUs with AMX, OpenVINO runs the model in bf16 about
3x faster than torch fp32 with the same results (cosine >= 0.999, the same top-10 set in the
tests), so ``auto`` picks it there; elsewhere OpenVINO's bf16 brings no gain and torch stays.

Interchangeability rule: an index built with one backend may be searched with another when both
compute the model at full or bf16 precision, which every backend offered here does (no int8
variants are offered). The tests check the rule: for each installed backend, passages and queries
agree with torch fp32 at cosine >= 0.999 and a retrieval run returns the same top-10 set.

Exported models are written once, atomically, beside the model in the cache (or under
``$POLICY_SEARCH_CACHE/exports`` for a directory of the user's); queries never write to disk.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from indexer.model.bundled import cache_root

BACKENDS = ("auto", "torch", "openvino", "onnx")
INTERCHANGEABLE = frozenset({"torch", "openvino", "onnx"})
INSTALL_HINT = {"openvino": "pip install 'policy-search[fast]'", "onnx": "pip install 'optimum[onnxruntime]'"}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackendChoice:
    name: str
    reason: str


def cpu_has_amx() -> bool:
    """True when the CPU advertises AMX bf16 tiles (Linux /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            return any(line.startswith("flags") and " amx_bf16" in line for line in handle)
    except OSError:
        return False


def installed(backend: str) -> bool:
    if backend == "torch":
        return True
    modules = {"openvino": ("openvino", "optimum.intel"), "onnx": ("onnxruntime", "optimum.onnxruntime")}[
        backend
    ]
    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except ModuleNotFoundError:
        return False


def choose_backend(requested: str | None = None) -> BackendChoice:
    """Resolve ``auto`` and fall back to torch, with a reason, when a backend is not installed."""
    requested = requested or os.environ.get("POLICY_SEARCH_BACKEND") or "auto"
    if requested not in BACKENDS:
        raise ValueError(f"unknown backend {requested!r}; choose one of {', '.join(BACKENDS)}")
    if requested == "auto":
        if not cpu_has_amx():
            return BackendChoice(
                "torch", "auto: this CPU has no AMX bf16, where OpenVINO would not be faster than torch fp32"
            )
        if not installed("openvino"):
            return BackendChoice(
                "torch", f"auto: CPU has AMX but OpenVINO is not installed ({INSTALL_HINT['openvino']})"
            )
        return BackendChoice("openvino", "auto: CPU has AMX bf16 and OpenVINO is installed")
    if not installed(requested):
        return BackendChoice(
            "torch", f"{requested} requested but not installed ({INSTALL_HINT[requested]}); using torch fp32"
        )
    return BackendChoice(requested, f"{requested} requested")


def export_dir(location: str, backend: str) -> Path:
    """Where the model exported for ``backend`` is cached."""
    source = Path(location)
    root = cache_root()
    if source.is_dir() and root in source.resolve().parents:
        return source.parent / f"{source.name}-{backend}"
    digest = hashlib.sha256(str(source.resolve() if source.is_dir() else location).encode()).hexdigest()[:10]
    return root / "exports" / f"{source.name}-{digest}-{backend}"


def exported_model(location: str, backend: str, progress: bool = True) -> str:
    """The model directory to load for ``backend``, exporting it once if needed."""
    if backend == "torch":
        return location
    target = export_dir(location, backend)
    if (target / "modules.json").is_file():
        return str(target)
    from sentence_transformers import SentenceTransformer

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        with tqdm(total=2, desc=f"Exporting model for {backend}", unit="step", disable=not progress) as bar:
            model = SentenceTransformer(location, backend=backend, device="cpu")  # type: ignore[arg-type]  # checked by choose_backend
            bar.update()
            model.save_pretrained(str(staging / "model"))
            bar.update()
        try:
            os.rename(staging / "model", target)
        except OSError:
            if not (target / "modules.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("model exported", extra={"backend": backend, "path": str(target)})
    return str(target)
