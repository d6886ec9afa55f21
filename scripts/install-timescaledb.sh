#!/usr/bin/env bash
# Builds and installs TimescaleDB (Apache-2 edition) for PostgreSQL 15 from
# Debian trixie's source package. Bookworm ships no timescaledb package, and
# only Debian's registry is reachable, so: apt-get source through a private
# sources list (the machine's own apt sources stay untouched), then cmake.
# Idempotent: does nothing when the extension is already installed.
set -euo pipefail
PG_MAJOR=${PG_MAJOR:-15}
extdir=/usr/share/postgresql/$PG_MAJOR/extension
if ls "$extdir"/timescaledb--2.*.sql >/dev/null 2>&1 && [ -f "/usr/lib/postgresql/$PG_MAJOR/lib/timescaledb.so" ]; then
  echo "timescaledb: already installed for PostgreSQL $PG_MAJOR"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q "postgresql-server-dev-$PG_MAJOR" cmake dpkg-dev gcc make >/dev/null
work=/var/cache/eldercare-timescaledb
apt_dir=$work/apt
mkdir -p "$apt_dir/lists/partial"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$apt_dir/sources.list"
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null" -o "Dir::State::Lists=$apt_dir/lists")
apt-get "${apt_opts[@]}" update -q >/dev/null
src=$work/src
rm -rf "$src" && mkdir -p "$src" && cd "$src"
apt-get "${apt_opts[@]}" source -q timescaledb 2>&1 | grep -v "^W: Download is performed unsandboxed" || true
tree=$(find "$src" -maxdepth 1 -mindepth 1 -type d -name 'timescaledb-*' | head -n 1)
[ -n "$tree" ] || { echo "timescaledb: source package did not unpack" >&2; exit 1; }
cd "$tree"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPG_CONFIG="/usr/lib/postgresql/$PG_MAJOR/bin/pg_config" \
  -DAPACHE_ONLY=ON -DUSE_TELEMETRY=OFF -DSEND_TELEMETRY_DEFAULT=OFF \
  -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
cmake --install build >/dev/null
echo "timescaledb: installed $(basename "$tree") for PostgreSQL $PG_MAJOR"
