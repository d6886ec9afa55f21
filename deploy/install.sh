#!/usr/bin/env bash
# Installs eldercare's production units and configuration (README "Running in
# production"). Idempotent: run it again after an update of the checkout; it
# rewrites the units and configuration it owns and never touches the settings
# file once it exists.
#
#   bash deploy/install.sh [--root DIR] [--app DIR]
#
#   --root DIR  install under DIR instead of / (a test, an image being built):
#               the service's user is made in DIR's /etc/passwd, systemctl is
#               not called
#   --app DIR   the checkout the unit runs (its .venv from `bash scripts/setup.sh`);
#               default: the checkout this script is in
#
# What it installs (under the root):
#   /etc/sysusers.d/eldercare.conf        the system user and group `eldercare`
#   /etc/systemd/system/eldercare.service the unit (ExecStart in the checkout)
#   /etc/eldercare/                       0750 root:eldercare
#   /etc/eldercare/eldercare.env          0640 root:eldercare, from the example, only if missing
#   /etc/eldercare/create-database.sql    the role and database (run it with psql)
#   /etc/mosquitto/eldercare.conf         the broker's configuration
#   /etc/mosquitto/eldercare/             0750 root:mosquitto, for `eldercare broker-config --out`
#   /etc/systemd/system/mosquitto.service.d/eldercare.conf   mosquitto -c /etc/mosquitto/eldercare.conf
#   /etc/postgresql/15/main/conf.d/eldercare.conf, the eldercare lines of
#   pg_hba.conf (first) and pg_ident.conf, and
#   /etc/systemd/system/postgresql@15-main.service.d/eldercare.conf (its CPU share):
#   only where /etc/postgresql/15/main exists
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
app=$(dirname "$here")
root=/
while [ $# -gt 0 ]; do
    case "$1" in
        --root) root=${2:?--root needs a folder}; shift 2 ;;
        --app) app=${2:?--app needs a folder}; shift 2 ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
root=$(cd "$root" && pwd)
app=$(cd "$app" && pwd)
at() { printf '%s%s' "${root%/}" "$1"; }
say() { printf 'install.sh: %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run it as root (it creates a system user and gives files to it)" >&2
    exit 1
fi
if [ ! -x "$app/.venv/bin/eldercare" ]; then
    say "warning: $app/.venv/bin/eldercare is missing: run 'bash scripts/setup.sh' in $app"
fi

# gid NAME: the group's id in the root's /etc/group (empty when it has none)
gid() { awk -F: -v g="$1" '$1 == g { print $3; exit }' "$(at /etc/group)" 2>/dev/null || true; }

# put MODE GROUP SOURCE DEST: install a file, replacing what differs
put() {
    install -D -m "$1" -o 0 -g "$2" "$3" "$(at "$4")"
    say "$4"
}

# 1. The service's user.
put 0644 0 "$here/systemd/eldercare.sysusers" /etc/sysusers.d/eldercare.conf
if [ -z "$(gid eldercare)" ]; then
    mkdir -p "$(at /etc)"
    if command -v systemd-sysusers >/dev/null; then
        if [ "$root" = / ]; then
            systemd-sysusers /etc/sysusers.d/eldercare.conf
        else
            systemd-sysusers --root "$root" "$(at /etc/sysusers.d/eldercare.conf)"
        fi
    else
        useradd --root "$root" --system --user-group --home-dir /var/lib/eldercare \
            --no-create-home --shell /usr/sbin/nologin --comment "Eldercare safety monitoring" \
            eldercare
    fi
    say "made the system user eldercare"
fi
group=$(gid eldercare)
[ -n "$group" ] || { echo "install.sh: no group eldercare in $(at /etc/group)" >&2; exit 1; }

# 2. The unit and the settings.
unit=$(mktemp)
trap 'rm -f "$unit"' EXIT
sed "s|@APP@|$app|g" "$here/systemd/eldercare.service" >"$unit"
put 0644 0 "$unit" /etc/systemd/system/eldercare.service
install -d -m 0750 -o 0 -g "$group" "$(at /etc/eldercare)"
if [ -e "$(at /etc/eldercare/eldercare.env)" ]; then
    say "/etc/eldercare/eldercare.env exists: kept (compare with $here/eldercare.env.example)"
else
    put 0640 "$group" "$here/eldercare.env.example" /etc/eldercare/eldercare.env
    say "edit /etc/eldercare/eldercare.env: every CHANGE-ME and example.org"
fi
put 0644 0 "$here/postgresql/create-database.sql" /etc/eldercare/create-database.sql

# 3. The broker.
broker_group=$(gid mosquitto)
put 0644 0 "$here/mosquitto/eldercare.conf" /etc/mosquitto/eldercare.conf
install -d -m 0750 -o 0 -g "${broker_group:-0}" "$(at /etc/mosquitto/eldercare)"
put 0644 0 "$here/systemd/mosquitto-eldercare.conf" \
    /etc/systemd/system/mosquitto.service.d/eldercare.conf

# 4. The database: only where PostgreSQL 15's Debian cluster is.
# block FILE SNIPPET first|last: the snippet between markers, once (replaced if there)
block() {
    local file=$1 snippet=$2 where=$3 tmp
    tmp=$(mktemp)
    {
        if [ "$where" = last ]; then
            awk '/^# BEGIN eldercare/ { skip = 1 } !skip { print } /^# END eldercare/ { skip = 0 }' "$file"
        fi
        echo "# BEGIN eldercare (deploy/install.sh; edit deploy/postgresql/ instead)"
        cat "$snippet"
        echo "# END eldercare"
        if [ "$where" = first ]; then
            awk '/^# BEGIN eldercare/ { skip = 1 } !skip { print } /^# END eldercare/ { skip = 0 }' "$file"
        fi
    } >"$tmp"
    if cmp -s "$tmp" "$file"; then
        rm -f "$tmp"
    else
        chmod --reference="$file" "$tmp"
        chown --reference="$file" "$tmp"
        mv "$tmp" "$file"
        say "${file#"${root%/}"}: the eldercare lines"
    fi
}
pg=$(at /etc/postgresql/15/main)
if [ -d "$pg" ]; then
    put 0644 0 "$here/postgresql/eldercare.conf" /etc/postgresql/15/main/conf.d/eldercare.conf
    put 0644 0 "$here/systemd/postgresql-eldercare.conf" \
        /etc/systemd/system/postgresql@15-main.service.d/eldercare.conf
    [ -f "$pg/pg_hba.conf" ] && block "$pg/pg_hba.conf" "$here/postgresql/pg_hba.conf" first
    [ -f "$pg/pg_ident.conf" ] && block "$pg/pg_ident.conf" "$here/postgresql/pg_ident.conf" last
else
    say "no /etc/postgresql/15/main here: PostgreSQL's files skipped (see deploy/postgresql/)"
fi

# 5. systemd, on this machine only.
if [ "$root" = / ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable eldercare.service
    say "enabled eldercare.service (not started)"
fi
cat <<EOF
install.sh: done. Next (README "Running in production"):
  1. runuser -u postgres -- psql -v ON_ERROR_STOP=1 -f /etc/eldercare/create-database.sql
     and restart PostgreSQL (shared_preload_libraries)
  2. edit /etc/eldercare/eldercare.env, then check it:
     set -a; . /etc/eldercare/eldercare.env; set +a; $app/.venv/bin/eldercare serve --check
  3. eldercare broker-config --out /etc/mosquitto/eldercare --no-plain --tls-port 8883 \\
       --certfile … --keyfile … ; systemctl restart mosquitto
  4. systemctl start eldercare; journalctl -u eldercare -f
EOF
