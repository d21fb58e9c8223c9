"""The signed REST client against a small scripted Bybit (:mod:`tests.support.fake_bybit`, which checks every
signature and records what went on the wire) and against the local exchange."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from exchange.bybit.errors import AuthenticationError, BybitError
from exchange.bybit.rest import RestClient, new_order_link_id
from exchange.bybit.rest_transport import encode_query, redact_headers
from exchange.bybit.signing import rest_signature
from exchange.config import Endpoints
from exchange.secrets import Credentials, Secret
from tests.support.fake_bybit import API_KEY, CANARY, FakeBybit, Sleeps, demo_credentials, make_client, sim_client


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
