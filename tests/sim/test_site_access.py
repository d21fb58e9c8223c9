"""Only the exchange's own clients reach ``/v5``: never a web page, never a rebound host name.

A page the user visits may open ``ws://127.0.0.1:P/v5/private`` (browsers allow cross-origin WebSocket
handshakes, sending the page's ``Origin``), log in with the published demo key and trade; DNS rebinding reaches the
REST routes under a host name of the page's own. Such requests are answered 403 with Bybit's envelope, counted,
and never upgraded. pybit (websocket-client sends the server's own ``Origin``), aiohttp and curl send nothing
foreign and pass.
"""

from __future__ import annotations

import asyncio

import aiohttp
import orjson
import pytest
import websocket
from aiohttp.test_utils import make_mocked_request

from exchange.bybit.sim.server import SimServer
from exchange.bybit.sim.site_access import REFUSED_CODE, site_refusal

WS_PATHS = ("/v5/private", "/v5/public/linear", "/v5/public/spot")
UPGRADE = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


async def handshake(session: aiohttp.ClientSession, url: str, **headers: str) -> tuple[int, bytes]:
    """A WebSocket handshake sent as a plain GET, so a refusal's status and body can be read."""
    async with session.get(url, headers={**UPGRADE, **headers}) as response:
        return response.status, await response.read()


def assert_refused(status: int, body: bytes, word: str) -> None:
    assert status == 403, (status, body)
    answer = orjson.loads(body)
    assert set(answer) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
    assert answer["retCode"] == REFUSED_CODE and answer["result"] == {} and word in answer["retMsg"], answer


@pytest.mark.parametrize("path", WS_PATHS)
async def test_a_web_page_cannot_open_the_exchange_s_websockets(
    sim: SimServer, session: aiohttp.ClientSession, path: str
) -> None:
    url = f"{sim.ws_url}{path}"
    for origin in ("http://evil.example", f"http://evil.example:{sim.port}", "null", f"http://127.0.0.1:{sim.port + 1}",
                   f"https://127.0.0.1:{sim.port}", f"http://localhost.evil.example:{sim.port}"):  # fmt: skip
        status, body = await handshake(session, url, Origin=origin)
        assert_refused(status, body, "Origin")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(url, origin=origin)
        assert refused.value.status == 403
    for fetch_site in ("cross-site", "same-site"):
        status, body = await handshake(session, url, **{"Sec-Fetch-Site": fetch_site})
        assert_refused(status, body, "Sec-Fetch-Site")
    assert len(sim.connections) == 0
    assert sim.counters["access.refused"] == 14 and sim.counters["access.refused.origin"] == 14


@pytest.mark.parametrize("path", WS_PATHS)
async def test_the_exchange_s_own_origin_or_none_opens_the_websockets(
    sim: SimServer, session: aiohttp.ClientSession, path: str
) -> None:
    url = f"{sim.ws_url}{path}"
    for origin in (None, f"http://127.0.0.1:{sim.port}", f"http://localhost:{sim.port}"):
        async with session.ws_connect(url, origin=origin) as ws:
            await ws.send_str('{"op":"ping","req_id":"p"}')
            pong = orjson.loads((await ws.receive(timeout=5)).data)
            assert pong.get("op") in ("ping", "pong") and pong["req_id"] == "p", pong
    status, _ = await handshake(session, url, **{"Sec-Fetch-Site": "same-origin"})
    assert status == 101
    assert sim.counters["access.refused"] == 0


async def test_websocket_client_s_default_origin_is_the_exchange_s_own(sim: SimServer) -> None:
    """pybit runs on websocket-client, which sends ``Origin: http://<host:port of the URL>`` unless told not to."""

    def ping(url: str, origin: str | None = None) -> str:
        ws = websocket.create_connection(url, timeout=5, origin=origin)
        try:
            ws.send('{"op":"ping","req_id":"wc"}')
            return str(ws.recv())
        finally:
            ws.close()

    loop = asyncio.get_running_loop()
    by_name = sim.ws_url.replace("127.0.0.1", "localhost")
    for url in (f"{sim.ws_url}/v5/public/linear", f"{sim.ws_url}/v5/private", f"{by_name}/v5/private"):
        assert '"wc"' in await loop.run_in_executor(None, ping, url)
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        await loop.run_in_executor(None, ping, f"{sim.ws_url}/v5/private", "http://evil.example")
    assert refused.value.status_code == 403 and sim.counters["access.refused.origin"] == 1


async def test_a_rebound_host_name_cannot_reach_the_rest_routes(sim: SimServer, session: aiohttp.ClientSession) -> None:
    port = sim.port
    for host in (f"evil.example:{port}", f"127.0.0.1.evil.example:{port}", f"127.0.0.1:{port + 1}", "127.0.0.1",
                 f"10.0.0.1:{port}"):  # fmt: skip
        async with session.get(f"{sim.base_url}/v5/market/tickers?category=linear", headers={"Host": host}) as reply:
            assert_refused(reply.status, await reply.read(), "Host")
    status, body = await handshake(session, f"{sim.ws_url}/v5/private", Host=f"evil.example:{port}")
    assert_refused(status, body, "Host")
    assert sim.counters["access.refused.host"] == 6 and sim.counters["rest.requests"] == 0
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
        async with session.get(f"{sim.base_url}/v5/market/tickers?category=linear", headers={"Host": host}) as reply:
            assert reply.status == 200 and (await reply.json())["retCode"] == 0


async def test_a_cross_site_order_is_refused_before_it_is_read(sim: SimServer, session: aiohttp.ClientSession) -> None:
    """A page's form or ``text/plain`` POST carries its ``Origin``: refused whatever it holds."""
    body = b'{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"0.01"}'
    headers = {"Origin": "http://evil.example", "Content-Type": "text/plain"}
    async with session.post(f"{sim.base_url}/v5/order/create", data=body, headers=headers) as reply:
        assert_refused(reply.status, await reply.read(), "Origin")
    assert sim.counters["access.refused"] == 1 and sim.counters["rest.requests"] == 0


@pytest.mark.parametrize(
    ("bound", "host", "origin", "allowed"),
    [
        ("127.0.0.1", "127.0.0.1:9000", None, True),
        ("127.0.0.1", "localhost:9000", "http://localhost:9000", True),
        ("127.0.0.1", "evil.example:9000", None, False),
        ("127.0.0.1", "127.0.0.1:9000", "http://evil.example", False),
        ("127.0.0.1", "[::1:9000", None, False),  # unreadable: refused, never an error
        ("127.0.0.1", "127.0.0.1:9000", "http://[::1", False),
        ("127.0.0.1", "127.0.0.1:9000", "http://127.0.0.1:9000/", False),
        # bound to the network on purpose: the rules of the control endpoints for that case
        ("0.0.0.0", "192.168.1.10:9000", "http://192.168.1.10:9000", True),
        ("0.0.0.0", "192.168.1.10:9000", None, True),
        ("0.0.0.0", "evil.example:9000", None, False),
        ("0.0.0.0", "192.168.1.10:9000", "http://evil.example", False),
        ("mybox.lan", "mybox.lan:9000", "http://mybox.lan:9000", True),
        ("mybox.lan", "evil.example:9000", None, False),
        ("192.168.1.10", "192.168.1.10:9000", None, True),
        ("192.168.1.10", "localhost:9000", None, False),
    ],
)
def test_the_same_rules_on_every_bind(bound: str, host: str, origin: str | None, allowed: bool) -> None:
    headers = {"Host": host} if origin is None else {"Host": host, "Origin": origin}
    refused = site_refusal(make_mocked_request("GET", "/v5/market/time", headers=headers), bound, 9000)
    assert (refused is None) is allowed, refused
