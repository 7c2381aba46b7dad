"""An indexing run: read sources, work out what changed, embed only that, and swap in the result.

Documents are compared by a fingerprint of their canonical text, metadata, model and chunker
settings. Unchanged documents are copied from the live index with their vectors; changed and new
ones are chunked and embedded; documents whose source is gone are dropped. The new generation
becomes live only when complete (see ``indexer.index``), so an interrupted run changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from indexer.chunking import Chunk, ChunkerSettings, chunk_document, sentence_units
from indexer.index import (
    FORMAT_VERSION,
    GenerationWriter,
    IndexFormatError,
    IndexReader,
    IndexStoreError,
    Manifest,
    live_generation,
    remove_abandoned,
    writer_lock,
)
from indexer.index.build_status import BuildProgress
from indexer.index.ids import stable_id
from indexer.index.milvus import resolve_store, went_live
from indexer.lexical import fts_text
from indexer.metadata import clean_given, document_metadata
from indexer.model.specs import ModelSpec
from indexer.rules import rules_fingerprint, tracking_fingerprint
from indexer.sources import Document, SourceError, discover, load_manifest, read_source

log = logging.getLogger(__name__)


@dataclass
class Summary:
    """What a run did; counts are documents (a JSON Lines file holds many)."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: list[dict] = field(default_factory=list)
    ignored: list[dict] = field(default_factory=list)
    chunks: int = 0
    embedded_chunks: int = 0
    embedded_sentences: int = 0
    commitments: int = 0
    follow_ups: int = 0
    seconds: float = 0.0
    timings: dict = field(
        default_factory=lambda: {"parse": 0.0, "chunk": 0.0, "embed": 0.0, "write": 0.0, "track": 0.0}
    )

    @property
    def chunks_per_second(self) -> float:
        return self.embedded_chunks / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 2)
        data["chunks_per_second"] = round(self.chunks_per_second, 2)
        data["timings"] = {k: round(v, 2) for k, v in self.timings.items()}
        return data


@dataclass
class _Pending:
    doc: Document
    metadata: dict
    fingerprint: str
    doc_id: int
    chunks: list[Chunk] = field(default_factory=list)


def embed_context(metadata: dict, section: str) -> str:
    """Text put before a passage when it is embedded: the title and heading path it sits under."""
    return "".join(part + "\n" for part in (metadata.get("title", ""), section) if part)


def _heading_context(title: str, path: list[str]) -> str:
    """What the chunker counts before a passage's text: its title and heading path."""
    return embed_context({"title": title}, " > ".join(path))


def _fingerprint(doc: Document, metadata: dict, spec: ModelSpec, settings: ChunkerSettings) -> str:
    payload = json.dumps(
        [doc.content_hash, metadata, spec.to_dict(), settings.to_dict(), FORMAT_VERSION, rules_fingerprint()],
        ensure_ascii=False,
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def read_sources(
    paths: list[Path], summary: Summary, progress: bool, status: BuildProgress | None = None
) -> list[tuple[Document, dict]]:
    """Documents with the metadata a manifest beside them gives; unusable files go to ``skipped``."""
    manifests: dict[Path, dict] = {}
    documents: list[tuple[Document, dict]] = []
    found = discover(paths)
    for path, reason in found.passed_over:
        _skip(summary, str(path), reason)
    for done, path in enumerate(tqdm(found.files, desc="Reading", unit="file", disable=not progress)):
        if status:
            status.update("reading", done, len(found.files))
        folder = path.parent
        if folder not in manifests:
            problems: list[str] = []
            manifests[folder] = load_manifest(folder, problems)
            for problem in problems:
                _note(summary, str(folder), problem)
        try:
            reading = read_source(path)
        except SourceError as exc:
            _skip(summary, str(path), str(exc))
            continue
        for problem in reading.problems:
            _skip(summary, str(path), problem)
        docs = reading.documents
        given = manifests[folder].get(path.name, {}) if len(docs) == 1 else {}
        for doc in docs:
            metadata, problems = clean_given({**doc.metadata, **given})
            for problem in problems:
                _note(summary, doc.key, f"{problem}; ignored")
            documents.append((doc, metadata))
    return documents


def _skip(summary: Summary, where: str, reason: str) -> None:
    """A file or record left out of the index."""
    summary.skipped.append({"path": where, "reason": reason})
    log.warning("skipped", extra={"path": where, "reason": reason})


def _note(summary: Summary, where: str, reason: str) -> None:
    """A field or manifest row that was ignored; the document itself is indexed."""
    summary.ignored.append({"path": where, "reason": reason})
    log.warning("ignored", extra={"path": where, "reason": reason})


def build_index(
    paths: list[Path],
    index_dir: Path,
    spec: ModelSpec,
    encoder_factory,
    settings: ChunkerSettings | None = None,
    rebuild: bool = False,
    progress: bool = True,
    batch_size: int = 32,
    store: str | None = None,
) -> Summary:
    """Bring the index in ``index_dir`` up to date with ``paths``; returns what changed.

    ``encoder_factory()`` is called only when something must be embedded, so a run with no
    changes does not load the model. ``store`` says where vectors, BM25 and filter fields go
    (``indexer.index.milvus``): ``embedded`` (this directory), a Milvus store, or None for where
    the live generation keeps them. Changing it moves them without re-embedding.
    """
    started = time.perf_counter()
    summary = Summary()
    settings = settings or ChunkerSettings()
    with writer_lock(index_dir), BuildProgress(index_dir) as status:
        for name in remove_abandoned(index_dir):
            log.info("removed unfinished generation", extra={"generation": name})
        old = _open_previous(index_dir, spec, rebuild)
        store = resolve_store(store) if store else (old.manifest.store if old else None)
        clock = time.perf_counter()
        documents = read_sources(paths, summary, progress, status)
        summary.timings["parse"] = time.perf_counter() - clock
        previous = old.documents_by_key() if old else {}
        keep: list[int] = []
        pending: list[_Pending] = []
        seen: set[str] = set()
        for doc, given in documents:
            if doc.key in seen:
                continue
            seen.add(doc.key)
            metadata = document_metadata(doc.text, given)
            fingerprint = _fingerprint(doc, metadata, spec, settings)
            if doc.key in previous and previous[doc.key][1] == fingerprint:
                keep.append(previous[doc.key][0])
                continue
            if doc.key in previous:
                summary.updated += 1
            else:
                summary.added += 1
            pending.append(_Pending(doc, metadata, fingerprint, previous.get(doc.key, (0, ""))[0]))
        taken = set(keep) | {item.doc_id for item in pending if item.doc_id}
        for item in pending:  # a document keeps its id across updates; a new one gets its key's
            item.doc_id = item.doc_id or stable_id(("document", item.doc.key), taken)
        if not keep and not pending:
            reasons = "; ".join(f"{s['path']}: {s['reason']}" for s in summary.skipped[:5])
            raise SourceError("no documents to index" + (f" ({reasons})" if reasons else ""))
        summary.unchanged = len(keep)
        summary.removed = len(set(previous) - seen)
        current = (
            old is not None
            and old.manifest.tracking == tracking_fingerprint()
            and old.manifest.store == store
        )
        if old and current and not pending and not summary.removed:
            summary.chunks = old.stats()["chunks"]
            summary.seconds = time.perf_counter() - started
            return summary
        facts = {
            "documents_kept": len(keep),
            "documents_new": len(pending),
            "documents_removed": summary.removed,
        }
        status.update("preparing", 0, len(pending), **facts)
        _write_generation(
            index_dir,
            old,
            keep,
            pending,
            spec,
            settings,
            encoder_factory,
            summary,
            progress,
            batch_size,
            status,
            store,
        )
    summary.seconds = time.perf_counter() - started
    return summary


def _open_previous(index_dir: Path, spec: ModelSpec, rebuild: bool) -> IndexReader | None:
    if rebuild or live_generation(index_dir) is None:
        return None
    try:
        old = IndexReader.open(index_dir)
    except IndexFormatError as exc:
        log.warning("rebuilding the whole index: %s", exc)
        return None
    if old.manifest.model != spec.to_dict():
        raise IndexStoreError(
            f"the index in {index_dir} was built with model {old.manifest.model['name']!r} "
            f"(prompts {old.manifest.model['prompts']}), "
            f"not {spec.name!r} (prompts {spec.to_dict()['prompts']}); "
            "add --rebuild to re-embed everything with the new model"
        )
    return old


def _write_generation(
    index_dir,
    old,
    keep,
    pending,
    spec,
    settings,
    encoder_factory,
    summary,
    progress,
    batch_size,
    status,
    store,
):
    writer = GenerationWriter(index_dir)
    try:
        clock = time.perf_counter()
        for doc_id in keep:
            summary.chunks += writer.copy_document(old, doc_id)
        encoder: Any = encoder_factory() if pending else None  # None only when nothing is embedded
        dimension = encoder.dimension if encoder else old.manifest.dimension
        backend = encoder.backend if encoder else old.manifest.backend
        settings = ChunkerSettings(
            settings.target_chars,
            encoder.max_tokens if encoder else settings.max_tokens,
            settings.overlap_sentences,
        )
        summary.timings["write"] += time.perf_counter() - clock

        clock = time.perf_counter()
        for done, item in enumerate(pending):
            status.update("chunking", done, len(pending))
            title = item.metadata.get("title", "")
            item.chunks = chunk_document(
                item.doc.text,
                settings,
                count_tokens=encoder.count_tokens,
                context=partial(_heading_context, title),
                pages=item.doc.pages,
                styled_headings=item.doc.headings,
            )
        summary.timings["chunk"] = time.perf_counter() - clock

        texts = [
            embed_context(item.metadata, chunk.section) + chunk.text
            for item in pending
            for chunk in item.chunks
        ]
        chunks = [chunk for item in pending for chunk in item.chunks]
        units = [sentence_units(chunk.text) for chunk in chunks]  # spans within each chunk
        unit_texts = [chunk.text[a:b] for chunk, spans in zip(chunks, units) for a, b in spans]
        clock = time.perf_counter()
        everything = texts + unit_texts
        on_step = partial(status.update, "embedding")
        vectors = (
            encoder.encode_passages(everything, batch_size=batch_size, progress=progress, on_step=on_step)
            if everything
            else []
        )
        summary.timings["embed"] = time.perf_counter() - clock
        summary.embedded_chunks, summary.embedded_sentences = len(texts), len(unit_texts)

        clock = time.perf_counter()
        status.update("writing", 0, len(pending))
        row, unit_row = 0, len(texts)
        for item in pending:
            writer.add_document(
                item.doc_id, item.doc.key, item.doc.source, item.fingerprint, item.doc.text, item.metadata
            )
            context_words = fts_text(embed_context(item.metadata, ""))
            for chunk in item.chunks:
                spans = units[row]
                sentences = [
                    (chunk.start + a, chunk.start + b, vectors[unit_row + n])
                    for n, (a, b) in enumerate(spans)
                ]
                chunk_id = stable_id(("passage", item.doc.key, chunk.start, chunk.end), writer.chunk_ids)
                writer.add_chunk(
                    chunk_id,
                    item.doc_id,
                    chunk,
                    vectors[row],
                    fts_text(chunk.text),
                    context_words + " " + fts_text(chunk.section),
                    sentences,
                )
                row += 1
                unit_row += len(spans)
        summary.chunks += row
        if old:
            writer.retire_passages(old, [item.doc_id for item in pending], keep)
        summary.timings["write"] += time.perf_counter() - clock
        clock = time.perf_counter()
        status.update("tracking", 0, 1)
        tracking = writer.track_commitments()
        summary.commitments, summary.follow_ups = len(tracking.commitments), len(tracking.links)
        summary.timings["track"] = time.perf_counter() - clock
        clock = time.perf_counter()
        sentence_count = writer.count_sentences()
        if store:
            vectors = writer.publish_vectors(store, dimension)
        else:
            probe_queries = None
            if writer.needs_probe_queries():  # compact codes: their probes are set by real query vectors
                encoder = encoder or encoder_factory()
                probe_queries = np.stack([encoder.encode_query(text) for text in writer.probe_texts()])
            vectors = writer.finish_vectors(dimension, probe_queries)
        writer.commit(
            Manifest(
                format_version=FORMAT_VERSION,
                model=spec.to_dict(),
                backend=backend,
                dimension=dimension,
                chunker=settings.to_dict(),
                corpus_fingerprint=writer.corpus_fingerprint(),
                built_at=datetime.now(UTC).isoformat(timespec="seconds"),
                documents=len(keep) + len(pending),
                chunks=summary.chunks,
                sentences=sentence_count,
                vectors=vectors,
                tracking=tracking_fingerprint(),
                store=store,
            )
        )
        for engine in {store, old.manifest.store if old else None} - {None}:
            went_live(engine, index_dir)  # aliases follow, collections of pruned generations go
        summary.timings["write"] += time.perf_counter() - clock
    except BaseException:
        writer.abort()
        raise
