"""The local exchange on its own loop in a thread, for Bybit's official SDK (pybit), which is synchronous and runs
its WebSockets in threads: the tests wait on ``threading`` conditions with deadlines.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from pybit import unified_trading

from exchange.bybit.sim.demo_credentials import DEMO_API_KEY, DEMO_API_SECRET
from exchange.bybit.sim.private_ws import hub_of
from exchange.bybit.sim.server import SimConfig, SimServer

T = TypeVar("T")
DEADLINE_S = 15.0


class ExchangeThread:
    """The local exchange serving from a background thread, so blocking clients can talk to it."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sim-exchange", daemon=True)
        self.sim: SimServer

    def __enter__(self) -> ExchangeThread:
        self.thread.start()
        self.sim = self.call(self._start())
        return self

    async def _start(self) -> SimServer:
        sim = SimServer(self.config)
        await sim.start()
        return sim

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(DEADLINE_S)

    def run(self, fn: Any, *args: Any) -> Any:
        """Run a plain function on the exchange's loop (the account is not thread-safe); return the result."""

        async def wrapper() -> Any:
            return fn(*args)

        return self.call(wrapper())

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(self.sim.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(DEADLINE_S)
            self.loop.close()


def http(exchange: ExchangeThread, secret: str = DEMO_API_SECRET) -> unified_trading.HTTP:
    session = unified_trading.HTTP(api_key=DEMO_API_KEY, api_secret=secret, max_retries=1, timeout=10)
    session.endpoint = exchange.sim.base_url
    return session


class Inbox:
    """Messages from a pybit callback thread; ``wait`` blocks until a predicate holds or a deadline passes."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._changed = threading.Condition()

    def __call__(self, message: dict[str, Any]) -> None:
        with self._changed:
            self.items.append(message)
            self._changed.notify_all()

    def wait(self, predicate: Any) -> list[dict[str, Any]]:
        with self._changed:
            ok = self._changed.wait_for(lambda: predicate(self.items), DEADLINE_S)
            assert ok, f"pybit did not deliver in time; got {self.items[-3:]}"
            return list(self.items)


def tolerate_fast_acks(ws: unified_trading.WebSocket) -> None:
    """pybit sends a subscribe *before* recording its req_id, so an ack that beats that line (loopback does;
    Bybit across a WAN does not) raises KeyError in pybit's thread. Let the handler wait for the record."""
    original = ws._process_subscription_message

    def patient(message: dict[str, Any]) -> None:
        req_id = message.get("req_id")
        if req_id:
            eventually(lambda: req_id in ws.subscriptions, "pybit recording its own subscription")
        original(message)

    ws._process_subscription_message = patient


def eventually(condition: Any, what: str) -> None:
    """Poll ``condition`` until it holds or the deadline passes (pybit's state lives in its own thread)."""
    pause = threading.Event()
    for _ in range(int(DEADLINE_S / 0.01)):
        if condition():
            return
        pause.wait(0.01)
    raise AssertionError(f"{what} never became true")


def wait_subscribed(exchange: ExchangeThread, topic: str) -> None:
    def subscribed() -> bool:
        return any(topic in s.topics for s in hub_of(exchange.sim.app).sessions.values())

    eventually(lambda: exchange.run(subscribed), f"a subscription to {topic}")
