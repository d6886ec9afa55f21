"""The Content-Security-Policy in real Chromium against ``eldercare serve``: the
screen and the API docs load without a single violation, and markup that tries
to run a script (an inline handler, an inline <script>) runs nothing."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page, Route

from tests.api.serve_process import serve
from tests.browser.chromium import chromium

WATCH_VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline'));
});
"""


async def _violations(page: Page) -> list[str]:
    found: list[str] = await page.evaluate("window.__violations")
    return found


async def _offline(route: Route) -> None:
    if route.request.url.startswith("http://127.0.0.1:"):
        await route.continue_()
    else:
        await route.abort()  # the service must work without the internet


async def test_screen_and_docs_load_under_the_policy_and_injected_script_is_inert(
    tmp_path: Path,
) -> None:
    with serve(tmp_path) as server:
        async with chromium() as browser:
            page = await browser.new_page()
            await page.route("**/*", _offline)
            await page.add_init_script(WATCH_VIOLATIONS)

            screen = await page.goto(server.api + "/")
            assert screen is not None
            assert "script-src 'self'" in screen.headers["content-security-policy"]
            await page.wait_for_load_state("networkidle")
            assert await _violations(page) == []

            # What an attacker's text would try, were it ever put in as markup.
            await page.evaluate(
                """() => {
                  const box = document.createElement('div');
                  box.innerHTML = '<img src="/nothing.png" onerror="window.__ran = 1">';
                  document.body.appendChild(box);
                  const s = document.createElement('script');
                  s.textContent = 'window.__ran = 2';
                  document.body.appendChild(s);
                }"""
            )
            await page.wait_for_function("window.__violations.length >= 2")
            assert await page.evaluate("window.__ran") is None
            assert all(v.startswith("script-src") for v in await _violations(page))

            docs = await page.goto(server.api + "/docs")
            assert docs is not None and docs.status == 200
            await page.wait_for_load_state("networkidle")
            assert await _violations(page) == []  # Swagger UI's own inline script is allowed
