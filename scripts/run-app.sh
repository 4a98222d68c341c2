#!/usr/bin/env bash
# Run the dashboard on its embedded defaults (embedded PostgreSQL, memory bus, demo activity).
# It listens on CTAS7_BIND (127.0.0.1 unless set; anything else needs CTAS7_TOKEN, checked before
# the server starts). Extra arguments go to `panel serve` (e.g. --port 5007; an --address given
# here wins over CTAS7_BIND, and the app still refuses other machines without access control).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# the settings check of every entry point: bad tokens or a bind without a token stop here
.venv/bin/python -c 'import os, sys
from ctas7_panel.errors import ConfigError
from ctas7_panel.settings import Settings
try:
    Settings.from_env(os.environ)
except ConfigError as exc:
    sys.exit(f"run-app: {exc}")'
bind="${CTAS7_BIND:-127.0.0.1}"
port="${PORT:-5006}"
origin="$bind"
case "$bind" in
  0.0.0.0|::|localhost|127.0.0.1) origin="127.0.0.1" ;;
  *:*) origin="[$bind]" ;;
esac
exec .venv/bin/panel serve ctas7_panel/app.py --address "$bind" --port "$port" \
  --allow-websocket-origin "localhost:$port" --allow-websocket-origin "$origin:$port" "$@"
