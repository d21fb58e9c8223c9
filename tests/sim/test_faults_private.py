"""Private-side faults: delayed or rejected auth, duplicate or late executions, drops, stalls, REST bans."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from exchange.bybit.signing import rest_signature, ws_auth_signature
from exchange.bybit.sim.demo_credentials import DEMO_API_KEY, DEMO_API_SECRET
from exchange.bybit.sim.private_ws import hub_of
from exchange.bybit.sim.server import SimConfig, SimServer
from tests.support.sim import receive, receive_until
from tests.support.waiting import until

DEADLINE_S = 5.0


def make_sim(**overrides: Any) -> SimServer:
    settings: dict[str, Any] = {"seed": 31, "demo_trader": False, "run_market": False, "publish": False}
    settings.update(overrides)
    return SimServer(SimConfig(**settings))


@pytest.fixture
async def sim() -> AsyncIterator[SimServer]:
    async with make_sim() as server:
        yield server


REAL_REFUSAL = Path(__file__).resolve().parents[1] / "fixtures/bybit/ws_control/private_auth_fail_params_error.json"


def auth_message(sim: SimServer) -> str:
    expires = sim.clock.now_ms() + 10_000
    return json.dumps({"op": "auth", "args": [DEMO_API_KEY, expires, ws_auth_signature(DEMO_API_SECRET, expires)]})


async def authed(session: aiohttp.ClientSession, sim: SimServer, *topics: str) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(f"{sim.ws_url}/v5/private")
    await ws.send_str(auth_message(sim))
    assert (await receive(ws))["success"] is True
    await ws.send_str(json.dumps({"op": "subscribe", "args": list(topics)}))
    assert (await receive(ws))["success"] is True
    return ws


def market_order(sim: SimServer, qty: str = "0.010", link: str = "") -> None:
    sim.exchange.place_order(
        {
            "category": "linear",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "orderType": "Market",
            "qty": qty,
            "orderLinkId": link,
        }
    )


# ----------------------------------------------------------------------------------------------------- auth


async def test_auth_delay_holds_the_ack_and_what_follows(session: aiohttp.ClientSession, sim: SimServer) -> None:
    sim.faults.auth_delay_s = 0.3
    ws = await session.ws_connect(f"{sim.ws_url}/v5/private")
    loop = asyncio.get_running_loop()
    sent = loop.time()
    await ws.send_str(auth_message(sim))
    await ws.send_str('{"op":"subscribe","args":["order"]}')  # sent before the ack, processed after it
    ack = await receive(ws)
    assert ack["op"] == "auth" and ack["success"] is True
    assert loop.time() - sent >= 0.25  # a lower bound only: the ack cannot come before the delay
    sub = await receive(ws)
    assert sub["op"] == "subscribe" and sub["success"] is True
    assert sim.counters["faults.auth_delay"] == 1 and sim.counters["ws.private.auth_delayed"] == 1
    await ws.close()


async def test_client_leaving_during_a_delayed_auth_is_harmless(session: aiohttp.ClientSession, sim: SimServer) -> None:
    sim.faults.auth_delay_s = 0.2
    ws = await session.ws_connect(f"{sim.ws_url}/v5/private")
    await ws.send_str(auth_message(sim))
    await until(lambda: sim.counters["ws.private.auth_delayed"] == 1, DEADLINE_S, "the delayed auth counted")
    await ws.close()
    hub = hub_of(sim.app)
    await until(lambda: not hub.sessions, DEADLINE_S, "the private session forgotten")
    assert sim.counters["ws.private.handler_error"] == 0 and sim.counters["ws.private.auth_ok"] <= 1


async def test_auth_reject_fault(session: aiohttp.ClientSession, sim: SimServer) -> None:
    sim.faults.auth_reject = True
    ws = await session.ws_connect(f"{sim.ws_url}/v5/private")
    await ws.send_str(auth_message(sim))
    reply = await receive(ws)
    assert (reply["success"], reply["ret_msg"], reply["op"]) == (False, "Params Error", "auth")
    assert set(reply) == set(orjson.loads(REAL_REFUSAL.read_bytes())), "Bybit's real refusal"
    await ws.send_str('{"op":"subscribe","args":["order"]}')
    assert (await receive(ws))["success"] is False
    sim.faults.auth_reject = False
    await ws.send_str(auth_message(sim))
    assert (await receive(ws))["success"] is True
    assert sim.counters["faults.auth_reject"] == 1 and sim.counters["ws.private.auth_rejected_by_fault"] == 1
    await ws.close()


# ----------------------------------------------------------------------------------------------- executions


async def test_duplicate_executions(session: aiohttp.ClientSession, sim: SimServer) -> None:
    ws = await authed(session, sim, "execution")
    sim.faults.duplicate_executions = 1
    market_order(sim, link="dup-1")
    first = await receive(ws)
    again = await receive(ws)
    assert again["topic"] == "execution" and len(again["data"]) == 1
    assert again["data"][0]["execId"] == first["data"][0]["execId"] and again["id"] == first["id"]
    assert sim.faults.duplicate_executions == 0
    assert sim.counters["ws.private.duplicated_executions"] == 1
    market_order(sim, link="dup-2")
    await ws.send_str('{"op":"ping"}')
    frames = await receive_until(ws, lambda f: f.get("op") == "pong")
    executions = [f for f in frames if f.get("topic") == "execution"]
    assert len(executions) == 1 and executions[0]["data"][0]["orderLinkId"] == "dup-2"
    await ws.close()


async def test_execution_delay_lets_order_and_position_overtake(session: aiohttp.ClientSession, sim: SimServer) -> None:
    ws = await authed(session, sim, "order", "execution", "position", "wallet")
    sim.faults.execution_delay_s = 0.2
    market_order(sim, link="late-1")
    frames = await receive_until(ws, lambda f: f["topic"] == "execution")
    assert [f["topic"] for f in frames] == ["order", "order", "position", "wallet", "execution"]
    assert frames[1]["data"][0]["orderStatus"] == "Filled"
    assert frames[-1]["data"][0]["orderLinkId"] == "late-1"
    assert sim.counters["ws.private.delayed_executions"] >= 1
    await ws.close()


async def test_delayed_executions_are_forgotten_on_stop(session: aiohttp.ClientSession) -> None:
    async with make_sim() as server:
        ws = await authed(session, server, "execution")
        server.faults.execution_delay_s = 30
        market_order(server)
        assert hub_of(server.app)._timers
        await ws.close()
    assert not hub_of(server.app)._timers


# ------------------------------------------------------------------------------------------------ sockets


async def test_drop_private_connections_with_a_code(session: aiohttp.ClientSession, sim: SimServer) -> None:
    ws = await authed(session, sim, "order")
    public = await session.ws_connect(f"{sim.ws_url}/v5/public/linear")
    dropped = await sim.faults.drop_connections("private", code=4001)
    assert dropped == 1
    msg = await asyncio.wait_for(ws.receive(), DEADLINE_S)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 4001
    await until(lambda: not hub_of(sim.app).sessions, DEADLINE_S, "the private session forgotten")
    market_order(sim)  # pushing to nobody is fine
    await public.send_str('{"op":"ping"}')
    assert (await receive(public))["ret_msg"] == "pong"  # the public side was not touched
    await public.close()


async def test_abrupt_drop(session: aiohttp.ClientSession, sim: SimServer) -> None:
    ws = await authed(session, sim, "order")
    assert await sim.faults.drop_connections("private") == 1
    msg = await asyncio.wait_for(ws.receive(), DEADLINE_S)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    await until(lambda: not hub_of(sim.app).sessions, DEADLINE_S, "the private session forgotten")


async def test_stalled_private_stream_loses_pushes(session: aiohttp.ClientSession, sim: SimServer) -> None:
    ws = await authed(session, sim, "order")
    sim.faults.stall(30, "private")
    before = sim.counters["ws.stall_dropped"]
    market_order(sim)
    assert sim.counters["ws.stall_dropped"] > before
    assert sim.counters["ws.private.pushes"] >= 2
    await ws.close()


async def test_malformed_frames_reach_private_subscribers(session: aiohttp.ClientSession, sim: SimServer) -> None:
    ws = await authed(session, sim, "order")
    assert sim.faults.malformed("bad_json", kind_prefix="private") == 1
    broken = await receive(ws)
    assert isinstance(broken, str)  # not JSON: the client must count it and carry on
    await ws.close()


async def test_slow_private_client_is_dropped_not_queued(session: aiohttp.ClientSession) -> None:
    async with make_sim(ws_queue_frames=8) as server:
        ws = await authed(session, server, "order", "execution", "position", "wallet")
        for i in range(10):  # ~50 frames produced without yielding: more than the queue may hold
            market_order(server, qty="0.001", link=f"flood-{i}")
        assert server.counters["ws.slow_client_dropped"] == 1
        await until(lambda: not hub_of(server.app).sessions, DEADLINE_S, "the private session forgotten")
        await ws.close()


# ---------------------------------------------------------------------------------------------------- REST


def signed_headers(sim: SimServer, payload: str) -> dict[str, str]:
    ts = str(sim.clock.now_ms())
    return {
        "X-BAPI-API-KEY": DEMO_API_KEY,
        "X-BAPI-TIMESTAMP": ts,
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": rest_signature(DEMO_API_SECRET, ts, DEMO_API_KEY, "5000", payload),
    }


async def test_rate_limit_and_forbid_faults_on_private_rest(session: aiohttp.ClientSession, sim: SimServer) -> None:
    url = f"{sim.base_url}/v5/account/wallet-balance?accountType=UNIFIED"
    sim.faults.rate_limit_for(5)
    async with session.get(url, headers=signed_headers(sim, "accountType=UNIFIED")) as resp:
        body = await resp.json()
        assert body["retCode"] == 10006 and body["retMsg"] == "Too many visits!"
        assert int(resp.headers["X-Bapi-Limit-Reset-Timestamp"]) >= sim.clock.now_ms()
        assert resp.headers["X-Bapi-Limit-Status"] == "0"
    sim.faults.clear()
    sim.faults.forbid_for(5)
    async with session.get(url, headers=signed_headers(sim, "accountType=UNIFIED")) as resp:
        assert resp.status == 403
    sim.faults.clear()
    async with session.get(url, headers=signed_headers(sim, "accountType=UNIFIED")) as resp:
        assert (await resp.json())["retCode"] == 0


async def test_per_key_order_limit(session: aiohttp.ClientSession, sim: SimServer) -> None:
    codes = []
    for i in range(12):
        body = json.dumps(
            {
                "category": "linear",
                "symbol": "BTCUSDT",
                "side": "Buy",
                "orderType": "Limit",
                "qty": "0.001",
                "price": "30000.00",
                "orderLinkId": f"rl-{i}",
            }
        )
        async with session.post(f"{sim.base_url}/v5/order/create", data=body, headers=signed_headers(sim, body)) as r:
            codes.append((await r.json())["retCode"])
            assert r.headers["X-Bapi-Limit"] == "10"
    assert codes.count(0) <= 10 and 10006 in codes
    assert len(sim.exchange.orders.resting_orders()) == codes.count(0)  # refused orders never reach the book


async def test_corrupt_executions_are_pushed_and_listed_wrong(session: aiohttp.ClientSession) -> None:
    """The exchange shows the next execution with the asked fields (through /_sim/executions too), in the push
    and in execution/list alike; its own books keep the true fill, and later executions are whole."""
    async with make_sim(faults_enabled=True) as sim:
        ws = await authed(session, sim, "execution")
        corrupt = {"corrupt": {"execPrice": "1E+999999999", "execTime": "1" * 5000}}
        async with session.post(
            f"{sim.base_url}/_sim/executions", json=corrupt, headers=sim.control_headers
        ) as response:
            assert response.status == 200 and (await response.json())["ok"] is True
        async with session.post(
            f"{sim.base_url}/_sim/executions", json={"corrupt": []}, headers=sim.control_headers
        ) as response:
            assert response.status == 400
        market_order(sim, link="corrupt-1")
        pushed = (await receive(ws))["data"][0]
        assert (pushed["execPrice"], pushed["execTime"]) == ("1E+999999999", "1" * 5000)
        query = "category=linear"
        url = f"{sim.base_url}/v5/execution/list?{query}"
        async with session.get(url, headers=signed_headers(sim, query)) as resp:
            (listed,) = [r for r in (await resp.json())["result"]["list"] if r["execId"] == pushed["execId"]]
        assert listed["execPrice"] == "1E+999999999" and sim.counters["faults.corrupt_executions"] == 1
        assert sim.account.position("linear", "BTCUSDT").size == sim.account.executions[-1].exec_qty
        market_order(sim, link="whole-2")
        assert (await receive(ws))["data"][0]["execPrice"] != "1E+999999999"
        await ws.close()
