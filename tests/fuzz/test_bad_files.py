"""Bad input files, as offices produce them: each is reported (file, line, field, reason) and the
good documents beside them are indexed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer.build import build_index
from indexer.index import IndexReader
from indexer.metadata import clean_given
from indexer.sources import SourceError, decode_text, discover, read_source
from tests.conftest import REPLIES

GOOD = "reply-2022-0017-elderly-meal.txt"
GOOD_TEXT = "关于加强老年助餐服务的答复\n\n一、工作进展\n今年新建老年助餐点50个，覆盖全部街道。"
BAD_JSONL_LINES = [
    {"title": "整数内容", "content": 5},
    {"title": "空内容", "content": None},
    {"title": "列表内容", "content": ["a"]},
    [1, 2],
    "not an object",
    {"title": "没有内容"},
    {"title": "空字符串", "content": ""},
]
BAD_FIELDS = [
    ({"title": 123}, "title"),
    ({"title": {}}, "title"),
    ({"proposal_or_doc_number": 5}, "proposal_or_doc_number"),
    ({"date": "不详"}, "date"),
    ({"year": 99999999999999999999}, "year"),
    ({"year": "不详"}, "year"),
    ({"issuer": ["天津市民政局"]}, "issuer"),
]


def _bad_corpus(folder: Path) -> dict[str, str]:
    """Writes the bad files beside one good letter; returns file name → what its report must say."""
    folder.mkdir()
    shutil.copy(REPLIES / GOOD, folder / GOOD)
    expected = {}
    lines = [json.dumps(line, ensure_ascii=False) for line in BAD_JSONL_LINES]
    lines.insert(3, json.dumps({"title": "好的一行", "content": GOOD_TEXT}, ensure_ascii=False))
    lines.append("{not json")
    (folder / "records.jsonl").write_text("\n".join(lines), encoding="utf-8")
    expected["records.jsonl"] = "line 1: field content must be text"
    fields = [{"content": GOOD_TEXT + f"（第{n}件）", **bad} for n, (bad, _) in enumerate(BAD_FIELDS)]
    (folder / "fields.jsonl").write_text(
        "\n".join(json.dumps(f, ensure_ascii=False) for f in fields), "utf-8"
    )
    for name, data in {
        "zero.txt": b"",
        "blank.txt": b"  \n\t\n",
        "controls.txt": b"\x01\x02\x07",
        "all-bad.jsonl": b'{"content": ""}\n[1]\n',
        "latin1.txt": "caf\xe9 \u00e0 la cr\xe8me".encode("latin-1") * 3 + b"\xff\xfe\xfa",
    }.items():
        (folder / name).write_bytes(data)
        expected[name] = ""
    (folder / "utf16.txt").write_text(GOOD_TEXT.replace("老年", "高龄老人"), encoding="utf-16")
    (folder / "notes.xlsx").write_bytes(b"PK")
    expected["notes.xlsx"] = "unsupported file type"
    os.symlink(folder / "gone.txt", folder / "dangling.txt")
    expected["dangling.txt"] = "dangling link"
    os.mkfifo(folder / "pipe.txt")
    expected["pipe.txt"] = "not a regular file"
    (folder / ".venv").mkdir()
    (folder / ".venv" / "pyvenv.cfg").write_text("home = /usr")
    (folder / ".venv" / "site.txt").write_text("虚拟环境里的文件", encoding="utf-8")
    (folder / "env").mkdir()
    (folder / "env" / "pyvenv.cfg").write_text("home = /usr")
    (folder / "env" / "lib.txt").write_text("虚拟环境里的文件", encoding="utf-8")
    return expected


def test_bad_jsonl_lines_are_reported_by_number_and_good_lines_kept(tmp_path):
    folder = tmp_path / "c"
    _bad_corpus(folder)
    reading = read_source(folder / "records.jsonl")
    assert [d.metadata["title"] for d in reading.documents] == ["好的一行"]
    assert len(reading.problems) == len(BAD_JSONL_LINES) + 1
    assert all(p.startswith("line ") for p in reading.problems)
    with pytest.raises(SourceError, match="no usable line"):
        read_source(folder / "all-bad.jsonl")


@pytest.mark.parametrize(("given", "field"), BAD_FIELDS)
def test_a_bad_metadata_field_is_dropped_with_a_reason(given, field):
    kept, problems = clean_given({"title": "标题", **given} if field != "title" else given)
    assert field not in kept and len(problems) == 1 and field in problems[0]


def test_utf16_with_a_bom_is_decoded():
    text = "关于加装电梯的答复"
    assert decode_text(text.encode("utf-16")) == text
    assert decode_text(text.encode("utf-16-be").join([b"\xfe\xff", b""])) == text


def test_discovery_lists_what_it_passes_over_and_walks_no_virtual_environment(tmp_path):
    folder = tmp_path / "c"
    expected = _bad_corpus(folder)
    found = discover([folder])
    names = {p.name for p in found.files}
    assert "site.txt" not in names and "lib.txt" not in names and GOOD in names
    passed = {p.name: reason for p, reason in found.passed_over}
    for name in ("notes.xlsx", "dangling.txt", "pipe.txt"):
        assert expected[name] in passed[name]


def test_an_index_run_over_bad_files_reports_each_and_indexes_the_good_ones(tmp_path, spec, encoder):
    folder = tmp_path / "c"
    expected = _bad_corpus(folder)
    summary = build_index([folder], tmp_path / "index", spec, lambda: encoder, progress=False)
    reported: dict[str, list[str]] = {}
    for skipped in summary.skipped:
        reported.setdefault(Path(skipped["path"].split("#")[0]).name, []).append(skipped["reason"])
    for name, words in expected.items():
        assert any(words in reason for reason in reported.get(name, [])), (name, reported.get(name))
    ignored = [i["reason"] for i in summary.ignored]
    assert len(ignored) == len(BAD_FIELDS) and all(r.endswith("; ignored") for r in ignored)
    sources = [d.source for d in IndexReader.open(tmp_path / "index").all_documents()]
    assert sorted(set(sources)) == sorted({GOOD, "records.jsonl", "fields.jsonl", "utf16.txt"})
    assert sources.count("fields.jsonl") == len(BAD_FIELDS)


def test_a_bad_manifest_row_is_reported_and_the_rest_kept(tmp_path):
    from indexer.sources import load_manifest

    (tmp_path / "manifest.jsonl").write_text(
        '{"file": "a.txt", "title": "甲"}\n{broken\n[1]\n{"file": 5}\n{"file": "b.txt", "date": "不详"}\n',
        "utf-8",
    )
    problems: list[str] = []
    rows = load_manifest(tmp_path, problems)
    assert rows == {"a.txt": {"title": "甲"}, "b.txt": {"date": "不详"}}
    assert len(problems) == 2 and "line 2" in problems[0] and "line 3" in problems[1]
    assert clean_given(rows["b.txt"])[0] == {}  # and the date that is not one is dropped later


def test_a_file_name_that_is_not_utf8_is_passed_over(tmp_path):
    name = os.fsdecode(b"bad-\xff-name.txt")
    (tmp_path / name).write_text("关于加装电梯的答复", encoding="utf-8")
    found = discover([tmp_path])
    assert found.files == [] and "not valid UTF-8" in found.passed_over[0][1]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
records = st.fixed_dictionaries(
    {},
    optional={
        "title": json_values,
        "content": json_values,
        "date": json_values,
        "year": json_values,
        "issuer": json_values,
        "proposal_or_doc_number": json_values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2000), suffix=st.sampled_from([".txt", ".md", ".jsonl", ".docx", ".pdf"]))
def test_any_bytes_in_any_file_type_are_read_or_refused_with_a_reason(tmp_path, data, suffix):
    path = tmp_path / f"file{suffix}"
    path.write_bytes(data)
    try:
        reading = read_source(path)
    except SourceError as exc:
        assert str(exc)
        return
    for doc in reading.documents:
        assert doc.text.strip()
        assert all(0 <= offset <= len(doc.text) for offset in [*doc.headings, *(p[0] for p in doc.pages)])
    assert all(isinstance(problem, str) and problem for problem in reading.problems)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.one_of(records, json_values), max_size=6), good_at=st.integers(0, 6))
def test_any_jsonl_keeps_its_good_records_and_reports_each_other_line(tmp_path, lines, good_at):
    texts = [json.dumps(line, ensure_ascii=False) for line in lines]
    good = json.dumps({"title": "好的一行", "content": GOOD_TEXT}, ensure_ascii=False)
    texts.insert(min(good_at, len(texts)), good)
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(texts), encoding="utf-8")
    reading = read_source(path)
    assert any(doc.text.startswith("关于加强老年助餐服务的答复") for doc in reading.documents)
    for doc in reading.documents:
        metadata, _ = clean_given(doc.metadata)  # whatever the fields, cleaning them never fails
        assert all(isinstance(value, (str, int)) for value in metadata.values())
    reported = {int(problem.split(":")[0].removeprefix("line ")) for problem in reading.problems}
    assert len(reading.documents) + len(reported) <= len(texts)
