#!/usr/bin/env bash
# The test suite on a fresh machine: install with test extras, Debian's Chromium for the browser
# test (when running as root and it is missing), prepare the model once, then the format check,
# the linter, the type check and pytest. Arguments go to pytest: `-m "not slow and not browser"`
# is the fast lane (under a minute), without the real model or Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
fi
source .venv/bin/activate
ruff format --check --quiet .
ruff check --quiet .
mypy
python -m eval.readme_figures --check
policy-search model prepare >/dev/null
exec python -m pytest -q -p no:cacheprovider "$@"
