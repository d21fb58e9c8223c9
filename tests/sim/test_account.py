"""The demo exchange (account, matching, funding) against a hand-built book: fills, fees, positions, funding.

A small fake market (tests/support/fake_market.py, exact and fully controlled) stands in for the market model so
every figure can be checked to the last digit.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.bybit.sim.account import Account
from exchange.bybit.sim.clock import SimClock
from exchange.bybit.sim.demo_trader import DemoTrader
from exchange.bybit.sim.funding import FUNDING_INTERVAL_MS
from exchange.bybit.sim.instruments import build_instruments
from exchange.bybit.sim.market import Market
from exchange.bybit.sim.records import Rejection, money
from exchange.bybit.sim.venue import SimExchange
from exchange.bybit.sim.wire import execution_record, order_record
from tests.support.fake_market import T0, FakeMarket, Pushes
from tests.support.waiting import until

D = Decimal


@pytest.fixture
def clock() -> SimClock:
    return SimClock(fixed_ms=T0)


@pytest.fixture
def market(clock: SimClock) -> FakeMarket:
    m = FakeMarket(clock)
    m.set_book(
        "BTCUSDT",
        bids=[("49990.00", "1.000"), ("49980.00", "2.000"), ("49970.00", "5.000")],
        asks=[("50010.00", "0.100"), ("50020.00", "0.200"), ("50030.00", "5.000")],
    )
    m.marks[("linear", "BTCUSDT")] = D("50000.00")
    return m


@pytest.fixture
def venue(market: FakeMarket, clock: SimClock) -> SimExchange:
    return SimExchange(market, clock, funding_speed=1.0)


@pytest.fixture
def pushes(venue: SimExchange) -> Pushes:
    p = Pushes()
    venue.add_listener(p)
    return p


def order(**kw: Any) -> dict[str, Any]:
    base = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.001"}
    base.update(kw)
    return base


def wallet_reconciles(account: Account) -> bool:
    """The wallet equals the start plus every execPnl minus every execFee, summed from the wire strings."""
    total = D("100000")
    for e in account.executions:
        rec = execution_record(e)
        total += D(rec["execPnl"]) - D(rec["execFee"])
    return total == account.wallet_balance


# ------------------------------------------------------------------------------------------------- taking


def test_market_buy_walks_the_book_and_pays_taker_fees(venue: SimExchange, pushes: Pushes) -> None:
    o = venue.place_order(order(qty="0.250", orderLinkId="m-1"))
    assert o.status == "Filled"
    fills = [(e.exec_price, e.exec_qty, e.exec_fee, e.is_maker) for e in venue.account.executions]
    assert fills == [
        (D("50010.00"), D("0.100"), D("2.7505500"), False),  # 5001.00 * 0.00055
        (D("50020.00"), D("0.150"), D("4.1266500"), False),  # 7503.00 * 0.00055
    ]
    assert o.avg_price == (D("5001.0") + D("7503.0")) / D("0.25")
    pos = venue.account.position("linear", "BTCUSDT")
    assert pos.size == D("0.250") and pos.avg_price == D("50016.00")
    assert venue.account.wallet_balance == D("100000") - D("2.75055") - D("4.12665")
    assert pushes.topics() == ["order", "execution", "order", "position", "wallet"]
    first, last = pushes.of("order")
    assert first["orderStatus"] == "New" and last["orderStatus"] == "Filled"
    assert last["cumExecQty"] == "0.250" and last["leavesQty"] == "0.000" and last["orderLinkId"] == "m-1"
    executions = pushes.of("execution")
    assert [x["execQty"] for x in executions] == ["0.100", "0.150"]
    assert executions[0]["execFee"] == "2.75055" and executions[0]["feeRate"] == "0.00055"
    assert executions[0]["isMaker"] is False and executions[0]["execType"] == "Trade"
    assert pushes.of("position")[0]["entryPrice"] == "50016" and pushes.of("position")[0]["side"] == "Buy"
    assert wallet_reconciles(venue.account)


def test_own_takes_are_public_trades_but_never_fill_own_resting_orders(venue: SimExchange, market: FakeMarket) -> None:
    resting = venue.place_order(order(side="Sell", orderType="Limit", price="50015.00", qty="0.010"))
    assert resting.status == "New"
    venue.place_order(order(side="Buy", qty="0.200"))
    assert [t[3] for t in market.public_trades] == [D("50010.00"), D("50020.00")]
    assert resting.status == "New"  # our own buy at 50020 must not fill our own sell at 50015


def test_market_sell_with_empty_bids_is_cancelled_unfilled(venue: SimExchange, market: FakeMarket) -> None:
    market.set_book("BTCUSDT", bids=[], asks=[("50010.00", "1.000")])
    o = venue.place_order(order(side="Sell"))
    assert o.status == "Cancelled" and o.reject_reason == "EC_NoImmediateQtyToFill"
    assert o.cum_exec_qty == 0 and venue.account.executions == []


def test_ioc_limit_partially_fills_then_cancels(venue: SimExchange) -> None:
    o = venue.place_order(order(orderType="Limit", price="50010.00", qty="0.300", timeInForce="IOC"))
    assert o.status == "Cancelled" and o.cum_exec_qty == D("0.100")
    assert order_record(o)["cumExecQty"] == "0.100" and order_record(o)["leavesQty"] == "0.000"


def test_fok_without_enough_liquidity_never_trades(venue: SimExchange, market: FakeMarket) -> None:
    o = venue.place_order(order(orderType="Limit", price="50020.00", qty="0.500", timeInForce="FOK"))
    assert o.status == "Cancelled" and venue.account.executions == [] and market.public_trades == []
    ok = venue.place_order(order(orderType="Limit", price="50020.00", qty="0.300", timeInForce="FOK"))
    assert ok.status == "Filled" and ok.cum_exec_qty == D("0.300")


# ------------------------------------------------------------------------------------------------- resting


def test_limit_rests_then_fills_as_maker_on_a_public_trade(
    venue: SimExchange, market: FakeMarket, pushes: Pushes
) -> None:
    o = venue.place_order(order(orderType="Limit", price="49995.00", qty="0.020"))
    assert o.status == "New" and o.leaves_qty == D("0.020")
    assert pushes.topics() == ["order", "position"]  # a position push on every create, as Bybit does
    pushes.clear()
    market.trade("BTCUSDT", "Sell", "49996.00", "0.5")  # above our bid: no fill
    assert o.status == "New"
    market.trade("BTCUSDT", "Sell", "49995.00", "0.008")
    assert o.status == "PartiallyFilled" and o.cum_exec_qty == D("0.008")
    market.trade("BTCUSDT", "Sell", "49990.00", "1")
    assert o.status == "Filled"
    makers = [e for e in venue.account.executions]
    assert all(e.is_maker and e.exec_price == D("49995.00") for e in makers)
    assert makers[0].exec_fee == D("0.07999200")  # 399.96 * 0.0002
    assert makers[0].fee_rate == D("0.0002")
    assert pushes.topics() == ["execution", "order", "position", "wallet"] * 2
    assert [r["orderStatus"] for r in pushes.of("order")] == ["PartiallyFilled", "Filled"]
    assert venue.engine.order_im() == 0
    assert wallet_reconciles(venue.account)


def test_resting_order_fills_when_the_touch_moves_through_it(venue: SimExchange, market: FakeMarket) -> None:
    o = venue.place_order(order(side="Sell", orderType="Limit", price="50025.00", qty="0.050"))
    assert o.status == "New"
    market.set_book("BTCUSDT", bids=[("50026.00", "0.030"), ("50025.00", "1.000")], asks=[("50040.00", "1.000")])
    market.step()
    assert o.status == "Filled"
    assert [(e.exec_price, e.exec_qty, e.is_maker) for e in venue.account.executions] == [
        (D("50025.00"), D("0.050"), True)
    ]


def test_gtc_limit_takes_the_crossing_part_and_rests_the_rest(venue: SimExchange, market: FakeMarket) -> None:
    o = venue.place_order(order(orderType="Limit", price="50020.00", qty="0.500"))
    assert o.status == "PartiallyFilled" and o.cum_exec_qty == D("0.300") and o.leaves_qty == D("0.200")
    assert venue.orders.resting_orders() == [o]
    assert venue.engine.order_im() == D("0.200") * D("50020.00") / 10
    market.trade("BTCUSDT", "Sell", "50000.00", "1")
    assert o.status == "Filled"
    assert [e.is_maker for e in venue.account.executions] == [False, False, True]


def test_post_only_that_would_cross_is_cancelled(venue: SimExchange, pushes: Pushes) -> None:
    o = venue.place_order(order(orderType="Limit", price="50010.00", timeInForce="PostOnly", orderLinkId="po"))
    assert o.status == "Cancelled" and o.reject_reason == "EC_PostOnlyWillTakeLiquidity"
    assert venue.account.executions == []
    assert pushes.topics() == ["order", "position"]
    assert pushes.of("order")[0]["orderStatus"] == "Cancelled"
    rests = venue.place_order(order(orderType="Limit", price="50000.00", timeInForce="PostOnly"))
    assert rests.status == "New"


def test_cancel_by_link_id_then_again_is_110001(venue: SimExchange, pushes: Pushes) -> None:
    venue.place_order(order(orderType="Limit", price="49000.00", orderLinkId="c-1"))
    pushes.clear()
    cancelled = venue.cancel_order({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "c-1"})
    assert cancelled.status == "Cancelled" and cancelled.cancel_type == "CancelByUser"
    assert pushes.topics() == ["order", "position"]
    with pytest.raises(Rejection) as again:
        venue.cancel_order({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "c-1"})
    assert (again.value.ret_code, again.value.ret_msg) == (110001, "Order does not exist")
    with pytest.raises(Rejection) as unknown:
        venue.cancel_order({"category": "linear", "symbol": "BTCUSDT", "orderId": "nope"})
    assert unknown.value.ret_code == 110001
    with pytest.raises(Rejection) as neither:
        venue.cancel_order({"category": "linear", "symbol": "BTCUSDT"})
    assert neither.value.ret_code == 10001


# ------------------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("params", "code", "message"),
    [
        (order(qty="0.0015"), 10001, "Order quantity has too many decimals."),
        (order(qty="0.0001"), 10001, "The number of contracts exceeds minimum limit allowed"),
        (order(qty="5000"), 10001, "The number of contracts exceeds maximum limit allowed"),
        (order(orderType="Limit", price="50000.05"), 10001, "Order price has too many decimals."),
        (order(orderType="Limit"), 10001, "params error: price is required"),
        (order(symbol="NOPEUSDT"), 10001, "params error: symbol invalid"),
        (order(side="buy"), 10001, "params error: side invalid"),
        (order(qty="abc"), 10001, "params error: qty invalid"),
        (order(qty=None), 10001, "params error: qty is required"),
        (order(category="option"), 10001, "Illegal category"),
        (order(positionIdx=1), 10001, "position idx not match position mode"),
        (
            order(side="Sell", reduceOnly=True),
            110017,
            "current position is zero, cannot fix reduce-only order qty",
        ),
        (order(qty="100"), 110007, "ab not enough for new order"),
    ],
)
def test_bad_orders_are_refused_with_bybits_codes(
    venue: SimExchange, params: dict[str, Any], code: int, message: str
) -> None:
    with pytest.raises(Rejection) as refused:
        venue.place_order(params)
    assert (refused.value.ret_code, refused.value.ret_msg) == (code, message)
    assert venue.orders.orders == {} and venue.account.executions == []


def test_duplicate_order_link_id_is_110072(venue: SimExchange) -> None:
    venue.place_order(order(orderType="Limit", price="49000.00", orderLinkId="dup"))
    with pytest.raises(Rejection) as dup:
        venue.place_order(order(orderType="Limit", price="49000.00", orderLinkId="dup"))
    assert dup.value.ret_code == 110072


def test_margin_counts_resting_orders(venue: SimExchange) -> None:
    # 100k wallet at 10x: 1.9 BTC at 49,000 needs 9,310 IM; twenty of them cannot all rest.
    placed = 0
    with pytest.raises(Rejection) as refused:
        for i in range(30):
            venue.place_order(order(orderType="Limit", price="49000.00", qty="1.900", orderLinkId=f"im-{i}"))
            placed += 1
    assert refused.value.ret_code == 110007 and placed == 10


# ------------------------------------------------------------------------------------------------ positions


def test_long_then_flip_short_realises_pnl(venue: SimExchange, market: FakeMarket, pushes: Pushes) -> None:
    market.set_book("BTCUSDT", bids=[("49000.00", "10")], asks=[("50000.00", "10")])
    venue.place_order(order(qty="1.000"))
    market.set_book("BTCUSDT", bids=[("49000.00", "10")], asks=[("51000.00", "10")])
    venue.place_order(order(qty="1.000"))
    pos = venue.account.position("linear", "BTCUSDT")
    assert pos.size == D("2.000") and pos.avg_price == D("50500")
    market.set_book("BTCUSDT", bids=[("52000.00", "10")], asks=[("52100.00", "10")])
    venue.place_order(order(side="Sell", qty="3.000"))
    last = venue.account.executions[-1]
    assert last.closed_size == D("2.000") and last.exec_pnl == D("3000.00000")  # 2 * (52000 - 50500)
    assert pos.size == D("-1.000") and pos.avg_price == D("52000.00") and pos.side == "Sell"
    fees = sum((e.exec_fee for e in venue.account.executions), D(0))
    assert venue.account.wallet_balance == D("100000") + D("3000") - fees
    assert pos.cum_realised == D("3000") - fees
    record = pushes.of("position")[-1]
    assert record["side"] == "Sell" and record["size"] == "1.000" and record["entryPrice"] == "52000"
    assert execution_record(last)["closedSize"] == "2.000" and execution_record(last)["execPnl"] == "3000"
    assert wallet_reconciles(venue.account)


def test_closing_to_flat_resets_the_position(venue: SimExchange, market: FakeMarket) -> None:
    venue.place_order(order(qty="0.100"))
    venue.place_order(order(side="Sell", qty="0.100", reduceOnly=True))
    pos = venue.account.position("linear", "BTCUSDT")
    assert pos.size == 0 and pos.avg_price == 0
    rec = venue.position_record(pos, ws=False)
    assert rec["side"] == "" and rec["size"] == "0.000" and rec["avgPrice"] == "0" and rec["liqPrice"] == ""
    assert rec["unrealisedPnl"] == "0" and rec["positionValue"] == "0"


def test_liquidation_prices_move_with_the_entry(venue: SimExchange, market: FakeMarket) -> None:
    market.set_book("BTCUSDT", bids=[("49990.00", "10")], asks=[("50000.00", "10")])
    venue.place_order(order(qty="1.000"))
    long_rec = venue.position_record(venue.account.position("linear", "BTCUSDT"), ws=False)
    # 10x, MMR 0.5%: entry * (1 - 0.1 + 0.005) = 45250, rounded up to the tick
    assert long_rec["liqPrice"] == "45250.00" and long_rec["leverage"] == "10"
    assert long_rec["positionIM"] == "5000" and long_rec["positionMM"] == "250"
    venue.place_order(order(side="Sell", qty="2.000"))
    short_rec = venue.position_record(venue.account.position("linear", "BTCUSDT"), ws=False)
    assert short_rec["liqPrice"] == "54739.00"  # 49990 * 1.095 = 54739.05, floored to the 0.10 tick
    market.marks[("linear", "BTCUSDT")] = D("49000.00")
    short_rec = venue.position_record(venue.account.position("linear", "BTCUSDT"), ws=False)
    assert short_rec["unrealisedPnl"] == "990" and short_rec["markPrice"] == "49000.00"


def test_unrealised_pnl_moves_equity_not_wallet(venue: SimExchange, market: FakeMarket) -> None:
    venue.place_order(order(qty="0.100"))  # at 50010
    wallet = venue.account.wallet_balance
    market.marks[("linear", "BTCUSDT")] = D("51010.00")
    rec = venue.wallet_record()
    assert D(rec["totalPerpUPL"]) == D("100") and D(rec["totalWalletBalance"]) == wallet
    assert D(rec["totalEquity"]) == wallet + 100
    assert D(rec["totalAvailableBalance"]) == wallet + 100 - D("500.1")  # IM = 0.1 * 50010 / 10


# -------------------------------------------------------------------------------------------------- funding


def test_funding_long_pays_positive_rate_short_receives(
    venue: SimExchange, market: FakeMarket, clock: SimClock
) -> None:
    market.set_book("ETHUSDT", bids=[("2999.00", "100")], asks=[("3001.00", "100")])
    market.marks[("linear", "ETHUSDT")] = D("3000.00")
    venue.place_order(order(qty="1.000"))  # long BTC at 50010
    venue.place_order(order(symbol="ETHUSDT", side="Sell", qty="2.00"))  # short ETH at 2999
    market.rates[("linear", "BTCUSDT")] = D("0.0001")
    market.rates[("linear", "ETHUSDT")] = D("0.0001")
    before = venue.account.wallet_balance
    next_at = venue.funding.next_funding_ms
    assert next_at % FUNDING_INTERVAL_MS == 0 and next_at > T0
    market.step()
    assert [e.exec_type for e in venue.account.executions].count("Funding") == 0
    clock.advance(next_at - clock.now_ms())
    market.step()
    funding = [e for e in venue.account.executions if e.exec_type == "Funding"]
    assert [(e.symbol, e.exec_fee) for e in funding] == [
        ("BTCUSDT", D("5.00000000")),  # long 1 * 50000 mark * 0.0001: pays
        ("ETHUSDT", D("-0.60000000")),  # short 2 * 3000 * 0.0001: receives
    ]
    assert venue.account.wallet_balance == before - D("5") + D("0.6")
    rec = execution_record(funding[0])
    assert rec["execType"] == "Funding" and rec["orderType"] == "UNKNOWN" and rec["execQty"] == "1.000"
    assert rec["execPrice"] == "50000.00" and rec["feeRate"] == "0.0001" and rec["execFee"] == "5"
    market.step()
    assert len([e for e in venue.account.executions if e.exec_type == "Funding"]) == 2  # once per instant
    assert venue.funding.next_funding_ms == next_at + FUNDING_INTERVAL_MS
    assert wallet_reconciles(venue.account)


def test_funding_speed_shrinks_the_interval(market: FakeMarket, clock: SimClock) -> None:
    fast = SimExchange(market, clock, funding_speed=3600.0)
    assert fast.funding.interval_ms == 8000
    fast.place_order(order(side="Sell", qty="0.010"))
    market.rates[("linear", "BTCUSDT")] = D("-0.0002")  # negative rate: shorts pay
    clock.advance(fast.funding.next_funding_ms - clock.now_ms())
    market.step()
    (row,) = [e for e in fast.account.executions if e.exec_type == "Funding"]
    assert row.exec_fee == D("0.10000000") and row.side == "Sell"


def test_no_funding_without_positions(venue: SimExchange, market: FakeMarket, clock: SimClock, pushes: Pushes) -> None:
    clock.advance(venue.funding.next_funding_ms - clock.now_ms())
    market.step()
    assert venue.funding.settlements == 1 and venue.account.executions == [] and pushes.items == []


# -------------------------------------------------------------------------------------------- invariants


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["Buy", "Sell"]), st.integers(1, 400), st.integers(-300, 300)),
        min_size=1,
        max_size=25,
    )
)
def test_random_fills_keep_money_exact(steps: list[tuple[str, int, int]]) -> None:
    clock = SimClock(fixed_ms=T0)
    market = FakeMarket(clock)
    venue = SimExchange(market, clock)
    acct = venue.account
    signed = D(0)
    for side, lots, offset in steps:
        price = D("50000.00") + D(offset) / 10
        qty = D(lots) / 1000
        market.set_book("BTCUSDT", bids=[(str(price), "100")], asks=[(str(price + D("0.1")), "100")])
        venue.place_order(order(side=side, qty=str(qty)))
        signed += qty if side == "Buy" else -qty
    pos = acct.position("linear", "BTCUSDT")
    assert pos.size == signed
    assert wallet_reconciles(acct)
    assert acct.cum_realised == acct.wallet_balance - D("100000")
    assert acct.wallet_balance == money(acct.wallet_balance)  # the wallet never holds more than 8 decimals
    if pos.size == 0:
        assert pos.avg_price == 0


def test_ids_are_deterministic_for_a_seed(market: FakeMarket, clock: SimClock) -> None:
    a = SimExchange(market, clock, seed=3).account
    b = SimExchange(FakeMarket(clock), clock, seed=3).account
    assert [a.new_uuid() for _ in range(3)] == [b.new_uuid() for _ in range(3)]
    assert a.uid == b.uid
    uuid = a.new_uuid()
    assert [len(p) for p in uuid.split("-")] == [8, 4, 4, 4, 12]


def test_reprs_hold_no_secret(venue: SimExchange) -> None:
    from exchange.bybit.sim.demo_credentials import DEMO_API_SECRET

    key = venue.api_keys.get(next(iter(["FLUXUMDEMOKEY00001"])))
    assert key is not None
    assert DEMO_API_SECRET not in repr(key) and DEMO_API_SECRET not in repr(venue.api_keys)
    assert (
        DEMO_API_SECRET not in str(key.secret)
        and DEMO_API_SECRET not in repr(venue.account)
        and DEMO_API_SECRET not in repr(venue)
    )


# ----------------------------------------------------------------------------------------------- demo trader


def run_demo(
    seed: int, rounds: int, clock: SimClock | None = None, funding_speed: float = 1.0, traded: tuple[str, ...] = ()
) -> tuple[SimExchange, DemoTrader]:
    clock = clock or SimClock(fixed_ms=T0)
    market = Market(build_instruments(("BTCUSDT", "ETHUSDT"), ("linear",)), seed=seed, clock=clock)
    venue = SimExchange(market, clock, funding_speed=funding_speed)
    trader = DemoTrader(venue, seed=seed, symbols=traded)
    for _ in range(rounds):
        trader.act()
        for _ in range(4):
            clock.advance(50)
            market.step()
    return venue, trader


def test_the_demo_trader_trades_only_the_desks_symbols_when_told() -> None:
    """The embedded exchange lists what the watchlist may add; the demo keeps to what the desk shows."""
    venue, trader = run_demo(seed=3, rounds=200, traded=("ETHUSDT",))
    assert trader.actions["market"] > 0
    assert {e.symbol for e in venue.account.executions} == {"ETHUSDT"}
    venue, _ = run_demo(seed=3, rounds=200)
    assert {e.symbol for e in venue.account.executions} == {"BTCUSDT", "ETHUSDT"}


def test_demo_trader_trades_fills_and_stays_bounded() -> None:
    venue, trader = run_demo(seed=3, rounds=300)
    acct = venue.account
    assert trader.actions["market"] > 0 and trader.actions["limit"] > 0 and trader.actions["cancel"] > 0
    assert trader.actions["rejected"] == 0
    makers = [e for e in acct.executions if e.is_maker]
    takers = [e for e in acct.executions if not e.is_maker]
    assert makers and takers  # resting demo orders get filled by the market as makers
    for pos in acct.positions.values():
        notional = abs(pos.size) * acct.market.mark_price(pos.category, pos.symbol)
        assert notional <= trader.max_position_notional * 2
    assert len(venue.orders.resting_orders()) <= 4
    assert wallet_reconciles(acct)


class TickingClock(SimClock):
    """A fixed clock that moves a millisecond each time it is read, so a second read within one step shows."""

    __slots__ = ()

    def now_ms(self) -> int:
        self.advance(1)
        return super().now_ms()


def test_the_exchange_s_clock_never_goes_back_within_a_step() -> None:
    """A market step stamps what it does with one time: a maker fill made by the step's trades and a funding
    settled in the same step. A fill stamped later than the funding that follows it left the position's
    updatedTime behind a fill it holds, and a client reading that position counted the fill twice."""
    pushes = Pushes()
    clock = TickingClock(fixed_ms=T0)
    funding_speed = FUNDING_INTERVAL_MS / 400  # a funding instant every 400 ms of a clock that moves ~60 ms a step
    venue, trader = run_demo(seed=3, rounds=0, clock=clock, funding_speed=funding_speed)
    acct, market = venue.account, venue.market
    assert isinstance(market, Market)
    venue.add_listener(pushes)
    for _ in range(300):
        trader.act()
        for _ in range(4):
            clock.advance(50)
            market.step()
    times_of = {e.exec_id: e.exec_time_ms for e in acct.executions}
    assert any(e.is_maker for e in acct.executions) and any(e.exec_type == "Funding" for e in acct.executions)
    for symbol in ("BTCUSDT", "ETHUSDT"):
        positions = [p for p in pushes.of("position") if p["symbol"] == symbol]
        updated = [int(p["updatedTime"]) for p in positions]
        assert updated == sorted(updated), f"{symbol}: a position's updatedTime went back"
        assert [p["seq"] for p in positions] == sorted(p["seq"] for p in positions)
        fills = sorted((e for e in acct.executions if e.symbol == symbol), key=lambda e: e.seq)
        assert [times_of[e.exec_id] for e in fills] == sorted(times_of[e.exec_id] for e in fills)


def test_demo_trader_is_deterministic_for_a_seed() -> None:
    first, _ = run_demo(seed=5, rounds=60)
    second, _ = run_demo(seed=5, rounds=60)
    assert [execution_record(e) for e in first.account.executions] == [
        execution_record(e) for e in second.account.executions
    ]


async def test_demo_trader_starts_and_stops() -> None:
    clock = SimClock(fixed_ms=T0)
    market = Market(build_instruments(("BTCUSDT",), ("linear",)), seed=2, clock=clock)
    counters: Counter[str] = Counter()
    trader = DemoTrader(SimExchange(market, clock), counters=counters, seed=2, interval_s=(0.001, 0.002))
    trader.start()
    trader.start()  # idempotent
    await until(lambda: sum(trader.actions.values()) >= 3, 5, "the demo trader to act")
    await trader.stop()
    assert not trader.running
    done = sum(trader.actions.values())
    assert sum(v for k, v in counters.items() if k.startswith("demo_trader.")) == done
    await trader.stop()  # twice is fine


def test_amend_moves_a_resting_order_and_a_crossing_price_trades_as_a_taker(venue: SimExchange, pushes: Pushes) -> None:
    o = venue.place_order(order(orderType="Limit", price="49900.00", qty="0.050", orderLinkId="am"))
    pushes.clear()
    assert venue.amend_order({"category": "linear", "symbol": "BTCUSDT", "orderLinkId": "am", "qty": "0.080"}) is o
    assert (o.price, o.qty, o.status) == (D("49900.00"), D("0.080"), "New")
    assert pushes.topics() == ["order", "position"] and pushes.of("order")[0]["qty"] == "0.080"
    venue.amend_order({"category": "linear", "symbol": "BTCUSDT", "orderId": o.order_id, "price": "50010.00"})
    assert (o.status, o.cum_exec_qty) == ("Filled", D("0.080")) and venue.orders.resting_orders() == []
    assert [(e.exec_price, e.is_maker) for e in venue.account.executions] == [(D("50010.00"), False)]


def test_amend_of_a_post_only_order_to_a_crossing_price_cancels_it(venue: SimExchange) -> None:
    o = venue.place_order(order(orderType="Limit", price="49900.00", timeInForce="PostOnly"))
    venue.amend_order({"category": "linear", "symbol": "BTCUSDT", "orderId": o.order_id, "price": "50010.00"})
    assert o.status == "Cancelled" and o.reject_reason == "EC_PostOnlyWillTakeLiquidity"
    assert venue.account.executions == [] and venue.orders.resting_orders() == []


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({}, 10001, "The order remains unchanged as the parameters entered match the existing ones."),
        ({"price": "49900.00", "qty": "0.050"}, 10001, "The order remains unchanged"),
        ({"price": "49900.05"}, 10001, "Order price has too many decimals."),
        ({"qty": "0.0505"}, 10001, "Order quantity has too many decimals."),
        ({"orderId": "", "orderLinkId": ""}, 10001, "params error: OrderId or orderLinkId is required"),
        ({"orderId": "nobody-knows"}, 110001, "order not exists or too late to replace"),
        ({"symbol": "ETHUSDT"}, 110001, "order not exists or too late to replace"),
    ],
)
def test_amend_refusals_are_bybits_codes(venue: SimExchange, change: dict[str, str], code: int, message: str) -> None:
    o = venue.place_order(order(orderType="Limit", price="49900.00", qty="0.050"))
    params = {"category": "linear", "symbol": "BTCUSDT", "orderId": o.order_id, **change}
    with pytest.raises(Rejection) as refused:
        venue.amend_order(params)
    assert refused.value.ret_code == code and refused.value.ret_msg.startswith(message)
    assert (o.price, o.qty, o.status) == (D("49900.00"), D("0.050"), "New")


def test_amend_of_a_cancelled_order_is_110001(venue: SimExchange) -> None:
    o = venue.place_order(order(orderType="Limit", price="49900.00", qty="0.050"))
    venue.cancel_order({"category": "linear", "symbol": "BTCUSDT", "orderId": o.order_id})
    with pytest.raises(Rejection) as gone:
        venue.amend_order({"category": "linear", "symbol": "BTCUSDT", "orderId": o.order_id, "qty": "0.060"})
    assert gone.value.ret_code == 110001


def test_amend_that_needs_more_margin_than_is_available_is_110007(venue: SimExchange) -> None:
    o = venue.place_order(order(orderType="Limit", price="49900.00", qty="0.050"))
    with pytest.raises(Rejection) as refused:
        venue.amend_order({"category": "linear", "symbol": "BTCUSDT", "orderId": o.order_id, "qty": "50"})
    assert refused.value.ret_code == 110007 and o.qty == D("0.050")
    venue.amend_order({"category": "linear", "symbol": "BTCUSDT", "orderId": o.order_id, "qty": "0.020"})
    assert o.qty == D("0.020")
