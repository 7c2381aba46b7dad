"""Model specs: which embedding model to use and which prompts its family expects.

One spec string names a model everywhere (CLI ``--model``, ``POLICY_SEARCH_MODEL``, the index
manifest): ``bundled:multilingual-e5-small`` (the offline default), a local sentence-transformers
directory, or a hub id where a hub is reachable. Retrieval quality depends on using the prompts the
model was trained with, so the prompts travel with the spec and are stored in every index.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from indexer.model.bundled import BUNDLED_NAME, E5_PROMPTS, materialize

DEFAULT_MODEL = f"bundled:{BUNDLED_NAME}"
BGE_ZH_QUERY_PROMPT = "为这个句子生成表示以用于检索相关文章："
BGE_EN_QUERY_PROMPT = "Represent this sentence for searching relevant passages: "


@dataclass(frozen=True)
class Prompts:
    """Text put before queries and before passages when they are embedded."""

    query: str = ""
    passage: str = ""


@dataclass(frozen=True)
class ModelSpec:
    """A model as the user named it, with the prompts that go with it."""

    name: str
    prompts: Prompts

    def to_dict(self) -> dict:
        return {"name": self.name, "prompts": asdict(self.prompts)}

    @classmethod
    def from_dict(cls, data: dict) -> ModelSpec:
        """The spec as ``to_dict`` wrote it (in an index manifest or ``/stats``)."""
        return cls(data["name"], Prompts(**data["prompts"]))


def family_prompts(name: str) -> Prompts | None:
    """Prompts known for a model family from its name; None when the name says nothing."""
    lowered = Path(name.rstrip("/")).name.lower()
    if "bge-m3" in lowered or "gte" in lowered:
        return Prompts()
    if "bge" in lowered and "zh" in lowered:
        return Prompts(query=BGE_ZH_QUERY_PROMPT)
    if "bge" in lowered and "-en" in lowered:
        return Prompts(query=BGE_EN_QUERY_PROMPT)
    if "e5" in lowered and "instruct" not in lowered:
        return Prompts(**E5_PROMPTS)
    return None


def _saved_prompts(directory: Path) -> Prompts | None:
    """Prompts a sentence-transformers directory declares in its own config, if any."""
    config = directory / "config_sentence_transformers.json"
    if not config.is_file():
        return None
    prompts = json.loads(config.read_text(encoding="utf-8")).get("prompts") or {}
    if not prompts.get("query") and not (prompts.get("passage") or prompts.get("document")):
        return None
    return Prompts(
        query=prompts.get("query", ""), passage=prompts.get("passage") or prompts.get("document") or ""
    )


def resolve_spec(
    name: str | None = None, query_prompt: str | None = None, passage_prompt: str | None = None
) -> ModelSpec:
    """Build a spec from explicit values, then the environment, then the defaults.

    Explicit prompts win; otherwise the model family decides, then the model's own config.
    """
    name = name or os.environ.get("POLICY_SEARCH_MODEL") or DEFAULT_MODEL
    query_prompt = query_prompt if query_prompt is not None else os.environ.get("POLICY_SEARCH_QUERY_PROMPT")
    passage_prompt = (
        passage_prompt if passage_prompt is not None else os.environ.get("POLICY_SEARCH_PASSAGE_PROMPT")
    )
    known = family_prompts(name)
    if known is None and Path(name).is_dir():
        known = _saved_prompts(Path(name))
    known = known or Prompts()
    return ModelSpec(
        name=name,
        prompts=Prompts(
            query=known.query if query_prompt is None else query_prompt,
            passage=known.passage if passage_prompt is None else passage_prompt,
        ),
    )


def model_location(spec: ModelSpec, progress: bool = True) -> str:
    """What to hand to SentenceTransformer: a directory (the bundled model is converted first) or a hub id."""
    if spec.name.startswith("bundled:"):
        bundled = spec.name.split(":", 1)[1]
        if bundled != BUNDLED_NAME:
            raise ValueError(f"unknown bundled model {bundled!r}; the bundled model is {BUNDLED_NAME!r}")
        return str(materialize(progress=progress))
    return spec.name
