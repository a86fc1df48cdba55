#!/usr/bin/env bash
# Set up .venv/ and run the linter and the whole test suite (notebooks through papermill and the browser test included).
# Extra arguments go to pytest, e.g. `./scripts/test.sh -m "not slow" -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-browser
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/python -m pytest "$@"
