#!/usr/bin/env bash
# ruff (lint + format check) and mypy on the package.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test,dev
.venv/bin/ruff check ctas7_panel tests benchmarks
.venv/bin/ruff format --check ctas7_panel tests benchmarks
.venv/bin/mypy
