#!/usr/bin/env bash
# The main job on a fresh machine: install, index the bundled corpus (only what changed), and serve
# the API and the search page on http://127.0.0.1:8000 until Ctrl-C.
#
# Search answers within a minute: on the first run the reply letters and notices are indexed before
# the service starts, and the whole corpus (with the Government Work Reports 1954-2025, ~5 minutes on
# 2 cores) is brought up to date in the background; the running service picks the new index up
# when it is complete, and until then the old one keeps answering.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
source .venv/bin/activate
index_dir="${POLICY_SEARCH_INDEX:-data/index}"
if [ ! -f "$index_dir/CURRENT" ]; then
  policy-search index corpus/replies --index "$index_dir"
fi
policy-search index corpus/replies corpus/policy --index "$index_dir" &
indexer=$!
# a killed build leaves the live index as it was; the next run resumes from it
trap 'kill "$indexer" 2>/dev/null || true' EXIT
echo "Serving on http://127.0.0.1:${PORT:-8000} (Ctrl-C to stop); indexing the whole corpus in the background"
policy-search serve --index "$index_dir" --host 127.0.0.1 --port "${PORT:-8000}"
