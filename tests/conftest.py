import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import pbx as _pbx  # noqa: E402
from browser import _chromium, browser  # noqa: E402,F401  (fixtures: a real headless Chromium)
from pbx import pbx  # noqa: E402,F401  (fixture: the test run's real Asterisk)
from pbx_bridge import prompts  # noqa: E402,F401  (fixture: its prompt files)


def pytest_runtest_setup(item):
    _pbx.note_test_start(item)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell that the test failed
    (the browser fixture saves a screenshot of a failing page); a failing test that used the real
    Asterisk gets its messages.log and the bridges' logs attached."""
    report = yield
    setattr(item, "rep_" + report.when, report)
    _pbx.attach_logs(item, report)
    return report
