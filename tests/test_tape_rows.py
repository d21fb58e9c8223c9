"""The tape's rows computed from a desk alone, with no screen (widgets/tape.py ``tape_rows``)."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given
from hypothesis import strategies as st

from exchange.book import OrderBook
from exchange.desk import Desk
from exchange.events import LinkState, PublicTrade, SessionState
from widgets.tape import NOT_LIVE, TapeMemo, tape_rows

SYMBOL = "BTCUSDT"
WIDTH = 50


def _desk(trades: list[PublicTrade], state: LinkState = LinkState.READY) -> Desk:
    desk = Desk(environment="SIM", category="linear", symbols=[SYMBOL], books={SYMBOL: OrderBook()})
    desk.trades[SYMBOL].extend(trades)
    desk.state = SessionState(state, 0, "")
    return desk


def _trade(n: int, side: str = "Buy", qty: str = "1") -> PublicTrade:
    return PublicTrade(SYMBOL, 1_000 * n, side, D("100.5"), D(qty), f"t{n}")


def test_newest_trade_first_with_its_side_written_out() -> None:
    rows, shown = tape_rows(_desk([_trade(1, "Buy"), _trade(2, "Sell")]), SYMBOL, WIDTH, 10)
    assert shown == 2 and len(rows) == 3
    assert "time (UTC)" in rows[0].text and NOT_LIVE not in rows[0].text
    assert rows[1].text.startswith(" 00:00:02.000 SELL 100.5") and rows[1].cells[0][1] == ("tape--sell",)
    assert rows[2].text.startswith(" 00:00:01.000 BUY ") and rows[2].cells[0][1] == ("tape--buy",)


def test_only_the_rows_that_fit_are_built() -> None:
    rows, shown = tape_rows(_desk([_trade(n) for n in range(1, 40)]), SYMBOL, WIDTH, 5)
    assert shown == 4 and len(rows) == 5
    assert rows[1].text.startswith(" 00:00:39.000")


def test_a_link_not_ready_marks_the_titles_not_live() -> None:
    rows, _ = tape_rows(_desk([_trade(1)], LinkState.RECONNECTING), SYMBOL, WIDTH, 10)
    assert NOT_LIVE in rows[0].text
    assert (NOT_LIVE, ("tape--not-live",)) in rows[0].cells
    assert len(rows[0].text) == WIDTH


def test_a_trade_far_above_the_recent_flow_is_flagged_large() -> None:
    trades = [_trade(n) for n in range(1, 40)] + [_trade(40, qty="50")]
    rows, _ = tape_rows(_desk(trades), SYMBOL, WIDTH, 10)
    assert rows[1].text.rstrip().endswith("!") and "tape--large" in rows[1].cells[0][1]
    assert not rows[2].text.rstrip().endswith("!")


def test_without_a_symbol_the_tape_says_so() -> None:
    rows, shown = tape_rows(None, None, WIDTH, 10)
    assert [row.text for row in rows] == [" no symbol".ljust(WIDTH)] and shown == 0


@given(
    st.lists(
        st.tuples(st.sampled_from(["Buy", "Sell"]), st.sampled_from(["1", "0.001", "250", "12345.678"])),
        min_size=1,
        max_size=60,
    ),
    st.integers(20, 70),
)
def test_rows_from_the_memo_are_the_rows_computed_afresh(trades: list[tuple[str, str]], width: int) -> None:
    """Trades arrive one by one and the window changes width: each frame from the kept memo reads as new."""
    memo, desk = TapeMemo(), _desk([])
    for n, (side, qty) in enumerate(trades, 1):
        desk.trades[SYMBOL].append(_trade(n, side, qty))
        size = width + n % 3
        assert tape_rows(desk, SYMBOL, size, 12, memo=memo) == tape_rows(desk, SYMBOL, size, 12)


def test_a_trade_keeps_its_row_object_as_it_moves_down() -> None:
    """A repaint compares each row with the one drawn above it: a row kept as it moves works that out once."""
    memo, desk = TapeMemo(), _desk([_trade(n) for n in range(1, 30)])
    before, _ = tape_rows(desk, SYMBOL, WIDTH, 10, memo=memo)
    desk.trades[SYMBOL].append(_trade(30, "Sell"))
    after, _ = tape_rows(desk, SYMBOL, WIDTH, 10, memo=memo)
    assert all(after[y + 1] is before[y] for y in range(1, len(before) - 1))
    assert after[1].text.startswith(" 00:00:30.000 SELL")
    again, _ = tape_rows(desk, SYMBOL, WIDTH, 10, memo=memo)
    assert again[2] is after[2]
    narrower, _ = tape_rows(desk, SYMBOL, WIDTH - 5, 10, memo=memo)
    assert narrower[2] is after[2]  # its layout is its columns', not the window's


def test_a_kept_row_follows_its_trade_out_of_the_large_ones() -> None:
    """A trade's row is kept by its look too: once larger trades raise the threshold, its ``!`` goes."""
    memo, desk = TapeMemo(), _desk([_trade(n) for n in range(1, 30)] + [_trade(30, qty="50")])
    rows, _ = tape_rows(desk, SYMBOL, WIDTH, 40, memo=memo)
    assert rows[1].text.rstrip().endswith("!")
    desk.trades[SYMBOL].extend(_trade(n, qty="60") for n in range(31, 45))
    rows, _ = tape_rows(desk, SYMBOL, WIDTH, 40, memo=memo)
    big = next(row for row in rows if row.text.startswith(" 00:00:30.000"))
    assert not big.text.rstrip().endswith("!") and "tape--large" not in big.cells[0][1]
    assert rows == tape_rows(desk, SYMBOL, WIDTH, 40)[0]
