"""Public WebSockets of the local exchange against the real captured messages: shapes, acks, streams."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from exchange.bybit.sim import public_ws
from exchange.bybit.sim.server import SimServer
from tests.support.recorded import fixture
from tests.support.sim import UUID_RE, WsClient, assert_same_shape, book_stream, make_config, step_and_publish
from tests.support.waiting import until

LINEAR_DELTA = fixture("ws_public/linear_orderbook50_BTCUSDT_delta_cts.json")
SPOT_SNAPSHOT = fixture("ws_public/spot_orderbook50_BTCUSDT_snapshot_u2876700.json")
SPOT_DELTA = fixture("ws_public/spot_orderbook50_BTCUSDT_delta_u2876701.json")
L1_SNAPSHOT = fixture("ws_public/linear_orderbook1_BTCUSDT_snapshot_cts.json")


def is_book(topic: str, kind: str | None = None) -> Any:
    return lambda m: isinstance(m, dict) and m.get("topic") == topic and (kind is None or m.get("type") == kind)


def places(text: str) -> int:
    return len(text.partition(".")[2])


class DictBook:
    """The simplest correct client book: dicts keyed by the price string, for window checks."""

    def __init__(self) -> None:
        self.bids: dict[str, str] = {}
        self.asks: dict[str, str] = {}
        self.u = 0

    def apply(self, message: dict[str, Any]) -> None:
        data = message["data"]
        if message["type"] == "snapshot":
            self.bids = dict(map(tuple, data["b"]))
            self.asks = dict(map(tuple, data["a"]))
        else:
            assert data["u"] == self.u + 1, f"gap {self.u} -> {data['u']}"
            for side, changes in ((self.bids, data["b"]), (self.asks, data["a"])):
                for price, size in changes:
                    if size == "0":
                        assert price in side, f"delete of absent level {price}"
                        del side[price]
                    else:
                        side[price] = size
        self.u = data["u"]

    def best(self) -> tuple[Decimal, Decimal]:
        return max(map(Decimal, self.bids)), min(map(Decimal, self.asks))


# ---------------------------------------------------------------------------------------------- control


async def test_linear_ack_and_pong_shapes(sim: SimServer, connect: Any) -> None:
    client = await connect(sim, "linear")
    ack = await client.subscribe("orderbook.50.BTCUSDT")
    doc = fixture("ws_control/docs_public_linear_subscribe_ok.json")
    assert list(ack) == list(doc) and ack["success"] is True and ack["ret_msg"] == "" and ack["req_id"] == ""
    assert_same_shape(ack, doc)
    await client.send({"op": "ping"})
    pong = await client.until(lambda m: m.get("ret_msg") == "pong")
    assert list(pong) == list(fixture("ws_control/docs_public_linear_pong.json"))
    assert pong["conn_id"] == ack["conn_id"] and pong["op"] == "ping" and pong["req_id"] == ""
    await client.send({"op": "ping", "req_id": "hb-7"})
    assert (await client.until(lambda m: m.get("ret_msg") == "pong"))["req_id"] == "hb-7"


async def test_spot_ack_and_pong_shapes(sim: SimServer, connect: Any) -> None:
    client = await connect(sim, "spot")
    ack = await client.subscribe("orderbook.50.BTCUSDT", req_id="1")
    real = fixture("ws_control/public_spot_subscribe_ok.json")
    assert list(ack) == list(real) and ack["ret_msg"] == "subscribe" and ack["req_id"] == "1"
    await client.send({"op": "ping"})
    pong = await client.until(lambda m: m.get("ret_msg") == "pong")
    assert list(pong) == list(fixture("ws_control/docs_public_spot_pong.json"))  # no req_id on spot


async def test_unsubscribe_ack_and_silence(sim: SimServer, connect: Any) -> None:
    client = await connect(sim, "linear")
    await client.subscribe("orderbook.50.BTCUSDT")
    await client.send({"op": "unsubscribe", "args": ["orderbook.50.BTCUSDT"], "req_id": "3"})
    ack = await client.until(lambda m: m.get("op") == "unsubscribe")
    real = fixture("ws_control/public_unsubscribe_ok.json")
    assert list(ack) == list(real) and ack["success"] is True and ack["req_id"] == "3"
    step_and_publish(sim, 5)
    await client.send({"op": "ping"})
    # frames leave in order: the pong arriving first proves no delta was queued after the unsubscribe
    after = await client.recv()
    assert after.get("ret_msg") == "pong", after


@pytest.mark.parametrize(
    ("category", "topic"),
    [
        ("linear", "orderbook.500.BTCUSDT"),  # removed for futures
        ("linear", "orderbook.30.BTCUSDT"),
        ("linear", "orderbook.050.BTCUSDT"),
        ("linear", "orderbook.50.btcusdt"),
        ("linear", "publicTrade.NOTASYMBOL"),
        ("linear", "kline.7.BTCUSDT"),
        ("linear", "orderbook.50"),
        ("spot", "tickers.BTCUSD"),
        ("inverse", "orderbook.50.BTCUSD"),  # inverse not configured here
    ],
)
async def test_unknown_topics_are_handler_not_found(sim: SimServer, connect: Any, category: str, topic: str) -> None:
    client = await connect(sim, category)
    ack = await client.subscribe(topic)
    assert ack["success"] is False and ack["ret_msg"] == f"error:handler not found,topic:{topic}"
    assert ack["op"] == "subscribe" and ack["conn_id"]
    assert sim.counters["ws.rejected.unknown_topic"] == 1


async def test_duplicate_subscribe_fails_and_the_first_keeps_delivering(sim: SimServer, connect: Any) -> None:
    client = await connect(sim, "linear")
    await client.subscribe("publicTrade.BTCUSDT", "orderbook.50.BTCUSDT")
    await client.until(is_book("orderbook.50.BTCUSDT", "snapshot"))
    again = await client.subscribe("orderbook.50.BTCUSDT")
    assert again["success"] is False and again["ret_msg"] == "error:already subscribed,topic:orderbook.50.BTCUSDT"
    step_and_publish(sim, 3)
    delta = await client.until(is_book("orderbook.50.BTCUSDT", "delta"))
    assert delta["data"]["s"] == "BTCUSDT"


async def test_spot_rejects_more_than_ten_args(sim: SimServer, connect: Any) -> None:
    client = await connect(sim, "spot")
    topics = [f"orderbook.1.{s}" for s in sim.market.symbols("spot")] + [
        f"publicTrade.{s}" for s in sim.market.symbols("spot")
    ]
    topics.append("tickers.BTCUSDT")
    ack = await client.subscribe(*topics, req_id="big")
    assert ack == {
        "success": False,
        "ret_msg": "args size >10",
        "conn_id": ack["conn_id"],
        "req_id": "big",
        "op": "subscribe",
    }
    linear = await connect(sim, "linear")
    assert (await linear.subscribe(*topics))["success"] is True  # futures have no per-request limit


async def test_a_connection_s_args_stay_within_21000_characters(sim: SimServer, connect: Any) -> None:
    """Bybit's limit on one public connection's subscription text: a subscribe that crosses it is refused whole."""
    client = await connect(sim, "linear")
    assert (await client.subscribe("orderbook.50.BTCUSDT"))["success"] is True
    padding = "X" * 90
    too_many = [f"tickers.{padding}{n:04d}USDT" for n in range(210)]  # 210 x 106 characters > 21,000
    ack = await client.subscribe(*too_many, req_id="long")
    assert ack["success"] is False and ack["ret_msg"] == "args length >21000" and ack["req_id"] == "long"
    assert sim.counters["ws.rejected.args_length"] == 1
    assert sim.counters["ws.rejected.unknown_topic"] == 0  # refused before any topic was looked at
    fits = too_many[:190]  # 190 x 106 + 20 characters: within the limit, so each topic is judged
    ack = await client.subscribe(*fits)
    assert ack["success"] is False and ack["ret_msg"].startswith("error:handler not found")


async def test_bad_requests_are_answered_never_fatal(sim: SimServer, connect: Any) -> None:
    client = await connect(sim, "linear")
    await client.send({"op": "subscrib", "args": ["orderbook.1.BTCUSDT"], "req_id": "9"})
    reply = await client.recv()
    assert reply["success"] is False and reply["ret_msg"] == "error:invalid op" and reply["req_id"] == "9"
    await client.send("hello")
    text = await client.recv()
    assert isinstance(text, str) and text.startswith("Failed to decode incoming data") and "found h" in text
    await client.send("[1,2]")
    assert (await client.recv()).startswith("Failed to decode")
    bad_requests = [
        {"op": "subscribe"},
        {"op": "subscribe", "args": []},
        {"op": "subscribe", "args": [1, 2]},
        {"op": "subscribe", "args": "orderbook.1.BTCUSDT"},
        {"op": "unsubscribe", "args": {"a": 1}},
    ]
    for bad in bad_requests:
        await client.send(bad)
        reply = await client.recv()
        assert reply["success"] is False and reply["ret_msg"] == "Params Error", (bad, reply)
    await client.ws.send_bytes(b"\x00\x01binary")
    assert (await client.recv()).startswith("Failed to decode")
    await client.send({})
    assert (await client.recv())["ret_msg"] == "error:invalid op"
    await client.send({"op": "ping"})
    assert (await client.recv())["ret_msg"] == "pong"
    assert sim.counters["ws.rejected.bad_json"] == 2 and sim.counters["ws.rejected.params"] == 5


async def test_oversized_client_frame_closes_only_that_connection(sim: SimServer, connect: Any) -> None:
    victim = await connect(sim, "linear")
    bystander = await connect(sim, "linear")
    await victim.send({"op": "subscribe", "args": ["x" * (public_ws.MAX_CLIENT_FRAME + 10)]})
    msg = await victim.raw()
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    assert victim.ws.close_code == 1009
    await until(lambda: sim.counters["ws.rejected.oversized"] == 1, what="oversized counted")
    await bystander.send({"op": "ping"})
    assert (await bystander.recv())["ret_msg"] == "pong"


async def test_option_path_is_not_served(sim: SimServer, session: aiohttp.ClientSession) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as error:
        await session.ws_connect(f"{sim.ws_url}/v5/public/option")
    assert error.value.status == 404


# ---------------------------------------------------------------------------------------------- books


async def test_linear_book_messages_match_the_real_capture(sim: SimServer, connect: Any) -> None:
    client = await connect(sim, "linear")
    await client.subscribe("orderbook.50.BTCUSDT")
    snapshot = await client.until(is_book("orderbook.50.BTCUSDT", "snapshot"))
    assert list(snapshot) == list(LINEAR_DELTA)  # topic, type, ts, data, cts: futures put type before ts
    assert list(snapshot["data"]) == list(LINEAR_DELTA["data"])
    assert_same_shape(snapshot, LINEAR_DELTA)
    assert len(snapshot["data"]["b"]) == 50 and len(snapshot["data"]["a"]) == 50
    assert all(places(p) == 2 and places(q) == 3 for p, q in snapshot["data"]["b"] + snapshot["data"]["a"])
    assert snapshot["cts"] <= snapshot["ts"]
    step_and_publish(sim)
    delta = await client.until(is_book("orderbook.50.BTCUSDT", "delta"))
    assert list(delta) == list(LINEAR_DELTA) and list(delta["data"]) == list(LINEAR_DELTA["data"])
    assert_same_shape(delta, LINEAR_DELTA)
    assert delta["data"]["u"] == snapshot["data"]["u"] + 1
    assert delta["data"]["seq"] > snapshot["data"]["seq"]
    bids = [Decimal(p) for p, _ in delta["data"]["b"]]
    asks = [Decimal(p) for p, _ in delta["data"]["a"]]
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)


async def test_spot_book_messages_match_the_real_capture(sim: SimServer, connect: Any) -> None:
    client = await connect(sim, "spot")
    await client.subscribe("orderbook.50.BTCUSDT")
    snapshot = await client.until(is_book("orderbook.50.BTCUSDT", "snapshot"))
    assert list(snapshot) == list(SPOT_SNAPSHOT)  # spot: ts before type
    assert_same_shape(snapshot, SPOT_SNAPSHOT)
    levels = snapshot["data"]["b"] + snapshot["data"]["a"]
    assert all(not p.endswith("0") or "." not in p for p, _ in levels)  # spot trims trailing zeros
    step_and_publish(sim)
    delta = await client.until(is_book("orderbook.50.BTCUSDT", "delta"))
    assert list(delta) == list(SPOT_DELTA) and list(delta["data"]) == list(SPOT_DELTA["data"])
    assert_same_shape(delta, SPOT_DELTA)


async def test_level_one_is_snapshot_only_and_repeats(
    live_sim: SimServer, connect: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(public_ws, "L1_REPEAT_S", 0.05)
    client = await connect(live_sim, "linear")
    await client.subscribe("orderbook.1.BTCUSDT")
    first = await client.until(is_book("orderbook.1.BTCUSDT"))
    assert first["type"] == "snapshot"
    assert set(first) == set(L1_SNAPSHOT) and list(first) == ["topic", "ts", "type", "data", "cts"]
    assert_same_shape(first, L1_SNAPSHOT)
    assert len(first["data"]["b"]) == 1 and len(first["data"]["a"]) == 1
    seen = [first]
    for _ in range(5):
        seen.append(await client.until(is_book("orderbook.1.BTCUSDT")))
    assert all(m["type"] == "snapshot" for m in seen)
    assert [m["data"]["u"] for m in seen] == sorted(m["data"]["u"] for m in seen)
    live_sim.market.paused = True
    last = await client.until(is_book("orderbook.1.BTCUSDT"))
    repeat = await client.until(is_book("orderbook.1.BTCUSDT"))
    repeat2 = await client.until(is_book("orderbook.1.BTCUSDT"))
    # with the market still, the same snapshot comes back with the same u
    assert repeat2["data"]["u"] == repeat["data"]["u"] and repeat2["data"]["b"] == repeat["data"]["b"]
    assert repeat["data"]["u"] in (last["data"]["u"], last["data"]["u"] + 1)


@pytest.mark.parametrize("depth", [50, 200, 1000])
async def test_the_window_stays_at_exactly_n_levels(sim: SimServer, connect: Any, depth: int) -> None:
    topic = f"orderbook.{depth}.ETHUSDT"
    client = await connect(sim, "linear")
    await client.subscribe(topic)
    book = DictBook()
    book.apply(await client.until(is_book(topic)))
    deltas = 0
    for _ in range(12):
        step_and_publish(sim, 10)
        # a big taker sweeps several levels: the window must pull levels in from beyond the edge
        sim.market.take("linear", "ETHUSDT", "Sell", Decimal("400"), None)
        sim.public_feed.publish_now()
        stream = book_stream(sim, topic)
        while book.u != stream.u:
            book.apply(await client.until(is_book(topic)))
            deltas += 1
            assert len(book.bids) == depth and len(book.asks) == depth
            bid, ask = book.best()
            assert bid < ask
    assert deltas >= 12
    want_bids = sim.market.levels("linear", "ETHUSDT", "bid", depth)
    inst = sim.market.instrument("linear", "ETHUSDT")
    assert {Decimal(p): Decimal(q) for p, q in book.bids.items()} == dict(want_bids)
    assert all(p == inst.fmt_price(Decimal(p)) for p in book.bids)


async def test_late_subscriber_gets_a_snapshot_at_the_current_u_then_shared_deltas(
    sim: SimServer, connect: Any
) -> None:
    topic = "orderbook.200.BTCUSDT"
    early = await connect(sim, "linear")
    await early.subscribe(topic)
    early_book = DictBook()
    early_book.apply(await early.until(is_book(topic)))
    for _ in range(5):
        step_and_publish(sim)
        early_book.apply(await early.until(is_book(topic)))
    late = await connect(sim, "linear")
    await late.subscribe(topic)
    late_snapshot = await late.until(is_book(topic))
    assert late_snapshot["type"] == "snapshot" and late_snapshot["data"]["u"] == early_book.u
    late_book = DictBook()
    late_book.apply(late_snapshot)
    assert late_book.bids == early_book.bids and late_book.asks == early_book.asks
    step_and_publish(sim)
    raw_early = await early.recv_text()
    raw_late = await late.recv_text()
    assert raw_early == raw_late  # one encoding, fanned out


async def test_public_trades_match_the_real_capture(sim: SimServer, connect: Any) -> None:
    real = fixture("ws_public/linear_publicTrade_BTCUSDT_rpi_seq.json")
    linear = await connect(sim, "linear")
    spot = await connect(sim, "spot")
    await linear.subscribe("publicTrade.BTCUSDT")
    await spot.subscribe("publicTrade.BTCUSDT")
    sim.market.take("linear", "BTCUSDT", "Buy", Decimal("3"), None)
    sim.market.take("spot", "BTCUSDT", "Sell", Decimal("3"), None)
    message = await linear.until(is_book("publicTrade.BTCUSDT"))
    assert list(message) == list(real) and message["type"] == "snapshot"
    assert_same_shape(message, real)
    assert all(list(item) == list(real["data"][0]) for item in message["data"])
    assert len(message["data"]) >= 2 and all(t["S"] == "Buy" for t in message["data"])
    assert all(UUID_RE.match(t["i"]) and places(t["p"]) == 2 and places(t["v"]) == 3 for t in message["data"])
    assert message["ts"] >= message["data"][-1]["T"]
    spot_message = await spot.until(is_book("publicTrade.BTCUSDT"))
    assert list(spot_message) == ["topic", "ts", "type", "data"]
    spot_keys = [k for k in real["data"][0] if k != "L"]
    assert all(list(item) == spot_keys for item in spot_message["data"])
    assert all(t["i"].isdigit() and t["S"] == "Sell" for t in spot_message["data"])
    assert_same_shape(spot_message["data"][0], {k: real["data"][0][k] for k in spot_keys})


async def test_linear_tickers_snapshot_then_changed_fields(sim: SimServer, connect: Any) -> None:
    doc = fixture("ws_public/docs_linear_ticker_perpetual_snapshot.json")
    real = fixture("ws_public/tickers_linear_usdcperp_inverse_snapshot_then_delta.jsonl")
    client = await connect(sim, "linear")
    await client.subscribe("tickers.BTCUSDT")
    snapshot = await client.until(is_book("tickers.BTCUSDT"))
    assert snapshot["type"] == "snapshot" and list(snapshot) == list(doc)
    assert_same_shape(snapshot, doc)
    assert list(snapshot["data"]) == list(doc["data"])
    state = dict(snapshot["data"])
    for _ in range(3):
        step_and_publish(sim)
        delta = await client.until(is_book("tickers.BTCUSDT"))
        assert delta["type"] == "delta" and list(delta) == list(real[1])
        assert delta["data"]["symbol"] == "BTCUSDT" and set(delta["data"]) < set(doc["data"])
        assert any(state[k] != v for k, v in delta["data"].items() if k != "symbol")
        assert all(isinstance(v, str) for v in delta["data"].values())
        state.update(delta["data"])
    mark = sim.market.mark_price("linear", "BTCUSDT")
    assert Decimal(state["markPrice"]) == mark


async def test_spot_tickers_are_snapshots(sim: SimServer, connect: Any) -> None:
    doc = fixture("ws_public/docs_spot_ticker.json")
    client = await connect(sim, "spot")
    await client.subscribe("tickers.ETHUSDT")
    for _ in range(3):
        message = await client.until(is_book("tickers.ETHUSDT"))
        assert message["type"] == "snapshot" and list(message) == list(doc)
        assert_same_shape(message, doc)
        assert list(message["data"]) == list(doc["data"])
        step_and_publish(sim)


async def test_inverse_is_served_when_configured(session: aiohttp.ClientSession) -> None:
    config = make_config(symbols=("BTCUSDT",), categories=("linear", "inverse"))
    async with SimServer(config) as server:
        ws = await session.ws_connect(f"{server.ws_url}/v5/public/inverse")
        client = WsClient(ws)
        ack = await client.subscribe("orderbook.50.BTCUSD", "tickers.BTCUSD")
        assert ack["success"] is True and ack["ret_msg"] == ""
        book = await client.until(is_book("orderbook.50.BTCUSD"))
        assert list(book) == list(LINEAR_DELTA)
        ticker = await client.until(is_book("tickers.BTCUSD"))
        assert ticker["data"]["symbol"] == "BTCUSD"
        await ws.close()


async def test_a_paused_market_s_publisher_is_woken_by_a_taker_order_and_by_a_fault(
    live_sim: SimServer, connect: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(public_ws, "PAUSED_TICK_S", 3600.0)  # no timer to fall back on: only a wake publishes
    client = await connect(live_sim, "linear")
    await client.subscribe("orderbook.50.BTCUSDT")
    await client.until(is_book("orderbook.50.BTCUSDT", "snapshot"))
    live_sim.market.paused = True
    await asyncio.sleep(0.2)  # the publisher is asleep on the pause
    fills = live_sim.market.take("linear", "BTCUSDT", "Buy", Decimal("5"), None)
    assert fills
    delta = await client.until(is_book("orderbook.50.BTCUSDT", "delta"))  # the levels the order took
    live_sim.public_feed.inject_restart("orderbook.50.BTCUSDT", "linear")
    restart = await client.until(is_book("orderbook.50.BTCUSDT", "snapshot"))
    assert restart["data"]["u"] == 1 and delta["data"]["u"] > 1 and live_sim.market.paused
