"""The local exchange's candles: ``/v5/market/kline`` and the ``kline`` topic in Bybit's shapes."""

from __future__ import annotations

from typing import Any

import aiohttp

from exchange.bybit.sim.server import SimServer
from tests.support.recorded import fixture
from tests.support.sim import assert_same_shape, step_and_publish

DOC_PUSH = fixture("ws_public/docs_kline.json")


async def kline(session: aiohttp.ClientSession, sim: SimServer, query: str) -> dict[str, Any]:
    async with session.get(f"{sim.base_url}/v5/market/kline?{query}") as response:
        body: dict[str, Any] = await response.json(content_type=None)
        return body


async def test_kline_rest_lists_candles_newest_first_as_strings(sim: SimServer, session: aiohttp.ClientSession) -> None:
    body = await kline(session, sim, "category=linear&symbol=BTCUSDT&interval=5&limit=50")
    assert body["retCode"] == 0, body
    result = body["result"]
    assert (result["symbol"], result["category"]) == ("BTCUSDT", "linear")
    rows = result["list"]
    assert len(rows) == 50
    assert all(len(r) == 7 and all(isinstance(v, str) for v in r) for r in rows)
    starts = [int(r[0]) for r in rows]
    assert starts == sorted(starts, reverse=True)
    assert all(a - b == 300_000 for a, b in zip(starts, starts[1:], strict=False))
    for _, open_, high, low, close, _, _ in rows:
        assert float(low) <= min(float(open_), float(close)) <= max(float(open_), float(close)) <= float(high)


async def test_kline_rest_refuses_bad_parameters(sim: SimServer, session: aiohttp.ClientSession) -> None:
    for query, message in [
        ("category=linear&symbol=BTCUSDT&interval=7", "params error: interval invalid"),
        ("category=linear&symbol=NOPE&interval=5", "params error: symbol invalid"),
        ("category=linear&symbol=BTCUSDT&interval=5&limit=5000", "params error: limit invalid"),
        ("category=option&symbol=BTCUSDT&interval=5", "Illegal category"),
    ]:
        body = await kline(session, sim, query)
        assert (body["retCode"], body["retMsg"]) == (10001, message), query


async def test_kline_topic_pushes_the_open_candle_then_confirms_it(sim: SimServer, connect: Any) -> None:
    client = await connect(sim, "linear")
    ack = await client.subscribe("kline.1.BTCUSDT")
    assert ack["success"] is True
    first = await client.until(lambda m: m.get("topic") == "kline.1.BTCUSDT")
    assert list(first) == list(DOC_PUSH)
    assert_same_shape(first, {**DOC_PUSH, "topic": first["topic"]})
    assert_same_shape(first["data"][0], {**DOC_PUSH["data"][0], "interval": "1"})
    opened = first["data"][0]
    assert opened["confirm"] is False and opened["interval"] == "1"
    sim.clock.offset_ms += 60_000  # the next minute, as the exchange sees it
    step_and_publish(sim)
    rolled = await client.until(lambda m: m.get("topic") == "kline.1.BTCUSDT" and len(m["data"]) == 2)
    closed, current = rolled["data"]
    assert (closed["start"], closed["confirm"]) == (opened["start"], True)
    assert (current["start"], current["confirm"]) == (opened["start"] + 60_000, False)
