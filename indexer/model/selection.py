"""Which runtime embeds: the one asked for, or for ``auto`` the fastest that agrees with torch fp32 here.

A CPU flag does not tell which runtime is fastest: on an AMD EPYC with AVX-512 bf16 and no AMX,
OpenVINO ran 3.6x faster than torch fp32, where a rule keyed on AMX had kept torch. So ``auto``
measures. Each candidate embeds the same fixed sample (``agreement_sample.json``: corpus paragraphs
of four length bands and generic queries), a few seconds each; its vectors are compared with torch
fp32's, and the fastest candidate that agrees (cosine >= 0.999 on every passage and query, top-10
overlap >= 0.99 on the sample, near-ties allowed to swap) is chosen. A runtime that disagrees is
never chosen, however fast.

The measurements are cached per model, CPU model name, library versions and candidate set, so the
cost is paid once per machine (by ``policy-search model prepare`` or the first run); the choice is
recomputed from the cached table, so a change of rule needs no new measurement.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from indexer.model.backends import (
    BACKENDS,
    RUNTIMES,
    SAMPLE_FILE,
    exported_model,
    installed,
    is_exported,
    load_model,
)
from indexer.model.bundled import cache_root
from indexer.model.machine import cpu_model
from indexer.model.specs import ModelSpec, model_location

AGREEMENT_COSINE = 0.999
AGREEMENT_OVERLAP = 0.99
NEAR_TIE = 0.002
REFERENCE = "torch"
# int8 joins once its model has been made (`policy-search model prepare --int8`): calibrating it
# costs more than a first run should wait for. openvino-f32 is what `openvino` runs on a CPU
# without native bf16, so measuring both would time the same thing twice there.
ALWAYS_MEASURED = ("torch", "openvino", "onnx")
VERSIONED = ("torch", "openvino", "onnxruntime", "optimum", "optimum-intel", "nncf", "sentence-transformers")
CACHE_FORMAT = 1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Measurement:
    """One runtime on the sample: speed, and how closely its vectors match torch fp32's."""

    backend: str
    passages_per_second: float = 0.0
    passage_cosine: float = 0.0  # the lowest over the sample's passages
    query_cosine: float = 0.0  # the lowest over the sample's queries
    top10_overlap: float = 0.0  # share of torch's top 10 also in this runtime's, mean over queries
    error: str = ""

    @property
    def agrees(self) -> bool:
        return (
            not self.error
            and self.passage_cosine >= AGREEMENT_COSINE
            and self.query_cosine >= AGREEMENT_COSINE
            and self.top10_overlap >= AGREEMENT_OVERLAP
        )

    def disagreement(self) -> str:
        if self.error:
            return self.error
        return (
            f"lowest cosine to torch fp32 {min(self.passage_cosine, self.query_cosine):.5f} "
            f"(needs {AGREEMENT_COSINE}), top-10 overlap {self.top10_overlap:.3f} (needs {AGREEMENT_OVERLAP})"
        )


@dataclass(frozen=True)
class BackendChoice:
    name: str
    reason: str
    measurements: tuple[Measurement, ...] = field(default=())


def pick(measurements: list[Measurement]) -> BackendChoice:
    """The fastest runtime that agrees with torch fp32; torch where none does or torch is fastest."""
    by_name = {m.backend: m for m in measurements}
    reference = by_name.get(REFERENCE)
    if reference is None or reference.error or reference.passages_per_second <= 0:
        raise ValueError("the measurements lack torch fp32, the reference every runtime is compared with")
    fastest = max(
        (m for m in measurements if m.agrees), key=lambda m: m.passages_per_second, default=reference
    )
    left_out = [
        f"{m.backend}: {m.disagreement()}" for m in measurements if not m.agrees and m is not reference
    ]
    ratio = fastest.passages_per_second / reference.passages_per_second
    if fastest is reference:
        reason = "auto: torch fp32 was the fastest runtime measured on this machine"
    else:
        reason = (
            f"auto: {fastest.backend} is the fastest that agrees with torch fp32 on this machine "
            f"({ratio:.1f}x torch; lowest cosine {min(fastest.passage_cosine, fastest.query_cosine):.5f})"
        )
    if left_out:
        reason += "; left out " + "; ".join(left_out)
    return BackendChoice(fastest.backend, reason, tuple(measurements))


def choose_backend(
    requested: str | None = None,
    spec: ModelSpec | None = None,
    progress: bool = False,
    remeasure: bool = False,
) -> BackendChoice:
    """Resolve the backend: explicit (argument, then $POLICY_SEARCH_BACKEND) or ``auto`` by measurement
    (``remeasure`` ignores this machine's cached table).

    ``auto`` needs the model's spec; without one (nothing to measure) it stays on torch fp32.
    """
    source = "requested" if requested else "set by POLICY_SEARCH_BACKEND"
    requested = requested or os.environ.get("POLICY_SEARCH_BACKEND") or "auto"
    if requested not in BACKENDS:
        raise ValueError(f"unknown backend {requested!r}; choose one of {', '.join(BACKENDS)}")
    if requested != "auto":
        if not installed(requested):
            hint = RUNTIMES[requested].install_hint
            return BackendChoice(
                "torch", f"{requested} {source} but not installed ({hint}); using torch fp32"
            )
        return BackendChoice(requested, f"{requested} {source}")
    if spec is None:
        return BackendChoice("torch", "auto without a model to measure: torch fp32")
    return measured_choice(spec, remeasure, progress)


def candidates(location: str) -> list[str]:
    extra = ["openvino-int8"] if installed("openvino-int8") and is_exported(location, "openvino-int8") else []
    return [b for b in ALWAYS_MEASURED if installed(b)] + extra


def _cache_key(spec: ModelSpec, location: str) -> dict:
    names = candidates(location)
    return {
        "format": CACHE_FORMAT,
        "model": spec.name,
        "location": location,
        "cpu": cpu_model(),
        "versions": library_versions(),
        "candidates": names,
        # each candidate's export, whose name changes with the recipe it was made by
        "exports": [RUNTIMES[b].export for b in names],
        "sample": hashlib.sha256(SAMPLE_FILE.read_bytes()).hexdigest()[:16],
    }


def _cache_path(key: dict) -> Path:
    return cache_root() / "backend-choices" / f"{_digest(key)}.json"


def choice_cache_path(spec: ModelSpec) -> Path:
    """Where this machine's measurements for ``spec`` are kept (one file per key)."""
    return _cache_path(_cache_key(spec, model_location(spec, progress=False)))


def measured_choice(spec: ModelSpec, remeasure: bool = False, progress: bool = False) -> BackendChoice:
    """The choice for ``auto`` from this machine's cached measurements, measuring first if needed."""
    location = model_location(spec, progress=progress)
    key = _cache_key(spec, location)
    path = _cache_path(key)
    if path.is_file() and not remeasure:
        try:
            return pick(
                [Measurement(**row) for row in json.loads(path.read_text(encoding="utf-8"))["measurements"]]
            )
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("cached backend measurements unreadable; measuring again", extra={"error": str(exc)})
    measurements = measure(spec, location, key["candidates"], progress)
    choice = pick(measurements)
    _write_json(
        path, {"key": key, "measured_at": time.time(), "measurements": [asdict(m) for m in measurements]}
    )
    log.info("backend measured", extra={"backend": choice.name, "reason": choice.reason})
    return choice


def measure(spec: ModelSpec, location: str, backends: list[str], progress: bool = False) -> list[Measurement]:
    """Embed the sample with each backend (torch first: the reference) and compare with torch."""
    sample = json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))
    ordered = [REFERENCE] + [b for b in backends if b != REFERENCE]
    reference: tuple[np.ndarray, np.ndarray] | None = None
    results = []
    for backend in tqdm(ordered, desc="Measuring runtimes on this CPU", unit="runtime", disable=not progress):
        try:
            model = load_model(exported_model(location, backend, spec.prompts.passage, progress), backend)
            passages, queries, seconds = _embed(model, spec, sample["passages"], sample["queries"])
        except Exception as exc:  # a runtime that cannot run here is reported in the table, not fatal
            if backend == REFERENCE:
                raise
            results.append(Measurement(backend, error=f"failed here: {type(exc).__name__}: {exc}"[:300]))
            continue
        if reference is None:
            reference = (passages, queries)
        results.append(_compare(backend, len(passages) / seconds, reference, (passages, queries)))
    return results


def _embed(
    model, spec: ModelSpec, passages: list[str], queries: list[str]
) -> tuple[np.ndarray, np.ndarray, float]:
    def encode(texts: list[str], prompt: str) -> np.ndarray:
        return model.encode(
            texts, prompt=prompt, batch_size=32, normalize_embeddings=True, convert_to_numpy=True
        )

    encode(passages[:8], spec.prompts.passage)  # warm-up: first-call compilation is not speed
    started = time.perf_counter()
    passage_vectors = encode(passages, spec.prompts.passage)
    seconds = time.perf_counter() - started
    return passage_vectors, encode(queries, spec.prompts.query), seconds


def _compare(backend: str, speed: float, reference: tuple, candidate: tuple) -> Measurement:
    (ref_passages, ref_queries), (passages, queries) = reference, candidate
    return Measurement(
        backend,
        round(speed, 2),
        round(float(np.min(np.sum(ref_passages * passages, axis=1))), 6),
        round(float(np.min(np.sum(ref_queries * queries, axis=1))), 6),
        round(top10_overlap(ref_queries @ ref_passages.T, queries @ passages.T), 4),
    )


def top10_overlap(reference_scores: np.ndarray, scores: np.ndarray) -> float:
    """Share of each query's top 10 that torch's ranking also puts there, mean over queries.

    A passage torch scores within NEAR_TIE of its own 10th counts as in torch's top 10: the sample's
    tail scores crowd together, and a swap of near-equal scores is not a different answer.
    """
    shares = []
    for ref_row, row in zip(reference_scores, scores):
        tenth = np.sort(ref_row)[-10]
        shares.append(sum(ref_row[i] >= tenth - NEAR_TIE for i in np.argsort(-row)[:10]) / 10)
    return float(np.mean(shares))


def library_versions() -> dict[str, str]:
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, staging = tempfile.mkstemp(dir=path.parent, prefix=".choice-")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        json.dump(data, out, ensure_ascii=False, indent=1)
    os.replace(staging, path)
