#!/usr/bin/env bash
# Sets up the project's virtualenv at .venv (the demo needs nothing else).
# Usage: bash scripts/setup.sh [--dev]     (--dev adds the test and lint tools)
# Idempotent; as root on a fresh Debian 12 it installs python3-venv if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[ "${1:-}" = "--dev" ] && extras="[dev]"

py=${PYTHON:-python3}
if ! command -v "$py" >/dev/null 2>&1 || ! "$py" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
  echo "setup: need Python 3.11 or newer as $py" >&2
  [ "$(id -u)" = 0 ] && { apt-get update -q >/dev/null; apt-get install -y -q python3 >/dev/null; py=python3; }
fi
if ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "setup: install python3-venv first" >&2; exit 1; }
  apt-get update -q >/dev/null
  apt-get install -y -q python3-venv >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  "$py" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
.venv/bin/pip install -q -e ".${extras}"
echo "setup: .venv ready ($(.venv/bin/python --version)); run .venv/bin/eldercare --help"
