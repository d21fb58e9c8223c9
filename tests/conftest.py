"""Suite-wide fixtures, and the markers every test of a directory carries."""

from __future__ import annotations

import decimal
from collections.abc import Iterator
from pathlib import Path

import pytest

INTEGRATION_DIRECTORIES = ("sim", "reliability")
"""Every test in these starts the local exchange (and some a subprocess): marked ``integration`` here, not module
by module. Elsewhere a module or a test that starts one says so itself with ``pytest.mark.integration``."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        parts = item.path.relative_to(here).parts if item.path.is_relative_to(here) else ()
        if parts and parts[0] in INTEGRATION_DIRECTORIES:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _own_decimal_context() -> Iterator[None]:
    """Each test gets its own copy of the decimal context. A peer library driven against the local exchange
    (ccxt's ``decimal_to_precision``) sets the process-wide context's rounding in place, and every later test
    would format money under it (a display test failed only in the full suite)."""
    with decimal.localcontext():
        yield


@pytest.fixture(autouse=True)
def _own_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """The user's config, state, log and data directories (platformdirs reads the XDG variables) point into a
    temporary folder: a config file, a remembered theme or a log of the person running the suite must not change
    what a test sees, and a test must not write into their home."""
    home = tmp_path_factory.mktemp("home")
    for variable in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.setenv(variable, str(home / variable.lower()))
