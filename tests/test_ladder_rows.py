"""The ladder's rows computed from a desk alone, with no screen (widgets/ladder_rows.py)."""

from __future__ import annotations

from decimal import Decimal as D

from exchange.book import OrderBook
from exchange.desk import Desk
from exchange.events import OpenOrder
from widgets._format import ColumnWidths
from widgets.ladder_rows import IMBALANCE_LEVELS, ladder_rows
from widgets.rows import Row

SYMBOL = "BTCUSDT"
LIVE = ("SYNCED", None)
WIDTH, HEIGHT = 60, 16


def _desk(bids: list[list[str]], asks: list[list[str]]) -> Desk:
    book = OrderBook(f"orderbook.50.{SYMBOL}")
    book.apply(
        {
            "topic": f"orderbook.50.{SYMBOL}",
            "type": "snapshot",
            "ts": 1_000,
            "cts": 999,
            "data": {"s": SYMBOL, "b": bids, "a": asks, "u": 1, "seq": 1},
        }
    )
    return Desk(environment="SIM", category="linear", symbols=[SYMBOL], books={SYMBOL: book})


def _two_sided() -> Desk:
    return _desk([["100.0", "1"], ["99.5", "2"]], [["100.5", "3"], ["101.0", "4"]])


def _order(order_id: str, side: str, price: str) -> OpenOrder:
    qty = D("0.25")
    return OpenOrder(order_id, f"l-{order_id}", SYMBOL, side, "Limit", D(price), qty, D(0), qty, "New", "GTC", 1)


def _find(rows: list[Row], text: str) -> int:
    return next(index for index, row in enumerate(rows) if text in row.text)


def test_without_a_book_the_ladder_says_so() -> None:
    rows = ladder_rows(None, SYMBOL, LIVE, 1, None, WIDTH, HEIGHT)
    assert [row.text for row in rows] == [" no book selected".ljust(WIDTH)]
    assert ladder_rows(_two_sided(), SYMBOL, LIVE, 1, None, 0, HEIGHT) == []


def test_a_live_book_fills_the_window_best_prices_either_side_of_the_spread() -> None:
    rows = ladder_rows(_two_sided(), SYMBOL, LIVE, 1, None, WIDTH, HEIGHT, ColumnWidths())
    assert len(rows) == HEIGHT
    assert "● LIVE" in rows[0].text and SYMBOL in rows[0].text
    assert "price" in rows[1].text and "depth" in rows[1].text  # titles from 12 rows up
    spread = _find(rows, "spread 0.5")
    assert "100.5" in rows[spread - 1].text and "101.0" in rows[spread - 2].text  # asks: best at the bottom
    assert "100.0" in rows[spread + 1].text and "99.5" in rows[spread + 2].text  # bids: best at the top
    assert rows[-1].text.startswith(f" imbalance {IMBALANCE_LEVELS} lv -0.40 bid ")  # (3 - 7) / 10
    assert all(len(row.text) <= WIDTH for row in rows)
    assert not any("ladder--untrusted" in names for row in rows for _, names in row.cells)


def test_an_untrusted_book_is_dimmed_and_says_not_live_with_its_reason() -> None:
    rows = ladder_rows(_two_sided(), SYMBOL, ("RESYNCING", "gap: u 7 -> 9"), 1, None, WIDTH, HEIGHT)
    assert "⚠ RESYNCING · NOT LIVE" in rows[0].text and "gap: u 7 -> 9" in rows[0].text
    spread = _find(rows[1:], "NOT LIVE") + 1
    assert rows[spread].cells[0][1] == ("ladder--not-live",)
    level = rows[spread - 1]
    assert "100.5" in level.text
    assert all("ladder--untrusted" in names for _, names in level.cells)


def test_own_orders_are_marked_on_their_row_and_counted_when_off_screen() -> None:
    desk = _two_sided()
    desk.orders = {"a": _order("a", "Buy", "99.5"), "b": _order("b", "Sell", "150.0")}
    rows = ladder_rows(desk, SYMBOL, LIVE, 1, None, WIDTH, HEIGHT)
    mine = _find(rows, "◆0.25")
    assert "99.5" in rows[mine].text
    assert any(names == ("ladder--own",) for _, names in rows[mine].cells)
    assert "◆1 off-screen" in rows[0].text


def test_grouping_rounds_bids_down_and_asks_up() -> None:
    desk = _desk([["100.4", "1"], ["100.1", "2"]], [["100.6", "3"], ["100.9", "4"]])
    rows = ladder_rows(desk, SYMBOL, LIVE, 10, 0.1, WIDTH, HEIGHT)
    assert " x10 = 1 " in rows[0].text  # no instrument: the decimals come from the rows
    spread = _find(rows, "spread")
    assert rows[spread - 1].text.split()[0] == "101"  # both asks in one row, priced up
    assert rows[spread + 1].text.split()[0] == "100"  # both bids in one row, priced down


def test_the_order_entry_cursor_marks_its_row_and_its_price_stays_on_the_header() -> None:
    desk = _two_sided()
    rows = ladder_rows(desk, SYMBOL, LIVE, 1, None, WIDTH, HEIGHT, cursor=99.5)
    marked = [row for row in rows[1:] if row.text.startswith("▶")]
    assert len(marked) == 1 and "99.5" in marked[0].text
    assert marked[0].cells[0] == ("▶", ("ladder--cursor",))
    assert "▶ 99.5" in rows[0].text
    gone = ladder_rows(desk, SYMBOL, LIVE, 1, None, WIDTH, HEIGHT, cursor=42.0)  # its level emptied
    assert not any(row.text.startswith("▶") for row in gone[1:]) and "▶ 42.0" in gone[0].text
    plain = ladder_rows(desk, SYMBOL, LIVE, 1, None, WIDTH, HEIGHT)
    assert [len(row.text) for row in plain[1:]] == [len(row.text) for row in rows[1:]]  # no column taken


def test_every_level_row_fills_the_window_its_figures_under_their_titles_with_and_without_own_orders() -> None:
    for orders in ([], [_order("o1", "Buy", "99.5")], [_order("o1", "Buy", "99.5"), _order("o2", "Sell", "101.0")]):
        desk = _two_sided()
        for order in orders:
            desk.orders[order.order_id] = order
        for cursor in (None, 100.0):
            rows = ladder_rows(desk, SYMBOL, LIVE, 1, 0.5, WIDTH, HEIGHT, ColumnWidths(), cursor)
            titles = rows[1].text
            price_ends, size_ends = titles.index("price") + len("price"), titles.index("size") + len("size")
            levels = [row.text for row in rows[2:-1] if row.text.strip() and "spread" not in row.text]
            assert len(levels) == 4
            for text in levels:
                assert len(text) == WIDTH, text
                assert text[price_ends - 1].isdigit() and text[price_ends] == " ", text
                assert text[size_ends - 1].isdigit() and text[size_ends] == " ", text
