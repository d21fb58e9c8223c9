"""The local exchange serving inverse contracts end to end: pybit, Fluxum's REST client and the CLI against it.

The coin figures are checked against Bybit's inverse formulas from the prices the exchange reports (the market
moves by itself here); ``test_inverse_account.py`` checks every figure to the digit on a hand-built book.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pybit import unified_trading

from app.cli import UserError, build_parser
from app.commands.sim import build_config
from exchange.bybit.rest import RestClient
from exchange.bybit.sim.demo_credentials import DEMO_API_KEY, DEMO_API_SECRET
from exchange.bybit.sim.records import money
from exchange.bybit.sim.server import SimConfig, SimServer
from exchange.config import Environment, Settings
from exchange.secrets import Credentials, Secret
from tests.support.pybit_thread import ExchangeThread, Inbox, eventually, http, tolerate_fast_acks, wait_subscribed
from tests.support.recorded import fixture
from tests.support.sim import assert_same_shape, make_config

D = Decimal
TAKER = D("0.00055")
INVERSE = {"symbols": ("BTCUSDT", "ETHUSDT"), "categories": ("linear", "inverse")}


@pytest.fixture(scope="module")
def exchange() -> Iterator[ExchangeThread]:
    config = SimConfig(seed=43, demo_trader=False, market_interval_s=0.02, **INVERSE)  # type: ignore[arg-type]
    with ExchangeThread(config) as running:
        yield running


# ---------------------------------------------------------------------------------------------- pybit HTTP


def test_pybit_reads_the_inverse_instruments(exchange: ExchangeThread) -> None:
    session = http(exchange)
    listed = session.get_instruments_info(category="inverse")["result"]
    assert listed["category"] == "inverse"
    by_symbol = {item["symbol"]: item for item in listed["list"]}
    assert sorted(by_symbol) == ["BTCUSD", "ETHUSD"]
    btc, eth = by_symbol["BTCUSD"], by_symbol["ETHUSD"]
    assert btc["contractType"] == "InversePerpetual" and btc["settleCoin"] == "BTC" and btc["quoteCoin"] == "USD"
    assert eth["settleCoin"] == "ETH" and eth["baseCoin"] == "ETH"
    assert btc["priceFilter"]["tickSize"] == "0.50" and eth["priceFilter"]["tickSize"] == "0.05"
    assert btc["lotSizeFilter"]["qtyStep"] == "1" and btc["lotSizeFilter"]["minOrderQty"] == "1"
    linear = session.get_instruments_info(category="linear", symbol="BTCUSDT")["result"]["list"][0]
    assert list(btc) == list(linear)  # Bybit gives linear and inverse one shape
    assert_same_shape(btc, linear)


def test_pybit_reads_inverse_tickers_and_book_in_bybits_shape(exchange: ExchangeThread) -> None:
    session = http(exchange)
    ticker = session.get_tickers(category="inverse", symbol="BTCUSD")["result"]
    doc = fixture("rest/docs_market_tickers_inverse.json")["result"]
    assert ticker["category"] == "inverse"
    item = ticker["list"][0]
    assert list(item) == list(doc["list"][0])
    assert_same_shape(item, doc["list"][0])
    # open interest is in contracts of 1 USD, so its value is in BTC: contracts / mark, at 2 places
    assert D(item["openInterestValue"]) == (D(item["openInterest"]) / D(item["markPrice"])).quantize(D("0.01"))
    assert item["volume24h"].endswith(".0000") and len(item["turnover24h"].split(".")[1]) == 4
    book = session.get_orderbook(category="inverse", symbol="BTCUSD", limit=50)["result"]
    assert book["s"] == "BTCUSD" and len(book["b"]) == 50 and len(book["a"]) == 50
    assert D(book["b"][0][0]) < D(book["a"][0][0]) and D(book["b"][0][0]) % D("0.5") == 0


def test_pybit_places_an_inverse_order_and_sees_coin_pushes(exchange: ExchangeThread, ws_urls: None) -> None:
    pushes = Inbox()
    ws = unified_trading.WebSocket(
        testnet=False, channel_type="private", api_key=DEMO_API_KEY, api_secret=DEMO_API_SECRET
    )
    tolerate_fast_acks(ws)
    try:
        ws.execution_stream(callback=pushes)
        ws.position_stream(callback=pushes)
        ws.wallet_stream(callback=pushes)
        wait_subscribed(exchange, "wallet")
        eventually(lambda: ws.auth is True, "pybit's auth flag")
        session = http(exchange)
        placed = session.place_order(
            category="inverse", symbol="BTCUSD", side="Buy", orderType="Market", qty="700", orderLinkId="inv-1"
        )
        assert placed["retCode"] == 0
        got = pushes.wait(lambda items: {m["topic"] for m in items} >= {"execution", "position", "wallet"})
        fills = [r for m in got if m["topic"] == "execution" for r in m["data"] if r["orderLinkId"] == "inv-1"]
        assert fills and {r["category"] for r in fills} == {"inverse"}
        value = fee = D(0)
        for fill in fills:
            # execValue = contracts / price in BTC; execFee = taker rate x that value, both at 8 places
            qty, price = D(fill["execQty"]), D(fill["execPrice"])
            assert D(fill["execValue"]) == money(qty / price) and fill["feeCurrency"] == "BTC"
            assert D(fill["execFee"]) == money(qty / price * TAKER)
            value += qty / price
            fee += D(fill["execFee"])
        assert sum(D(r["execQty"]) for r in fills) == 700
        position = next(r for m in got if m["topic"] == "position" for r in m["data"] if r["symbol"] == "BTCUSD")
        entry = D(position["entryPrice"])
        # the entry is the harmonic mean of the fills: 700 / sum(qty / price)
        assert position["category"] == "inverse" and position["size"] == "700"
        assert entry == money(700 / value)
        assert D(position["positionValue"]) == money(700 / entry)
        wallet = _eventually_wallet(pushes)
        btc = next(c for c in wallet["coin"] if c["coin"] == "BTC")
        assert D(btc["walletBalance"]) == 1 - fee  # the demo account's 1 BTC less the fees, in BTC
        listed = session.get_executions(category="inverse", symbol="BTCUSD")["result"]
        assert listed["category"] == "inverse"
        assert {r["execId"] for r in listed["list"]} >= {r["execId"] for r in fills}
        positions = session.get_positions(category="inverse")["result"]["list"]
        assert [p["symbol"] for p in positions] == ["BTCUSD"] and positions[0]["size"] == "700"
        assert session.get_positions(category="inverse", settleCoin="ETH")["result"]["list"] == []
        assert session.get_positions(category="inverse", settleCoin="BTC")["result"]["list"][0]["symbol"] == "BTCUSD"
        assert (
            session.set_leverage(category="inverse", symbol="BTCUSD", buyLeverage="5", sellLeverage="5")["retCode"] == 0
        )
        assert session.get_positions(category="inverse", symbol="BTCUSD")["result"]["list"][0]["leverage"] == "5"
        assert_same_shape(positions[0], fixture("rest/docs_position_list_inverse.json")["result"]["list"][0])
        balance = session.get_wallet_balance(accountType="UNIFIED", coin="BTC")["result"]["list"][0]
        assert [c["coin"] for c in balance["coin"]] == ["BTC"]
        session.place_order(
            category="inverse", symbol="BTCUSD", side="Sell", orderType="Market", qty="700", reduceOnly=True
        )
    finally:
        ws.exit()


def _eventually_wallet(pushes: Inbox) -> dict[str, Any]:
    got = pushes.wait(lambda items: any(m["topic"] == "wallet" for m in items))
    return next(m for m in reversed(got) if m["topic"] == "wallet")["data"][0]


# ------------------------------------------------------------------------------------------- pybit public WS


def test_pybit_streams_the_inverse_public_topics(exchange: ExchangeThread, ws_urls: None) -> None:
    books, tickers, trades = Inbox(), Inbox(), Inbox()
    ws = unified_trading.WebSocket(testnet=False, channel_type="inverse")
    tolerate_fast_acks(ws)
    try:
        ws.orderbook_stream(depth=50, symbol="BTCUSD", callback=books)
        ws.ticker_stream(symbol="ETHUSD", callback=tickers)
        ws.trade_stream(symbol="BTCUSD", callback=trades)
        book = books.wait(lambda items: len(items) >= 2)[-1]["data"]
        assert book["s"] == "BTCUSD" and len(book["b"]) == 50
        ticker = tickers.wait(lambda items: bool(items))[0]
        assert ticker["topic"] == "tickers.ETHUSD" and ticker["data"]["symbol"] == "ETHUSD"
        trade = trades.wait(lambda items: bool(items))[0]["data"][0]
        assert trade["s"] == "BTCUSD" and D(trade["v"]) % 1 == 0 and D(trade["p"]) % D("0.5") == 0
    finally:
        ws.exit()


# ------------------------------------------------------------------------------------------ Fluxum's client


@pytest.fixture
async def inverse_sim() -> AsyncIterator[SimServer]:
    async with SimServer(make_config(**INVERSE)) as server:
        yield server


async def test_fluxums_rest_client_reads_inverse_markets_and_the_account(inverse_sim: SimServer) -> None:
    async with aiohttp.ClientSession() as http_session:
        client = RestClient(
            inverse_sim.base_url, Credentials(DEMO_API_KEY, Secret(DEMO_API_SECRET)), session=http_session
        )
        instruments = await client.instruments("inverse")
        assert [i["symbol"] for i in instruments] == ["BTCUSD", "ETHUSD"]
        book = await client.orderbook("inverse", "ETHUSD", limit=25)
        assert book.symbol == "ETHUSD" and len(book.bids) == 25
        ack = await client.place_order("inverse", "ETHUSD", "Sell", "Market", D("350"))
        assert ack.order_link_id
        [position] = await client.positions("inverse")
        assert position.symbol == "ETHUSD" and position.size == -350  # a short, in contracts
        executions = await client.executions("inverse", symbol="ETHUSD")
        assert sum(D(e["execQty"]) for e in executions) == 350
        fees = sum(D(e["execFee"]) for e in executions)
        wallet = await client.wallet_balance()
        eth = next(c for c in wallet.coins if c.coin == "ETH")
        assert eth.wallet_balance == 10 - fees  # 10 ETH less the fees, in ETH
        usdt = next(c for c in wallet.coins if c.coin == "USDT")
        assert usdt.wallet_balance == D("100000")  # linear money untouched


async def test_a_linear_only_exchange_has_no_coin_wallets() -> None:
    async with SimServer(make_config()) as server:
        assert server.exchange.account.coin_balances == {}
        record = server.exchange.wallet_record()
        assert [c["coin"] for c in record["coin"]] == ["USDT"] and record["totalEquity"] == "100000"


# ------------------------------------------------------------------------------------------------ the CLI


def _config(*argv: str) -> SimConfig:
    return build_config(build_parser().parse_args(["sim", *argv]), {})


def test_fluxum_sim_lists_inverse_symbols_and_trades_them_when_asked() -> None:
    config = _config("--symbols", "BTCUSD,ETHUSD", "--categories", "inverse", "--demo-trader-category", "inverse")
    assert config.symbols == ("BTCUSD", "ETHUSD") and config.categories == ("inverse",)
    assert config.demo_trader_category == "inverse"
    assert _config().demo_trader_category == "linear"
    with pytest.raises(UserError, match="lists nothing"):
        _config("--symbols", "BTCUSD", "--categories", "linear")
    with pytest.raises(UserError, match="needs inverse among --categories"):
        _config("--demo-trader-category", "inverse")
    with pytest.raises(UserError, match="linear or inverse"):
        _config("--demo-trader-category", "spot", "--categories", "spot")


async def test_an_inverse_demo_trader_runs_on_the_server() -> None:
    config = make_config(symbols=("BTCUSD",), categories=("inverse",), demo_trader_category="inverse")
    async with SimServer(config) as server:
        from exchange.bybit.sim.demo_trader import DemoTrader

        trader = DemoTrader(server.exchange, seed=5, category="inverse")
        actions = [trader.act() for _ in range(20)]
        assert "rejected" not in actions
        assert {e.symbol for e in server.exchange.account.executions} == {"BTCUSD"}


async def test_an_embedded_exchange_for_an_inverse_desk_lists_and_trades_inverse(tmp_path: Path) -> None:
    from app.runtime import open_runtime

    settings = Settings(Environment.SIM, None, None, symbols=("BTCUSD", "ETHUSD"), category="inverse")
    async with open_runtime(settings, demo_trader=False, journal_dir=tmp_path) as runtime:
        assert runtime.dropped_symbols == () and runtime.sim is not None
        assert "inverse" in runtime.sim.config.categories and runtime.sim.config.demo_trader_category == "inverse"
        assert [i["symbol"] for i in await runtime.rest.instruments("inverse")] == ["BTCUSD", "ETHUSD"]
        assert await runtime.rest.positions("inverse") == []
    linear = Settings(Environment.SIM, None, None, symbols=("BTCUSDT", "BTCUSD"), category="linear")
    async with open_runtime(linear, demo_trader=False, journal_dir=tmp_path, unlisted="drop") as runtime:
        assert runtime.dropped_symbols == ("BTCUSD",)  # an inverse symbol is not listed for a linear desk
        assert runtime.sim is not None and runtime.sim.config.categories == ("linear", "spot")
