#!/usr/bin/env bash
# Install the project and everything the tests need into .venv, lint, and run the whole suite.
# Used as is by the README ("bash scripts/test.sh") and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh dev
# The browser test drives Debian's Chromium (Playwright's own browser download does not work
# offline). Install it when missing and we may (root, apt-get).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium install failed; the browser test will say so"
fi
.venv/bin/ruff check .
.venv/bin/ruff format --check .  # the tree as `ruff format .` leaves it ([tool.ruff] in pyproject.toml)
.venv/bin/mypy  # playground/, bodies of untyped functions included ([tool.mypy] in pyproject.toml)
exec .venv/bin/python -m pytest "$@"
