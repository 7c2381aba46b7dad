"""Copy the figures of ``eval/reports/`` into the README, so they are never typed by hand.

``python -m eval.readme_figures`` rewrites the README between ``<!-- figures:NAME -->`` and
``<!-- /figures:NAME -->`` with the tables of the report named ``NAME``: ``eval`` is
``eval/reports/latest/report.md`` (up to its plot), ``bench`` is ``eval/reports/bench.md``
(headings moved down two levels), ``bench-queries`` is ``eval/reports/bench-queries.md`` (a later
``bench --only queries`` run), ``bench-encoders`` is ``eval/reports/bench-encoders.md`` (a later
``bench --only encoders`` run), ``bench-scale`` is ``eval/reports/bench-scale.md`` (a ``bench
--only scale`` run), ``commitments`` is ``eval/reports/commitments.md``.
``--check`` only reports whether the README is up to date.
"""

from __future__ import annotations

import re
import sys
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
REPORTS = {
    "eval": ROOT / "eval/reports/latest/report.md",
    "bench": ROOT / "eval/reports/bench.md",
    "bench-queries": ROOT / "eval/reports/bench-queries.md",
    "bench-encoders": ROOT / "eval/reports/bench-encoders.md",
    "bench-scale": ROOT / "eval/reports/bench-scale.md",
    "commitments": ROOT / "eval/reports/commitments.md",
}


def report_tables(name: str) -> str:
    """The part of a report that the README shows."""
    text = REPORTS[name].read_text(encoding="utf-8")
    body = text.split("\n", 1)[1]  # drop the report's own title
    if name == "eval":
        body = body.split("![", 1)[0]
    else:
        body = re.sub(r"^(#+) ", lambda m: "#" * (len(m.group(1)) + 2) + " ", body, flags=re.MULTILINE)
    return body.strip()


def _filled(tables: str, block: re.Match[str]) -> str:
    return f"{block.group(1)}{tables}\n{block.group(2)}"


def with_figures(readme: str) -> str:
    for name in REPORTS:
        block = re.compile(rf"(<!-- figures:{name} -->\n).*?(<!-- /figures:{name} -->)", re.DOTALL)
        if not block.search(readme):
            raise ValueError(f"README.md has no <!-- figures:{name} --> block")
        readme = block.sub(partial(_filled, report_tables(name)), readme)
    return readme


def main(check: bool) -> int:
    current = README.read_text(encoding="utf-8")
    updated = with_figures(current)
    if check:
        if updated != current:
            print("README.md figures differ from eval/reports/; run python -m eval.readme_figures")
            return 1
        return 0
    README.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
