#!/usr/bin/env bash
# Set up and run every test: lint, unit, integration on SQLite and on a real MariaDB (each with the
# API coverage gate), and the smoke tests on every deployable config.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export SANDSTACK_MARIADB_URL
SANDSTACK_MARIADB_URL=$(bash scripts/mariadb.sh cloud_test)
.venv/bin/tox run -e lint,unit,integration,integration-mariadb,configs
