#!/usr/bin/env bash
# Set up a development machine (Debian 12): system packages, the virtualenv, the package itself.
# Idempotent; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(python3-venv mariadb-server wrk curl)
missing=()
for package in "${APT_PACKAGES[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    python3 -m venv .venv
fi
echo "==> installing sandstack and its pinned dependencies"
.venv/bin/pip install -q -e '.[test,lint]' tox==4.67.15 2>&1 | { grep -v '^WARNING: Location' || true; }
# Compile once: this machine sets PYTHONDONTWRITEBYTECODE, and start-up time matters.
.venv/bin/python -m compileall -q server marvin
