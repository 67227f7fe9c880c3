#!/usr/bin/env python3
"""Regenerate the screenshots in this directory (K PLUS app page and dashboard).

    .venv/bin/python docs/screenshots/make.py

Runs the screenshot browser test (``tests/kplus/test_page.py::test_screenshots``) against a
live sandbox in Debian's headless ``chromium`` with ``PAYSANDBOX_SCREENSHOTS`` pointing here:
``kplus-app-mobile.png`` (390×844), ``kplus-app-desktop.png`` (1280×800) and
``kplus-app-paid-mobile.png`` (the paid state, whole page at phone width); and the dashboard
test (``tests/dashboard/test_browser.py::test_screenshots``): ``dashboard-overview-*.png`` and
``dashboard-token-*.png`` (a paid K PLUS token's page), each ``-mobile`` (390×844) and
``-desktop`` (1280×800).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

if __name__ == "__main__":
    import pytest

    os.environ["PAYSANDBOX_SCREENSHOTS"] = str(HERE)
    os.environ.setdefault("PAYSANDBOX_TEST_DB", "sqlite")
    os.chdir(ROOT)
    sys.exit(
        pytest.main(
            [
                "-q",
                "tests/kplus/test_page.py::test_screenshots",
                "tests/dashboard/test_browser.py::test_screenshots",
            ]
        )
    )
