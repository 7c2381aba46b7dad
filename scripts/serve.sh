#!/usr/bin/env bash
# The main job on a fresh machine: install, index the bundled corpus (only what changed), and serve
# the API and the search page on http://127.0.0.1:8000 until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
source .venv/bin/activate
policy-search index corpus/replies corpus/policy --index "${POLICY_SEARCH_INDEX:-data/index}"
echo "Serving on http://127.0.0.1:${PORT:-8000} (Ctrl-C to stop)"
exec policy-search serve --index "${POLICY_SEARCH_INDEX:-data/index}" --host 127.0.0.1 --port "${PORT:-8000}"
