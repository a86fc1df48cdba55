#!/usr/bin/env bash
# Set up .venv/ and run the main job: every notebook in notebooks/, headless through papermill, on the
# embedded default data (Fashion-MNIST), into runs/<timestamp>/ (runs/latest points there).
# Extra arguments go to `python -m mintlab.notebook.runner` (see --help: --out, -p NAME=VALUE, --sweep NAME=V1,V2, ...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m mintlab.notebook.runner "$@"
