"""/docs (Swagger UI) and /redoc render with no internet: every request that is
not to this machine is aborted, as on a care centre's closed network."""

from __future__ import annotations

from urllib.parse import urlparse

from playwright.async_api import Page, Route

from tests.browser.chromium import artifact, chromium
from tests.browser.conftest import Running

LOCAL = {"127.0.0.1", "localhost", "::1"}


async def _offline(page: Page) -> list[str]:
    """Abort every request to another host; return the list of those tried."""
    tried: list[str] = []

    async def route(r: Route) -> None:
        if (urlparse(r.request.url).hostname or "") in LOCAL:
            await r.continue_()
        else:
            tried.append(r.request.url)
            await r.abort()

    await page.route("**/*", route)
    return tried


async def test_docs_render_with_the_network_blocked(running: Running) -> None:
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        tried = await _offline(page)
        await page.goto(f"{running.api}/docs")
        title = page.locator(".swagger-ui .info .title")
        await title.wait_for(timeout=10000)
        assert "Eldercare safety monitoring" in await title.inner_text()
        await page.locator(".opblock-tag:has-text('alerts')").first.wait_for()
        await page.screenshot(path=str(artifact("docs-offline.png")))
        assert tried == []  # nothing was even asked of a CDN

        await page.goto(f"{running.api}/redoc")
        await page.locator("h1:has-text('Eldercare safety monitoring')").wait_for(timeout=10000)
        await page.locator("text=List alerts, newest first").first.wait_for(state="attached")
        # ReDoc's "powered by" logo is the one thing it asks for; it shows as missing
        assert tried in ([], ["https://cdn.redoc.ly/redoc/logo-mini.svg"])
