#!/usr/bin/env bash
# Create .venv and install the project into it, saying what is installed and about how big.
# Used by app.sh (no extras) and test.sh ("dev": pytest, Playwright, ruff, mypy, Ray).
#   bash scripts/install.sh [extras]
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  echo "== Creating .venv with $(python3 --version)"
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch + torchvision are most of the download (about 6 GB in .venv with their CUDA libraries on x86_64):
# installed on their own, with pip's progress shown, so a first install is not minutes of silence.
pins=$(.venv/bin/python - <<'PY'
import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
print(" ".join(d for d in deps if d.split("==")[0] in ("torch", "torchvision")))
PY
)
if ! .venv/bin/python -c "import torch, torchvision" 2>/dev/null; then
  echo "== Installing $pins (about 6 GB; a few minutes the first time)"
  .venv/bin/python -m pip install --progress-bar on $pins
fi
echo "== Installing CNN Playground${extras:+ with [$extras]}: Streamlit, plotly, ONNX export, the rest (about 600 MB)"
.venv/bin/python -m pip install -q -e ".${extras:+[$extras]}"
echo "== Installed into .venv"
