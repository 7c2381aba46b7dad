"""The status file a build writes for the service: while running, after failing, after a kill."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from indexer.index.build_status import STATUS_FILE, BuildProgress, read_build_status


def test_progress_is_written_on_each_new_phase_and_at_most_once_a_second_within_one(tmp_path):
    with BuildProgress(tmp_path) as status:
        status.update("embedding", 10, 100, documents_new=4)
        status.update("embedding", 11, 100)  # within the second: not yet on disk
        on_disk = read_build_status(tmp_path)
        assert (on_disk["state"], on_disk["phase"], on_disk["done"]) == ("running", "embedding", 10)
        assert on_disk["documents_new"] == 4 and on_disk["started_at"] <= on_disk["updated_at"]
        status.update("embedding", 100, 100)  # the phase's end is always written
        assert read_build_status(tmp_path)["done"] == 100
    assert read_build_status(tmp_path) is None and not (tmp_path / STATUS_FILE).exists()


@pytest.mark.parametrize(
    "error, state", [(RuntimeError("disk full"), "failed"), (KeyboardInterrupt(), "interrupted")]
)
def test_a_build_that_ends_badly_says_so(tmp_path, error, state):
    with pytest.raises(type(error)), BuildProgress(tmp_path) as status:
        status.update("writing", 3, 9)
        raise error
    left = read_build_status(tmp_path)
    assert left["state"] == state and left["phase"] == "writing" and left["error"]


def test_a_killed_build_is_read_as_interrupted(tmp_path):
    with BuildProgress(tmp_path):
        written = json.loads((tmp_path / STATUS_FILE).read_text(encoding="utf-8"))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    written["pid"] = int(gone.stdout)  # a process that has exited, as after SIGKILL
    (tmp_path / STATUS_FILE).write_text(json.dumps(written), encoding="utf-8")
    assert read_build_status(tmp_path)["state"] == "interrupted"


def test_an_unreadable_status_file_is_no_status(tmp_path):
    (tmp_path / STATUS_FILE).write_text("{not json", encoding="utf-8")
    assert read_build_status(tmp_path) is None
