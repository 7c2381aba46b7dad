"""Backends: each offered as exact agrees with torch fp32; `auto` picks the fastest that agrees,
from a table measured on this machine (or one given here), and never one that disagrees."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from indexer.model.backends import export_dir, installed
from indexer.model.encoder import Encoder
from indexer.model.machine import cpu_model, speed_flags
from indexer.model.selection import (
    AGREEMENT_COSINE,
    Measurement,
    choice_cache_path,
    choose_backend,
    measured_choice,
    pick,
    top10_overlap,
)
from indexer.model.specs import model_location
from tests.test_bundled_model import PASSAGES, TEXTS

EXACT_BACKENDS = [b for b in ("openvino", "openvino-f32", "onnx") if installed(b)]


@pytest.fixture(scope="module")
def torch_encoder(spec):
    return Encoder(spec, "torch", progress=False)


def agreeing(backend: str, speed: float) -> Measurement:
    return Measurement(backend, speed, 0.99999, 0.99998, 1.0)


@pytest.mark.slow
@pytest.mark.skipif(not EXACT_BACKENDS, reason="neither OpenVINO nor ONNX Runtime is installed")
@pytest.mark.parametrize("backend", EXACT_BACKENDS)
def test_backend_agrees_with_torch(spec, torch_encoder, backend):
    other = Encoder(spec, backend, progress=False)
    assert other.backend == backend
    corpus = PASSAGES + TEXTS
    reference, candidate = torch_encoder.encode_passages(corpus), other.encode_passages(corpus)
    assert np.min(np.sum(reference * candidate, axis=1)) >= AGREEMENT_COSINE
    for query in TEXTS:
        assert float(torch_encoder.encode_query(query) @ other.encode_query(query)) >= AGREEMENT_COSINE
    # a small retrieval run: the same top 10 (as a set: near-ties in the tail may swap places) and the same first hit
    queries = ["充电桩建设", "老年助餐", "香港上市企业", "河湖治理", "送餐上门", "全角数字"]
    for query in queries:
        top_reference = np.argsort(-(reference @ torch_encoder.encode_query(query)))[:10]
        top_candidate = np.argsort(-(candidate @ other.encode_query(query)))[:10]
        assert set(top_reference) == set(top_candidate) and top_reference[0] == top_candidate[0], query


@pytest.mark.slow
@pytest.mark.skipif(not installed("openvino-int8"), reason="OpenVINO or NNCF is not installed")
def test_the_int8_model_leaves_the_ffn_outputs_in_float_and_agrees_only_where_the_cpu_has_vnni(
    spec, torch_encoder, tmp_path, monkeypatch
):
    """Where the CPU has an int8 dot product (VNNI or AMX), the int8 model is within what ``auto``
    accepts: cosine and top-10 overlap as in ``selection``, near-ties in the tail allowed to swap,
    and the same first hit. Without one (AVX2 only), OpenVINO multiplies int8 pairs into saturating
    16-bit sums, and the same model fell to a lowest cosine of 0.9978 on an AMD EPYC with AVX2 only:
    there the check must refuse it, so that ``auto`` never picks it.

    It is made in a cache of its own: once made, int8 joins ``auto``'s candidates, and the other
    tests must not depend on whether this one ran first."""
    import openvino

    converted = Path(model_location(spec, progress=False))
    for made in (converted, export_dir(str(converted), "openvino")):  # the int8 model starts from both
        if made.is_dir():
            shutil.copytree(made, tmp_path / "models" / made.name)
    monkeypatch.setenv("POLICY_SEARCH_CACHE", str(tmp_path))
    int8 = Encoder(spec, "openvino-int8", progress=False)
    assert tmp_path in Path(int8.location).parents
    model = openvino.Core().read_model(str(Path(int8.location) / "openvino" / "openvino_model.xml"))
    linear = [
        op for op in model.get_ops() if op.get_type_name() == "MatMul" and "linear" in op.get_friendly_name()
    ]
    in_float = {
        op.get_friendly_name()
        for op in linear
        if op.input_value(0).get_node().get_type_name() != "FakeQuantize"
    }
    assert len(linear) == 72  # 12 layers: query, key, value, attention output, FFN in and out
    assert len(in_float) == 12 and all(
        ".output.dense/" in name and "attention" not in name for name in in_float
    )

    corpus = PASSAGES + TEXTS
    reference, candidate = torch_encoder.encode_passages(corpus), int8.encode_passages(corpus)
    queries = ["充电桩建设", "老年助餐", "香港上市企业", "河湖治理", "送餐上门", "全角数字", *TEXTS]
    reference_queries = np.stack([torch_encoder.encode_query(q) for q in queries])
    int8_queries = np.stack([int8.encode_query(q) for q in queries])
    reference_scores, scores = reference_queries @ reference.T, int8_queries @ candidate.T
    measured = Measurement(
        "openvino-int8",
        50.0,
        float(np.min(np.sum(reference * candidate, axis=1))),
        float(np.min(np.sum(reference_queries * int8_queries, axis=1))),
        top10_overlap(reference_scores, scores),
    )
    if {"avx512_vnni", "avx_vnni", "amx_int8"} & set(speed_flags()):
        assert measured.agrees, measured.disagreement()
        assert list(np.argmax(reference_scores, axis=1)) == list(np.argmax(scores, axis=1))
    # on any CPU, the fastest runtime is taken exactly when its measurement agrees
    chosen = pick([agreeing("torch", 10.0), agreeing("openvino", 20.0), measured]).name
    assert chosen == ("openvino-int8" if measured.agrees else "openvino")


def test_the_fastest_agreeing_backend_is_chosen_and_a_faster_disagreeing_one_is_not():
    table = [
        agreeing("torch", 10.0),
        agreeing("openvino", 38.0),
        Measurement("openvino-int8", 52.5, 0.99839, 0.9990, 0.981),
    ]
    choice = pick(table)
    assert choice.name == "openvino"
    assert "3.8x torch" in choice.reason and "left out openvino-int8" in choice.reason
    assert choice.measurements == tuple(table)


def test_torch_is_kept_when_it_is_fastest_or_nothing_else_agrees():
    assert pick([agreeing("torch", 10.0), agreeing("openvino", 9.0)]).name == "torch"
    failed = Measurement("onnx", error="failed here: RuntimeError: no kernel")
    low_overlap = Measurement("openvino", 40.0, 0.99999, 0.99999, 0.95)
    choice = pick([agreeing("torch", 10.0), failed, low_overlap])
    assert choice.name == "torch" and "no kernel" in choice.reason and "top-10 overlap 0.950" in choice.reason


def test_a_table_without_torch_is_refused():
    with pytest.raises(ValueError, match="torch fp32"):
        pick([agreeing("openvino", 38.0)])


rows = st.builds(
    Measurement,
    backend=st.sampled_from(["openvino", "openvino-f32", "openvino-int8", "onnx"]),
    passages_per_second=st.floats(0.1, 1000),
    passage_cosine=st.floats(0.9, 1.0),
    query_cosine=st.floats(0.9, 1.0),
    top10_overlap=st.floats(0.5, 1.0),
    error=st.sampled_from(["", "", "failed here"]),
)


@given(torch_speed=st.floats(0.1, 1000), others=st.lists(rows, max_size=5))
def test_any_table_yields_an_agreeing_choice_no_slower_than_any_agreeing_row(torch_speed, others):
    table = [agreeing("torch", torch_speed), *others]
    choice = pick(table)
    chosen = next(m for m in table if m.backend == choice.name and m.agrees)
    assert all(m.passages_per_second <= chosen.passages_per_second for m in table if m.agrees)


def test_near_ties_may_swap_but_a_different_answer_counts():
    reference = np.array([[0.90, 0.85, 0.80, 0.79, 0.78, 0.77, 0.76, 0.75, 0.74, 0.7300, 0.7295, 0.60]])
    swapped_tail = reference.copy()
    swapped_tail[0, 9], swapped_tail[0, 10] = 0.7295, 0.7300
    assert top10_overlap(reference, swapped_tail) == 1.0
    far_one_in = reference.copy()
    far_one_in[0, 11] = 0.95
    assert top10_overlap(reference, far_one_in) == 0.9


def test_explicit_and_unknown_backends():
    assert choose_backend("torch").reason == "torch requested"
    with pytest.raises(ValueError, match="unknown backend"):
        choose_backend("tensorrt")


@pytest.mark.slow
def test_auto_measures_once_caches_by_cpu_and_chooses_an_agreeing_backend(spec):
    choice = measured_choice(spec)
    path = choice_cache_path(spec)
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["key"]["cpu"] == cpu_model() and saved["key"]["versions"]["torch"]
    table = {m.backend: m for m in choice.measurements}
    assert table["torch"].agrees and table[choice.name].agrees
    assert set(table) >= {b for b in ("torch", "openvino", "onnx") if installed(b)}
    stamp = path.stat().st_mtime_ns
    again = measured_choice(spec)
    assert again == choice and path.stat().st_mtime_ns == stamp
    assert Encoder(spec, choice, progress=False).backend == choice.name


@pytest.mark.slow
def test_missing_openvino_falls_back_with_a_message():
    code = (
        "import sys; sys.modules['openvino'] = None\n"
        "from indexer.model.selection import choose_backend\n"
        "from indexer.model.specs import resolve_spec\n"
        "for requested in ('openvino', 'auto'):\n"
        "    c = choose_backend(requested, resolve_spec(None)); print(c.name, '|', c.reason)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    explicit, automatic = result.stdout.strip().splitlines()
    assert explicit.startswith("torch |") and "not installed" in explicit
    assert automatic.startswith("torch |")


@pytest.mark.slow
def test_model_info_says_auto_chose_and_shows_what_it_measured():
    result = subprocess.run(
        [sys.executable, "-m", "policy_search.cli", "model", "info", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["backend_reason"].startswith("auto: ") and "requested" not in info["backend_reason"]
    chosen = [row for row in info["measurements"] if row["backend"] == info["backend"]]
    assert chosen and not chosen[0]["error"] and info["cpu"].startswith(cpu_model())
