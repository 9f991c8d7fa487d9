#!/usr/bin/env bash
# Install the app into .venv and start it (the built-in `shapes` data set needs no download).
# Extra arguments go to `streamlit run`, e.g. bash scripts/app.sh --server.port 8502
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
echo "== Starting the app: open the address Streamlit prints below"
exec .venv/bin/streamlit run streamlit_app.py "$@"
