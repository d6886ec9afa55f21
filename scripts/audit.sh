#!/usr/bin/env bash
# Audits the installed virtualenv (.venv) for dependencies with known
# vulnerabilities, with pip-audit (from `bash scripts/setup.sh --dev`), on a
# machine that reaches its vulnerability source (README "Auditing dependencies").
#
#   bash scripts/audit.sh [--ignore-file FILE] [pip-audit options, e.g. -s osv]
#
# Known vulnerabilities are ignored only when listed in deploy/audit-ignore.txt
# (or --ignore-file), one id a line followed by the reason; an id without a
# reason is refused.
#
# Exit 0: every installed package was audited and none has a vulnerability that
#         is not ignored.
# Exit 1: vulnerabilities found (each printed with its fix versions).
# Exit 2: the audit did not happen: pip-audit is missing, or its vulnerability
#         source could not be reached. pip-audit itself then skips every package
#         ("Dependency not found on PyPI and could not be audited") and says
#         "No known vulnerabilities found" with exit 0: this script counts the
#         skipped packages and fails instead, so a check that checked nothing
#         never passes.
set -euo pipefail
cd "$(dirname "$0")/.."
ignore_file=deploy/audit-ignore.txt
args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --ignore-file) ignore_file=${2:?--ignore-file needs a file}; shift 2 ;;
        *) args+=("$1"); shift ;;
    esac
done
audit=.venv/bin/pip-audit
if [ ! -x "$audit" ]; then
    echo "audit: $audit is missing: run 'bash scripts/setup.sh --dev'" >&2
    exit 2
fi

ignores=()
while IFS= read -r line || [ -n "$line" ]; do
    line=${line%%#*}
    read -r id reason <<<"$line" || true
    [ -n "${id:-}" ] || continue
    if [ -z "${reason:-}" ]; then
        echo "audit: $ignore_file: $id has no reason: write why it is ignored after it" >&2
        exit 2
    fi
    ignores+=(--ignore-vuln "$id")
done < <(cat "$ignore_file" 2>/dev/null || true)

report=$(mktemp)
trap 'rm -f "$report"' EXIT
set +e
"$audit" --local --skip-editable --format json --progress-spinner off --output "$report" \
    ${ignores[@]+"${ignores[@]}"} ${args[@]+"${args[@]}"} >/dev/null 2>"$report.err"
code=$?
set -e
err=$(cat "$report.err"); rm -f "$report.err"

.venv/bin/python - "$report" "$code" "$ignore_file" "$err" <<'EOF'
import json
import sys

path, code, ignore_file, err = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    with open(path) as fh:
        doc = json.load(fh)
except (OSError, ValueError):
    last = err.strip().splitlines()[-1:] or ["(nothing on stderr)"]
    print(f"audit: FAILED: pip-audit wrote no report (exit {code}): {last[0]}", file=sys.stderr)
    sys.exit(2)
deps = doc.get("dependencies", [])
editable = [d for d in deps if "editable" in d.get("skip_reason", "")]  # eldercare itself
skipped = [d for d in deps if "skip_reason" in d and d not in editable]
audited = [d for d in deps if "skip_reason" not in d]
found = [(d, v) for d in audited for v in d.get("vulns", [])]
if skipped:
    print(
        f"audit: FAILED: {len(skipped)} of {len(deps) - len(editable)} packages were not audited, so"
        " nothing is known about them (pip-audit says 'No known vulnerabilities found'"
        " all the same). The vulnerability source was not reached, or they are not"
        " on it:",
        file=sys.stderr,
    )
    for d in skipped[:10]:
        print(f"  {d['name']}: {d['skip_reason']}", file=sys.stderr)
    if len(skipped) > 10:
        print(f"  … and {len(skipped) - 10} more", file=sys.stderr)
    sys.exit(2)
if not audited:
    print("audit: FAILED: no package was audited", file=sys.stderr)
    sys.exit(2)
for d, v in found:
    fixes = ", ".join(v.get("fix_versions") or []) or "none yet"
    aliases = ", ".join(v.get("aliases") or [])
    print(f"{d['name']} {d['version']}: {v['id']}{f' ({aliases})' if aliases else ''}; fixed in {fixes}")
    if v.get("description"):
        print("    " + " ".join(v["description"].split())[:300])
if found:
    print(
        f"audit: {len(found)} known vulnerabilities in {len({d['name'] for d, _ in found})}"
        f" packages: raise the pins, or list the id in {ignore_file} with the reason",
        file=sys.stderr,
    )
    sys.exit(1)
if code != 0:
    print(f"audit: pip-audit failed (exit {code}):\n{err.strip()}", file=sys.stderr)
    sys.exit(2)
print(f"audit: {len(audited)} packages audited, no known vulnerability (ignored: see {ignore_file})")
EOF
