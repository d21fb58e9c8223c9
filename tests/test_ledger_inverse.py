"""The ledger on inverse (coin-margined) contracts: Bybit's formulas worked by hand, its published position
example, the reader's contract kind, and the linear ledger's invariants in coin units.

Bybit's inverse formulas (help centre, "Profit and loss calculations (Inverse contract)"): a fill's value in coin
is ``contracts / price``; the average entry is ``total contracts / total value`` (harmonic); closed P&L of a long is
``contracts x (1/entry - 1/exit)``, of a short ``contracts x (1/exit - 1/entry)``; unrealized P&L the same on the
mark. The ledger rounds each ``contracts / price`` to 18 places (RESIDUE_QUANTUM) once, so a value that does not
terminate is within 5e-19 coin of the exact one; every figure below says which.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from exchange.bybit.executions import (
    ExecutionRecordError,
    contract_of,
    fill_from_execution,
    fills_from_push,
    fills_from_response,
    settle_coin_of,
)
from exchange.fill_sort import FillSorter
from exchange.ledger import MONEY_CONTEXT, RESIDUE_QUANTUM, ContractKind, Fill, Ledger, LedgerEntry, MarkSource
from tests.support.entries import apply, ledger_events, money_of
from tests.support.entries import fill as any_fill

D = Decimal
INVERSE = ContractKind.INVERSE
LINEAR = ContractKind.LINEAR


def fill(
    side: str,
    qty: str | int | Decimal,
    price: str | Decimal,
    fee: str | Decimal = "0",
    *,
    symbol: str = "BTCUSD",
    contract: ContractKind = INVERSE,
    **kwargs: Any,
) -> Fill:
    """An inverse fill by default, its coin named as the reader names it."""
    coin = "BTC" if contract is INVERSE else "USDT"
    return any_fill(side, qty, price, fee, symbol=symbol, contract=contract, settle_coin=coin, **kwargs)


def funding(fee: str | Decimal, *, time_ms: int = 1_700_000_100_000) -> Fill:
    return fill("Buy", "0", "0", fee, exec_type="Funding", time_ms=time_ms)


def assert_coin_identities(entry: LedgerEntry) -> None:
    """The linear ledger's identities in coin units, checked with far more digits than any value has: total P&L is
    realized - fees - funding + unrealized, and cash plus what closing at the spot would add; the position's
    closing value is ``-position / spot`` to the ledger's 18 places."""
    with localcontext() as context:
        context.prec = 120
        assert entry.pnl == entry.realized_pnl - entry.fees - entry.funding + entry.unrealized_pnl
        assert entry.pnl == entry.notional + entry.pnl_spot
        if entry.spot:
            assert abs(entry.pnl_spot + entry.position / entry.spot) <= RESIDUE_QUANTUM / 2
        assert entry.unrealized_pnl == entry.pnl_spot + entry.cost_basis
        assert entry.running_qty == entry.position
        assert entry.contract is INVERSE


# ---------------------------------------------------------------------- worked examples


def test_a_long_closed_higher_realizes_contracts_times_the_difference_of_inverses() -> None:
    ledger = Ledger()
    bought = apply(ledger, fill("Buy", 1000, "50000", time_ms=1))
    # 1000 / 50000 = 0.02 BTC: the position's value at entry, its cost basis; entry = 1000 / 0.02 = 50000.
    assert (bought.position, bought.cost_basis, bought.running_price) == (1000, D("0.02"), 50000)
    assert (bought.package_price, bought.buy_notional, bought.avg_buy_price) == (D("0.02"), D("0.02"), 50000)
    assert (bought.realized_pnl, bought.unrealized_pnl, bought.pnl) == (0, 0, 0)
    assert (bought.contract, bought.settle_coin) == (INVERSE, "BTC")
    sold = apply(ledger, fill("Sell", 1000, "60000", time_ms=2))
    # Bybit: 1000 x (1/50000 - 1/60000) = 1000 x 1/300000 = 0.00333... BTC. 1000/60000 = 0.01666... rounds to
    # 0.016666666666666667 (18 places), so the ledger books 0.02 - 0.016666666666666667 = 0.003333333333333333.
    assert sold.realized_pnl == D("0.003333333333333333")
    assert abs(Fraction(sold.realized_pnl) - Fraction(1000, 50000) + Fraction(1000, 60000)) < Fraction(1, 10**18)
    assert (sold.position, sold.cost_basis, sold.running_price, sold.unrealized_pnl) == (0, 0, 0, 0)
    assert sold.pnl == sold.realized_pnl  # no fees, no funding
    assert_coin_identities(sold)
    # A linear ledger would have booked 1000 x (60000 - 50000) = 10,000,000 "BTC".
    assert sold.realized_pnl < 1


def test_a_short_is_mirrored() -> None:
    ledger = Ledger()
    apply(ledger, fill("Sell", 1000, "60000", time_ms=1))
    # A short profits when the price falls: 1000 x (1/50000 - 1/60000) = +0.003333... BTC.
    covered = apply(ledger, fill("Buy", 1000, "50000", time_ms=2))
    assert covered.realized_pnl == D("0.003333333333333333")
    other = Ledger()
    apply(other, fill("Sell", 1000, "50000", time_ms=1))
    opened = other.entry("BTCUSD")
    assert opened is not None and (opened.cost_basis, opened.running_price) == (D("-0.02"), 50000)
    # ... and loses when it rises: 1000 x (1/60000 - 1/50000) = -0.003333... BTC.
    lost = apply(other, fill("Buy", 1000, "60000", time_ms=2))
    assert lost.realized_pnl == D("-0.003333333333333333")
    assert_coin_identities(covered)
    assert_coin_identities(lost)


def test_the_issue_example_is_a_hundredth_of_a_coin_not_fifteen_million() -> None:
    ledger = Ledger()
    apply(ledger, fill("Buy", 1500, "30000", "0.0000275", time_ms=1))
    done = apply(ledger, fill("Sell", 1500, "40000", "0.000020625", time_ms=2))
    # 1500 x (1/30000 - 1/40000) = 1500 x 1/120000 = 0.0125 BTC exactly (0.05 - 0.0375); linear arithmetic
    # would say 1500 x 10000 = 15,000,000. Fees, taker 0.055% of the value: 0.05 x 0.00055 = 0.0000275 and
    # 0.0375 x 0.00055 = 0.000020625, so the total is 0.0125 - 0.000048125 = 0.012451875 BTC.
    assert (done.realized_pnl, done.fees, done.pnl) == (D("0.0125"), D("0.000048125"), D("0.012451875"))
    assert (done.buy_notional, done.sell_notional) == (D("0.05"), D("0.0375"))
    assert (done.avg_buy_price, done.avg_sell_price) == (30000, 40000)
    # Both legs together: 3000 contracts over 0.0875 BTC = 34285.714285... (harmonic, not the 35000 mean).
    assert abs(done.avg_price - D(3000) / D("0.0875")) <= RESIDUE_QUANTUM
    assert_coin_identities(done)


def test_two_buys_average_to_the_harmonic_mean() -> None:
    ledger = Ledger()
    apply(ledger, fill("Buy", 1000, "40000", time_ms=1))  # 0.025 BTC
    both = apply(ledger, fill("Buy", 1000, "60000", time_ms=2))  # 0.016666666666666667 BTC (rounded)
    # Entry = 2000 / (0.025 + 0.0166...) = 2000 / 0.041666... = 48000, not the arithmetic 50000; the rounded value
    # puts the ledger's figure 3.84e-13 below it (2000 / 0.041666666666666667).
    assert both.cost_basis == D("0.041666666666666667")
    assert abs(both.running_price - 48000) < D("1e-12")
    assert abs(both.avg_buy_price - 48000) < D("1e-12")
    marked = ledger.mark("BTCUSD", D("50000"), MarkSource.MARK_PRICE, 3)
    # Unrealized on the mark: 2000 x (1/48000 - 1/50000) = 0.041666... - 0.04 = 0.0016666... BTC.
    assert marked.unrealized_pnl == D("0.001666666666666667")
    assert marked.pnl_spot == D("-0.04")  # closing 2000 contracts at 50000 sells 0.04 BTC of value
    assert_coin_identities(marked)


def test_a_partial_close_realizes_against_the_harmonic_entry() -> None:
    ledger = Ledger()
    apply(ledger, fill("Buy", 1000, "40000", time_ms=1))
    apply(ledger, fill("Buy", 1000, "60000", time_ms=2))
    part = apply(ledger, fill("Sell", 500, "50000", time_ms=3))
    # 500 x (1/48000 - 1/50000) = 500 x 2000 / 2.4e9 = 0.000416666... BTC. The cost basis keeps 3/4:
    # 0.041666666666666667 x 0.75 = 0.03125000000000000025, rounded to 0.03125; the cash is
    # 0.041666666666666667 - 500/50000 = 0.031666666666666667, so realized = 0.000416666666666667.
    assert part.realized_pnl == D("0.000416666666666667")
    assert (part.position, part.cost_basis) == (1500, D("0.03125"))
    assert part.running_price == 48000  # 1500 / 0.03125: the entry does not move on a close
    assert_coin_identities(part)


def test_a_flip_closes_at_the_entry_and_opens_the_rest_at_the_fill_price() -> None:
    ledger = Ledger()
    apply(ledger, fill("Buy", 1000, "50000", time_ms=1))  # long 1000, 0.02 BTC
    flipped = apply(ledger, fill("Sell", 3000, "40000", time_ms=2))
    # Close 1000: 1000 x (1/50000 - 1/40000) = 0.02 - 0.025 = -0.005 BTC (a long sold lower). The other 2000
    # open a short at 40000: cost basis -2000/40000 = -0.05 BTC, entry 2000 / 0.05 = 40000.
    assert (flipped.position, flipped.cost_basis, flipped.running_price) == (-2000, D("-0.05"), 40000)
    assert flipped.realized_pnl == D("-0.005")
    marked = ledger.mark("BTCUSD", D("32000"), MarkSource.MARK_PRICE, 3)
    # The short on a mark of 32000: 2000 x (1/32000 - 1/40000) = 0.0625 - 0.05 = 0.0125 BTC.
    assert marked.unrealized_pnl == D("0.0125")
    assert_coin_identities(marked)


def test_fees_and_funding_are_in_the_coin() -> None:
    ledger = Ledger()
    # Taker 0.055% of 1000/50000 = 0.02 BTC: 0.000011 BTC; a maker rebate is a negative fee.
    apply(ledger, fill("Buy", 1000, "50000", "0.000011", time_ms=1))
    # Funding on 1000 contracts at a mark of 50000 and a rate of 0.01%: 0.02 x 0.0001 = 0.000002 BTC paid.
    paid = apply(ledger, funding("0.000002", time_ms=2))
    assert (paid.position, paid.funding, paid.fees) == (1000, D("0.000002"), D("0.000011"))
    assert paid.pnl == D("-0.000013")  # at the entry price the position is worth what it cost
    received = apply(ledger, funding("-0.000001", time_ms=3))
    rebated = apply(ledger, fill("Sell", 1000, "50000", "-0.000002", time_ms=4))
    assert (received.funding, rebated.fees, rebated.realized_pnl) == (D("0.000001"), D("0.000009"), 0)
    assert rebated.pnl == D("-0.00001")  # 0 realized - 0.000009 fees - 0.000001 funding
    assert_coin_identities(rebated)


def test_bybits_published_inverse_position_reads_the_same() -> None:
    """docs_position_list_inverse.json: BTCUSD Sell 300 at avgPrice 27464.50441675, markPrice 28224.50,
    positionValue 0.01092319, unrealisedPnl -0.00029413 (Bybit rounds to 8 places)."""
    ledger = Ledger()
    held = ledger.reconcile_position("BTCUSD", D("-300"), D("27464.50441675"), 1, contract=INVERSE, settle_coin="BTC")
    assert held is not None and held.contract is INVERSE
    # 300 / 27464.50441675 = 0.0109231... BTC: Bybit's positionValue, the short's (negative) cost basis.
    assert round(held.cost_basis, 8) == D("-0.01092319")
    assert abs(held.running_price - D("27464.50441675")) < D("1e-12")
    marked = ledger.mark("BTCUSD", D("28224.50"), MarkSource.MARK_PRICE, 2)
    # 300 x (1/28224.50 - 1/27464.50441675) = 0.0106290... - 0.0109231... = -0.00029413 BTC.
    assert round(marked.unrealized_pnl, 8) == D("-0.00029413")
    assert_coin_identities(marked)


def test_flat_is_exactly_zero_after_many_odd_fills() -> None:
    ledger = Ledger()
    for number, price in enumerate(["33333.3", "77777.7", "12345.6", "99999.9", "31415.9"]):
        apply(ledger, fill("Buy", 7 + number, price, time_ms=number))
    entry = apply(ledger, fill("Sell", sum(7 + n for n in range(5)), "45678.9", time_ms=10))
    assert (entry.position, entry.cost_basis, entry.running_price, entry.unrealized_pnl) == (0, 0, 0, 0)
    assert_coin_identities(entry)


def test_a_symbol_keeps_its_first_kind_and_a_fill_of_the_other_is_rejected() -> None:
    ledger = Ledger()
    ledger.mark("BTCUSD", D("50000"), MarkSource.MARK_PRICE, 0)  # a mark alone decides nothing
    apply(ledger, fill("Buy", 1000, "50000", time_ms=1))
    assert ledger.apply_fill(fill("Sell", 1000, "60000", time_ms=2, contract=LINEAR)) is None
    entry = ledger.entry("BTCUSD")
    assert ledger.rejected == 1 and entry is not None and (entry.position, entry.contract) == (1000, INVERSE)
    linear = apply(ledger, fill("Buy", "1", "100", symbol="BTCUSDT", contract=LINEAR))
    assert (linear.contract, linear.cost_basis, linear.realized_pnl) == (LINEAR, 100, 0)


def test_a_late_inverse_fill_replays_in_coin_units() -> None:
    ledger = Ledger()
    apply(ledger, fill("Sell", 1000, "60000", time_ms=20))
    late = apply(ledger, fill("Buy", 1000, "50000", time_ms=10))  # older: bought first, then sold
    assert ledger.reordered == 1
    assert (late.position, late.realized_pnl) == (0, D("0.003333333333333333"))
    assert late.contract is INVERSE
    folded = Ledger(history_kept=1)
    for number in range(40):
        folded.apply_fill(fill("Buy" if number % 2 else "Sell", 100, str(40000 + 97 * number), time_ms=number))
    entry = folded.entry("BTCUSD")
    assert entry is not None and entry.contract is INVERSE and entry.position == 0
    assert_coin_identities(entry)


# ---------------------------------------------------------------------- the reader decides the kind


@pytest.mark.parametrize(
    ("category", "symbol", "kind", "coin"),
    [
        ("inverse", "BTCUSD", INVERSE, "BTC"),
        ("inverse", "ETHUSDH25", INVERSE, "ETH"),
        ("linear", "BTCUSDT", LINEAR, "USDT"),
        ("linear", "ETHPERP", LINEAR, "USDC"),
        ("spot", "ETHBTC", LINEAR, "BTC"),
        (None, "BTCUSD", INVERSE, "BTC"),
        (None, "XRPUSDZ26", INVERSE, "XRP"),
        (None, "BTCUSDT", LINEAR, "USDT"),
        (None, "BTCUSDC", LINEAR, "USDC"),
        (None, "BTC-26DEC25", LINEAR, "USDC"),
        (None, "BTCUSDT-26DEC25", LINEAR, "USDT"),
        (None, "1000PEPEUSDT", LINEAR, "USDT"),
        ("", "ETHUSD", INVERSE, "ETH"),
    ],
)
def test_the_category_decides_and_the_symbol_stands_in_when_there_is_none(
    category: str | None, symbol: str, kind: ContractKind, coin: str
) -> None:
    assert contract_of(category, symbol) is kind
    assert settle_coin_of(symbol, kind) == coin


@pytest.mark.parametrize(
    ("category", "symbol"),
    [("option", "BTC-28JUN24-60000-P"), ("spread", "BTCUSDT_SOL"), (None, "BTC-28JUN24-60000-C-USDT")],
)
def test_a_category_the_ledger_cannot_price_is_refused(category: str | None, symbol: str) -> None:
    with pytest.raises(ExecutionRecordError, match="linear, spot and inverse"):
        contract_of(category, symbol)


def _inverse_record(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "category": "inverse",
        "symbol": "BTCUSD",
        "execId": "v-1",
        "side": "Buy",
        "execType": "Trade",
        "execQty": "1500",
        "execPrice": "30000",
        "execValue": "0.05",
        "execFee": "0.0000275",
        "feeRate": "0.00055",
        "feeCurrency": "BTC",
        "execTime": "1700000000000",
        "isMaker": False,
    }
    base.update(changes)
    return {key: value for key, value in base.items() if value is not None}


def test_an_inverse_execution_becomes_an_inverse_fill_from_every_source() -> None:
    record = _inverse_record()
    pushed = fills_from_push({"topic": "execution", "data": [record]})[0]
    listed = fills_from_response(
        {"retCode": 0, "result": {"category": "inverse", "list": [_inverse_record(category=None)]}}
    )[0]
    journaled = fill_from_execution(_inverse_record(category=None), category="inverse")  # the desk's replay
    by_symbol = fill_from_execution(_inverse_record(category=None))
    for made in (pushed, listed, journaled, by_symbol):
        assert (made.contract, made.settle_coin, made.fee, made.qty) == (INVERSE, "BTC", D("0.0000275"), 1500)
    linear = fill_from_execution(
        _inverse_record(category="linear", symbol="BTCUSDT", feeCurrency="USDT", execValue=None)
    )
    assert linear.contract is LINEAR and linear.settle_coin == "USDT"


def test_an_inverse_fee_in_another_coin_is_refused() -> None:
    with pytest.raises(ExecutionRecordError, match="inverse fee in USDT"):
        fill_from_execution(_inverse_record(feeCurrency="USDT"))
    assert fill_from_execution(_inverse_record(feeCurrency="")).fee == D("0.0000275")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"category": "linear"}, "execValue 0.05 is qty / price, but the record reads as linear"),
        (
            {"category": None, "symbol": "BTCUSDT", "feeCurrency": "USDT"},
            "is qty / price, but the record reads as linear",
        ),
        ({"execValue": "45000000"}, "execValue 45000000 is qty x price, but the record reads as inverse"),
    ],
    ids=["linear-category", "linear-symbol", "inverse-with-a-linear-value"],
)
def test_a_trade_whose_value_is_the_other_kinds_is_refused(changes: dict[str, object], message: str) -> None:
    """BTCUSD 1500 @ 30000: 0.05 is 1500 / 30000 (inverse), 45000000 is 1500 x 30000 (linear)."""
    with pytest.raises(ExecutionRecordError, match=message.replace("/", "\\/")):
        fill_from_execution(_inverse_record(**changes))


def test_a_value_the_kinds_agree_on_or_that_cannot_be_read_decides_nothing() -> None:
    # Rounded by Bybit to 8 places of coin: 1 contract at 30001.5 is 0.0000333316... BTC.
    rounded = _inverse_record(execQty="1", execPrice="30001.5", execValue="0.00003333")
    assert fill_from_execution(rounded).contract is INVERSE
    near_one = _inverse_record(symbol="USDCUSDT", category="spot", execQty="100", execPrice="1.0001", execValue="100")
    assert fill_from_execution(near_one).contract is LINEAR  # 100 x 1.0001 and 100 / 1.0001 are both ~100
    assert fill_from_execution(_inverse_record(execValue="not a number")).contract is INVERSE
    assert fill_from_execution(_inverse_record(execValue="")).contract is INVERSE


def test_the_sorter_keeps_the_kind_and_refuses_a_symbol_of_two_kinds() -> None:
    fills = [fill_from_execution(_inverse_record()), fill_from_execution(_inverse_record(execId="v-2"))]
    with FillSorter() as sorter:
        sorter.add(fills)
        back = [item for batch in sorter.batches() for item in batch]
        assert [(f.contract, f.settle_coin) for f in back] == [(INVERSE, "BTC")] * 2
        assert sorter.contracts == {"BTCUSD": INVERSE}
    odd = fill_from_execution(_inverse_record(execId="v-3", category="linear", feeCurrency="", execValue=None))
    with FillSorter() as sorter, pytest.raises(ValueError, match="BTCUSD is linear there and inverse"):
        sorter.add([fills[0], odd])


# ---------------------------------------------------------------------- properties in coin units

_contracts = st.integers(min_value=1, max_value=200_000).map(D)
_prices = st.decimals(min_value=D("0.5"), max_value=D("150000"), places=1)
_fees = st.one_of(st.just(D(0)), st.decimals(min_value=D("-0.0001"), max_value=D("0.01"), places=8))
_events = ledger_events(_contracts, _prices, _fees)


class _InverseReference:
    """Bybit's inverse formulas in exact fractions: the value still open (contracts / price, signed), the
    harmonic entry it implies, and closed P&L ``contracts x (1/entry - 1/exit)`` for a long, mirrored."""

    def __init__(self) -> None:
        self.position = Fraction(0)
        self.value = Fraction(0)  # signed sum of contracts / price still open
        self.realized = Fraction(0)

    def trade(self, sign: int, qty: Fraction, price: Fraction) -> None:
        if self.position == 0 or (self.position > 0) == (sign > 0):
            self.position += sign * qty
            self.value += sign * qty / price
            return
        held = abs(self.position)
        closed = min(qty, held)
        inverse_entry = self.value / self.position  # 1 / entry
        direction = 1 if self.position > 0 else -1
        self.realized += direction * closed * (inverse_entry - 1 / price)
        self.value -= self.value * closed / held
        self.position += sign * closed
        if qty > closed:
            self.position = sign * (qty - closed)
            self.value = sign * (qty - closed) / price

    def entry(self) -> Fraction:
        return self.position / self.value if self.position else Fraction(0)


@settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(_events)
def test_the_identities_and_bybits_formulas_hold_for_any_inverse_sequence(events: list[tuple]) -> None:
    ledger = Ledger()
    reference = _InverseReference()
    for number, event in enumerate(events):
        if event[0] == "mark":
            if ledger.entry("BTCUSD") is not None:
                marked = ledger.mark("BTCUSD", event[1], MarkSource.MARK_PRICE, number)
                assert_coin_identities(marked)
                expected = (
                    reference.position * (1 / reference.entry() - 1 / Fraction(event[1])) if marked.position else 0
                )
                assert abs(Fraction(marked.unrealized_pnl) - expected) <= Fraction(1, 10**15)
            continue
        if event[0] == "fill":
            _, side, qty, price, fee = event
            entry = apply(ledger, fill(side, qty, price, fee, time_ms=number))
            reference.trade(1 if side == "Buy" else -1, Fraction(qty), Fraction(price))
        else:
            entry = apply(ledger, funding(event[1], time_ms=number))
        assert_coin_identities(entry)
        assert Fraction(entry.position) == reference.position  # contracts are exact
        assert abs(Fraction(entry.realized_pnl) - reference.realized) <= Fraction(1, 10**15)
        if entry.position:
            # The open value is within 1e-18 per fill of the exact one: the entry within a relative 1e-9.
            assert abs(Fraction(entry.running_price) / reference.entry() - 1) <= Fraction(1, 10**9)
        else:  # flat is exactly flat
            assert (entry.cost_basis, entry.running_price, entry.unrealized_pnl) == (0, 0, 0)


@settings(max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(_events, st.randoms(use_true_random=False), st.booleans(), st.integers(min_value=1, max_value=6))
def test_the_order_inverse_fills_arrive_in_never_changes_the_money(
    events: list[tuple], rng, with_external: bool, kept: int
) -> None:
    """Shuffled arrival, with or without a position held before the history and with a short kept history,
    gives the ledger fed in execution order, field for field."""
    items = [
        fill(e[1], e[2], e[3], e[4], time_ms=1_000 + n // 3, exec_id=f"v{n:03d}")
        if e[0] == "fill"
        else replace(funding(e[1], time_ms=1_000 + n // 3), exec_id=f"v{n:03d}")
        for n, e in enumerate(events)
        if e[0] != "mark"
    ]
    assume(items or with_external)
    shuffled = items[:]
    rng.shuffle(shuffled)
    in_order, arrived, batch = Ledger(), Ledger(), Ledger(history_kept=kept)
    for ledger, sequence in (
        (in_order, sorted(items, key=lambda f: (f.time_ms, f.exec_id))),
        (arrived, shuffled),
        (batch, sorted(items, key=lambda f: (f.time_ms, f.exec_id))),
    ):
        if with_external:
            ledger.reconcile_position("BTCUSD", D("-700"), D("41234.5"), 900, contract=INVERSE, settle_coin="BTC")
        for item in sequence:
            ledger.apply_fill(item)
    want = in_order.entry("BTCUSD")
    assert want is not None and want.contract is INVERSE
    assert [money_of(e) for e in arrived.entries()] == [money_of(want)]
    assert [money_of(e) for e in batch.entries()] == [money_of(want)]  # folding the history changes nothing
    with localcontext(MONEY_CONTEXT):
        assert_coin_identities(want)


# ---------------------------------------------------------------------- the desk's account state


def test_an_inverse_account_feeds_the_ledger_coin_margined_fills_and_positions() -> None:
    """The account state (what a desk runs) gives the ledger inverse fills from Bybit's records and books a
    position the history does not explain in the coin: Bybit's published BTCUSD short, with ETHUSD bought."""
    from collections import Counter

    from exchange.account_state import AccountState
    from exchange.book import OrderBook
    from exchange.desk import Desk
    from exchange.events import PositionSnapshot
    from exchange.hub import EventHub

    now = 1_700_000_000_000
    desk = Desk(environment="SIM", category="inverse", symbols=["BTCUSD"], books={"BTCUSD": OrderBook()})
    account = AccountState(desk, EventHub(), Counter(), None, "mark", reread=lambda: None, clock=lambda: now / 1000)
    bought = _inverse_record(symbol="ETHUSD", execId="a-1", execQty="2000", execPrice="2000", feeCurrency="ETH")
    account.start_recovery()
    account.take_history([{**bought, "execFee": "0.00055", "execTime": str(now - 10)}], now)
    short = PositionSnapshot("BTCUSD", D("-300"), D("27464.50441675"), None, None, None, None, None, None, now, None)
    eth = PositionSnapshot("ETHUSD", D("2000"), D("2000"), None, None, None, None, None, None, now, None)
    account.take_positions([short, eth], now)
    account.reconcile_positions([short, eth], now)
    account.finish_recovery()
    btc, ether = desk.ledger.entry("BTCUSD"), desk.ledger.entry("ETHUSD")
    assert btc is not None and ether is not None
    assert (btc.contract, btc.settle_coin, btc.position) == (INVERSE, "BTC", -300)
    assert round(btc.cost_basis, 8) == D("-0.01092319")  # Bybit's positionValue
    assert (ether.contract, ether.settle_coin, ether.cost_basis, ether.fees) == (INVERSE, "ETH", 1, D("0.00055"))
    marked = desk.ledger.mark("BTCUSD", D("28224.50"), MarkSource.MARK_PRICE, now)
    assert round(marked.unrealized_pnl, 8) == D("-0.00029413")  # Bybit's unrealisedPnl
