"""Encoder backends agree with torch fp32, `auto` chooses as documented, a missing one falls back."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from indexer.model.backends import INTERCHANGEABLE, choose_backend, cpu_has_amx, installed
from indexer.model.encoder import Encoder
from tests.test_bundled_model import PASSAGES, TEXTS

OTHER_BACKENDS = [b for b in ("openvino", "onnx") if installed(b)]


@pytest.fixture(scope="module")
def torch_encoder(spec):
    return Encoder(spec, "torch", progress=False)


@pytest.mark.skipif(not OTHER_BACKENDS, reason="neither OpenVINO nor ONNX Runtime is installed")
@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_backend_agrees_with_torch(spec, torch_encoder, backend):
    other = Encoder(spec, backend, progress=False)
    assert other.backend == backend and backend in INTERCHANGEABLE
    corpus = PASSAGES + TEXTS
    reference, candidate = torch_encoder.encode_passages(corpus), other.encode_passages(corpus)
    assert np.min(np.sum(reference * candidate, axis=1)) >= 0.999
    for query in TEXTS:
        assert float(torch_encoder.encode_query(query) @ other.encode_query(query)) >= 0.999
    # a small retrieval run: the same top 10 (as a set: near-ties in the tail may swap places) and the same first hit
    queries = ["充电桩建设", "老年助餐", "香港上市企业", "河湖治理", "送餐上门", "全角数字"]
    for query in queries:
        top_reference = np.argsort(-(reference @ torch_encoder.encode_query(query)))[:10]
        top_candidate = np.argsort(-(candidate @ other.encode_query(query)))[:10]
        assert set(top_reference) == set(top_candidate) and top_reference[0] == top_candidate[0], query


def test_auto_choice_follows_the_documented_rule():
    choice = choose_backend("auto")
    expected = "openvino" if cpu_has_amx() and installed("openvino") else "torch"
    assert choice.name == expected and choice.reason.startswith("auto:")
    assert choose_backend("torch").name == "torch"
    with pytest.raises(ValueError, match="unknown backend"):
        choose_backend("tensorrt")


def test_missing_openvino_falls_back_with_a_message():
    code = (
        "import sys; sys.modules['openvino'] = None\n"
        "from indexer.model.backends import choose_backend\n"
        "for requested in ('openvino', 'auto'):\n"
        "    c = choose_backend(requested); print(c.name, '|', c.reason)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    explicit, automatic = result.stdout.strip().splitlines()
    assert explicit.startswith("torch |") and "not installed" in explicit
    assert automatic.startswith("torch |")
