"""A small scripted Bybit for the REST client's tests, and the client on the local exchange.

The scripted server checks every signature over the raw bytes it received (with the same
:func:`exchange.bybit.signing.rest_signature` Bybit's rules define) and records each request, so tests can
assert what went on the wire; it can also misbehave on cue (5xx, dropped connections, hangs, 10002, 10006,
403), for what the local exchange cannot do. The ``fake`` and ``sim`` fixtures (tests/conftest.py) serve it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from exchange.bybit.rest import RestClient
from exchange.bybit.signing import rest_signature, signatures_match
from exchange.bybit.sim.demo_credentials import DEMO_API_KEY, DEMO_API_SECRET
from exchange.bybit.sim.server import SimServer
from exchange.config import Endpoints
from exchange.secrets import Credentials, Secret

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bybit" / "rest"
API_KEY = "TESTKEY0123456789"
CANARY = "canary-secret-7f3a9c-DO-NOT-LEAK"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def credentials() -> Credentials:
    return Credentials(API_KEY, Secret(CANARY))


@dataclass
class Seen:
    """One request as it arrived."""

    method: str
    path: str
    raw_query: str
    body: bytes
    headers: dict[str, str]

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.raw_query, keep_blank_values=True))


@dataclass
class FakeBybit:
    """A scripted Bybit v5 REST host on loopback.

    ``script[path]`` is a queue of actions consumed one per request to that path: ``"500"``, ``"502"``,
    ``"503"``, ``"10016"``, ``"10002"``, ``"10006"``, ``"403"``, ``"drop"`` (connection closed before any
    processing), ``"accept_drop"`` (an order/create that is stored, then the connection is closed),
    ``"accept_garbled"`` (stored, then answered with HTTP 200 and a body that is not Bybit's), ``"accept_no_id"``
    (stored, then acknowledged without an ``orderId``), ``"hang"``
    (no reply until the test ends), ``"404"``.
    """

    server_offset_ms: int = 0
    fixed_server_ms: int | None = None
    seen: list[Seen] = field(default_factory=list)
    script: dict[str, deque[str]] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    positions: list[dict[str, Any]] = field(default_factory=list)
    executions: list[dict[str, Any]] = field(default_factory=list)  # newest first, as Bybit lists them
    page_size: int | None = None  # force small pages
    reset_in_ms: int = 800
    release: asyncio.Event = field(default_factory=asyncio.Event)
    server: TestServer | None = None
    next_id: int = 1
    invalid_sign_reply: str | None = None

    # ------------------------------------------------------------------------------------------ plumbing

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def now_ms(self) -> int:
        if self.fixed_server_ms is not None:
            return self.fixed_server_ms
        return int(time.time() * 1000) + self.server_offset_ms

    def on(self, path: str, *actions: str) -> None:
        self.script.setdefault(path, deque()).extend(actions)

    def count(self, path: str, method: str | None = None) -> int:
        return sum(1 for s in self.seen if s.path == path and (method is None or s.method == method))

    def envelope(self, result: Any = None, code: int = 0, msg: str = "OK") -> web.Response:
        body = {
            "retCode": code,
            "retMsg": msg,
            "result": {} if result is None else result,
            "retExtInfo": {},
            "time": self.now_ms(),
        }
        headers = {
            "X-Bapi-Limit": "50",
            "X-Bapi-Limit-Status": "49",
            "X-Bapi-Limit-Reset-Timestamp": str(self.now_ms() + 1000),
        }
        return web.Response(body=orjson.dumps(body), content_type="application/json", headers=headers)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        seen = Seen(request.method, request.path, request.rel_url.raw_query_string, body, dict(request.headers))
        self.seen.append(seen)
        queue = self.script.get(request.path)
        action = queue.popleft() if queue else None
        if action in ("500", "502", "503", "404"):
            return web.Response(status=int(action), text="<html>upstream trouble</html>")
        if action == "403":
            return web.Response(status=403, text="access too frequent")
        if action == "10016":
            return self.envelope(None, 10016, "System error. Please try again later.")
        if action == "10006":
            response = self.envelope(None, 10006, "Too many visits!")
            response.headers["X-Bapi-Limit-Status"] = "0"
            response.headers["X-Bapi-Limit-Reset-Timestamp"] = str(self.now_ms() + self.reset_in_ms)
            return response
        if action == "drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if action == "hang":
            await self.release.wait()
            return web.Response(status=599)
        route = ROUTES[(request.method, request.path)]
        if route.signed:
            problem = self.check_signature(seen, "10002" if action == "10002" else None)
            if problem is not None:
                return problem
        params = seen.params if request.method == "GET" else orjson.loads(body or b"{}")
        response = route.handler(self, params)
        if action == "accept_drop":
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if action == "accept_garbled":
            return web.Response(status=200, text="<html>OK</html>")
        if action == "accept_no_id":
            return self.envelope({})
        return response

    def check_signature(self, seen: Seen, force: str | None) -> web.Response | None:
        headers = seen.headers
        key = headers.get("X-BAPI-API-KEY")
        if key != API_KEY:
            return self.envelope(None, 10003, "API key is invalid.")
        timestamp = headers["X-BAPI-TIMESTAMP"]
        window = headers["X-BAPI-RECV-WINDOW"]
        now = self.now_ms()
        if force == "10002" or not (now - int(window) <= int(timestamp) < now + 1000):
            return self.envelope(
                None,
                10002,
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{timestamp}],server_timestamp[{now}],recv_window[{window}]",
            )
        payload = seen.raw_query if seen.method == "GET" else seen.body.decode()
        expected = rest_signature(CANARY, timestamp, key, window, payload)
        if not signatures_match(expected, headers.get("X-BAPI-SIGN", "")) or self.invalid_sign_reply:
            origin = f"{timestamp}{key}{window}{payload}"
            return self.envelope(None, 10004, self.invalid_sign_reply or f"error sign! origin_string[{origin}]")
        return None

    # ------------------------------------------------------------------------------------------ paging

    def paged(self, records: list[dict[str, Any]], params: dict[str, str], default: int) -> dict[str, Any]:
        limit = self.page_size or int(params.get("limit", default))
        start = int(params["cursor"].split(":")[0]) if params.get("cursor") else 0
        page = records[start : start + limit]
        more = start + limit < len(records)
        # Bybit's cursors arrive percent-encoded; the client must send them back unchanged.
        cursor = f"{start + limit}%3A1%2C{start + limit}%3A1" if more else ""
        return {"list": page, "nextPageCursor": cursor, "category": params.get("category", "")}


@dataclass(frozen=True)
class Route:
    handler: Callable[[FakeBybit, dict[str, Any]], web.Response]
    signed: bool


def _time(fake: FakeBybit, params: dict[str, Any]) -> web.Response:
    now = fake.now_ms()
    return fake.envelope({"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)})


def _orderbook(fake: FakeBybit, params: dict[str, Any]) -> web.Response:
    return fake.envelope(fixture("docs_market_orderbook")["result"])


def _tickers(fake: FakeBybit, params: dict[str, Any]) -> web.Response:
    return fake.envelope(fixture("docs_market_tickers_spot")["result"])


def _recent(fake: FakeBybit, params: dict[str, Any]) -> web.Response:
    return fake.envelope(fixture("docs_market_recent_trade_spot")["result"])


def _instruments(fake: FakeBybit, params: dict[str, Any]) -> web.Response:
    return fake.envelope(fixture("docs_market_instruments_linear_perp")["result"])


def _wallet(fake: FakeBybit, params: dict[str, Any]) -> web.Response:
    return fake.envelope(fixture("docs_account_wallet_balance")["result"])


def _settled_in(records: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Bybit lists one settle coin at a time: USDT perpetuals end in USDT, USDC ones in PERP."""
    coin = params.get("settleCoin")
    suffix = {"USDT": "USDT", "USDC": "PERP"}.get(coin or "")
    return [r for r in records if suffix is None or r["symbol"].endswith(suffix)]


def _positions(fake: FakeBybit, params: dict[str, Any]) -> web.Response:
    return fake.envelope(fake.paged(_settled_in(fake.positions, params), params, 20))


def _realtime(fake: FakeBybit, params: dict[str, Any]) -> web.Response:
    orders = _settled_in(list(fake.orders.values()), params)
    if params.get("orderLinkId"):
        orders = [o for o in orders if o["orderLinkId"] == params["orderLinkId"]]
    if params.get("orderId"):
        orders = [o for o in orders if o["orderId"] == params["orderId"]]
    return fake.envelope(fake.paged(orders, params, 20))


def _executions(fake: FakeBybit, params: dict[str, Any]) -> web.Response:
    return fake.envelope(fake.paged(fake.executions, params, 50))


def _create(fake: FakeBybit, params: dict[str, Any]) -> web.Response:
    if Decimal(params["qty"]) > 100:
        return fake.envelope(None, 110007, "ab not enough for new order")
    link_id = params.get("orderLinkId") or ""
    if link_id in fake.orders:
        return fake.envelope(None, 110072, "OrderLinkedID is duplicate")
    order_id = f"order-{fake.next_id}"
    fake.next_id += 1
    fake.orders[link_id] = {
        "orderId": order_id,
        "orderLinkId": link_id,
        "symbol": params["symbol"],
        "side": params["side"],
        "orderType": params["orderType"],
        "price": params.get("price", "0"),
        "qty": params["qty"],
        "cumExecQty": "0",
        "leavesQty": params["qty"],
        "orderStatus": "New",
        "timeInForce": params.get("timeInForce", "GTC"),
        "updatedTime": str(fake.now_ms()),
    }
    return fake.envelope({"orderId": order_id, "orderLinkId": link_id})


def _cancel(fake: FakeBybit, params: dict[str, Any]) -> web.Response:
    for order in fake.orders.values():
        if order["orderId"] == params.get("orderId") or order["orderLinkId"] == params.get("orderLinkId"):
            order["orderStatus"] = "Cancelled"
            return fake.envelope({"orderId": order["orderId"], "orderLinkId": order["orderLinkId"]})
    return fake.envelope(None, 110001, "Order does not exist")


def _query_api(fake: FakeBybit, params: dict[str, Any]) -> web.Response:
    return fake.envelope({"apiKey": API_KEY, "readOnly": 0, "permissions": {"ContractTrade": ["Order"]}})


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/v5/market/time"): Route(_time, False),
    ("GET", "/v5/market/orderbook"): Route(_orderbook, False),
    ("GET", "/v5/market/tickers"): Route(_tickers, False),
    ("GET", "/v5/market/recent-trade"): Route(_recent, False),
    ("GET", "/v5/market/instruments-info"): Route(_instruments, False),
    ("GET", "/v5/account/wallet-balance"): Route(_wallet, True),
    ("GET", "/v5/position/list"): Route(_positions, True),
    ("GET", "/v5/order/realtime"): Route(_realtime, True),
    ("GET", "/v5/execution/list"): Route(_executions, True),
    ("POST", "/v5/order/create"): Route(_create, True),
    ("POST", "/v5/order/cancel"): Route(_cancel, True),
    ("GET", "/v5/user/query-api"): Route(_query_api, True),
}


@contextlib.asynccontextmanager
async def serving_fake_bybit() -> AsyncIterator[FakeBybit]:
    """A :class:`FakeBybit` listening on a free loopback port until the block ends."""
    bybit = FakeBybit()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", bybit.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    bybit.server = server
    try:
        yield bybit
    finally:
        bybit.release.set()
        await server.close()


class Sleeps:
    """An injected ``sleep`` that records what was asked and returns at once."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


def make_client(fake: FakeBybit, **kwargs: Any) -> RestClient:
    kwargs.setdefault("sleep", Sleeps())
    return RestClient(fake.url, kwargs.pop("credentials", credentials()), **kwargs)


def demo_credentials() -> Credentials:
    return Credentials(DEMO_API_KEY, Secret(DEMO_API_SECRET))


def sim_client(sim: SimServer, **kwargs: Any) -> RestClient:
    kwargs.setdefault("sleep", Sleeps())
    return RestClient(Endpoints.for_base_url(sim.base_url), demo_credentials(), **kwargs)
