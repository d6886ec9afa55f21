#!/usr/bin/env bash
# Installs what the tests need on Debian 12, as root, idempotently: Mosquitto,
# PostgreSQL 15 and TimescaleDB (built from Debian trixie's source package), and
# Chromium for the care-centre screen's browser tests (driven by Playwright's
# Python package against /usr/bin/chromium; never `playwright install`).
# The tests start their own broker and database on free ports; nothing here
# needs to be running.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
for pkg in mosquitto mosquitto-clients postgresql-15 postgresql-server-dev-15 cmake dpkg-dev gcc make chromium \
  fonts-wqy-microhei; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-test-deps: missing ${need[*]}; run as root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q "${need[@]}" >/dev/null
  echo "install-test-deps: installed ${need[*]}"
fi
bash scripts/install-timescaledb.sh
