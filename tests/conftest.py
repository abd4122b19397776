import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from browser import _chromium, browser  # noqa: E402,F401  (fixtures: a real headless Chromium)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell that the test failed
    (the browser fixture saves a screenshot of a failing page)."""
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report
