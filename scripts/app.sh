#!/usr/bin/env bash
# Install the app into .venv and start it (the built-in `shapes` data set needs no download).
# Extra arguments go to `streamlit run`, e.g. bash scripts/app.sh --server.port 8502
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/streamlit run streamlit_app.py "$@"
