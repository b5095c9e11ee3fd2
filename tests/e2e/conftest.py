"""Fixtures shared by the browser tests (test_diary_app.py, test_browser_http_edge.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from .servers import CHROMIUM


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    """Debian's chromium driven by Playwright (never a browser Playwright downloads)."""
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield launched
        await launched.close()
