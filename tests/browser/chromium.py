"""Headless Chromium for the screen's tests: Debian's /usr/bin/chromium driven by
Playwright for Python (its driver ships in the wheel; never `playwright install`).

A missing Chromium is a test failure that says how to install it, never a skip.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@asynccontextmanager
async def chromium(*, autoplay: bool = True) -> AsyncIterator[Browser]:
    """``autoplay=False``: the autoplay rule of a desktop Chromium (sound only
    after a click on the page), to see what a screen shows after a reload."""
    if shutil.which(str(CHROMIUM)) is None:
        pytest.fail(
            f"Chromium is missing ({CHROMIUM}): run the README's test command "
            "(bash scripts/test.sh), which installs Debian's chromium package"
        )
    async with async_playwright() as pw:
        args = (
            ARGS
            if autoplay
            else [*ARGS[:-1], "--autoplay-policy=document-user-activation-required"]
        )
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=args, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


def artifact(name: str) -> Path:
    """Where a screenshot is kept (test-artifacts/, gitignored, kept after the run)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name
