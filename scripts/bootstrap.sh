#!/usr/bin/env bash
# Create ./.venv (Python 3.11) and install ctas7-panel into it, editable.
# Usage: scripts/bootstrap.sh [EXTRAS]   e.g. scripts/bootstrap.sh test,dev
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then py="$candidate"; break; fi
  done
fi
[ -n "$py" ] || { echo "bootstrap: Python 3.11 is needed (apt-get install python3 python3-venv)" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  if ! "$py" -m venv .venv 2>/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    elif command -v sudo >/dev/null && command -v apt-get >/dev/null; then
      sudo apt-get update -qq && sudo apt-get install -y -qq python3-venv >/dev/null
    fi
    rm -rf .venv && "$py" -m venv .venv
  fi
fi
stamp=".venv/.ctas7-installed-${extras:-base}"
want="$(cat pyproject.toml | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing ctas7-panel${extras:+[$extras]} into .venv (progress below)" >&2
  .venv/bin/python -m pip install --disable-pip-version-check -q --upgrade pip
  .venv/bin/python -m pip install --disable-pip-version-check --progress-bar off -q -e ".${extras:+[$extras]}"
  echo "$want" > "$stamp"
fi
