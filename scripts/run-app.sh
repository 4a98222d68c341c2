#!/usr/bin/env bash
# Run the dashboard on its embedded defaults (embedded PostgreSQL, memory bus, demo activity).
# Extra arguments go to `panel serve` (e.g. --port 5007 --address 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/panel serve ctas7_panel/app.py --port "${PORT:-5006}" "$@"
