"""Security headers on every response (Issue 13 item 4): a Content-Security-Policy
without inline script, frame-ancestors 'none', nosniff, no referrer; the API docs
pages allow exactly their own inline script, by hash."""

from __future__ import annotations

import base64
import hashlib
import re

import httpx
import pytest

from eldercare.domain import Role
from tests.api.conftest import TokenFor


def _directives(csp: str) -> dict[str, list[str]]:
    out = {}
    for part in csp.split(";"):
        name, *sources = part.split()
        out[name] = sources
    return out


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/", 200),
        ("GET", "/static/app.js", 200),
        ("GET", "/healthz", 200),
        ("GET", "/api/v1/alerts", 401),
        ("GET", "/api/v1/no-such-thing", 404),
        ("POST", "/api/v1/homes", 401),  # refused by the body limit, before any route
    ],
)
async def test_every_response_carries_the_headers(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    resp = await client.request(method, path, content=b"{}" if method == "POST" else None)
    assert resp.status_code == status
    csp = _directives(resp.headers["content-security-policy"])
    assert csp["script-src"] == ["'self'"]  # no inline script, no inline handler, no eval
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["referrer-policy"] == "no-referrer"
    assert resp.headers["x-frame-options"] == "DENY"


async def test_an_oversized_body_is_refused_with_the_headers(
    client: httpx.AsyncClient, token_for: TokenFor
) -> None:
    headers = await token_for(Role.SUPERVISOR)
    resp = await client.post("/api/v1/homes", content=b"x" * (2 * 1024 * 1024), headers=headers)
    assert resp.status_code == 413
    assert resp.json()["detail"] == "request body too large: at most 1048576 bytes"
    assert "content-security-policy" in resp.headers


async def test_the_docs_page_allows_its_own_inline_script_only(client: httpx.AsyncClient) -> None:
    resp = await client.get("/docs")
    assert resp.status_code == 200
    inline = re.findall(r"<script>(.*?)</script>", resp.text, re.S)
    assert inline, "Swagger UI starts from an inline script"
    hashes = {
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in inline
    }
    csp = _directives(resp.headers["content-security-policy"])
    assert hashes <= set(csp["script-src"])
    assert "'unsafe-inline'" not in csp["script-src"]
    assert "'unsafe-eval'" not in csp["script-src"]
    assert csp["frame-ancestors"] == ["'none'"]
    # Wherever the page loads Swagger UI from is allowed, nothing else.
    for src in re.findall(r'<script src="(https?://[^/"]+)', resp.text):
        assert src in csp["script-src"]
    assert resp.headers["x-content-type-options"] == "nosniff"
