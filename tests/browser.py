"""Real headless Chromium (Debian's ``chromium`` package) driven by Playwright.

No browser is downloaded at run time: Playwright launches ``/usr/bin/chromium`` (or
``PAYSANDBOX_CHROMIUM``) with the flags this machine needs. Tests that use the ``page`` fixture
skip only when no Chromium is installed (``dev.py test`` installs it where apt is usable).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str | None:
    return os.environ.get("PAYSANDBOX_CHROMIUM") or shutil.which("chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        if os.environ.get("CI"):  # .ci/run must run the browser tests, never skip them
            pytest.fail("chromium is missing on CI: python3 dev.py test should have installed it")
        pytest.skip("Debian's chromium is not installed (python3 dev.py test installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page in a desktop-sized context (1280×800)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    p = context.new_page()
    yield p
    context.close()
