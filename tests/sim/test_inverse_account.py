"""Inverse contracts (BTCUSD, ETHUSD) on the demo account, against a hand-built book: every coin figure by hand.

Bybit's inverse arithmetic (contracts of 1 USD, money in the base coin): value = contracts / price, fee =
rate x value, average entry = contracts / sum(contracts / price) (the harmonic mean), closed P&L =
contracts x (1/entry - 1/exit) for a long and mirrored for a short, funding = rate x contracts / mark.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.bybit.executions import fill_from_execution
from exchange.bybit.sim.clock import SimClock
from exchange.bybit.sim.demo_trader import DemoTrader
from exchange.bybit.sim.instruments import Instrument, build_instruments
from exchange.bybit.sim.records import Rejection, money
from exchange.bybit.sim.venue import SimExchange
from exchange.bybit.sim.wire import order_record
from exchange.ledger import Ledger
from tests.support.fake_market import T0, FakeMarket, Pushes

D = Decimal


class InverseMarket(FakeMarket):
    """The fake market listing BTC and ETH linear and inverse, with books and trades in any category."""

    def __init__(self, clock: SimClock) -> None:
        super().__init__(clock)
        listed = build_instruments(("BTCUSDT", "ETHUSDT"), ("linear", "inverse"))
        self._instruments = {(i.category, i.symbol): i for i in listed}

    def book_of(self, category: str, symbol: str, bids: list[tuple[str, str]], asks: list[tuple[str, str]]) -> None:
        self.books[(category, symbol)] = {
            "bid": [(D(p), D(q)) for p, q in bids],
            "ask": [(D(p), D(q)) for p, q in asks],
        }

    def instrument(self, category: str, symbol: str) -> Instrument:
        return self._instruments[(category, symbol)]


@pytest.fixture
def venue() -> tuple[SimExchange, InverseMarket, Pushes]:
    clock = SimClock(fixed_ms=T0)
    market = InverseMarket(clock)
    exchange = SimExchange(market, clock)
    pushes = Pushes()
    exchange.add_listener(pushes)
    return exchange, market, pushes


def market_order(exchange: SimExchange, symbol: str, side: str, qty: str, **extra: str) -> None:
    exchange.place_order(
        {"category": "inverse", "symbol": symbol, "side": side, "orderType": "Market", "qty": qty, **extra}
    )


def test_the_demo_account_has_coin_wallets_for_the_inverse_contracts(
    venue: tuple[SimExchange, InverseMarket, Pushes],
) -> None:
    exchange, _, _ = venue
    assert exchange.account.coin_balances == {"BTC": D("1"), "ETH": D("10")}
    record = exchange.wallet_record()
    rows = {row["coin"]: row for row in record["coin"]}
    assert list(rows) == ["USDT", "BTC", "ETH"]
    assert rows["BTC"]["walletBalance"] == "1" and rows["ETH"]["equity"] == "10"
    # BTCUSD and ETHUSD marks are their start prices here: 65000 and 3500 USD, so the coins add
    # 1 x 65000 + 10 x 3500 = 100000 USD to the USDT wallet's 100000.
    assert rows["BTC"]["usdValue"] == "65000" and rows["ETH"]["usdValue"] == "35000"
    assert record["totalEquity"] == "200000" and record["totalWalletBalance"] == "200000"
    only_btc = exchange.wallet_record({"BTC"})
    assert [row["coin"] for row in only_btc["coin"]] == ["BTC"]


def test_a_long_opened_twice_and_closed_books_bybits_inverse_figures(
    venue: tuple[SimExchange, InverseMarket, Pushes],
) -> None:
    exchange, market, pushes = venue
    account = exchange.account
    market.book_of("inverse", "BTCUSD", [("49999.5", "5000")], [("50000.0", "1000")])
    market_order(exchange, "BTCUSD", "Buy", "1000")
    # value 1000 / 50000 = 0.02 BTC; taker fee 0.02 x 0.00055 = 0.000011 BTC
    first = pushes.of("execution")[-1]
    assert first["category"] == "inverse" and first["execPrice"] == "50000.00" and first["execQty"] == "1000"
    assert first["execValue"] == "0.02" and first["execFee"] == "0.000011" and first["feeCurrency"] == "BTC"
    assert account.coin_balances["BTC"] == D("0.999989")

    market.book_of("inverse", "BTCUSD", [("39999.5", "5000")], [("40000.0", "1000")])
    market_order(exchange, "BTCUSD", "Buy", "1000")
    # value 1000 / 40000 = 0.025 BTC, fee 0.00001375 BTC; entry = 2000 / (0.02 + 0.025) = 44444.44444444
    # (the harmonic mean, at 8 places), where a linear average would say 45000
    pos = account.position("inverse", "BTCUSD")
    assert pos.size == 2000 and pos.avg_price == D("44444.44444444")
    assert account.coin_balances["BTC"] == D("0.99997525")

    market.marks[("inverse", "BTCUSD")] = D("50000")
    record = exchange.position_record(pos, ws=True)
    # value at entry 2000 / 44444.44444444 = 0.04500000 BTC; unrealised 2000 x (1/44444.44444444 - 1/50000)
    # = 0.00500000 BTC; IM at 10x 0.0045; MM 0.045 x 0.005 = 0.000225; IM on the mark 2000 / 50000 / 10 = 0.004
    assert record["category"] == "inverse" and record["size"] == "2000" and record["side"] == "Buy"
    assert record["entryPrice"] == "44444.44444444" and record["positionValue"] == "0.045"
    assert record["unrealisedPnl"] == "0.005" and record["positionIM"] == "0.0045"
    assert record["positionMM"] == "0.000225" and record["positionIMByMp"] == "0.004"
    assert record["riskLimitValue"] == "150"

    market.book_of("inverse", "BTCUSD", [("50000.0", "1000")], [("50000.5", "5000")])
    market_order(exchange, "BTCUSD", "Sell", "1000")
    # closed 1000 x (1/44444.44444444 - 1/50000) = 0.0025 BTC, fee 1000 / 50000 x 0.00055 = 0.000011 BTC
    close = pushes.of("execution")[-1]
    assert close["closedSize"] == "1000" and close["execPnl"] == "0.0025" and close["execFee"] == "0.000011"
    # 1 - 0.000011 - 0.00001375 + 0.0025 - 0.000011 = 1.00246425 BTC; the USDT wallet is untouched
    assert account.coin_balances["BTC"] == D("1.00246425") and account.wallet_balance == D("100000")
    assert pos.size == 1000 and pos.avg_price == D("44444.44444444")
    assert pos.cur_realised == D("0.00246425")
    wallet = pushes.of("wallet")[-1]
    btc = next(row for row in wallet["coin"] if row["coin"] == "BTC")
    assert btc["walletBalance"] == "1.00246425" and btc["cumRealisedPnl"] == "0.00246425"
    position_push = pushes.of("position")[-1]
    assert position_push["category"] == "inverse" and position_push["curRealisedPnl"] == "0.00246425"


def test_a_short_gains_coin_when_the_price_falls(venue: tuple[SimExchange, InverseMarket, Pushes]) -> None:
    exchange, market, pushes = venue
    market.book_of("inverse", "BTCUSD", [("50000.0", "1000")], [("50000.5", "5000")])
    market_order(exchange, "BTCUSD", "Sell", "1000")
    market.book_of("inverse", "BTCUSD", [("39999.5", "5000")], [("40000.0", "1000")])
    market_order(exchange, "BTCUSD", "Buy", "1000", reduceOnly="true")
    # 1000 x (1/40000 - 1/50000) = 0.025 - 0.02 = 0.005 BTC; fees 0.000011 + 0.00001375
    close = pushes.of("execution")[-1]
    assert close["execPnl"] == "0.005" and close["execValue"] == "0.025" and close["execFee"] == "0.00001375"
    assert exchange.account.coin_balances["BTC"] == D("1.00497525")
    assert exchange.account.position("inverse", "BTCUSD").size == 0


def test_an_inverse_order_reports_coin_value_and_the_harmonic_average(
    venue: tuple[SimExchange, InverseMarket, Pushes],
) -> None:
    exchange, market, pushes = venue
    market.book_of("inverse", "ETHUSD", [("1999.95", "100")], [("2000.00", "100"), ("2500.00", "100")])
    market_order(exchange, "ETHUSD", "Buy", "200", orderType="Limit", price="2500", timeInForce="IOC")
    # 100 / 2000 + 100 / 2500 = 0.05 + 0.04 = 0.09 ETH; average 200 / 0.09 = 2222.22 (at the price scale)
    order = pushes.of("order")[-1]
    assert order["orderStatus"] == "Filled" and order["cumExecValue"] == "0.09"
    assert order["avgPrice"] == "2222.22" and order["feeCurrency"] == "ETH"
    assert order["cumFeeDetail"] == {"ETH": "0.0000495"}  # 0.05 x 0.00055 + 0.04 x 0.00055


def test_a_resting_inverse_limit_holds_coin_margin_and_fills_as_maker(
    venue: tuple[SimExchange, InverseMarket, Pushes],
) -> None:
    exchange, market, pushes = venue
    account = exchange.account
    market.book_of("inverse", "BTCUSD", [("49999.5", "5000")], [("50000.0", "5000")])
    exchange.place_order(
        {
            "category": "inverse",
            "symbol": "BTCUSD",
            "side": "Buy",
            "orderType": "Limit",
            "qty": "5000",
            "price": "40000",
            "timeInForce": "PostOnly",
        }
    )
    # order IM 5000 / 40000 / 10 = 0.0125 BTC held from the BTC wallet only
    assert account.order_im("BTC") == D("0.0125") and account.order_im() == 0
    assert account.available_balance("BTC") == D("0.9875")
    assert order_record(exchange.orders.resting_orders()[0])["leavesValue"] == "0.125"
    market.trade_listeners[0]("inverse", "BTCUSD", "Sell", D("40000"), D("5000"), T0)
    maker = pushes.of("execution")[-1]
    # maker fee 0.0002 x 5000 / 40000 = 0.000025 BTC
    assert maker["isMaker"] is True and maker["execFee"] == "0.000025" and maker["execValue"] == "0.125"
    assert account.coin_balances["BTC"] == D("0.999975")


def test_inverse_margin_is_checked_in_the_coin(venue: tuple[SimExchange, InverseMarket, Pushes]) -> None:
    exchange, market, _ = venue
    market.book_of("inverse", "ETHUSD", [("1999.95", "10000000")], [("2000.00", "10000000")])
    # 1,000,000 contracts at 2000 = 500 ETH, 50 ETH of margin at 10x: more than the 10 ETH wallet
    with pytest.raises(Rejection) as refused:
        market_order(exchange, "ETHUSD", "Buy", "1000000")
    assert refused.value.ret_code == 110007
    # 100,000 contracts = 50 ETH, 5 ETH of margin plus 0.0275 ETH of fee: accepted
    market_order(exchange, "ETHUSD", "Buy", "100000")
    assert exchange.account.position("inverse", "ETHUSD").size == 100000


def test_inverse_leverage_moves_coin_margin(venue: tuple[SimExchange, InverseMarket, Pushes]) -> None:
    exchange, market, pushes = venue
    market.book_of("inverse", "BTCUSD", [("49999.5", "5000")], [("50000.0", "5000")])
    market_order(exchange, "BTCUSD", "Buy", "1000")
    # IM = 1000 / 50000 / 10 = 0.002 BTC; at 5x 0.004 BTC, pushed on the position
    assert exchange.account.position_im("BTC") == D("0.002")
    exchange.set_leverage("inverse", "BTCUSD", D(5))
    assert exchange.account.position_im("BTC") == D("0.004") and exchange.account.position_im() == 0
    assert pushes.of("position")[-1]["positionIM"] == "0.004"
    # 1 BTC cannot carry 101,000 contracts (2.02 BTC) at 1x, having 0.404 BTC of IM at 5x: refused as Bybit does
    market.book_of("inverse", "BTCUSD", [("49999.5", "5000")], [("50000.0", "100000")])
    market_order(exchange, "BTCUSD", "Buy", "100000")
    assert exchange.account.position_im("BTC") == D("0.404")
    with pytest.raises(Rejection) as refused:
        exchange.set_leverage("inverse", "BTCUSD", D(1))
    assert refused.value.ret_code == 110044


def test_inverse_funding_is_paid_in_the_coin(venue: tuple[SimExchange, InverseMarket, Pushes]) -> None:
    exchange, market, pushes = venue
    market.book_of("inverse", "BTCUSD", [("49999.5", "5000")], [("50000.0", "5000")])
    market_order(exchange, "BTCUSD", "Buy", "1000")
    market.marks[("inverse", "BTCUSD")] = D("50000")
    market.rates[("inverse", "BTCUSD")] = D("0.0001")
    before = exchange.account.coin_balances["BTC"]
    exchange.funding.settle(T0)
    # a long pays 0.0001 x 1000 / 50000 = 0.000002 BTC
    funding = pushes.of("execution")[-1]
    assert funding["execType"] == "Funding" and funding["execFee"] == "0.000002"
    assert funding["execValue"] == "0.02" and funding["feeCurrency"] == "BTC"
    assert exchange.account.coin_balances["BTC"] == before - D("0.000002")


def test_inverse_liquidation_and_bankruptcy_prices(venue: tuple[SimExchange, InverseMarket, Pushes]) -> None:
    exchange, market, _ = venue
    market.book_of("inverse", "BTCUSD", [("49999.5", "5000")], [("50000.0", "5000")])
    market_order(exchange, "BTCUSD", "Buy", "1000")
    pos = exchange.account.position("inverse", "BTCUSD")
    record = exchange.position_record(pos, ws=False)
    # long at 10x: liq 50000 / (1 + 0.1 - 0.005) = 45662.10 -> up to the tick 45662.50; bust 50000 / 1.1
    assert record["liqPrice"] == "45662.50" and record["bustPrice"] == "45454.55"
    market.book_of("inverse", "BTCUSD", [("50000.0", "5000")], [("50000.5", "5000")])
    market_order(exchange, "BTCUSD", "Sell", "2000")
    record = exchange.position_record(pos, ws=False)
    # short at 10x: liq 50000 / (1 - 0.1 + 0.005) = 55248.62 -> down to the tick 55248.50; bust 50000 / 0.9
    assert record["side"] == "Sell" and record["liqPrice"] == "55248.50" and record["bustPrice"] == "55555.56"


def test_the_demo_trader_trades_inverse_when_asked(venue: tuple[SimExchange, InverseMarket, Pushes]) -> None:
    exchange, market, pushes = venue
    market.book_of("inverse", "BTCUSD", [("49999.5", "100000")], [("50000.0", "100000")])
    market.book_of("inverse", "ETHUSD", [("1999.95", "100000")], [("2000.00", "100000")])
    trader = DemoTrader(exchange, seed=3, category="inverse")
    actions = [trader.act() for _ in range(30)]
    assert "rejected" not in actions and "market" in actions
    assert {r["category"] for r in pushes.of("execution")} == {"inverse"}
    assert exchange.account.wallet_balance == D("100000")  # the USDT wallet is not touched
    with pytest.raises(ValueError, match="spot"):
        DemoTrader(exchange, category="spot")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["Buy", "Sell"]), st.integers(1, 3000), st.integers(-20000, 20000)),
        min_size=1,
        max_size=25,
    )
)
def test_random_inverse_fills_keep_coin_money_exact(steps: list[tuple[str, int, int]]) -> None:
    """The BTC wallet is 1 BTC plus the pushed execPnl less the pushed execFee, to the last of its 8 places."""
    clock = SimClock(fixed_ms=T0)
    market = InverseMarket(clock)
    exchange = SimExchange(market, clock)
    pushes = Pushes()
    exchange.add_listener(pushes)
    signed = 0
    for side, contracts, offset in steps:
        price = D("50000.0") + D(offset) / 2  # on the 0.5 tick, 40000 to 60000
        market.book_of("inverse", "BTCUSD", [(str(price), "5000")], [(str(price + D("0.5")), "5000")])
        market_order(exchange, "BTCUSD", side, str(contracts))
        signed += contracts if side == "Buy" else -contracts
    account = exchange.account
    pos = account.position("inverse", "BTCUSD")
    assert pos.size == signed
    fills = pushes.of("execution")
    realised = sum((D(r["execPnl"]) - D(r["execFee"]) for r in fills), D(0))
    assert account.coin_balances["BTC"] == D(1) + realised == D(1) + account.coin_realised["BTC"]
    assert account.coin_balances["BTC"] == money(account.coin_balances["BTC"])
    assert account.wallet_balance == D("100000")  # linear money untouched
    if pos.size == 0:
        assert pos.avg_price == 0
    else:  # the harmonic-mean entry lies within the prices traded
        assert D("40000") <= pos.avg_price <= D("60000.5")


def test_the_desks_ledger_agrees_with_the_exchange_on_inverse_fills(
    venue: tuple[SimExchange, InverseMarket, Pushes],
) -> None:
    """The exchange's pushed inverse executions, read by the desk's ledger, give the exchange's own figures."""
    exchange, market, pushes = venue
    for side, contracts, ask in (("Buy", "1000", "50000.0"), ("Buy", "1000", "40000.0"), ("Sell", "1500", "45000.0")):
        market.book_of("inverse", "BTCUSD", [(ask, "5000")], [(ask, "5000")])
        market_order(exchange, "BTCUSD", side, contracts)
    ledger = Ledger()
    entry = None
    for record in pushes.of("execution"):
        entry = ledger.apply_fill(fill_from_execution(record))
    assert entry is not None
    pos = exchange.account.position("inverse", "BTCUSD")
    # the exchange rounds each execPnl and execFee to 8 places; the ledger keeps them exact from the same prices
    assert entry.position == pos.size == 500
    assert abs(entry.running_price - pos.avg_price) < D("0.00000001")  # 44444.44444444, the harmonic mean
    assert entry.fees == sum(D(r["execFee"]) for r in pushes.of("execution"))
    # 1500 x (1/44444.44... - 1/45000) = 0.0004166... BTC, to within the exchange's rounding
    assert abs(entry.realized_pnl - pos.cur_realised - entry.fees) < D("0.00000002")
