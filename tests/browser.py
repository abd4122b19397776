"""A real headless Chromium for tests of what people see (the summary email, the web console).

Debian's ``chromium`` and ``chromium-driver`` (installed by ``.ci/run``) are driven through
Selenium. Without them, or without the ``selenium`` package, a test that asks for the ``browser``
fixture is skipped with the reason. The browser is started once per test session; each test gets
it back on a blank page at the desktop width. When a test that used it fails, a screenshot of
the page it was looking at is written to ``$ASTERISK_BRIDGE_TEST_SCREENSHOTS`` (default
``test-screenshots/``) so the failure can be seen, not guessed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("ASTERISK_BRIDGE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ASTERISK_BRIDGE_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = Path(os.environ.get("ASTERISK_BRIDGE_TEST_SCREENSHOTS", "test-screenshots"))
DESKTOP = (1200, 900)
PHONE = (390, 844)

# This machine (and CI) has no network but loopback: without these flags Chromium keeps trying
# to reach update, sync and metrics hosts, and its connection errors slow every page.
_FLAGS = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--no-first-run", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-default-apps", "--disable-extensions", "--hide-scrollbars",
    "--force-device-scale-factor=1", "--lang=ru-RU",
)


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} not found (apt-get install {package}; .ci/run does)"
    return None


@pytest.fixture(scope="session")
def _chromium() -> Iterator[object]:
    reason = _missing()
    if reason:
        pytest.skip(f"no real browser: {reason}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="asterisk-bridge-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in _FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(_chromium, request) -> Iterator[object]:
    """The session's Chromium (a Selenium WebDriver), at the desktop width on a blank page."""
    driver = _chromium
    set_width(driver, DESKTOP[0], DESKTOP[1])
    driver.get("about:blank")
    yield driver
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{request.node.name}.png"
        try:
            driver.save_screenshot(str(target))
            print(f"screenshot of the failing page: {target}")
        except Exception as exc:  # noqa: BLE001 - the test already failed; say why there is no picture
            print(f"no screenshot of the failing page: {exc}")


def set_width(driver, width: int, height: int = 900) -> None:
    """Make the page's viewport (not the window) exactly ``width`` CSS pixels wide."""
    driver.set_window_size(width, height)
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(width + (width - inner[0]), height + (height - inner[1]))


def horizontal_overflow(driver) -> tuple[int, int]:
    """(document scrollWidth, window innerWidth): the page fits when the first is not larger."""
    return tuple(driver.execute_script(
        "return [document.documentElement.scrollWidth, window.innerWidth]"))
