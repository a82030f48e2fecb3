"""Shared fixtures.

ngspice tests never skip: when libngspice or the ngspice binary is missing
they *fail* with the setup message, so a machine without it cannot pass
silently. With CI=true, any skip at all is turned into a failure.
"""

from __future__ import annotations

import ctypes.util
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the same hypothesis examples every time (derandomized), so a red CI
# always reproduces; locally the examples stay random to keep finding cases.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
if os.environ.get("CI", "").lower() == "true":
    settings.load_profile("ci")

NGSPICE_MISSING = (
    "ngspice is not installed: run `make test` as root (it apt-installs "
    "`ngspice libngspice0`), or `sudo apt-get install -y ngspice libngspice0`, "
    "or set NGSPICE_LIBRARY_PATH to a libngspice.so"
)


def _have_libngspice() -> bool:
    path = os.environ.get("NGSPICE_LIBRARY_PATH")
    if path:
        return Path(path).is_file()
    if ctypes.util.find_library("ngspice"):
        return True
    try:
        ctypes.CDLL("libngspice.so.0")
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def ngspice_available() -> None:
    """Fail (never skip) when ngspice is missing."""
    if not _have_libngspice() or shutil.which("ngspice") is None:
        pytest.fail(NGSPICE_MISSING, pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[type-arg]
    outcome = yield
    report = outcome.get_result()
    if (
        os.environ.get("CI", "").lower() == "true"
        and report.skipped
        and not hasattr(report, "wasxfail")
    ):
        report.outcome = "failed"
        report.longrepr = f"skipped on CI (CI=true forbids skips): {report.longrepr}"
