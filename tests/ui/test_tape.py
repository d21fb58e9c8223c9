"""The tape's large-trade threshold and own-fill rows, on plain data and on a scripted desk (no network)."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import replace
from decimal import Decimal as D
from statistics import median

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.events import PublicTrade
from exchange.ledger import Fill
from tests.ui import scripted
from tests.ui.support import SNAPSHOT_SIZE, scripted_app
from widgets.tape import LARGE_FLOOR, MIN_SAMPLES, NOTIONAL_WINDOW, TapeMemo, TradesTape, large_threshold

pytestmark = pytest.mark.timeout(60)


def _flagged(notionals: list[float]) -> int:
    threshold = large_threshold(notionals)
    return 0 if threshold is None else sum(n >= threshold for n in notionals)


def test_heavy_tailed_flow_flags_about_one_trade_in_fifty() -> None:
    rng = random.Random(7)
    notionals = [rng.lognormvariate(7.0, 1.2) for _ in range(200)]
    old_rule = sum(n >= 5 * median(notionals) for n in notionals)  # the former 5x-median rule
    assert 1 <= _flagged(notionals) <= 4  # the top 2 %
    assert _flagged(notionals) < old_rule


def test_an_even_flow_flags_nothing_and_a_whale_stands_out() -> None:
    rng = random.Random(11)
    even = [1_000.0 * rng.uniform(0.9, 1.1) for _ in range(200)]
    assert _flagged(even) == 0  # the 98th percentile is barely above the median: the floor holds
    threshold = large_threshold(even)
    assert threshold is not None and threshold >= LARGE_FLOOR * median(even)
    with_whale = [*even[1:], 50_000.0]
    assert _flagged(with_whale) == 1


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.booleans(), st.integers(1, 400)), min_size=1, max_size=25))
def test_the_kept_window_gives_the_threshold_of_the_window_sorted_again(steps: list[tuple[int, bool, int]]) -> None:
    """Prints come (a few, or a burst past the whole window), the list is sometimes another one (a symbol
    switched to, trades read again: equal trades, other objects) or shorter: each pull's threshold is the one of
    its window sorted from scratch."""
    memo, trades, window = TapeMemo(), deque[PublicTrade](maxlen=NOTIONAL_WINDOW), 150
    made = 0
    for count, replaced, size in steps:
        for _ in range(count * (8 if count > 25 else 1)):
            made += 1
            trades.append(
                PublicTrade("X", made, "Buy", D(made % 97 + 1) / 10, D(size % 13 + made % 5) / 1000, str(made))
            )
        if replaced:  # the same trades as new objects, or another symbol's shorter list
            trades = deque([replace(t) for t in list(trades)[-size:]], maxlen=NOTIONAL_WINDOW)
        recent = list(trades)[-window:]
        assert memo.threshold(recent) == large_threshold([float(t.price * t.qty) for t in recent])


def test_too_few_trades_flag_nothing() -> None:
    assert large_threshold([10.0] * (MIN_SAMPLES - 2) + [1e9]) is None
    assert large_threshold([]) is None


async def test_scripted_tape_flags_only_the_whale() -> None:
    app = scripted_app(scripted.long_in_profit())
    async with app.run_test(size=SNAPSHOT_SIZE):
        tape = app.query_one(TradesTape)
        flagged = [strip.text for strip in tape.strips()[1:] if strip.text.rstrip().endswith("!")]
        assert len(flagged) == 1 and " 3.000 " in flagged[0]


async def test_own_fills_are_rows_of_their_own_interleaved_by_time() -> None:
    desk = scripted.long_in_profit()
    trades = list(desk.trades["BTCUSDT"])
    newest, older = trades[-1], trades[-3]
    desk.own_fills.extend(
        [
            # the same side, price, qty and time as the newest print: still its own row, the print unmarked
            Fill("y1", "BTCUSDT", newest.side, newest.qty, newest.price, D("0.1"), newest.time_ms),
            # a price no public trade has, between the third and the second newest prints
            Fill(
                "y2",
                "BTCUSDT",
                "Sell",
                D("0.042"),
                D("70000.0"),
                D("0.1"),
                older.time_ms + 1,
            ),
            # neither a funding payment nor another symbol's fill belongs in this tape
            Fill(
                "y3",
                "BTCUSDT",
                "Sell",
                D("0"),
                D("65000"),
                D("1"),
                newest.time_ms,
                "Funding",
            ),
            Fill("y4", "ETHUSDT", "Buy", D("1"), D("3500"), D("0.1"), newest.time_ms),
        ]
    )
    desk.touch("fills")
    app = scripted_app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE):
        tape = app.query_one(TradesTape)
        lines = [strip.text.rstrip() for strip in tape.strips()[1:]]
        assert lines[0].endswith("◆ YOU") and f" {newest.qty:.3f} " in lines[0]
        assert "◆" not in lines[1] and f" {newest.qty:.3f}" in lines[1]
        assert "◆" not in lines[2]
        assert lines[3].endswith("◆ YOU") and " SELL 70,000.0 0.042 " in lines[3]
        assert "◆" not in lines[4] and f"{older.price:,.1f}" in lines[4]
        assert sum("◆ YOU" in line for line in lines) == 2
        own_color = tape.get_component_rich_style("tape--own").color
        styles = [segment.style for segment in tape.strip(1) if segment.text.strip()]  # the row, not its fill
        assert {style.color for style in styles if style is not None} == {own_color} and None not in styles
