#!/usr/bin/env bash
# Set up, start a management server on embedded SQLite (API on 8080, integration port 8096, admin keys
# at /admin.json), deploy the two-zone sandbox datacenter of configs/sandbox.cfg, and smoke-check it.
# --keep leaves the server running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
STATE=${SANDSTACK_STATE:-/tmp/sandstack}
mkdir -p "$STATE"
rm -f "$STATE"/sandbox.db*
.venv/bin/sandstack serve --db "sqlite:///$STATE/sandbox.db" --port 8080 --integration-port 8096 \
    --sandbox >"$STATE/server.log" 2>&1 &
SERVER=$!
trap '[ "${KEEP:-}" = 1 ] || kill $SERVER 2>/dev/null' EXIT
[ "${1:-}" = "--keep" ] && KEEP=1
for _ in $(seq 100); do curl -sf http://127.0.0.1:8080/admin.json >/dev/null && break; sleep 0.1; done
.venv/bin/marvin deploy -c configs/sandbox.cfg --state "$STATE/dc_entries.json"
.venv/bin/python -m marvin.smoke --url http://127.0.0.1:8080/client/api
.venv/bin/python -m pytest -q -p no:cacheprovider -m smoke --marvin-config configs/sandbox.cfg \
    --zone Sandbox-simulator-advanced integration/test_smoke.py
echo "server log: $STATE/server.log"
[ "${KEEP:-}" = 1 ] && echo "server running (pid $SERVER) on http://127.0.0.1:8080/client/api"
