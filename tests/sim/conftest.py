"""Fixtures for the local exchange's tests: an in-process server on a free loopback port, clients.

``sim`` is driven by hand (see :mod:`tests.support.sim`); ``live_sim`` runs its market and feed in the background,
fast, for the few tests that need the cadence machinery. Both have faults enabled and the demo trader off, with a
fixed seed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from pybit import unified_trading

from exchange.bybit.sim.server import SimServer
from tests.support.pybit_thread import ExchangeThread
from tests.support.sim import WsClient, make_config


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    """A hand-driven exchange: the test steps the market and publishes."""
    async with SimServer(make_config()) as server:
        yield server


@pytest.fixture
async def live_sim() -> AsyncIterator[SimServer]:
    """An exchange whose market and feed run by themselves, fast."""
    async with SimServer(make_config(run_market=True, publish=True, market_interval_s=0.005)) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def connect(session: aiohttp.ClientSession) -> Callable[..., Any]:
    """``await connect(sim, "linear")`` -> a :class:`WsClient` on ``/v5/public/linear``."""

    async def _connect(server: SimServer, path: str = "linear", **kwargs: Any) -> WsClient:
        url = f"{server.ws_url}/v5/public/{path}" if "/" not in path else f"{server.ws_url}{path}"
        kwargs.setdefault("max_msg_size", 16 * 1024 * 1024)
        ws = await session.ws_connect(url, autoping=False, **kwargs)
        return WsClient(ws)

    return _connect


@pytest.fixture
def ws_urls(exchange: ExchangeThread, monkeypatch: pytest.MonkeyPatch) -> None:
    """Point pybit's WebSocket URL templates at the module's ``exchange`` (an :class:`ExchangeThread`)."""
    monkeypatch.setattr(unified_trading, "PUBLIC_WSS", f"{exchange.sim.ws_url}/v5/public/{{CHANNEL_TYPE}}")
    monkeypatch.setattr(unified_trading, "PRIVATE_WSS", f"{exchange.sim.ws_url}/v5/private")
