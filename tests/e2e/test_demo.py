"""``eldercare demo`` starts with no servers installed, raises an SOS alert
visible through the API, and stops cleanly on SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.helpers import eventually, free_port


async def test_demo_raises_sos_and_stops_on_sigint(tmp_path: Path) -> None:
    api_port, mqtt_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ELDERCARE_")}
    env.update(
        ELDERCARE_API_PORT=str(api_port),
        ELDERCARE_EMBEDDED_MQTT_PORT=str(mqtt_port),
        ELDERCARE_LOG_FORMAT="text",
    )
    out = tmp_path / "demo.out"
    with open(out, "wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "eldercare", "demo", "--homes", "2"],
            cwd=tmp_path,  # the default database is ./eldercare.db
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:

        async def printed_password() -> str | None:
            for line in out.read_text().splitlines():
                if "log in as admin / " in line:
                    return line.split("log in as admin / ", 1)[1].strip()
            return None

        password = await eventually(printed_password, timeout=30)
        api = f"http://127.0.0.1:{api_port}"
        async with httpx.AsyncClient(base_url=api, timeout=5) as client:

            async def logged_in() -> str | None:
                try:
                    resp = await client.post(
                        "/api/v1/auth/token", data={"username": "admin", "password": password}
                    )
                except httpx.HTTPError:
                    return None
                return str(resp.json()["access_token"]) if resp.status_code == 200 else None

            tok = await eventually(logged_in, timeout=30)
            client.headers["Authorization"] = f"Bearer {tok}"

            async def sos_alert() -> dict[str, Any] | None:
                items = (await client.get("/api/v1/alerts", params={"status": "open"})).json()
                found = [a for a in items["items"] if a["kind"] == "sos"]
                return found[0] if found else None

            # the demo presses an SOS within its first 30 seconds
            alert = await eventually(sos_alert, timeout=30, interval=0.2)
            assert alert["severity"] == "critical"
            assert alert["home_id"] in ("h1", "h2")
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        text = out.read_text()
        assert "[alert #" in text  # the demo printed the alert as it arrived
        assert "service stopped" in text
        assert "Traceback" not in text, text[-3000:]
        assert (tmp_path / "eldercare.db").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
