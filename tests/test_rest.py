"""The signed REST client against a small scripted Bybit (this file) and against the local exchange.

The scripted server checks every signature over the raw bytes it received (with the same
:func:`exchange.bybit.signing.rest_signature` Bybit's rules define) and records each request, so tests can
assert what went on the wire; it can also misbehave on cue (5xx, dropped connections, hangs, 10002, 10006,
403), which :mod:`tests.test_rest_faults` uses for what the simulator cannot do.
"""

from __future__ import annotations

import asyncio
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
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from exchange.bybit.errors import AuthenticationError, BybitError
from exchange.bybit.rest import RestClient, new_order_link_id
from exchange.bybit.rest_transport import encode_query, redact_headers
from exchange.bybit.signing import rest_signature, signatures_match
from exchange.config import Endpoints
from exchange.secrets import Credentials, Secret

FIXTURES = Path(__file__).parent / "fixtures" / "bybit" / "rest"
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


@pytest.fixture(name="fake")
async def fake_bybit() -> AsyncIterator[FakeBybit]:
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


def position_record(symbol: str, size: str = "1", side: str = "Buy") -> dict[str, Any]:
    return {
        "symbol": symbol,
        "side": side,
        "size": size,
        "avgPrice": "100.5",
        "markPrice": "101",
        "liqPrice": "",
        "unrealisedPnl": "0.5",
        "cumRealisedPnl": "-1.25",
        "leverage": "10",
        "positionIM": "10.05",
        "updatedTime": "1697673600012",
    }


def execution_record(n: int, time_ms: int) -> dict[str, Any]:
    return {
        "execId": f"e-{n}",
        "symbol": "BTCUSDT",
        "side": "Buy",
        "execType": "Trade",
        "execQty": "0.001",
        "execPrice": "60000",
        "execFee": "0.033",
        "execTime": str(time_ms),
        "orderId": f"o-{n}",
    }


# ================================================================================================ wire bytes


def test_query_is_sorted_encoded_and_drops_none() -> None:
    query = encode_query(
        {
            "symbol": "BTCUSDT",
            "category": "linear",
            "cursor": None,
            "coin": "USDT,BTC",
            "qty": Decimal("0.0010"),
            "flag": True,
        }
    )
    assert query == "category=linear&coin=USDT%2CBTC&flag=true&qty=0.0010&symbol=BTCUSDT"


def test_order_link_ids_are_unique_and_fit_bybit() -> None:
    ids = {new_order_link_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) <= 36 and i.startswith("fx-") for i in ids)


def test_debug_headers_are_redacted() -> None:
    shown = redact_headers({"X-BAPI-SIGN": "abc", "X-BAPI-API-KEY": API_KEY, "X-BAPI-TIMESTAMP": "1"})
    assert shown == {"X-BAPI-SIGN": "<redacted>", "X-BAPI-API-KEY": "<redacted>", "X-BAPI-TIMESTAMP": "1"}
    from exchange.bybit.rest_transport import _WireHeaders  # what a traceback with locals would show

    wire = _WireHeaders({"X-BAPI-SIGN": "abcdef", "X-BAPI-API-KEY": API_KEY})
    assert "abcdef" not in repr(wire) and API_KEY not in repr(wire) and wire["X-BAPI-SIGN"] == "abcdef"


async def test_get_signs_the_exact_query_on_the_wire(fake: FakeBybit) -> None:
    fake.positions = [position_record("BTCUSDT")]
    async with make_client(fake) as client:
        positions = await client.positions("linear", symbol="BTCUSDT")
    request = [s for s in fake.seen if s.path == "/v5/position/list"][0]
    assert request.raw_query == "category=linear&limit=200&symbol=BTCUSDT"
    headers = request.headers
    assert headers["X-BAPI-API-KEY"] == API_KEY
    assert headers["X-BAPI-RECV-WINDOW"] == "5000"
    expected = rest_signature(CANARY, headers["X-BAPI-TIMESTAMP"], API_KEY, "5000", request.raw_query)
    assert headers["X-BAPI-SIGN"] == expected
    assert positions[0].size == Decimal("1") and positions[0].avg_price == Decimal("100.5")


async def test_post_signs_and_sends_the_same_json_bytes(fake: FakeBybit) -> None:
    async with make_client(fake) as client:
        ack = await client.place_order(
            "linear",
            "BTCUSDT",
            "Buy",
            "Limit",
            Decimal("0.010"),
            Decimal("25000.5"),
            time_in_force="GTC",
            order_link_id="my-link-1",
        )
    create = [s for s in fake.seen if s.path == "/v5/order/create"][0]
    assert create.body == (
        b'{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Limit","qty":"0.010",'
        b'"price":"25000.5","timeInForce":"GTC","orderLinkId":"my-link-1"}'
    )
    assert create.raw_query == ""
    assert create.headers["Content-Type"] == "application/json"
    expected = rest_signature(CANARY, create.headers["X-BAPI-TIMESTAMP"], API_KEY, "5000", create.body.decode())
    assert create.headers["X-BAPI-SIGN"] == expected
    assert ack.order_link_id == "my-link-1" and ack.order_id == "order-1" and not ack.resolved


async def test_public_reads_carry_no_keys_and_parse(fake: FakeBybit) -> None:
    async with RestClient(Endpoints.for_base_url(fake.url), None, sleep=Sleeps()) as client:
        book = await client.orderbook("spot", "BTCUSDT", 1)
        trades = await client.recent_trades("spot", "BTCUSDT", 2)
        tickers = await client.tickers("spot", "BTCUSDT")
        instruments = await client.instruments("linear", "BTCUSDT")
        server_ms = await client.server_time_ms()
    assert all("X-BAPI-SIGN" not in s.headers and "X-BAPI-API-KEY" not in s.headers for s in fake.seen)
    assert book.bids[0] == (Decimal("65485.47"), Decimal("47.081829"))
    assert book.asks[0] == (Decimal("65557.7"), Decimal("16.606555"))
    assert book.u == 230704 and book.cts == 1716863718905
    assert trades and all(isinstance(t.price, Decimal) for t in trades)
    assert [t.time_ms for t in trades] == sorted(t.time_ms for t in trades)
    assert tickers[0]["symbol"] == "BTCUSDT"
    assert instruments[0]["lotSizeFilter"]["qtyStep"] == "0.001"
    assert abs(server_ms - fake.now_ms()) < 60_000


async def test_private_call_without_keys_is_refused_locally(fake: FakeBybit) -> None:
    async with make_client(fake, credentials=None) as client:
        with pytest.raises(AuthenticationError, match="needs API keys"):
            await client.wallet_balance()
    assert fake.count("/v5/account/wallet-balance") == 0


# ================================================================================================ clock


async def test_clock_offset_is_server_minus_local_midpoint(fake: FakeBybit) -> None:
    local = 1_700_000_000.0
    fake.fixed_server_ms = int(local * 1000) + 30_000
    async with make_client(fake, clock=lambda: local) as client:
        offset = await client.sync_clock()
        assert offset == pytest.approx(30_000)
        assert client.server_now_ms() == fake.fixed_server_ms
        await client.wallet_balance()  # signed with the corrected clock: accepted
    signed = [s for s in fake.seen if s.path == "/v5/account/wallet-balance"]
    assert int(signed[0].headers["X-BAPI-TIMESTAMP"]) == fake.fixed_server_ms


async def test_clock_is_synced_lazily_before_the_first_signed_request(fake: FakeBybit) -> None:
    fake.server_offset_ms = -40_000  # far outside recv_window if the client trusted its own clock
    async with make_client(fake) as client:
        await client.tickers("spot")  # public: no sync needed
        assert fake.count("/v5/market/time") == 0
        await client.wallet_balance()
        await client.wallet_balance()
    assert [s.path for s in fake.seen] == [
        "/v5/market/tickers",
        "/v5/market/time",
        "/v5/account/wallet-balance",
        "/v5/account/wallet-balance",
    ]
    assert client.stats.timestamp_rejections == 0


# ================================================================================================ reads


async def test_wallet_balance_is_exact(fake: FakeBybit) -> None:
    async with make_client(fake) as client:
        wallet = await client.wallet_balance()
        raw = await client.wallet_balance_raw()
    assert wallet.total_equity == Decimal("3.31216591")
    assert wallet.total_available == Decimal("3.00326056")
    assert wallet.coins[0].coin == "BTC"
    assert raw["accountType"] == "UNIFIED"
    assert fake.seen[-1].params == {"accountType": "UNIFIED"}


async def test_positions_follow_the_cursor_unchanged(fake: FakeBybit) -> None:
    fake.positions = [position_record(f"S{i}USDT", size=str(i + 1), side="Sell" if i % 2 else "Buy") for i in range(5)]
    fake.positions.append(position_record("BTCPERP", size="1"))  # USDC-settled: listed only for settleCoin=USDC
    fake.page_size = 2
    async with make_client(fake) as client:
        positions = await client.positions("linear")
    assert [p.symbol for p in positions] == [f"S{i}USDT" for i in range(5)] + ["BTCPERP"]
    assert positions[1].size == Decimal("-2")
    pages = [s for s in fake.seen if s.path == "/v5/position/list"]
    assert len(pages) == 4  # USDT in three pages, then USDC
    assert pages[0].params == {"category": "linear", "limit": "200", "settleCoin": "USDT"}
    assert pages[3].params == {"category": "linear", "limit": "200", "settleCoin": "USDC"}
    # Bybit's cursor came back percent-encoded; it goes out exactly as received.
    assert "cursor=2%3A1%2C2%3A1" in pages[1].raw_query
    assert pages[1].params["cursor"] == "2:1,2:1"


async def test_open_orders_and_lookups(fake: FakeBybit) -> None:
    async with make_client(fake) as client:
        for i in range(3):
            await client.place_order(
                "linear",
                "BTCUSDT",
                "Sell",
                "Limit",
                Decimal("0.01"),
                Decimal(70000 + i),
                order_link_id=f"link-{i}",
            )
        fake.page_size = 2
        orders = await client.open_orders("linear")
        found = await client.order_by_link_id("linear", "BTCUSDT", "link-1")
        missing = await client.order_by_link_id("linear", "BTCUSDT", "nope")
        by_id = await client.order("linear", "BTCUSDT", order_id="order-3")
        cancelled = await client.cancel_order("linear", "BTCUSDT", order_link_id="link-0")
    assert [o.order_link_id for o in orders] == ["link-0", "link-1", "link-2"]
    assert orders[0].price == Decimal("70000") and orders[0].is_open
    assert found is not None and found.order_id == "order-2"
    assert missing is None
    assert by_id is not None and by_id.order_link_id == "link-2"
    assert cancelled.order_id == "order-1"
    assert fake.orders["link-0"]["orderStatus"] == "Cancelled"


async def test_executions_all_pages_unique_oldest_first(fake: FakeBybit) -> None:
    base = 1_700_000_000_000
    newest_first = [execution_record(n, base + n * 1000) for n in range(7, -1, -1)]
    # A fill that arrived while paging shows up again on the next page: the same execId twice.
    fake.executions = newest_first[:4] + [newest_first[3]] + newest_first[4:]
    fake.page_size = 3
    async with make_client(fake) as client:
        records = await client.executions("linear", symbol="BTCUSDT", limit=3)
    assert [r["execId"] for r in records] == [f"e-{n}" for n in range(8)]
    assert records[0] == execution_record(0, base)  # raw Bybit records, untouched
    assert fake.count("/v5/execution/list") == 3


async def test_executions_older_than_seven_days_are_read_window_by_window(fake: FakeBybit) -> None:
    local = 1_700_000_000.0
    fake.fixed_server_ms = int(local * 1000)
    start = fake.fixed_server_ms - 15 * 24 * 3600 * 1000
    async with make_client(fake, clock=lambda: local) as client:
        await client.executions("linear", start_time_ms=start)
    windows = [
        (int(s.params["startTime"]), int(s.params.get("endTime", 0)))
        for s in fake.seen
        if s.path == "/v5/execution/list"
    ]
    week = 7 * 24 * 3600 * 1000
    assert len(windows) == 3
    assert windows[0][0] == start
    assert all(end - begin == week - 1 for begin, end in windows[:2])
    assert all(windows[i + 1][0] == windows[i][1] + 1 for i in range(2))
    assert windows[2][1] == 0  # the newest window is open-ended: Bybit ends it seven days on
    assert fake.fixed_server_ms - windows[2][0] < week


@pytest.mark.parametrize("years_back", [3, 3000])
async def test_executions_are_read_back_two_years_at_most(fake: FakeBybit, years_back: int) -> None:
    """Bybit keeps two years of executions: a start further back (a journal left for years, or an exchange
    whose clock says it is the year 5000) is read from two years before now, ~105 windows, not one per week
    of the gap (156 for three years, 156,000 for three thousand)."""
    local = 1_700_000_000.0
    year = 365 * 24 * 3600 * 1000
    fake.fixed_server_ms = int(local * 1000) + (years_back - 3) * year  # the exchange's clock far ahead
    start = int(local * 1000) - 3 * year
    async with make_client(fake, clock=lambda: local) as client:
        await client.executions("linear", start_time_ms=start)
    begins = [int(s.params["startTime"]) for s in fake.seen if s.path == "/v5/execution/list"]
    week = 7 * 24 * 3600 * 1000
    assert len(begins) <= 2 * 365 // 7 + 2
    assert fake.fixed_server_ms - begins[0] <= 2 * 365 * 24 * 3600 * 1000
    assert all(later - earlier == week for earlier, later in zip(begins, begins[1:], strict=False))


async def test_query_api_and_rate_limit_headers(fake: FakeBybit) -> None:
    async with make_client(fake) as client:
        info = await client.query_api()
        status = client.last_rate_limit
        per_path = client.transport.rate_limits
    assert info["apiKey"] == API_KEY
    assert status is not None and status.path == "/v5/user/query-api"
    assert (status.limit, status.remaining) == (50, 49) and status.reset_ms
    assert set(per_path) == {"/v5/market/time", "/v5/user/query-api"}


# ================================================================================================ errors


async def test_business_error_keeps_bybits_code_and_message(fake: FakeBybit) -> None:
    async with make_client(fake) as client:
        with pytest.raises(BybitError) as caught:
            await client.place_order("linear", "BTCUSDT", "Buy", "Market", Decimal("1000"))
    error = caught.value
    assert (error.ret_code, error.ret_msg, error.http_status) == (110007, "ab not enough for new order", 200)
    assert type(error) is BybitError
    assert fake.count("/v5/order/create") == 1


async def test_bad_signature_is_an_authentication_error_without_origin_string(fake: FakeBybit) -> None:
    async with RestClient(fake.url, Credentials(API_KEY, Secret("wrong-secret")), sleep=Sleeps()) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.wallet_balance()
    error = caught.value
    assert error.ret_code == 10004
    assert "origin_string[redacted]" in str(error)
    assert API_KEY not in str(error) and API_KEY not in repr(error)
    assert fake.count("/v5/account/wallet-balance") == 1  # a rejected key is not retried


async def test_unknown_key_is_an_authentication_error(fake: FakeBybit) -> None:
    async with RestClient(fake.url, Credentials("OTHERKEY000", Secret(CANARY)), sleep=Sleeps()) as client:
        with pytest.raises(AuthenticationError, match="10003"):
            await client.query_api()


# ======================================================================================== the local exchange


@pytest.fixture(name="sim")
async def local_exchange() -> AsyncIterator[Any]:
    """The real simulator, market frozen (it moves only when a test says so), no demo trader."""
    from exchange.bybit.sim.server import SimConfig, SimServer

    async with SimServer(SimConfig(demo_trader=False, run_market=False, publish=False)) as server:
        yield server


def demo_credentials() -> Credentials:
    from exchange.bybit.sim.demo_credentials import DEMO_API_KEY, DEMO_API_SECRET

    return Credentials(DEMO_API_KEY, Secret(DEMO_API_SECRET))


def sim_client(sim: Any, **kwargs: Any) -> RestClient:
    kwargs.setdefault("sleep", Sleeps())
    return RestClient(Endpoints.for_base_url(sim.base_url), demo_credentials(), **kwargs)


@pytest.mark.integration
async def test_sim_market_reads(sim: Any) -> None:
    async with sim_client(sim) as client:
        server_ms = await client.server_time_ms()
        book = await client.orderbook("linear", "BTCUSDT", 25)
        instruments = await client.instruments("linear")
        tickers = await client.tickers("linear", "BTCUSDT")
    assert server_ms == pytest.approx(sim.clock.now_ms(), abs=5_000)
    assert book.symbol == "BTCUSDT" and len(book.bids) == 25 and len(book.asks) == 25
    assert book.bids[0][0] < book.asks[0][0]
    assert [b[0] for b in book.bids] == sorted((b[0] for b in book.bids), reverse=True)
    assert {"BTCUSDT", "ETHUSDT"} <= {i["symbol"] for i in instruments}
    assert tickers[0]["symbol"] == "BTCUSDT" and Decimal(tickers[0]["markPrice"]) > 0


@pytest.mark.integration
async def test_sim_account_round_trip(sim: Any) -> None:
    async with sim_client(sim) as client:
        wallet = await client.wallet_balance()
        assert wallet.total_equity > 0 and wallet.coins[0].coin == "USDT"
        assert [p for p in await client.positions("linear") if p.size] == []

        filled = await client.place_order("linear", "BTCUSDT", "Buy", "Market", Decimal("0.010"))
        positions = {p.symbol: p for p in await client.positions("linear")}
        assert positions["BTCUSDT"].size == Decimal("0.010")
        order = await client.order_by_link_id("linear", "BTCUSDT", filled.order_link_id)
        assert order is not None and order.status == "Filled" and order.order_id == filled.order_id

        book = await client.orderbook("linear", "BTCUSDT", 1)
        resting_price = (book.bids[0][0] * Decimal("0.9")).quantize(Decimal("0.1"))
        resting = await client.place_order(
            "linear", "BTCUSDT", "Buy", "Limit", Decimal("0.001"), resting_price, order_link_id="rest-sim-1"
        )
        open_orders = await client.open_orders("linear")
        assert [o.order_link_id for o in open_orders] == ["rest-sim-1"]
        assert open_orders[0].price == resting_price and open_orders[0].status == "New"
        cancelled = await client.cancel_order("linear", "BTCUSDT", order_link_id="rest-sim-1")
        assert cancelled.order_id == resting.order_id
        assert await client.open_orders("linear") == []
        after = await client.order("linear", "BTCUSDT", order_id=resting.order_id)
        assert after is not None and after.status == "Cancelled"

        with pytest.raises(BybitError) as caught:
            await client.place_order("linear", "BTCUSDT", "Buy", "Market", Decimal("1000"))
        assert caught.value.ret_code == 110007
        info = await client.query_api()
    assert info["apiKey"] == demo_credentials().api_key and info["readOnly"] == 0
    assert client.stats.timestamp_rejections == 0 and client.stats.retries == 0


@pytest.mark.integration
async def test_sim_executions_every_page_oldest_first(sim: Any) -> None:
    async with sim_client(sim) as client:
        link_ids = []
        for _ in range(5):
            ack = await client.place_order("linear", "ETHUSDT", "Buy", "Market", Decimal("0.01"))
            link_ids.append(ack.order_link_id)
        requests_before = client.stats.requests
        records = await client.executions("linear", limit=2)
        pages = client.stats.requests - requests_before
        since_third = await client.executions("linear", start_time_ms=int(records[2]["execTime"]), symbol="ETHUSDT")
    assert pages >= 3  # five or more fills, two per page
    assert [r["orderLinkId"] for r in records if r["orderLinkId"] in link_ids] == link_ids
    assert len({r["execId"] for r in records}) == len(records)
    assert [int(r["execTime"]) for r in records] == sorted(int(r["execTime"]) for r in records)
    assert all(isinstance(r["execQty"], str) for r in records)  # raw Bybit strings, for the journal
    assert {r["execId"] for r in records[2:]} <= {r["execId"] for r in since_third}
