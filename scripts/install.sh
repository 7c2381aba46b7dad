#!/usr/bin/env bash
# Create .venv and install policy-search into it (idempotent).
# torch is pinned first: the CPU wheel of torch 2.13.0 lies on this machine's disk, while an
# unpinned torch (asked for by sentence-transformers or optimum) would pull a multi-GB CUDA build.
# The `fast` extra (OpenVINO) drags in torchvision, which fails to import beside this torch and is
# not needed, so it is removed again.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="fast"
[ "${1:-}" = "--test" ] && extras="fast,test"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# the install is editable, so only a change of the dependencies (pyproject.toml, this script, the
# extras) needs pip again; a second run skips its five-second re-check
stamp=".venv/.installed-${extras/,/-}"
wanted="$(cat pyproject.toml scripts/install.sh | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet "torch==2.13.0"
.venv/bin/python -m pip install --quiet -e ".[${extras}]" "torch==2.13.0"
.venv/bin/python -m pip uninstall --quiet -y torchvision 2>/dev/null || true
echo "$wanted" > "$stamp"
