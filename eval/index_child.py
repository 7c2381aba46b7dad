"""The indexing bench's child process: ``python -m eval.index_child INDEX_DIR PATH...``.

It runs the real indexing in a process of its own, so that the peak RSS it reports is indexing's
alone, and prints the run's summary as one JSON line.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path

from indexer.build import build_index
from indexer.model.encoder import Encoder
from indexer.model.specs import resolve_spec


def main(index_dir: Path, paths: list[Path]) -> dict:
    spec = resolve_spec(None)
    encoders: list[Encoder] = []

    def make_encoder() -> Encoder:
        encoders.append(Encoder(spec, progress=False))
        return encoders[-1]

    summary = build_index(paths, index_dir, spec, make_encoder, progress=False)
    result = summary.to_dict()
    result["backend"] = encoders[0].backend if encoders else None
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["documents"] = summary.added + summary.updated + summary.unchanged
    return result


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), [Path(p) for p in sys.argv[2:]])))
