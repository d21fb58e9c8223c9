"""The private WebSocket of the local exchange: auth, topics, and push shapes against Bybit's samples."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from exchange.bybit.signing import ws_auth_signature
from exchange.bybit.sim.clock import SimClock
from exchange.bybit.sim.demo_credentials import DEMO_API_KEY, DEMO_API_SECRET
from exchange.bybit.sim.private_ws import hub_of, parse_max_active_time
from exchange.bybit.sim.server import SimConfig, SimServer
from exchange.bybit.sim.wire import plain
from tests.support.sim import receive, receive_until
from tests.support.waiting import until

T0 = 1_700_000_000_000
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bybit"
DEADLINE_S = 5.0


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    config = SimConfig(seed=21, demo_trader=False, run_market=False, publish=False, clock=SimClock(fixed_ms=T0))
    async with SimServer(config) as server:
        yield server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def connect(session: aiohttp.ClientSession, sim: SimServer, query: str = "") -> aiohttp.ClientWebSocketResponse:
    return await session.ws_connect(f"{sim.ws_url}/v5/private{query}")


async def auth(
    ws: aiohttp.ClientWebSocketResponse,
    sim: SimServer,
    *,
    key: str = DEMO_API_KEY,
    secret: str = DEMO_API_SECRET,
    expires: int | str | None = None,
    req_id: str | None = None,
) -> dict[str, Any]:
    if expires is None:
        expires = sim.clock.now_ms() + 10_000
    message: dict[str, Any] = {"op": "auth", "args": [key, expires, ws_auth_signature(secret, expires)]}
    if req_id is not None:
        message["req_id"] = req_id
    await ws.send_str(json.dumps(message))
    reply: dict[str, Any] = await receive(ws)
    return reply


async def subscribe(ws: aiohttp.ClientWebSocketResponse, *topics: str, req_id: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"op": "subscribe", "args": list(topics)}
    if req_id is not None:
        message["req_id"] = req_id
    await ws.send_str(json.dumps(message))
    reply: dict[str, Any] = await receive(ws)
    return reply


def market_order(sim: SimServer, qty: str = "0.010", side: str = "Buy", **extra: Any) -> Any:
    params = {"category": "linear", "symbol": "BTCUSDT", "side": side, "orderType": "Market", "qty": qty}
    params.update(extra)
    return sim.exchange.place_order(params)


def assert_like(ours: dict[str, Any], theirs: dict[str, Any], *, loose_types: tuple[str, ...] = ()) -> None:
    """Every key of Bybit's sample is present, with the same JSON type unless listed as loose."""
    missing = sorted(set(theirs) - set(ours))
    assert not missing, f"missing keys {missing}"
    for key, value in theirs.items():
        if key not in loose_types:
            assert type(ours[key]) is type(value), f"{key}: {ours[key]!r} vs sample {value!r}"


# ------------------------------------------------------------------------------------------------- control


async def test_ping_pong_shape(session: aiohttp.ClientSession, sim: SimServer) -> None:
    ws = await connect(session, sim)
    await ws.send_str('{"op":"ping"}')
    pong = await receive(ws)
    assert set(pong) == set(fixture("ws_control/private_pong.json"))
    assert pong["op"] == "pong" and pong["args"] == [str(T0)] and isinstance(pong["conn_id"], str)
    await ws.send_str('{"op":"ping","req_id":"test"}')
    with_id = await receive(ws)
    assert set(with_id) == set(fixture("ws_control/docs_private_pong.json")) and with_id["req_id"] == "test"
    await ws.close()


@pytest.mark.parametrize("as_string", [False, True])
async def test_auth_ok(session: aiohttp.ClientSession, sim: SimServer, as_string: bool) -> None:
    ws = await connect(session, sim)
    expires: int | str = sim.clock.now_ms() + 5_000
    reply = await auth(ws, sim, expires=str(expires) if as_string else expires)
    sample = fixture("ws_control/docs_private_auth_ok.json")
    assert set(reply) == set(sample) and reply["success"] is True and reply["ret_msg"] == "" and reply["op"] == "auth"
    with_id = await auth(ws, sim, req_id="10001")
    assert with_id["success"] is True and with_id["req_id"] == "10001"
    assert sim.counters["ws.private.auth_ok"] == 2
    await ws.close()


@pytest.mark.parametrize(
    ("kwargs", "ret_msg"),
    [
        ({"expires": T0 - 1}, "Params Error"),
        ({"expires": T0}, "Params Error"),  # must be strictly in the future
        ({"expires": "soon"}, "Params Error"),
        ({"key": "NOT-A-KEY"}, "Invalid apikey"),
        ({"secret": "wrong-secret"}, "Invalid sign"),
    ],
)
async def test_auth_failures(
    session: aiohttp.ClientSession, sim: SimServer, kwargs: dict[str, Any], ret_msg: str
) -> None:
    ws = await connect(session, sim)
    if kwargs.get("expires") == "soon":
        await ws.send_str(json.dumps({"op": "auth", "args": [DEMO_API_KEY, "soon", "00"]}))
        reply = await receive(ws)
    else:
        reply = await auth(ws, sim, **kwargs)
    assert reply["success"] is False and reply["ret_msg"] == ret_msg and reply["op"] == "auth"
    assert set(reply) == set(fixture("ws_control/private_auth_fail_params_error.json"))
    assert sim.counters["ws.private.auth_fail"] == 1
    assert DEMO_API_SECRET not in json.dumps(reply)
    # the connection survives a failed auth, and still refuses private topics
    refused = await subscribe(ws, "order")
    assert refused["success"] is False
    await ws.close()


@pytest.mark.parametrize(
    "args", [None, [], [DEMO_API_KEY], [DEMO_API_KEY, 1, 2, 3], "text", [1, 2, 3], [DEMO_API_KEY, True, "x"]]
)
async def test_malformed_auth_is_params_error(session: aiohttp.ClientSession, sim: SimServer, args: Any) -> None:
    ws = await connect(session, sim)
    await ws.send_str(json.dumps({"op": "auth", "args": args}))
    reply = await receive(ws)
    assert (reply["success"], reply["ret_msg"]) == (False, "Params Error")
    await ws.close()


async def test_subscribe_needs_auth_then_acks_like_bybit(session: aiohttp.ClientSession, sim: SimServer) -> None:
    ws = await connect(session, sim)
    early = await subscribe(ws, "order", req_id="r1")
    assert early["success"] is False and early["op"] == "subscribe" and early["req_id"] == "r1"
    assert sim.counters["ws.private.unauthorized_subscribe"] == 1
    assert (await auth(ws, sim))["success"] is True
    ack = await subscribe(ws, "order", "execution", "position", "wallet")
    assert set(ack) == set(fixture("ws_control/docs_private_subscribe_ok.json"))
    assert (ack["success"], ack["ret_msg"], ack["op"]) == (True, "", "subscribe")
    again = await subscribe(ws, "order")
    assert again["success"] is False and again["ret_msg"] == "error:already subscribed,topic:order"
    mixed = await subscribe(ws, "execution.fast", "order.linear")
    assert mixed["success"] is False  # all-in-one and categorised forms cannot share a request
    unknown = await subscribe(ws, "orders")
    assert unknown["success"] is False and unknown["ret_msg"] == "error:handler not found,topic:orders"
    await ws.send_str(json.dumps({"op": "unsubscribe", "args": ["wallet"], "req_id": "u1"}))
    unsub = await receive(ws)
    assert (unsub["success"], unsub["op"], unsub["req_id"]) == (True, "unsubscribe", "u1")
    assert hub_of(sim.app).sessions[ack["conn_id"]].topics == {"order", "execution", "position"}
    await ws.close()


async def test_bad_frames_are_answered_and_counted(session: aiohttp.ClientSession, sim: SimServer) -> None:
    ws = await connect(session, sim)
    await ws.send_str("hello")
    text = await receive(ws)
    assert isinstance(text, str) and text.startswith("Failed to decode incoming data")
    await ws.send_str('{"op":"fly"}')
    invalid = await receive(ws)
    assert invalid["success"] is False and invalid["ret_msg"] == "error:invalid op"
    await ws.send_str("[1,2,3]")
    assert (await receive(ws))["ret_msg"] == "error:invalid op"
    await ws.send_bytes(b"\x00\x01")
    await ws.send_str('{"op":"subscribe","args":"order"}')
    assert (await receive(ws))["ret_msg"] == "Params Error"
    await ws.send_str('{"op":"ping"}')
    assert (await receive(ws))["op"] == "pong"  # still alive
    assert sim.counters["ws.private.bad_frame"] == 3 and sim.counters["ws.private.handler_error"] == 0
    await ws.close()


async def test_oversized_frame_closes_only_that_connection(session: aiohttp.ClientSession, sim: SimServer) -> None:
    victim = await connect(session, sim)
    bystander = await connect(session, sim)
    await victim.send_str('{"op":"ping","req_id":"' + "x" * 100_000 + '"}')
    msg = await asyncio.wait_for(victim.receive(), DEADLINE_S)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    await bystander.send_str('{"op":"ping"}')
    assert (await receive(bystander))["op"] == "pong"
    await bystander.close()


def test_max_active_time_parsing() -> None:
    assert parse_max_active_time(None) == 600
    assert parse_max_active_time("1m") == 60
    assert parse_max_active_time("45s") == 45
    assert parse_max_active_time("90") == 90
    assert parse_max_active_time("5s") == 30  # clamped to Bybit's range
    assert parse_max_active_time("1h") == 600
    assert parse_max_active_time("junk") == 600


async def test_max_active_time_query_is_accepted(session: aiohttp.ClientSession, sim: SimServer) -> None:
    ws = await connect(session, sim, "?max_active_time=2m")
    assert (await auth(ws, sim))["success"] is True
    await ws.close()


# --------------------------------------------------------------------------------------------------- pushes


async def authed(session: aiohttp.ClientSession, sim: SimServer, *topics: str) -> aiohttp.ClientWebSocketResponse:
    ws = await connect(session, sim)
    assert (await auth(ws, sim))["success"] is True
    assert (await subscribe(ws, *topics))["success"] is True
    return ws


async def test_no_snapshot_after_subscribe(session: aiohttp.ClientSession, sim: SimServer) -> None:
    market_order(sim)  # activity before the subscription is never replayed
    ws = await authed(session, sim, "order", "execution", "position", "wallet")
    await ws.send_str('{"op":"ping"}')
    assert (await receive(ws))["op"] == "pong"
    await ws.close()


async def test_market_order_push_sequence_and_shapes(session: aiohttp.ClientSession, sim: SimServer) -> None:
    ws = await authed(session, sim, "order", "execution", "position", "wallet")
    market_order(sim, qty="0.020", orderLinkId="push-1")
    frames = await receive_until(ws, lambda f: f.get("topic") == "wallet")
    assert [f["topic"] for f in frames] == ["order", "execution", "order", "position", "wallet"]
    for frame in frames:
        assert set(frame) == {"id", "topic", "creationTime", "data"}  # no ts, no type
        assert isinstance(frame["id"], str) and frame["creationTime"] == T0 and isinstance(frame["data"], list)
    new, execution, filled, position, wallet = (f["data"] for f in frames)
    assert new[0]["orderStatus"] == "New" and filled[0]["orderStatus"] == "Filled"
    order_sample = fixture("ws_private/docs_order_option_filled.json")["data"][0]
    assert_like(filled[0], order_sample)
    assert filled[0]["orderLinkId"] == "push-1" and filled[0]["cumExecQty"] == "0.020"
    assert filled[0]["cumFeeDetail"]["USDT"] == filled[0]["cumExecFee"]

    exec_sample = fixture("ws_private/docs_execution_linear.json")
    assert_like(frames[1], exec_sample)
    assert_like(execution[0], exec_sample["data"][0], loose_types=("extraFees",))
    assert frames[1]["id"] == f"{sim.account.uid}_BTCUSDT_{execution[0]['seq']}"
    assert all(e["execType"] == "Trade" and e["isMaker"] is False and e["orderLinkId"] == "push-1" for e in execution)

    position_sample = fixture("ws_private/docs_position_linear.json")["data"][0]
    assert_like(position[0], position_sample)
    assert "avgPrice" not in position[0] and position[0]["size"] == "0.020" and position[0]["side"] == "Buy"
    assert position[0]["seq"] == execution[-1]["seq"]

    wallet_sample = fixture("ws_private/docs_wallet.json")["data"][0]
    assert_like(wallet[0], wallet_sample)
    assert_like(wallet[0]["coin"][0], wallet_sample["coin"][0])
    await ws.close()


async def test_cancel_pushes_order_and_position(session: aiohttp.ClientSession, sim: SimServer) -> None:
    ws = await authed(session, sim, "order", "position")
    bid, _ = sim.market.best_bid_ask("linear", "BTCUSDT")
    assert bid is not None
    order = sim.exchange.place_order(
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Limit",
            "qty": "0.010",
            "price": str(bid - 100),
        }
    )
    created = await receive_until(ws, lambda f: f["topic"] == "position")
    assert [f["topic"] for f in created] == ["order", "position"]
    sim.exchange.cancel_order({"category": "linear", "symbol": "BTCUSDT", "orderId": order.order_id})
    cancelled = await receive_until(ws, lambda f: f["topic"] == "position")
    assert [f["topic"] for f in cancelled] == ["order", "position"]
    record = cancelled[0]["data"][0]
    assert (record["orderStatus"], record["cancelType"]) == ("Cancelled", "CancelByUser")
    assert cancelled[1]["data"][0]["side"] == "" and cancelled[1]["data"][0]["size"] == "0.000"
    await ws.close()


async def test_categorised_and_fast_topics(session: aiohttp.ClientSession, sim: SimServer) -> None:
    ws = await authed(session, sim, "order.linear", "execution.linear", "execution.fast.linear", "position.linear")
    market_order(sim, qty="0.010", orderLinkId="cat-1")
    frames = await receive_until(ws, lambda f: f["topic"] == "position.linear")
    topics = [f["topic"] for f in frames]
    assert topics == [
        "order.linear",
        "execution.fast.linear",
        "execution.linear",
        "order.linear",
        "position.linear",
    ]
    fast = frames[1]
    sample = fixture("ws_private/docs_execution_fast.json")
    assert set(fast) == set(sample)  # execution.fast carries no id
    assert set(fast["data"][0]) == set(sample["data"][0])
    assert_like(fast["data"][0], sample["data"][0])
    assert fast["data"][0]["execId"] == frames[2]["data"][0]["execId"]
    await ws.close()


async def test_maker_fill_reaches_the_stream(session: aiohttp.ClientSession, sim: SimServer) -> None:
    ws = await authed(session, sim, "execution")
    bid, _ = sim.market.best_bid_ask("linear", "BTCUSDT")
    assert bid is not None
    sim.exchange.place_order(
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Limit",
            "qty": "0.005",
            "price": str(bid),
            "orderLinkId": "maker-1",
        }
    )
    # someone else sells into the bid: our resting order is filled as a maker at its price
    sim.market.take("linear", "BTCUSDT", "Sell", sim.market.levels("linear", "BTCUSDT", "bid", 1)[0][1], None)
    frame = await receive(ws)
    rows = frame["data"]
    assert rows[0]["isMaker"] is True and rows[0]["feeRate"] == "0.0002" and rows[0]["orderLinkId"] == "maker-1"
    await ws.close()


async def test_funding_pushes_a_funding_execution(session: aiohttp.ClientSession, sim: SimServer) -> None:
    market_order(sim, qty="0.100")
    ws = await authed(session, sim, "execution", "wallet")
    sim.clock.advance(sim.exchange.funding.next_funding_ms - sim.clock.now_ms())
    sim.market.step()
    frames = await receive_until(ws, lambda f: f["topic"] == "wallet")
    funding = frames[0]["data"][0]
    assert funding["execType"] == "Funding" and funding["orderType"] == "UNKNOWN" and funding["execQty"] == "0.100"
    rate = sim.market.funding_rate("linear", "BTCUSDT")
    mark = sim.market.mark_price("linear", "BTCUSDT")
    expected = (Decimal("0.100") * mark * rate).quantize(Decimal("0.00000001"))  # a long pays a positive rate
    assert Decimal(funding["execFee"]) == expected and Decimal(funding["feeRate"]) == rate
    assert frames[-1]["data"][0]["totalWalletBalance"] == plain(sim.account.wallet_balance.quantize(Decimal("1E-8")))
    await ws.close()


async def test_two_sessions_both_receive_and_a_closed_one_is_forgotten(
    session: aiohttp.ClientSession, sim: SimServer
) -> None:
    first = await authed(session, sim, "order")
    second = await authed(session, sim, "order")
    market_order(sim)
    assert (await receive(first))["topic"] == "order"
    assert (await receive(second))["topic"] == "order"
    await first.close()
    hub = hub_of(sim.app)
    for _ in range(200):  # the server notices the close on its next read: wait for it with a deadline
        if len(hub.sessions) == 1:
            break
        await asyncio.sleep(0.01)
    assert len(hub.sessions) == 1
    market_order(sim)
    assert (await receive(second))["topic"] == "order"
    await second.close()


# ----------------------------------------------------------------------------------------------------- ccxt


async def test_ccxt_pro_private_stream_and_rest(session: aiohttp.ClientSession) -> None:
    """ccxt (pro) pointed at the exchange: signed REST, auth with a numeric-string expiry, a fill pushed."""
    ccxtpro = pytest.importorskip("ccxt.pro")
    async with SimServer(SimConfig(seed=23, demo_trader=False, run_market=False, publish=False)) as sim:
        settings = {"apiKey": DEMO_API_KEY, "secret": DEMO_API_SECRET, "options": {"defaultType": "swap"}}
        client = ccxtpro.bybit({**settings, "enableRateLimit": False})  # ccxt's own throttle only slows the test
        for name, url in list(client.urls["api"].items()):
            if isinstance(url, str):
                client.urls["api"][name] = sim.base_url
        private = f"{sim.ws_url}/v5/private"
        client.urls["api"]["ws"]["private"] = {
            "spot": {"unified": private},
            "contract": private,
            "usdc": private,
        }
        try:
            await client.load_markets()
            balance = await client.fetch_balance()
            assert balance["USDT"]["total"] == 100000
            watching = asyncio.create_task(client.watch_my_trades("BTC/USDT:USDT"))
            hub = hub_of(sim.app)
            await until(
                lambda: watching.done() or any("execution" in s.topics for s in hub.sessions.values()),
                DEADLINE_S,
                "ccxt to subscribe",
            )
            assert not watching.done(), "ccxt's watch ended before it subscribed"
            order = await client.create_order("BTC/USDT:USDT", "market", "buy", 0.002)
            trades = await asyncio.wait_for(watching, DEADLINE_S)
            assert trades[0]["order"] == order["id"] and trades[0]["fee"]["currency"] == "USDT"
            assert trades[0]["fee"]["rate"] == 0.00055
            history = await client.fetch_my_trades("BTC/USDT:USDT")
            assert {t["id"] for t in trades} <= {t["id"] for t in history}
            positions = await client.fetch_positions(["BTC/USDT:USDT"])
            assert positions[0]["side"] == "long" and positions[0]["contracts"] == 0.002
        finally:
            await client.close()
