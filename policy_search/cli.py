"""The ``policy-search`` command line: a thin layer over the indexer, the searcher and eval."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import typer

from eval.run import ALL_MODES
from policy_search import logs

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Semantic search over Chinese policy texts and proposal replies.",
)
model_app = typer.Typer(
    no_args_is_help=True, help="The embedding model: inspect it or prepare it ahead of time."
)
app.add_typer(model_app, name="model")

DEFAULT_INDEX = Path(os.environ.get("POLICY_SEARCH_INDEX", "data/index"))
IndexOption = typer.Option(DEFAULT_INDEX, "--index", help="Index directory (env POLICY_SEARCH_INDEX).")
ModelOption = typer.Option(
    None,
    "--model",
    help="Model spec: bundled:multilingual-e5-small (default), a local directory or a hub id "
    "(env POLICY_SEARCH_MODEL).",
)
BackendOption = typer.Option(
    None,
    "--backend",
    help="auto (default: the fastest runtime that agrees with torch fp32, measured once on this machine), "
    "torch, openvino, openvino-f32, openvino-int8 or onnx (env POLICY_SEARCH_BACKEND).",
)


def _fail(message: str, code: int = 1) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def _choices(value: str, allowed, what: str) -> list[str]:
    """A comma-separated option's items, each checked against ``allowed``."""
    chosen = [item.strip() for item in value.split(",") if item.strip()]
    if unknown := [item for item in chosen if item not in allowed]:
        _fail(f"unknown {what} {', '.join(unknown)}; choose from {', '.join(allowed)}", 2)
    return chosen


def _write(path: Path | None, text: str) -> None:
    """Write an output file the user asked for, creating its folder."""
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _backend(requested: str | None, spec, progress: bool, remeasure: bool = False):
    """The backend to run (measured for ``auto``), or exit 2 on a name that is not one."""
    from indexer.model.selection import choose_backend

    try:
        return choose_backend(requested, spec, progress, remeasure)
    except ValueError as exc:
        _fail(str(exc), 2)


@app.callback()
def main(
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Log progress details as JSON lines on stderr."
    ),
) -> None:
    logs.configure(verbose)


@app.command()
def index(
    paths: list[str] = typer.Argument(..., help="Files and folders to index (.txt .md .docx .pdf .jsonl)."),
    index_dir: Path = IndexOption,
    model: str | None = ModelOption,
    backend: str | None = BackendOption,
    rebuild: bool = typer.Option(
        False, "--rebuild", help="Re-embed everything, ignoring the existing index."
    ),
    target_chars: int = typer.Option(200, "--target-chars", help="Target passage size in characters."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as one JSON object."),
    store: str | None = typer.Option(
        None,
        "--store",
        help="Where vectors, BM25 and filter fields live: embedded (FAISS + SQLite in the index "
        "directory), milvus://HOST:PORT or milvus-lite:PATH.db (default: where they are now).",
    ),
) -> None:
    """Build or update an index; unchanged documents are not embedded again."""
    from indexer.build import build_index
    from indexer.chunking import ChunkerSettings
    from indexer.index import IndexStoreError
    from indexer.model.e5s1 import BundledModelError
    from indexer.model.encoder import Encoder
    from indexer.model.specs import resolve_spec
    from indexer.sources import SourceError

    if any(not path.strip() for path in paths):
        _fail("an empty path was given; name the files or folders to index (use . for this folder)", 2)
    spec = resolve_spec(model)
    progress = sys.stderr.isatty() and not as_json
    choice = _backend(backend, spec, progress)
    if not as_json:
        typer.echo(f"Indexing with {spec.name} on {choice.name} ({choice.reason}) into {index_dir}", err=True)
    try:
        summary = build_index(
            [Path(path) for path in paths],
            index_dir,
            spec,
            lambda: Encoder(spec, choice, progress=progress),
            ChunkerSettings(target_chars=target_chars),
            rebuild=rebuild,
            progress=progress,
            store=store,
        )
    except (SourceError, IndexStoreError, BundledModelError) as exc:
        _fail(str(exc))
    data = summary.to_dict()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    k: data[k]
                    for k in (
                        "added",
                        "updated",
                        "removed",
                        "unchanged",
                        "skipped",
                        "ignored",
                        "chunks",
                        "seconds",
                    )
                }
                | {
                    k: data[k]
                    for k in (
                        "embedded_chunks",
                        "embedded_sentences",
                        "chunks_per_second",
                        "commitments",
                        "follow_ups",
                        "timings",
                    )
                },
                ensure_ascii=False,
            )
        )
        return
    typer.echo(
        f"added {summary.added}, updated {summary.updated}, removed {summary.removed}, "
        f"unchanged {summary.unchanged} documents; {summary.chunks} passages ({summary.embedded_chunks} "
        f"embedded, with {summary.embedded_sentences} sentence units) in {summary.seconds:.1f} s "
        f"({summary.chunks_per_second:.1f} passages/s); {summary.commitments} commitments with "
        f"{summary.follow_ups} follow-ups tracked in {summary.timings['track']:.1f} s"
    )
    for skipped in summary.skipped:
        typer.echo(f"skipped {skipped['path']}: {skipped['reason']}")
    for ignored in summary.ignored:
        typer.echo(f"ignored in {ignored['path']}: {ignored['reason']}")


def _request_option(request: Any, name: str, flag: str) -> Any:
    """A CLI option for a field of an API request model, with the model's default and help."""
    field = request.model_fields[name]
    return typer.Option(field.default, flag, help=field.description)


def _search_option(name: str, flag: str) -> Any:
    from search_api.request import SearchRequest

    return _request_option(SearchRequest, name, flag)


@app.command()
def query(
    text: str = typer.Argument(..., help="The question, in Chinese."),
    index_dir: Path = IndexOption,
    k: int = _search_option("k", "--k"),
    mode: str = _search_option("mode", "--mode"),
    doc_type: str | None = _search_option("doc_type", "--doc-type"),
    year_from: int | None = _search_option("year_from", "--year-from"),
    year_to: int | None = _search_option("year_to", "--year-to"),
    issuer: str | None = _search_option("issuer", "--issuer"),
    answer_category: str | None = _search_option("answer_category", "--answer-category"),
    proposal_number: str | None = _search_option("proposal_number", "--proposal-number"),
    date_from: str | None = _search_option("date_from", "--date-from"),
    date_to: str | None = _search_option("date_to", "--date-to"),
    commitments_only: bool = _search_option("commitments_only", "--commitments-only"),
    sort: str = _search_option("sort", "--sort"),
    per_doc: int | None = _search_option("per_doc", "--per-doc"),
    group: bool = _search_option("group", "--group"),
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON response."),
) -> None:
    """Search an index and print passages with citations."""
    from pydantic import ValidationError

    from indexer.index import IndexStoreError
    from search_api.request import QueryError, SearchRequest
    from search_api.retrieval import Searcher

    fields = {"k": k, "mode": mode, "doc_type": doc_type, "year_from": year_from, "year_to": year_to}
    fields |= {"issuer": issuer, "commitments_only": commitments_only, "sort": sort, "per_doc": per_doc}
    fields |= {"group": group, "answer_category": answer_category, "proposal_number": proposal_number}
    fields |= {"date_from": date_from, "date_to": date_to}
    try:
        searcher = Searcher(index_dir)
        response = searcher.search(SearchRequest(query=text, **fields))
    except (QueryError, IndexStoreError, ValidationError) as exc:
        _fail(str(exc), 2)
    if as_json:
        typer.echo(json.dumps(response, ensure_ascii=False, indent=2))
        return
    if response.get("index_notice"):
        typer.echo(response["index_notice"], err=True)
    for word, meaning in response.get("interpreted", {}).items():
        typer.echo(f"{word} → {'、'.join(str(m) for m in meaning)}")
    if response.get("reason"):
        typer.echo(response["reason"])
    elif not response["results"]:
        typer.echo("no results")
    for rank, hit in enumerate(response["results"], 1):
        flag = " [承诺]" if hit["is_commitment"] else ""
        typer.secho(f"{rank}. {hit['citation']}{flag}", bold=True)
        location = f"doc {hit['doc_id']}, chars {hit['start']}–{hit['end']}, score {hit['score']}"
        typer.echo(f"   {hit['text']}\n   ({location})\n")
        for other in hit.get("folded", []):
            typer.echo(f"     · {other['text'][:60]}… (chars {other['start']}–{other['end']})")
        if hit.get("folded"):
            typer.echo("")


def _commitment_option(name: str, flag: str) -> Any:
    from search_api.commitments import CommitmentRequest

    return _request_option(CommitmentRequest, name, flag)


@app.command()
def commitments(
    text: str | None = typer.Argument(None, help="What the commitments are about (none: newest first)."),
    index_dir: Path = IndexOption,
    k: int = _commitment_option("k", "--k"),
    year_from: int | None = _commitment_option("year_from", "--year-from"),
    year_to: int | None = _commitment_option("year_to", "--year-to"),
    issuer: str | None = _commitment_option("issuer", "--issuer"),
    doc_type: str | None = _commitment_option("doc_type", "--doc-type"),
    status: str | None = _commitment_option("status", "--status"),
    as_json: bool = typer.Option(False, "--json", help="Print the API's JSON response."),
) -> None:
    """Commitments (promises, targets, plans) with the later passages reporting what became of them."""
    from pydantic import ValidationError

    from indexer.index import IndexStoreError
    from search_api.commitments import CommitmentRequest, list_commitments
    from search_api.request import QueryError
    from search_api.retrieval import Searcher

    fields = {"k": k, "year_from": year_from, "year_to": year_to, "issuer": issuer, "doc_type": doc_type}
    try:
        searcher = Searcher(index_dir)
        response = list_commitments(searcher, CommitmentRequest(q=text, status=status, **fields))
    except (QueryError, IndexStoreError, ValidationError) as exc:
        _fail(str(exc), 2)
    if as_json:
        typer.echo(json.dumps(response, ensure_ascii=False, indent=2))
        return
    if not response["commitments"]:
        typer.echo(response.get("reason", "no commitments"))
    for rank, found in enumerate(response["commitments"], 1):
        due = f"，期限{found['deadline_year']}年" if found["deadline_year"] else ""
        typer.secho(f"{rank}. [{STATUS_WORDS[found['status']]}{due}] {found['citation']}", bold=True)
        typer.echo(f"   {found['text']}")
        for follow in found["follow_ups"]:
            cited = "，引用原文件" if follow["explicit"] else ""
            typer.echo(
                f"   → {follow['year']}年 {RELATION_WORDS[follow['relation']]}{cited}：{follow['text']}"
            )
            typer.echo(f"     {follow['citation']}")
        typer.echo("")


STATUS_WORDS = {"done": "已完成", "in_progress": "推进中", "revised": "已调整", "no_follow_up": "暂无后续"}
RELATION_WORDS = {"progress": "进展", "done": "完成", "revised": "调整", "restated": "重申"}


@app.command("eval-commitments")
def evaluate_commitments_command(
    gold_files: list[Path] = typer.Argument(..., help="Commitment gold lines (eval/data/README.md)."),
    index_dir: Path = IndexOption,
    as_json: bool = typer.Option(False, "--json", help="Print the summary and per-line results as JSON."),
    report: Path | None = typer.Option(None, "--report", help="Also write the tables as Markdown here."),
) -> None:
    """Coverage, follow-up recall@3/@5, no-follow-up precision and query recall@5 of commitment tracking."""
    from eval.commitments import evaluate_commitments, markdown
    from indexer.index import IndexStoreError
    from search_api.retrieval import Searcher

    try:
        result = evaluate_commitments(gold_files, Searcher(index_dir))
    except IndexStoreError as exc:
        _fail(str(exc))
    tables = markdown(result["summary"])
    _write(report, f"# Commitment tracking\n\n{tables}\n")
    if as_json:
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    typer.echo(tables)
    for error in result["summary"]["data_errors"]:
        typer.echo(f"data error: {error}", err=True)


@app.command()
def serve(
    index_dir: Path = IndexOption,
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
    workers: int = typer.Option(
        0,
        "--workers",
        help="Worker processes, each with the model and the read-only index (0: one per core).",
    ),
) -> None:
    """Serve the search API and the web page."""
    import uvicorn

    from indexer.index import IndexReader, IndexStoreError
    from indexer.index.milvus import LITE_SCHEME
    from indexer.model.machine import cores
    from search_api.app import create_app

    # request heads up to 1 MiB reach the app, which answers an over-long URL with a bilingual 414;
    # beyond that uvicorn itself answers 400
    limits: dict[str, Any] = {"log_level": "warning", "h11_max_incomplete_event_size": 2**20}
    count = workers if workers > 0 else cores()
    try:
        # a missing or unreadable index is reported before workers start
        if (IndexReader.open(index_dir).manifest.store or "").startswith(LITE_SCHEME):
            count = 1  # Milvus Lite serves its file to one process only
        os.environ["POLICY_SEARCH_WORKERS"] = str(count)  # each process then takes its share of the cores
        if count == 1:
            uvicorn.run(create_app(index_dir), host=host, port=port, **limits)
            return
    except IndexStoreError as exc:
        _fail(str(exc))
    # a search holds the GIL for most of its work, so requests use more than one core only from
    # more than one process; each worker builds the app from the index named in the environment
    os.environ["POLICY_SEARCH_INDEX"] = str(index_dir.resolve())
    uvicorn.run(
        "search_api.app:app_from_environment", factory=True, workers=count, host=host, port=port, **limits
    )


@app.command("eval")
def evaluate_command(
    query_files: list[Path] = typer.Argument(
        ..., help="Query sets (JSON Lines, or the InformationRetrievalEvaluator JSON shape)."
    ),
    index_dir: Path = IndexOption,
    modes: str = typer.Option(
        ",".join(ALL_MODES), "--modes", help=f"Comma-separated: {', '.join(ALL_MODES)}."
    ),
    ks: str = typer.Option("1,5,10", "--k", help="Cut-offs for Recall@k."),
    json_out: Path | None = typer.Option(None, "--json", help="Write the runs as JSON here."),
    report: Path | None = typer.Option(
        None, "--report", help="Write results.json, report.md and recall.png here."
    ),
    url: str | None = typer.Option(
        None, "--url", help="Evaluate a running service over HTTP instead of the local index."
    ),
    api_key: str | None = typer.Option(None, "--api-key", envvar="POLICY_SEARCH_API_KEY"),
) -> None:
    """Recall@k, MRR@10, nDCG@10 and latency for each query set, mode and kind."""
    from eval.run import HttpBackend, LocalBackend, evaluate, markdown_tables, write_report
    from indexer.index import IndexStoreError

    chosen = _choices(modes, ALL_MODES, "mode(s)")
    cutoffs = sorted({int(k) for k in ks.split(",")})
    try:
        backend = HttpBackend(url, api_key) if url else LocalBackend(index_dir)
    except IndexStoreError as exc:
        _fail(str(exc))
    result = evaluate(query_files, backend, chosen, cutoffs, progress=sys.stderr.isatty())
    typer.echo(markdown_tables(result, cutoffs))
    for error in result.errors:
        typer.echo(f"data error: {error}", err=True)
    _write(
        json_out, json.dumps({"ranking": result.ranking, "runs": result.runs}, ensure_ascii=False, indent=2)
    )
    if report:
        write_report(result, cutoffs, report)


@app.command()
def bench(
    index_dir: Path = IndexOption,
    only: str = typer.Option(
        "encoders,chunking,indexing,queries,scale",
        "--only",
        help="Sections: encoders, chunking, indexing, queries, scale.",
    ),
    json_out: Path | None = typer.Option(None, "--json", help="Write the results as JSON here."),
    markdown_out: Path | None = typer.Option(None, "--markdown", help="Write a Markdown report here."),
    sizes: str = typer.Option(
        "10000,100000,1000000", "--scale-sizes", help="Index sizes for the scale section."
    ),
    http_seconds: float = typer.Option(30.0, "--http-seconds", help="Duration of each HTTP load run."),
) -> None:
    """Speed and scale on this machine, with baselines measured in the same run."""
    from eval.bench import SECTIONS, markdown, run_bench

    chosen = _choices(only, SECTIONS, "section(s)")
    results = run_bench(index_dir, chosen, [int(s) for s in sizes.split(",")], http_seconds)
    report = markdown(results)
    typer.echo(report)
    _write(json_out, json.dumps(results, ensure_ascii=False, indent=2))
    _write(markdown_out, report)


@model_app.command("info")
def model_info(
    model: str | None = ModelOption,
    backend: str | None = BackendOption,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show the resolved model, the backend and why: for ``auto``, the table measured on this CPU."""
    from dataclasses import asdict

    from indexer.model.e5s1 import BundledModelError
    from indexer.model.encoder import Encoder
    from indexer.model.machine import describe
    from indexer.model.specs import resolve_spec

    spec = resolve_spec(model)
    progress = sys.stderr.isatty()
    try:
        encoder = Encoder(spec, _backend(backend, spec, progress), progress=progress)
    except BundledModelError as exc:
        _fail(str(exc), 3)
    info = {
        "spec": spec.name,
        "backend": encoder.backend,
        "backend_reason": encoder.backend_reason,
        "cpu": describe(),
        "directory": encoder.location,
        "dimension": encoder.dimension,
        "max_tokens": encoder.max_tokens,
        "prompts": spec.to_dict()["prompts"],
    }
    if as_json:
        typer.echo(
            json.dumps(
                info | {"measurements": [asdict(m) for m in encoder.measurements]},
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    for key, value in info.items():
        typer.echo(f"{key:14} {value}")
    if encoder.measurements:
        typer.echo(
            "\nmeasured on this CPU (the sample of indexer/model/agreement_sample.json, vs torch fp32):"
        )
        typer.echo(
            f"{'backend':14} {'passages/s':>10} {'x torch':>8} {'min cosine':>11} {'top-10':>7}  agrees"
        )
        torch_speed = encoder.measurements[0].passages_per_second
        for m in encoder.measurements:
            if m.error:
                typer.echo(f"{m.backend:14} {m.error}")
                continue
            speed, cosine = m.passages_per_second, min(m.passage_cosine, m.query_cosine)
            typer.echo(
                f"{m.backend:14} {speed:>10.1f} {speed / torch_speed:>8.2f} {cosine:>11.6f} "
                f"{m.top10_overlap:>7.3f}  {'yes' if m.agrees else 'no'}"
            )


@model_app.command("prepare")
def model_prepare(
    model: str | None = ModelOption,
    backend: str | None = BackendOption,
    int8: bool = typer.Option(
        False,
        "--int8",
        help="Also make the int8 OpenVINO model (NNCF, calibrated on corpus passages) so auto measures it.",
    ),
    remeasure: bool = typer.Option(False, "--remeasure", help="Measure the runtimes again for auto."),
) -> None:
    """Convert the bundled model, measure the runtimes for auto, export the chosen one; later runs reuse it.

    Prints the model directory that will be loaded.
    """
    from indexer.model.backends import exported_model
    from indexer.model.e5s1 import BundledModelError
    from indexer.model.specs import model_location, resolve_spec

    progress = sys.stderr.isatty()
    try:
        spec = resolve_spec(model)
        location = model_location(spec, progress=progress)
        if int8:
            exported_model(location, "openvino-int8", spec.prompts.passage, progress)
        choice = _backend(backend, spec, progress, remeasure)
        typer.echo(f"backend {choice.name}: {choice.reason}", err=True)
        typer.echo(exported_model(location, choice.name, spec.prompts.passage, progress))
    except BundledModelError as exc:
        _fail(str(exc), 3)


if __name__ == "__main__":
    app()
