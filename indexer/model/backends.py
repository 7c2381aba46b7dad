"""The runtimes that can execute the embedding model, how each is exported once, and how it is loaded.

Embedding is nearly all of indexing time, and which runtime is fastest depends on the CPU: OpenVINO
runs the model in bf16 where the CPU computes bf16 natively (AMX, or AVX-512 bf16) and in fp32
elsewhere, and its int8 model (static quantization calibrated on corpus passages with NNCF) is
faster again but less exact. Which one a machine uses is decided by measuring them
(``indexer.model.selection``), never by a CPU flag alone.

Interchangeability rule: an index built with one runtime may be searched with another, because a
runtime is only ever used where it agreed with torch fp32 (cosine >= 0.999 on passages and
queries, the same top-10 on a retrieval sample), when measured on that machine or in the tests.

Exported models are written once, atomically, beside the model in the cache (or under
``$POLICY_SEARCH_CACHE/exports`` for a directory of the user's); queries never write to disk.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from indexer.model.bundled import cache_root
from indexer.model.machine import cores

SAMPLE_FILE = Path(__file__).with_name("agreement_sample.json")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    """A way to run the model: a sentence-transformers backend, its exported files and, for
    OpenVINO, the compile options it is loaded with."""

    library: str
    export: str
    ov_config: dict[str, Any] = field(default_factory=dict)
    install_hint: str = ""


RUNTIMES = {
    "torch": Runtime("torch", "torch"),
    # OpenVINO's own precision choice: bf16 where the CPU has it natively, fp32 elsewhere
    "openvino": Runtime("openvino", "openvino", install_hint="pip install 'policy-search[fast]'"),
    # fp32 forced: what a CPU without native bf16 runs; measured to compare, and chosen where it wins
    "openvino-f32": Runtime(
        "openvino",
        "openvino",
        {"INFERENCE_PRECISION_HINT": "f32"},
        "pip install 'policy-search[fast]'",
    ),
    # the export's name carries the quantization recipe's version, so a cache made by another
    # recipe is not reused (2: the FFN output projections stay in float, see _quantize_int8)
    "openvino-int8": Runtime("openvino", "openvino-int8-2", install_hint="pip install 'policy-search[fast]'"),
    "onnx": Runtime("onnx", "onnx", install_hint="pip install 'optimum[onnxruntime]'"),
}
BACKENDS = ("auto", *RUNTIMES)
LIBRARY_MODULES = {
    "torch": ("torch",),
    "openvino": ("openvino", "optimum.intel"),
    "onnx": ("onnxruntime", "optimum.onnxruntime"),
}


def installed(backend: str) -> bool:
    """Whether the libraries ``backend`` needs can be imported (int8 also needs NNCF)."""
    modules = LIBRARY_MODULES[RUNTIMES[backend].library] + (("nncf",) if backend == "openvino-int8" else ())
    try:
        return all(importlib.util.find_spec(m) is not None for m in modules)
    except ModuleNotFoundError:
        return False


def export_dir(location: str, export: str) -> Path:
    """Where the model exported as ``export`` is cached."""
    source = Path(location)
    root = cache_root()
    if source.is_dir() and root in source.resolve().parents:
        return source.parent / f"{source.name}-{export}"
    digest = hashlib.sha256(str(source.resolve() if source.is_dir() else location).encode()).hexdigest()[:10]
    return root / "exports" / f"{source.name}-{digest}-{export}"


def _complete(directory: Path) -> bool:
    """An export is complete once its modules.json is there (it is renamed into place whole)."""
    return (directory / "modules.json").is_file()


def is_exported(location: str, backend: str) -> bool:
    export = RUNTIMES[backend].export
    return export == "torch" or _complete(export_dir(location, export))


def exported_model(location: str, backend: str, passage_prompt: str = "", progress: bool = True) -> str:
    """The model directory to load for ``backend``, exporting it once if needed.

    ``passage_prompt`` is put before the calibration passages of the int8 model, as indexing does.
    """
    export = RUNTIMES[backend].export
    if export == "torch":
        return location
    target = export_dir(location, export)
    if _complete(target):
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        if backend == "openvino-int8":
            _quantize_int8(
                exported_model(location, "openvino", progress=progress), staging / "model", passage_prompt
            )
        else:
            _export(location, export, staging / "model", progress)
        try:
            os.rename(staging / "model", target)
        except OSError:
            if not _complete(target):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("model exported", extra={"backend": backend, "path": str(target)})
    return str(target)


def _export(location: str, library: str, destination: Path, progress: bool) -> None:
    """Export once, quietly: tracing the model prints warnings and deprecation notes of the
    libraries involved (torch's tracer, transformers, sentence-transformers) that ask nothing of
    the user; real failures still raise."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    verbosity = transformers_logging.get_verbosity()
    quiet = ("sentence_transformers", "optimum", "nncf")
    levels = {name: logging.getLogger(name).level for name in quiet}
    with (
        warnings.catch_warnings(),
        tqdm(total=2, desc=f"Exporting model for {library}", unit="step", disable=not progress) as bar,
    ):
        warnings.simplefilter("ignore")
        transformers_logging.set_verbosity_error()
        for name in quiet:
            logging.getLogger(name).setLevel(logging.ERROR)
        try:
            model = SentenceTransformer(location, backend=library, device="cpu")  # type: ignore[arg-type]  # a Runtime.library
            bar.update()
            model.save_pretrained(str(destination))
            bar.update()
        finally:
            transformers_logging.set_verbosity(verbosity)
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)


def _quantize_int8(openvino_dir: str, destination: Path, passage_prompt: str) -> None:
    """Static int8 quantization of the OpenVINO model, calibrated on the sample's corpus passages.

    Each layer's FFN output projection stays in float: its input comes from GELU with a few large
    outliers, and quantizing it cost most of the agreement. Measured on AMD EPYC (avx512_bf16, no
    AMX) against torch fp32: all 72 linear layers in int8 gave lowest cosine 0.9984 and top-10
    overlap 0.981 (refused by the agreement check); without the 12 FFN output projections 0.9995
    and 1.000, at 1.3x OpenVINO bf16 and 1.6x OpenVINO fp32 on that machine.
    """
    import nncf
    import numpy as np
    import openvino
    from transformers import AutoTokenizer

    shutil.copytree(openvino_dir, destination)
    ir_path = destination / "openvino" / "openvino_model.xml"
    tokenizer = AutoTokenizer.from_pretrained(openvino_dir)
    model = openvino.Core().read_model(str(ir_path))
    inputs = {i.get_any_name() for i in model.inputs}

    def features(text: str) -> dict:
        encoded = tokenizer([passage_prompt + text], return_tensors="np", truncation=True, max_length=512)
        batch = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
        if "token_type_ids" in inputs:
            batch["token_type_ids"] = np.zeros_like(encoded["input_ids"])
        return batch

    texts = json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))["calibration"]
    nncf.set_log_level(logging.WARNING)  # it lists every node it leaves in float, on stdout
    ffn_outputs = nncf.IgnoredScope(patterns=[r".*\.layer\.\d+\.output\.dense/.*"], validate=False)
    quantized = nncf.quantize(
        model,
        nncf.Dataset(texts, features),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(texts),
        ignored_scope=ffn_outputs,
    )
    (destination / "openvino" / "openvino_model.bin").unlink()
    openvino.save_model(quantized, str(ir_path))


def _limit_threads(threads: int) -> None:
    """``threads`` torch threads, and no tokenizer thread pool fighting torch for them."""
    import torch

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(threads)


def load_model(location: str, backend: str, threads: int | None = None) -> Any:
    """A SentenceTransformer running ``location`` (already exported for ``backend``) on the CPU,
    with ``threads`` compute threads (default: one per usable core)."""
    from sentence_transformers import SentenceTransformer

    threads = threads or cores()
    _limit_threads(threads)
    runtime = RUNTIMES[backend]
    options: dict[str, Any] = {}
    if runtime.library == "openvino":
        options["model_kwargs"] = {"ov_config": {**runtime.ov_config, "INFERENCE_NUM_THREADS": threads}}
        # optimum-intel probes a local, already exported directory as if it were a hub id, fails,
        # and warns on every load that it keeps `export=False`, which is what we ask for
        logging.getLogger("optimum.intel.openvino.modeling_base").setLevel(logging.ERROR)
    return SentenceTransformer(
        location,
        device="cpu",
        backend=runtime.library,  # type: ignore[arg-type]  # torch, openvino or onnx
        local_files_only=os.path.isdir(location),
        **options,
    )
