"""Suite-wide fixtures."""

from __future__ import annotations

import decimal
from collections.abc import Iterator

import pytest


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
