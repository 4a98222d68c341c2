#!/usr/bin/env bash
# Install what the tests need (Python deps, Debian's Chromium and iproute2, TypeScript, the
# MCP Inspector and @playwright/test from npm) and run the whole suite: unit, integration
# (real PostgreSQL/Redis), browser (Chromium) and notebooks (tests/integration/notebooks runs
# every notebook in a real kernel and fails on any error or warning in its outputs, or a
# temporary folder left behind).
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test,dev

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
# Debian packages: chromium for the browser tests, golang-go (gofmt, go vet) for the generated Go
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v go >/dev/null 2>&1 || missing+=(golang-go)
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test: installing Debian's ${missing[*]}" >&2
  as_root apt-get update -qq && as_root apt-get install -y -qq "${missing[@]}" >/dev/null \
    || echo "test: could not install ${missing[*]} (the tests that need them will say so)" >&2
fi
if { ! command -v ip >/dev/null 2>&1 || ! command -v ss >/dev/null 2>&1; } && command -v apt-get >/dev/null 2>&1; then
  echo "test: installing iproute2 (ip netns for the remote-dashboard test, ss for the bind checks)" >&2
  as_root apt-get update -qq && as_root apt-get install -y -qq iproute2 >/dev/null \
    || echo "test: could not install iproute2 (the bind checks will fail)" >&2
fi
# npm: tsc (generated types), the MCP Inspector, @playwright/test (the Playwright reporter tests;
# no browser download: they drive Debian's Chromium)
if command -v npm >/dev/null 2>&1 && [ -f package.json ] \
  && { [ ! -x node_modules/.bin/tsc ] || [ ! -x node_modules/.bin/mcp-inspector ] \
       || [ ! -f node_modules/@playwright/test/cli.js ]; }; then
  echo "test: installing TypeScript, the MCP Inspector and @playwright/test from npm (package-lock.json)" >&2
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent
fi
# Supabase's generator, two versions side by side, as the oracle of the differential typegen test
for project in tests/refgen/*/; do
  version="$(basename "$project")"
  if command -v npm >/dev/null 2>&1 \
      && [ ! -f "$project/node_modules/@supabase/postgres-meta/dist/server/server.js" ]; then
    echo "test: installing postgres-meta $version from npm (typegen oracle)" >&2
    (cd "$project" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
exec .venv/bin/python -m pytest tests "$@"
