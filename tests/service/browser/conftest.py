"""Browser tests: Debian's Chromium driven by Selenium through chromedriver, axe-core from npm.

The fixtures install what is missing (``apt-get install chromium chromium-driver``,
``npm install axe-core``); where that cannot be done the tests skip, except under
``CI=true``, where they fail: CI must run them. Screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
AXE_VERSION = "4.10.3"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI=true, so the browser tests must run, not skip", pytrace=False)
    pytest.skip(reason)


def _install_chromium() -> None:
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if shutil.which("apt-get") is None:
        _unavailable("Chromium is not installed and apt-get is not available")
    environment = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium",
                                                   "chromium-driver"]):  # fmt: skip
        done = subprocess.run(
            command, env=environment, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            _unavailable(f"{' '.join(command)} failed: {done.stderr.strip()[-300:]}")


@pytest.fixture(scope="session")
def axe_source() -> str:
    """The text of axe.min.js, installed from the npm registry into a cache folder."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dropout-risk-axe"
    script = cache / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        if shutil.which("npm") is None:
            _unavailable("npm is not available to install axe-core")
        cache.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            ["npm", "install", "--prefix", str(cache), "--no-save", "--no-audit", "--no-fund",
             f"axe-core@{AXE_VERSION}"],
            capture_output=True, text=True, check=False, timeout=300,
        )  # fmt: skip
        if done.returncode != 0 or not script.exists():
            _unavailable(f"npm install axe-core failed: {done.stderr.strip()[-300:]}")
    return script.read_text()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """A headless Chromium (as root, without the sandbox; no background network chatter)."""
    _install_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=1100,1800",
                     "--disable-dev-shm-usage"):  # fmt: skip
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def screenshot(browser, request):
    """Save a full-page screenshot of what the browser shows, named after the test."""
    ARTIFACTS.mkdir(exist_ok=True)

    def _save(suffix: str = "") -> Path:
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1100, max(int(height) + 40, 800))
        name = request.node.name.replace("[", "-").replace("]", "")
        path = ARTIFACTS / f"{name}{suffix}.png"
        browser.save_screenshot(str(path))
        return path

    return _save
