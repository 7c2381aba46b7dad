#!/usr/bin/env bash
# The main job on a fresh machine: install, index the bundled corpus (only what changed), and serve
# the API and the search page on http://127.0.0.1:8000 until Ctrl-C.
#
# On the first run the reply letters and notices are indexed before the service starts, and once it
# answers the whole corpus (with the Government Work Reports 1954-2025, 3 to 7 minutes on 2 cores
# with OpenVINO bf16, by CPU) is brought up to date in the background; the running service picks
# the new index up when it is complete, and until then the old one keeps answering.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
source .venv/bin/activate
index_dir="${POLICY_SEARCH_INDEX:-data/index}"
if [ ! -f "$index_dir/CURRENT" ]; then
  policy-search index corpus/replies --index "$index_dir"
fi
port="${PORT:-8000}"
policy-search serve --index "$index_dir" --host 127.0.0.1 --port "$port" &
server=$!
# a killed build leaves the live index as it was; the next run resumes from it
trap 'kill "$server" "${indexer:-}" 2>/dev/null || true' EXIT INT TERM
# the background build starts once the service answers, so the two do not share the cores while
# the service loads
answers() { python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" 2>/dev/null; }
until answers "http://127.0.0.1:$port/healthz"; do
  kill -0 "$server" 2>/dev/null || exit 1
  sleep 0.5
done
echo "Serving on http://127.0.0.1:$port (Ctrl-C to stop); indexing the whole corpus in the background"
policy-search index corpus/replies corpus/policy --index "$index_dir" &
indexer=$!
wait "$server"
