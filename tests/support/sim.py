"""The local exchange driven by hand in a test: its config, a WebSocket client that keeps raw frames, the shape
of Bybit's replies.

``make_config()`` gives an exchange with no background market and no background publisher (a test calls
``market.step()`` and ``public_feed.publish_now()``, or :func:`step_and_publish`), faults enabled, the demo trader
off and a fixed seed, so what a client receives is a function of the test alone.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
import orjson

from exchange.bybit.sim.public_ws import BookStream, TickerStream
from exchange.bybit.sim.server import SimConfig, SimServer

SEED = 7
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DEADLINE_S = 10.0
"""How long a client waits for a frame before the test fails."""


def is_decimal_string(value: Any) -> bool:
    if not isinstance(value, str) or not value or "e" in value.lower():
        return False
    try:
        Decimal(value)
    except InvalidOperation:
        return False
    return True


def assert_same_shape(ours: Any, theirs: Any, path: str = "$") -> None:
    """Same keys (recursively), same JSON types, and decimal strings where Bybit sends decimal strings."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), f"{path}: expected an object, got {ours!r}"
        assert set(ours) == set(theirs), (
            f"{path}: keys differ: extra {set(ours) - set(theirs)}, missing {set(theirs) - set(ours)}"
        )
        for key, value in theirs.items():
            assert_same_shape(ours[key], value, f"{path}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), f"{path}: expected a list, got {ours!r}"
        if theirs and ours:
            for i, item in enumerate(ours):
                assert_same_shape(item, theirs[0], f"{path}[{i}]")
    elif isinstance(theirs, bool):
        assert isinstance(ours, bool), f"{path}: expected a bool, got {ours!r}"
    elif isinstance(theirs, int):
        assert isinstance(ours, int) and not isinstance(ours, bool), f"{path}: expected an int, got {ours!r}"
    elif isinstance(theirs, str):
        assert isinstance(ours, str), f"{path}: expected a string, got {ours!r}"
        if is_decimal_string(theirs):
            assert is_decimal_string(ours), f"{path}: expected a decimal string, got {ours!r}"
    elif theirs is None:
        assert ours is None, f"{path}: expected null, got {ours!r}"


class WsClient:
    """An aiohttp WebSocket client that keeps raw frames and parses JSON ones."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, obj: Any) -> None:
        await self.ws.send_str(obj if isinstance(obj, str) else json.dumps(obj))

    async def raw(self, timeout: float = DEADLINE_S) -> aiohttp.WSMessage:
        return await asyncio.wait_for(self.ws.receive(), timeout)

    async def recv(self, timeout: float = DEADLINE_S) -> Any:
        """The next text frame, parsed (a non-JSON frame comes back as its text)."""
        msg = await self.raw(timeout)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"expected a text frame, got {msg.type!r} {msg.data!r}")
        try:
            return orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            return msg.data

    async def recv_text(self, timeout: float = DEADLINE_S) -> str:
        msg = await self.raw(timeout)
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        return msg.data

    async def until(self, predicate: Callable[[Any], bool], timeout: float = DEADLINE_S, limit: int = 100_000) -> Any:
        """Read until a message matches ``predicate``; returns it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for _ in range(limit):
            left = deadline - loop.time()
            if left <= 0:
                break
            message = await self.recv(left)
            if predicate(message):
                return message
        raise AssertionError("no matching message arrived")

    async def subscribe(self, *topics: str, req_id: str | None = None) -> Any:
        request: dict[str, Any] = {"op": "subscribe", "args": list(topics)}
        if req_id is not None:
            request["req_id"] = req_id
        await self.send(request)
        return await self.until(lambda m: isinstance(m, dict) and m.get("op") == "subscribe")


async def receive(ws: aiohttp.ClientWebSocketResponse, timeout: float = DEADLINE_S) -> Any:
    """The next text frame of a bare socket, parsed (text that is not JSON comes back as a str)."""
    return await WsClient(ws).recv(timeout)


async def receive_until(ws: aiohttp.ClientWebSocketResponse, done: Callable[[Any], bool]) -> list[Any]:
    """Frames up to and including the first one for which ``done`` holds."""
    frames: list[Any] = []
    while True:
        frames.append(await receive(ws))
        if done(frames[-1]):
            return frames


def make_config(**overrides: Any) -> SimConfig:
    base: dict[str, Any] = {
        "seed": SEED,
        "faults_enabled": True,
        "demo_trader": False,
        "run_market": False,
        "publish": False,
    }
    base.update(overrides)
    return SimConfig(**base)


def step_and_publish(server: SimServer, steps: int = 1) -> None:
    """Move the market and push what changed, by hand."""
    for _ in range(steps):
        server.market.step()
    server.public_feed.publish_now()


def book_stream(server: SimServer, topic: str, category: str = "linear") -> BookStream:
    """The exchange's shared stream of an ``orderbook.*`` topic (what every subscriber is sent)."""
    found = server.public_feed.streams[(category, topic)]
    assert isinstance(found, BookStream), f"{topic} is not a book stream"
    return found


def ticker_stream(server: SimServer, topic: str, category: str = "linear") -> TickerStream | None:
    """The exchange's shared stream of a ``tickers.*`` topic, None before anyone subscribed to it."""
    found = server.public_feed.streams.get((category, topic))
    assert found is None or isinstance(found, TickerStream), f"{topic} is not a ticker stream"
    return found
