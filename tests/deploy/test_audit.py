"""scripts/audit.sh over the real pip-audit and the installed .venv, against a
local OSV look-alike (no network): a known vulnerability fails the audit with
its fix version, unless deploy/audit-ignore.txt-style lines list it with a
reason; an id without a reason is refused; an unreachable vulnerability
source fails the audit (exit 2), never "No known vulnerabilities found"."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

REPO = Path(__file__).resolve().parents[2]
VULN = "GHSA-eldr-test-0001"

pytestmark = pytest.mark.skipif(
    not (REPO / ".venv/bin/pip-audit").exists(), reason="pip-audit is in the dev extras"
)


class FakeOsv(BaseHTTPRequestHandler):
    """OSV's POST /v1/query: one vulnerability for pyjwt, none for anything else."""

    queries: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        query = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeOsv.queries.append(query)
        body: dict[str, Any] = {}
        if query["package"]["name"] == "pyjwt":
            body = {
                "vulns": [
                    {
                        "id": VULN,
                        "summary": "a test vulnerability of pyjwt",
                        "aliases": ["CVE-2099-0001"],
                        "affected": [
                            {
                                "package": {"name": "pyjwt", "ecosystem": "PyPI"},
                                "ranges": [
                                    {
                                        "type": "ECOSYSTEM",
                                        "events": [{"introduced": "0"}, {"fixed": "99.0"}],
                                    }
                                ],
                            }
                        ],
                    }
                ]
            }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def osv_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOsv)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/query"
    finally:
        server.shutdown()
        server.server_close()


def audit(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(REPO / "scripts/audit.sh"), *args, "--cache-dir", str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_known_vulnerability_fails_the_audit_with_its_fix(tmp_path: Path, osv_url: str) -> None:
    ignore = tmp_path / "ignore.txt"
    ignore.write_text("# nothing ignored\n")
    done = audit(tmp_path, "--ignore-file", str(ignore), "-s", "osv", "--osv-url", osv_url)
    assert done.returncode == 1, done.stdout + done.stderr
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("pyjwt "))
    assert line.startswith(f"pyjwt {_version('pyjwt')}: ")  # pip-audit names the CVE first
    assert VULN in line and "CVE-2099-0001" in line and line.endswith("fixed in 99.0")
    assert "1 known vulnerabilities in 1 packages" in done.stderr
    names = {q["package"]["name"] for q in FakeOsv.queries}
    assert {"fastapi", "paho-mqtt", "twilio", "pyjwt"} <= names  # the installed .venv
    assert "eldercare" not in names  # the project itself (editable) is not on PyPI


def test_a_listed_id_with_its_reason_is_ignored(tmp_path: Path, osv_url: str) -> None:
    ignore = tmp_path / "ignore.txt"
    ignore.write_text(f"{VULN}  only the test look-alike has it (tests, 2026-12)\n")
    done = audit(tmp_path, "--ignore-file", str(ignore), "-s", "osv", "--osv-url", osv_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "packages audited, no known vulnerability" in done.stdout


def test_an_id_without_a_reason_is_refused(tmp_path: Path, osv_url: str) -> None:
    ignore = tmp_path / "ignore.txt"
    ignore.write_text(f"{VULN}\n")
    done = audit(tmp_path, "--ignore-file", str(ignore), "-s", "osv", "--osv-url", osv_url)
    assert done.returncode == 2
    assert f"{VULN} has no reason" in done.stderr


def test_an_unreachable_vulnerability_source_fails_the_audit(tmp_path: Path) -> None:
    done = audit(tmp_path, "-s", "osv", "--osv-url", "http://127.0.0.1:1/v1/query")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "audit: FAILED" in done.stderr
    assert "no known vulnerability" not in done.stdout


def test_the_shipped_ignore_list_gives_a_reason_for_every_id() -> None:
    for line in (REPO / "deploy/audit-ignore.txt").read_text().splitlines():
        words = line.split("#", 1)[0].split()
        assert len(words) != 1, f"deploy/audit-ignore.txt: {line!r} has no reason"


def _version(name: str) -> str:
    from importlib.metadata import version

    return version(name)
