"""Faults on demand, public side: each reachable through the Python API and through /_sim/, each counted."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import aiohttp
import orjson
import pytest

from exchange.bybit.sim import public_ws
from exchange.bybit.sim.connection import SimConnection
from exchange.bybit.sim.faults import OVERSIZED_BYTES
from exchange.bybit.sim.server import SimServer
from tests.support.sim import WsClient, book_stream, make_config, step_and_publish
from tests.support.waiting import until

TOPIC = "orderbook.50.BTCUSDT"
CLOSED = (
    aiohttp.WSMsgType.CLOSE,
    aiohttp.WSMsgType.CLOSED,
    aiohttp.WSMsgType.CLOSING,
    aiohttp.WSMsgType.ERROR,
)


def is_topic(topic: str, kind: str | None = None) -> Any:
    return lambda m: isinstance(m, dict) and m.get("topic") == topic and (kind is None or m.get("type") == kind)


async def control(session: aiohttp.ClientSession, sim: SimServer, name: str, body: Any = None) -> tuple[int, Any]:
    url = f"{sim.base_url}/_sim/{name}"
    async with session.post(url, json=body if body is not None else {}, headers=sim.control_headers) as response:
        return response.status, await response.json()


async def subscribed(sim: SimServer, connect: Any, *topics: str, category: str = "linear") -> WsClient:
    client = await connect(sim, category)
    await client.subscribe(*(topics or (TOPIC,)))
    for topic in topics or (TOPIC,):
        if topic.startswith("orderbook"):
            await client.until(is_topic(topic, "snapshot"))
    return client


def server_side(sim: SimServer) -> SimConnection:
    (conn,) = sim.connections.all("public")
    return conn


# ------------------------------------------------------------------------------------------ gating


async def test_control_endpoints_are_off_by_default(session: aiohttp.ClientSession) -> None:
    async with SimServer(make_config(faults_enabled=False)) as sim:
        async with session.get(f"{sim.base_url}/_sim/counters") as response:
            assert response.status == 404
        async with session.post(f"{sim.base_url}/_sim/drop", json={}) as response:
            assert response.status == 404
        assert sim.faults.enabled is False
        sim.faults.pause_market()  # the Python API still works for tests
        assert sim.market.paused and sim.counters["faults.pause"] == 1


async def test_counters_endpoint_and_bad_bodies(sim: SimServer, session: aiohttp.ClientSession) -> None:
    sim.faults.pause_market()
    async with session.get(f"{sim.base_url}/_sim/counters", headers=sim.control_headers) as response:
        body = await response.json()
    assert body["ok"] is True and body["counters"]["faults.pause"] == 1
    for name, bad in [("stall", {"seconds": "x"}), ("drop", {"code": "abrupt"}), ("skip_u", {"topic": 5}),
                      ("malformed", {"kind": "nonsense"}), ("clock", {"offset_ms": 1.5}), ("rate_limit", {}),
                      ("skip_u", {"topic": "orderbook.50.NOPE"}), ("auth", {"reject": "yes"}),
                      ("lose_pongs", {"count": -1})]:  # fmt: skip
        status, answer = await control(session, sim, name, bad)
        assert status == 400 and answer["ok"] is False and answer["error"], (name, answer)
    headers = {**sim.control_headers, "Content-Type": "application/json"}
    async with session.post(f"{sim.base_url}/_sim/pause", data=b"[1]", headers=headers) as response:
        assert response.status == 400
    assert sim.counters["control.rejected"] == 10


# ------------------------------------------------------------------------------------------ connections


@pytest.mark.parametrize("via", ["python", "http"])
async def test_drop_abrupt(sim: SimServer, connect: Any, session: aiohttp.ClientSession, via: str) -> None:
    client = await subscribed(sim, connect)
    private_like = await connect(sim, "spot")
    if via == "python":
        assert await sim.faults.drop_connections("public:linear") == 1
    else:
        status, answer = await control(session, sim, "drop", {"kind": "public:linear", "code": None})
        assert status == 200 and answer["dropped"] == 1
    msg = await client.raw()
    assert msg.type in CLOSED
    assert client.ws.close_code in (None, 1006)  # no close frame
    assert sim.counters["faults.drop"] == 1 and sim.counters["faults.dropped_connections"] == 1
    await private_like.send({"op": "ping"})
    assert (await private_like.recv())["ret_msg"] == "pong"  # other kinds untouched
    await until(lambda: len(sim.connections.all("public:linear")) == 0, what="unregistered")


@pytest.mark.parametrize("via", ["python", "http"])
async def test_drop_with_a_close_code(sim: SimServer, connect: Any, session: aiohttp.ClientSession, via: str) -> None:
    client = await subscribed(sim, connect)
    if via == "python":
        await sim.faults.drop_connections("public", code=4000)
    else:
        await control(session, sim, "drop", {"kind": "public", "code": 4000})
    msg = await client.raw()
    assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == 4000


@pytest.mark.parametrize("via", ["python", "http"])
async def test_stall_sends_nothing_and_ignores_pings(
    sim: SimServer, connect: Any, session: aiohttp.ClientSession, via: str
) -> None:
    client = await subscribed(sim, connect)
    conn = server_side(sim)
    if via == "python":
        sim.faults.stall(60)
    else:
        await control(session, sim, "stall", {"seconds": 60, "kind": "public"})
    assert conn.stalled and sim.counters["faults.stall"] == 1
    await client.send({"op": "ping"})
    await client.ws.ping(b"are you there")
    step_and_publish(sim, 3)
    await until(lambda: sim.counters["ws.stall_dropped"] >= 2, what="pong and deltas discarded")
    await until(lambda: sim.counters["ws.stall_ignored_pings"] == 1, what="protocol ping ignored")
    assert not client.ws.closed  # the socket stays open
    sim.faults.stall(0)  # a zero stall ends the running one
    assert not conn.stalled
    await client.send({"op": "ping"})
    pong = await client.until(lambda m: m.get("ret_msg") == "pong")
    assert pong["op"] == "ping"
    step_and_publish(sim, 3)
    delta = await client.until(is_topic(TOPIC, "delta"))
    assert delta  # the stream continues after the stall (with a u gap: frames were discarded)


async def test_short_stall_ends_by_itself(sim: SimServer, connect: Any) -> None:
    client = await subscribed(sim, connect)
    sim.faults.stall(0.05)
    conn = server_side(sim)
    await until(lambda: not conn.stalled, what="stall to end")
    await client.ws.ping(b"x")
    msg = await client.raw()
    assert msg.type is aiohttp.WSMsgType.PONG and msg.data == b"x"


@pytest.mark.parametrize("via", ["python", "http"])
async def test_lose_pongs_swallows_only_json_pongs(
    sim: SimServer, connect: Any, session: aiohttp.ClientSession, via: str
) -> None:
    client = await subscribed(sim, connect)
    if via == "python":
        sim.faults.lose_pongs(1, "public")
    else:
        assert (await control(session, sim, "lose_pongs", {"count": 1, "kind": "public"}))[0] == 200
    assert sim.counters["faults.lose_pongs"] == 1
    await client.send({"op": "ping", "req_id": "lost"})
    step_and_publish(sim, 3)
    assert await client.until(is_topic(TOPIC, "delta"))  # the stream flows while the pong is gone
    await until(lambda: sim.counters["ws.pongs_lost"] == 1, what="the pong swallowed")
    await client.send({"op": "ping", "req_id": "kept"})
    pong = await client.until(lambda m: m.get("ret_msg") == "pong")
    assert pong["req_id"] == "kept"  # only the first was lost


# ------------------------------------------------------------------------------------------ streams


@pytest.mark.parametrize("via", ["python", "http"])
async def test_skip_u(sim: SimServer, connect: Any, session: aiohttp.ClientSession, via: str) -> None:
    client = await subscribed(sim, connect)
    stream_u = book_stream(sim, TOPIC).u
    if via == "python":
        sim.faults.skip_u(TOPIC, "linear")
    else:
        assert (await control(session, sim, "skip_u", {"topic": TOPIC, "category": "linear"}))[0] == 200
    step_and_publish(sim)
    delta = await client.until(is_topic(TOPIC, "delta"))
    assert delta["data"]["u"] == stream_u + 2
    step_and_publish(sim)
    assert (await client.until(is_topic(TOPIC, "delta")))["data"]["u"] == stream_u + 3
    assert sim.counters["faults.skip_u"] == 1


@pytest.mark.parametrize("via", ["python", "http"])
async def test_unreadable_delta(sim: SimServer, connect: Any, session: aiohttp.ClientSession, via: str) -> None:
    """The next delta keeps its real ``u`` but one size is not a number; the stream goes on after it."""
    client = await subscribed(sim, connect)
    stream_u = book_stream(sim, TOPIC).u
    if via == "python":
        sim.faults.unreadable_delta(TOPIC, "linear")
    else:
        assert (await control(session, sim, "unreadable", {"topic": TOPIC, "category": "linear"}))[0] == 200
    step_and_publish(sim)
    delta = await client.until(is_topic(TOPIC, "delta"))
    assert delta["data"]["u"] == stream_u + 1
    sizes = [size for _, size in delta["data"]["b"] + delta["data"]["a"]]
    assert sizes.count("not-a-size") == 1
    step_and_publish(sim)
    following = await client.until(is_topic(TOPIC, "delta"))
    assert following["data"]["u"] == stream_u + 2
    assert "not-a-size" not in [size for _, size in following["data"]["b"] + following["data"]["a"]]
    assert sim.counters["faults.unreadable_delta"] == 1


async def test_skip_u_without_category_hits_every_category(sim: SimServer, connect: Any) -> None:
    linear = await subscribed(sim, connect)
    spot = await subscribed(sim, connect, category="spot")
    sim.faults.skip_u(TOPIC)
    u = {c: book_stream(sim, TOPIC, c).u for c in ("linear", "spot")}
    step_and_publish(sim)
    assert (await linear.until(is_topic(TOPIC, "delta")))["data"]["u"] == u["linear"] + 2
    assert (await spot.until(is_topic(TOPIC, "delta")))["data"]["u"] == u["spot"] + 2


@pytest.mark.parametrize("via", ["python", "http"])
async def test_restart_snapshot(sim: SimServer, connect: Any, session: aiohttp.ClientSession, via: str) -> None:
    client = await subscribed(sim, connect)
    if via == "python":
        sim.faults.restart_snapshot(TOPIC, "linear")
    else:
        await control(session, sim, "restart", {"topic": TOPIC, "category": "linear"})
    sim.public_feed.publish_now()
    snapshot = await client.until(is_topic(TOPIC))
    assert snapshot["type"] == "snapshot" and snapshot["data"]["u"] == 1
    assert len(snapshot["data"]["b"]) == 50
    step_and_publish(sim)
    assert (await client.until(is_topic(TOPIC)))["data"]["u"] == 2
    assert sim.counters["faults.restart_snapshot"] == 1


@pytest.mark.parametrize("via", ["python", "http"])
async def test_malformed_frames_reach_subscribers_and_the_server_survives(
    sim: SimServer, connect: Any, session: aiohttp.ClientSession, via: str
) -> None:
    client = await subscribed(sim, connect)
    idle = await connect(sim, "linear")  # no subscription: not a target
    for kind in ("bad_json", "wrong_types", "missing_keys", "oversized"):
        if via == "python":
            assert sim.faults.malformed(kind, count=2) == 2
        else:
            status, answer = await control(session, sim, "malformed", {"kind": kind, "count": 2})
            assert status == 200 and answer["sent"] == 2
        for _ in range(2):
            text = await client.recv_text()
            if kind == "bad_json":
                with pytest.raises(orjson.JSONDecodeError):
                    orjson.loads(text)
            elif kind == "wrong_types":
                message = orjson.loads(text)
                assert message["topic"] == TOPIC and isinstance(message["data"]["u"], str)
            elif kind == "missing_keys":
                assert "data" not in orjson.loads(text)
            else:
                assert len(text) >= OVERSIZED_BYTES - 64 and orjson.loads(text)["topic"] == TOPIC
        assert sim.counters[f"faults.malformed.{kind}"] == 2
    await idle.send({"op": "ping"})
    assert (await idle.recv())["ret_msg"] == "pong"
    step_and_publish(sim)
    assert (await client.until(is_topic(TOPIC, "delta")))["data"]["s"] == "BTCUSDT"


@pytest.mark.parametrize("via", ["python", "http"])
async def test_flood_sends_consecutive_real_deltas(
    sim: SimServer, connect: Any, session: aiohttp.ClientSession, via: str
) -> None:
    client = await subscribed(sim, connect)
    start_u = book_stream(sim, TOPIC).u
    if via == "python":
        assert await sim.faults.flood(TOPIC, 3000) == 3000
    else:
        status, answer = await control(session, sim, "flood", {"topic": TOPIC, "count": 3000})
        assert status == 200 and answer["sent"] == 3000
    us = []
    for _ in range(3000):
        message = await client.recv()
        assert message["type"] == "delta" and len(message["data"]["b"]) == 1
        us.append(message["data"]["u"])
    assert us == list(range(start_u + 1, start_u + 3001))
    assert sim.counters["faults.flood_messages"] == 3000
    with pytest.raises(ValueError):
        await sim.faults.flood("orderbook.1.BTCUSDT", 10)


# ---------------------------------------------------------------------------------- REST, clock, market


@pytest.mark.parametrize("via", ["python", "http"])
async def test_rate_limit_fault(sim: SimServer, session: aiohttp.ClientSession, via: str) -> None:
    if via == "python":
        sim.faults.rate_limit_for(30)
    else:
        assert (await control(session, sim, "rate_limit", {"seconds": 30}))[0] == 200
    async with session.get(f"{sim.base_url}/v5/market/time") as response:
        body = await response.json()
        assert response.status == 200 and body["retCode"] == 10006 and body["retMsg"] == "Too many visits!"
        assert response.headers["X-Bapi-Limit-Status"] == "0"
        assert int(response.headers["X-Bapi-Limit-Reset-Timestamp"]) == sim.faults.rate_limit_reset_ms
        assert sim.faults.rate_limit_reset_ms >= sim.clock.now_ms() + 20_000
    assert sim.counters["faults.rate_limit"] == 1 and sim.counters["rest.10006"] == 1
    await control(session, sim, "clear")
    async with session.get(f"{sim.base_url}/v5/market/time") as response:
        assert (await response.json())["retCode"] == 0


@pytest.mark.parametrize("via", ["python", "http"])
async def test_forbid_fault(sim: SimServer, session: aiohttp.ClientSession, via: str) -> None:
    if via == "python":
        sim.faults.forbid_for(30)
    else:
        await control(session, sim, "forbid", {"seconds": 30})
    async with session.get(f"{sim.base_url}/v5/market/tickers?category=linear") as response:
        assert response.status == 403
    async with session.get(f"{sim.base_url}/_sim/counters", headers=sim.control_headers) as response:
        counters = (await response.json())["counters"]
    assert counters["faults.forbid"] == 1 and counters["rest.403"] == 1
    sim.faults.clear()
    async with session.get(f"{sim.base_url}/v5/market/tickers?category=linear") as response:
        assert response.status == 200


@pytest.mark.parametrize("via", ["python", "http"])
async def test_clock_offset(sim: SimServer, session: aiohttp.ClientSession, connect: Any, via: str) -> None:
    async with session.get(f"{sim.base_url}/v5/market/time") as response:
        before = (await response.json())["time"]
    if via == "python":
        sim.faults.set_clock_offset(3_600_000)
    else:
        await control(session, sim, "clock", {"offset_ms": 3_600_000})
    async with session.get(f"{sim.base_url}/v5/market/time") as response:
        after = await response.json()
    assert after["time"] - before >= 3_600_000 and int(after["result"]["timeSecond"]) * 1000 >= before + 3_599_000
    client = await connect(sim, "linear")
    await client.subscribe("orderbook.1.BTCUSDT")
    snapshot = await client.until(is_topic("orderbook.1.BTCUSDT"))
    assert snapshot["ts"] >= before + 3_600_000
    assert sim.counters["faults.clock_offset"] == 1


@pytest.mark.parametrize("via", ["python", "http"])
async def test_pause_and_resume(live_sim: SimServer, session: aiohttp.ClientSession, via: str) -> None:
    sim = live_sim
    await until(lambda: sim.market.steps > 2, what="market running")
    if via == "python":
        sim.faults.pause_market()
    else:
        await control(session, sim, "pause")
    await asyncio.sleep(0.2)  # the step under way, if any, is done
    ticks, steps = sim.market.loop_ticks, sim.market.steps
    await asyncio.sleep(0.3)
    assert (sim.market.loop_ticks, sim.market.steps) == (ticks, steps)  # no steps, and no wake-ups to look
    now = asyncio.get_running_loop().time()
    assert sim.public_feed._until_due(now) == public_ws.PAUSED_TICK_S  # nothing moves: the publisher rests
    if via == "python":
        sim.faults.resume_market()
    else:
        await control(session, sim, "resume")
    await until(lambda: sim.market.steps > steps, what="market resumed")
    assert sim.counters["faults.pause"] == 1 and sim.counters["faults.resume"] == 1


async def test_private_knobs_via_http(sim: SimServer, session: aiohttp.ClientSession) -> None:
    status, answer = await control(session, sim, "executions", {"duplicate": 2, "delay_s": 1.5})
    assert status == 200 and answer == {"ok": True, "duplicate": 2, "delay_s": 1.5}
    status, answer = await control(session, sim, "auth", {"delay_s": 0.5, "reject": True})
    assert answer == {"ok": True, "delay_s": 0.5, "reject": True, "message": "Params Error"}
    faults = sim.faults
    assert (faults.duplicate_executions, faults.execution_delay_s) == (2, 1.5)
    assert (faults.auth_delay_s, faults.auth_reject) == (0.5, True)
    faults.duplicate_executions -= 1  # the private stream consumes it; that is not a new fault
    for name in ("duplicate_executions", "execution_delay", "auth_delay", "auth_reject"):
        assert sim.counters[f"faults.{name}"] == 1, name


# ------------------------------------------------------------------------------------------ bad clients


async def test_slow_client_is_dropped_not_queued(sim: SimServer, connect: Any) -> None:
    client = await subscribed(sim, connect)
    conn = server_side(sim)
    for _ in range(conn.max_frames + 1):  # the writer gets no turn: the queue fills
        conn.send_json({"topic": TOPIC, "filler": True})
    assert conn.closed and sim.counters["ws.slow_client_dropped"] == 1
    while True:
        raw = await client.raw()
        if raw.type in CLOSED:
            break
    assert client.ws.close_code == 1008
    await until(lambda: not sim.connections.all("public"), what="slow client forgotten")


async def test_a_flooded_client_that_never_reads_is_dropped(
    session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(public_ws, "FLOOD_STALL_TIMEOUT_S", 0.2)
    async with SimServer(make_config(ws_queue_frames=64)) as sim:
        ws = await session.ws_connect(f"{sim.ws_url}/v5/public/linear")
        await ws.send_str(orjson.dumps({"op": "subscribe", "args": ["orderbook.1000.BTCUSDT"]}).decode())
        await until(lambda: any(c.subscriptions for c in sim.connections.all()), what="subscribed")
        # never read: kernel buffers fill, then the bounded queue, then the server gives up on this client
        sent = await sim.faults.flood("orderbook.1000.BTCUSDT", 2_000_000)
        assert sent < 2_000_000
        assert sim.counters["ws.slow_client_dropped"] == 1
        await ws.close()


async def test_server_survives_abrupt_clients(sim: SimServer, session: aiohttp.ClientSession, connect: Any) -> None:
    for _ in range(5):
        ws = await session.ws_connect(f"{sim.ws_url}/v5/public/linear")
        await ws.send_str(orjson.dumps({"op": "subscribe", "args": [TOPIC, "tickers.BTCUSDT"]}).decode())
        await ws.receive()
        ws._response.connection.transport.abort()  # type: ignore[union-attr]
    step_and_publish(sim, 5)
    sim.market.take("linear", "BTCUSDT", "Buy", Decimal("2"), None)
    await until(lambda: len(sim.connections) == 0, what="dead clients forgotten")
    client = await subscribed(sim, connect)
    await client.send({"op": "ping"})
    assert (await client.until(lambda m: m.get("ret_msg") == "pong"))["success"] is True
