"""The local exchange's ``tickers`` topic as the watchlist reads it: every figure it shows in the snapshot, deltas of
only the changed fields that merge into what a fresh snapshot says, and an unsubscribe that silences one topic of a
connection while the others flow."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exchange.bybit.protocol import TickerCache
from exchange.bybit.sim.server import SimServer
from exchange.bybit.sim.wire import ticker_fields
from exchange.watchlist import ticker_figure
from tests.support.recorded import fixture
from tests.support.sim import step_and_publish

WATCHED_FIELDS = ("lastPrice", "price24hPcnt", "turnover24h", "fundingRate", "nextFundingTime", "openInterest")


def topic_is(topic: str, kind: str | None = None) -> Any:
    return lambda m: isinstance(m, dict) and m.get("topic") == topic and (kind is None or m.get("type") == kind)


async def test_the_snapshot_carries_every_watchlist_figure_as_bybit_writes_it(sim: SimServer, connect: Any) -> None:
    real = fixture("ws_public/tickers_linear_usdcperp_inverse_snapshot_then_delta.jsonl")[0]["data"]
    client = await connect(sim, "linear")
    await client.subscribe("tickers.SOLUSDT")
    snapshot = (await client.until(topic_is("tickers.SOLUSDT", "snapshot")))["data"]
    for name in (*WATCHED_FIELDS, "markPrice"):
        assert isinstance(snapshot[name], str) and ticker_figure(snapshot, name) is not None, name
        assert ("." in snapshot[name]) == ("." in real[name]), name  # an integer where Bybit writes one
    assert int(snapshot["nextFundingTime"]) == sim.market.next_funding_time("linear", "SOLUSDT")
    assert Decimal(snapshot["fundingRate"]) == sim.market.funding_rate("linear", "SOLUSDT")


async def test_deltas_carry_only_changed_fields_and_merge_into_the_fresh_snapshot(sim: SimServer, connect: Any) -> None:
    client = await connect(sim, "linear")
    await client.subscribe("tickers.BTCUSDT")
    cache = TickerCache("linear")
    cache.apply(await client.until(topic_is("tickers.BTCUSDT", "snapshot")))
    seen: set[str] = set()
    for _ in range(40):
        step_and_publish(sim)
        before = dict(cache.get("BTCUSDT") or {})
        frame = await client.until(topic_is("tickers.BTCUSDT"))
        assert frame["type"] == "delta"
        changed = {k for k in frame["data"] if k != "symbol"}
        assert changed and all(before.get(k) != frame["data"][k] for k in changed)
        seen |= changed
        cache.apply(frame)
    assert {"lastPrice", "openInterest", "markPrice"} <= seen  # the figures that move do arrive as deltas
    book = sim.market.book("linear", "BTCUSDT")
    assert cache.get("BTCUSDT") == ticker_fields(book, "ws")  # merged deltas = what a snapshot says now


async def test_a_funding_settled_moves_the_countdown_in_a_delta(sim: SimServer, connect: Any) -> None:
    client = await connect(sim, "linear")
    await client.subscribe("tickers.ETHUSDT")
    first = (await client.until(topic_is("tickers.ETHUSDT", "snapshot")))["data"]
    later = int(first["nextFundingTime"]) + 8 * 3600 * 1000
    sim.market.set_next_funding_time(later, "linear", "ETHUSDT")
    step_and_publish(sim)
    frame = await client.until(lambda m: topic_is("tickers.ETHUSDT")(m) and "nextFundingTime" in m["data"])
    assert frame["type"] == "delta" and frame["data"]["nextFundingTime"] == str(later)


async def test_unsubscribe_silences_that_topic_only_and_a_resubscribe_starts_with_a_snapshot(
    sim: SimServer, connect: Any
) -> None:
    client = await connect(sim, "linear")
    await client.subscribe("orderbook.50.BTCUSDT", "tickers.BTCUSDT", "tickers.ETHUSDT")
    await client.until(topic_is("tickers.ETHUSDT", "snapshot"))
    await client.send({"op": "unsubscribe", "args": ["tickers.BTCUSDT"], "req_id": "7"})
    ack = await client.until(lambda m: m.get("op") == "unsubscribe")
    assert ack["success"] is True and ack["req_id"] == "7"
    step_and_publish(sim, 5)
    await client.send({"op": "ping"})
    topics = []
    while True:  # frames leave in order: everything before the pong was sent after the unsubscribe
        message = await client.recv()
        if message.get("ret_msg") == "pong":
            break
        topics.append(message.get("topic"))
    assert "orderbook.50.BTCUSDT" in topics and "tickers.ETHUSDT" in topics
    assert "tickers.BTCUSDT" not in topics
    assert "tickers.BTCUSDT" not in sim.connections.all()[0].subscriptions
    await client.subscribe("tickers.BTCUSDT")
    again = await client.until(topic_is("tickers.BTCUSDT"))
    assert again["type"] == "snapshot" and set(WATCHED_FIELDS) <= set(again["data"])
