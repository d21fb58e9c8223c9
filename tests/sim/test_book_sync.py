"""Fluxum's own OrderBook fed from the local exchange's stream stays identical to the exchange's book.

The key integration test of the simulator: 10,000 deltas per topic on ``orderbook.50`` and ``orderbook.200``,
compared level by level (exact prices and sizes) against the exchange's own top N at regular checkpoints;
then the same with injected ``u`` gaps (the book must say RESYNC, the client resubscribes, gets a fresh
snapshot and matches again) and a ``u == 1`` restart snapshot; and once with the market and the feed running
by themselves at their own cadence.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from exchange.book import ApplyResult, OrderBook
from exchange.bybit.sim.server import SimServer
from tests.support.recorded import fixture
from tests.support.sim import book_stream, make_config
from tests.support.waiting import until

SYMBOL = "BTCUSDT"
TOPICS = (f"orderbook.50.{SYMBOL}", f"orderbook.200.{SYMBOL}")
DELTAS = 10_000
CHECK_EVERY = 100


class BookClient:
    """A client with one exchange.book.OrderBook per topic that resubscribes on RESYNC, like the session."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, topics: tuple[str, ...]) -> None:
        self.ws = ws
        self.books = {topic: OrderBook(topic) for topic in topics}
        self.results: Counter[tuple[str, ApplyResult]] = Counter()
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            message = orjson.loads(msg.data)
            book = self.books.get(message.get("topic"))
            if book is None:
                continue
            result = book.apply(message)
            self.results[(book.topic, result)] += 1  # type: ignore[index]
            if result is ApplyResult.RESYNC:
                await self.ws.send_str(orjson.dumps({"op": "unsubscribe", "args": [book.topic]}).decode())
                await self.ws.send_str(orjson.dumps({"op": "subscribe", "args": [book.topic]}).decode())

    def count(self, topic: str, result: ApplyResult) -> int:
        return self.results[(topic, result)]

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.gather(self.task, return_exceptions=True)
        assert not self.task.cancelled()


async def caught_up(sim: SimServer, client: BookClient) -> None:
    """Wait until every client book is synced at its stream's current ``u``."""

    def done() -> bool:
        return all(b.synced and b.u == book_stream(sim, t).u for t, b in client.books.items())

    await until(done, what="client books to catch up")


def assert_identical(sim: SimServer, client: BookClient) -> None:
    for topic, book in client.books.items():
        depth = int(topic.split(".")[1])
        for side, ours in (("bid", book.bids()), ("ask", book.asks())):
            theirs = [(float(p), float(q)) for p, q in sim.market.levels("linear", SYMBOL, side, depth)]
            assert ours == theirs, f"{topic} {side} differs from the exchange"
        assert book.level_count() == (depth, depth)


@pytest.fixture
async def one_symbol_sim() -> AsyncIterator[SimServer]:
    async with SimServer(make_config(symbols=(SYMBOL,), categories=("linear",))) as server:
        yield server


async def connect(sim: SimServer, session: aiohttp.ClientSession) -> BookClient:
    ws = await session.ws_connect(f"{sim.ws_url}/v5/public/linear", max_msg_size=16 * 1024 * 1024)
    client = BookClient(ws, TOPICS)
    await ws.send_str(orjson.dumps({"op": "subscribe", "args": list(TOPICS)}).decode())
    await until(lambda: all(b.synced for b in client.books.values()), what="snapshots")
    return client


async def drive(sim: SimServer, client: BookClient, *, gap_every: int = 0, restart_at: int = 0) -> dict[str, int]:
    """Step and publish until every topic delivered DELTAS deltas; check against the exchange as we go."""
    injected: Counter[str] = Counter()
    steps = 0
    while min(client.count(t, ApplyResult.DELTA) for t in TOPICS) < DELTAS:
        sim.market.step()
        steps += 1
        if gap_every and steps % gap_every == 0:
            topic = TOPICS[(steps // gap_every) % 2]
            sim.faults.skip_u(topic, "linear")
            injected[topic] += 1
        if restart_at and steps == restart_at:
            sim.faults.restart_snapshot(TOPICS[0], "linear")
        sim.public_feed.publish_now()
        if steps % CHECK_EVERY == 0:
            await caught_up(sim, client)
            assert_identical(sim, client)
    await caught_up(sim, client)
    assert_identical(sim, client)
    return dict(injected)


@pytest.mark.slow
async def test_ten_thousand_deltas_keep_the_client_book_identical(
    one_symbol_sim: SimServer, session: aiohttp.ClientSession
) -> None:
    sim = one_symbol_sim
    client = await connect(sim, session)
    await drive(sim, client)
    for topic in TOPICS:
        assert client.count(topic, ApplyResult.DELTA) >= DELTAS
        assert client.count(topic, ApplyResult.RESYNC) == 0
        counters = client.books[topic].counters
        assert counters.gaps == counters.absent_deletes == counters.crossed == counters.rejected == 0
    await client.close()


@pytest.mark.slow
async def test_gaps_force_a_resync_and_the_book_matches_again(
    one_symbol_sim: SimServer, session: aiohttp.ClientSession
) -> None:
    sim = one_symbol_sim
    client = await connect(sim, session)
    injected = await drive(sim, client, gap_every=700, restart_at=3_500)
    assert sum(injected.values()) >= 10
    for topic in TOPICS:
        book = client.books[topic]
        # every injected gap was seen as a gap, answered by a resubscription and a fresh snapshot
        assert book.counters.gaps == injected[topic]
        assert client.count(topic, ApplyResult.RESYNC) == injected[topic]
        assert book.counters.snapshots == 1 + injected[topic] + (1 if topic == TOPICS[0] else 0)
        assert book.counters.absent_deletes == book.counters.rejected == 0
    assert client.books[TOPICS[0]].counters.restarts == 1
    assert sim.counters["faults.skip_u"] == sum(injected.values())
    await client.close()


async def test_the_running_market_and_feed_stay_in_sync(session: aiohttp.ClientSession) -> None:
    config = make_config(symbols=(SYMBOL,), categories=("linear",), run_market=True, publish=True)
    config.market_interval_s = 0.002
    async with SimServer(config) as sim:
        client = await connect(sim, session)
        # at Bybit's cadence (20 ms for depth 50) this is a couple of seconds of a live market
        await until(lambda: client.count(TOPICS[0], ApplyResult.DELTA) >= 80, timeout=30, what="live deltas")
        for _ in range(5):
            sim.market.take("linear", SYMBOL, "Buy", sim.market.levels("linear", SYMBOL, "ask", 3)[2][1] * 3, None)
        sim.market.paused = True
        sim.public_feed.publish_now()
        await caught_up(sim, client)
        assert_identical(sim, client)
        assert client.count(TOPICS[1], ApplyResult.DELTA) > 0
        assert all(client.count(t, ApplyResult.RESYNC) == 0 for t in TOPICS)
        await client.close()


def test_fixture_message_is_accepted_by_the_client_book() -> None:
    """Sanity: the client book itself accepts the real capture our stream imitates."""
    book = OrderBook()
    snapshot: dict[str, Any] = fixture("ws_public/spot_orderbook50_BTCUSDT_snapshot_u2876700.json")
    assert book.apply(snapshot) is ApplyResult.SNAPSHOT
    assert book.level_count() == (50, 50)
