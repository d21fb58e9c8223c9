"""Suite-wide fixtures, and the markers every test of a directory carries."""

from __future__ import annotations

import decimal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from exchange.bybit.sim.server import SimConfig, SimServer
from tests.support.fake_bybit import FakeBybit, serving_fake_bybit

INTEGRATION_DIRECTORIES = ("sim", "reliability")
"""Every test in these starts the local exchange (and some a subprocess): marked ``integration`` here, not module
by module. Elsewhere a module or a test that starts one says so itself with ``pytest.mark.integration``."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """``integration`` on every test of :data:`INTEGRATION_DIRECTORIES`."""
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


@pytest.fixture
async def fake() -> AsyncIterator[FakeBybit]:
    """A scripted Bybit on a loopback port, for the REST client's tests (tests/support/fake_bybit.py)."""
    async with serving_fake_bybit() as bybit:
        yield bybit


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    """The local exchange, market frozen (it moves only when a test says so), no demo trader; tests/sim's own
    ``sim`` (faults on, publishing by hand) takes its place there."""
    async with SimServer(SimConfig(demo_trader=False, run_market=False, publish=False)) as server:
        yield server
