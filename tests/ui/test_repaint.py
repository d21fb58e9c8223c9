"""Repainting only what changed: a changed row refreshes the columns that differ, and every one of them; the desk's
widgets are pulled from one timer, at their own rates, the ladder's frames apart from the others'."""

from __future__ import annotations

import os
import traceback
from collections import Counter
from dataclasses import replace
from decimal import Decimal as D
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.segment import Segment
from textual import messages
from textual.filter import ANSIToTruecolor
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from app import desk_screen
from app.desk_screen import DeskScreen
from app.line_filter import ControlFilter
from exchange.ledger import MarkSource
from exchange.position_watch import PositionDisagreement
from tests.ui import scripted
from tests.ui.support import SNAPSHOT_SIZE, scripted_app, strip_cells, until
from widgets.content_rows import ContentRows
from widgets.desk_widget import CYCLE, PullTicker
from widgets.ladder import Ladder
from widgets.orders import OrdersTable
from widgets.position import PositionPanel
from widgets.rows import Row
from widgets.strip_widget import END_OF_ROW, _common_prefix, changed_span
from widgets.tape import TradesTape
from widgets.wallet import WalletPanel

WIDTH = 24
STYLES = (("a",), ("b",), ("a", "b"))

cells = st.lists(st.tuples(st.text("xy ", max_size=5), st.sampled_from(STYLES)), max_size=5)
rows = st.builds(lambda cs, fill: Row(tuple(cs), fill), cells, st.sampled_from(((), ("a",))))


def _columns(row: Row, width: int = WIDTH) -> list[tuple[str, tuple[str, ...]]]:
    """Each column as drawn: its character and its styles (the fill after the cells)."""
    drawn = [(char, names) for text, names in row.cells for char in text]
    return (drawn + [(" ", row.fill)] * width)[:width]


@given(rows, rows)
def test_a_changed_span_holds_every_column_that_differs(old: Row, new: Row) -> None:
    span = changed_span(old, new)
    before, after = _columns(old), _columns(new)
    if span is None:
        assert before == after
        return
    start, end = span
    assert 0 <= start < end
    outside = [x for x in range(WIDTH) if not start <= x < end]
    assert [before[x] for x in outside] == [after[x] for x in outside]


@st.composite
def _rows_of_one_look(draw: st.DrawFn) -> tuple[Row, Row]:
    """Two rows with the same looks in the same columns, their characters drawn apart (astral and surrogate too)."""
    looks = draw(st.lists(st.tuples(st.integers(0, 6), st.sampled_from(STYLES)), min_size=1, max_size=4))
    chars = st.sampled_from("xy █▏\U0001f600\ud800")
    old = Row(tuple(("".join(draw(st.lists(chars, min_size=n, max_size=n))), names) for n, names in looks))
    new = Row(tuple(("".join(draw(st.lists(chars, min_size=n, max_size=n))), names) for n, names in looks))
    return old, new


@given(_rows_of_one_look())
def test_rows_of_one_look_repaint_exactly_from_the_first_to_the_last_character_that_differs(
    rows: tuple[Row, Row],
) -> None:
    old, new = rows
    differ = [x for x, (a, b) in enumerate(zip(old.text, new.text, strict=True)) if a != b]
    assert changed_span(old, new) == ((differ[0], differ[-1] + 1) if differ else None)


def test_a_changed_size_repaints_that_cell_alone() -> None:
    old = Row(((" 65,010.2", ("ask",)), ("   0.512", ("ask",)), ("  1.2", ("muted",))))
    new = Row(((" 65,010.2", ("ask",)), ("   0.517", ("ask",)), ("  1.2", ("muted",))))
    assert changed_span(old, new) == (16, 17)
    assert changed_span(old, old) is None
    assert changed_span(old, Row(old.cells, ("other",)))[1] == END_OF_ROW  # type: ignore[index]


async def test_a_book_change_repaints_every_changed_cell_and_no_unchanged_row(monkeypatch: pytest.MonkeyPatch) -> None:
    desk = scripted.long_in_profit()
    app = scripted_app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        ladder = app.query_one(Ladder)
        await until(pilot, lambda: bool(ladder._strips), "the ladder drawn")
        before = [strip_cells(strip) for strip in ladder.strips()]
        regions: list[Region] = []
        original = ladder._repaint

        def recording(*dirty: Region) -> None:
            regions.extend(dirty)
            original(*dirty)

        monkeypatch.setattr(ladder, "_repaint", recording)
        scripted.resize_best_ask(desk)
        await until(pilot, lambda: bool(regions), "the ladder repainted the change")
        after = [strip_cells(strip) for strip in ladder.strips()]
        assert len(after) == len(before)
        changed = {
            (x, y) for y, (a, b) in enumerate(zip(before, after, strict=True)) for x in range(len(b)) if a[x] != b[x]
        }
        assert changed, "the book change shows"
        assert all(any(region.contains(x, y) for region in regions) for x, y in changed)
        changed_rows = {y for _, y in changed}
        assert {region.y for region in regions} == changed_rows  # no row refreshed that reads and looks the same
        assert len(changed_rows) < len(after)
        assert any("9.999" in "".join(char for char, _ in after[y]) for y in changed_rows)


def test_the_pull_ticker_pulls_each_widget_at_its_rate_on_the_ladder_s_ticks_spread_over_them() -> None:
    now = [1000.0 + 0.5 / 40]
    pulls: dict[str, list[float]] = {}

    class Widget:
        def __init__(self, name: str) -> None:
            self.name = name

        def _pull(self) -> None:
            pulls.setdefault(self.name, []).append(now[0])

    ticker = PullTicker(clock=lambda: now[0])
    rates = {"bar": 10.0, "symbols": 2.0, "ladder": 20.0, "tape": 10.0, "position": 5.0, "link": 1.0}
    for name, hz in rates.items():
        ticker.add(Widget(name), hz)  # type: ignore[arg-type]
    ticker.tick()  # the first tick pulls every widget
    pulls.clear()
    for tick in range(1, CYCLE + 1):
        now[0] = 1000.0 + (tick + 0.5) / ticker.tick_hz  # mid-tick: no rounding at a turn's edge
        ticker.tick()
    seconds = CYCLE / ticker.tick_hz
    assert {name: len(times) / seconds for name, times in pulls.items()} == rates
    per_tick = Counter(when for name, times in pulls.items() if name != "ladder" for when in times)
    assert set(per_tick) <= set(pulls["ladder"])  # what moved is drawn in the ladder's frames, no frame of its own
    assert max(per_tick.values()) <= 2  # 28 slower pulls a second over 20 ladder frames: never all in one


def test_a_late_tick_delays_a_pull_and_never_drops_it() -> None:
    now = [1000.0]
    pulls: list[float] = []

    class Widget:
        def _pull(self) -> None:
            pulls.append(now[0])

    ticker = PullTicker(clock=lambda: now[0])
    ticker.add(Widget(), 10.0)  # type: ignore[arg-type]
    for _ in range(10):  # a busy loop: one tick in three runs
        now[0] += 3 / ticker.tick_hz
        ticker.tick()
    assert len(pulls) >= 7  # 0.75 s at 10 Hz, pulled at every tick that ran after its turn came


async def test_the_ladder_and_tape_skip_only_the_line_filters_that_would_leave_their_strips_as_they_are() -> None:
    desk = scripted.long_in_profit()
    app = scripted_app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        widgets = [app.query_one(Ladder), app.query_one(TradesTape)]
        await until(pilot, lambda: all(widget._strips for widget in widgets), "the ladder and the tape drawn")
        every = app.get_line_filters()
        assert any(isinstance(f, ANSIToTruecolor) for f in every) and any(isinstance(f, ControlFilter) for f in every)
        for widget in widgets:
            assert widget.get_line_filters() == []
            background = widget.styles.background
            for strip in widget.strips():
                filtered = strip
                for line_filter in every:
                    filtered = filtered.apply_filter(line_filter, background)
                assert list(filtered) == list(strip)  # what the filters would have sent is what is sent
        ladder = widgets[0]
        names = ("ladder--ask", "ladder--untrusted")  # a dim look: the ANSI filter turns it into a blended colour
        drawn = ladder._strip(Row(((" 65,010.2 ", names),)), 10)
        raw = Strip([Segment(" 65,010.2 ", ladder._styled(names))], 10)
        ansi = next(f for f in every if isinstance(f, ANSIToTruecolor))
        assert list(drawn) == list(raw.apply_filter(ansi, ladder.background_colors[1])) != list(raw)
        assert ladder.get_line_filters() == []  # the row has it already


async def test_a_control_character_in_a_row_never_reaches_a_strip_that_skips_the_text_guard() -> None:
    app = scripted_app(scripted.long_in_profit())
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        ladder = app.query_one(Ladder)
        await until(pilot, lambda: bool(ladder._strips), "the ladder drawn")
        strip = ladder._strip(Row((("a\x1b[2Jb\u202e", ("ladder--ask",)), ("\x07c", ("ladder--bid",)))), 12)
        assert strip.text == "a[2Jb  c    "  # no ESC, BEL or bidi override; each cell keeps its width
        assert all(segment.text.isprintable() for segment in strip)


async def test_a_symbol_key_repaints_the_widgets_it_changes_not_every_cell_of_the_screen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = scripted_app(scripted.long_in_profit())
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        ladder = app.query_one(Ladder)
        await until(pilot, lambda: bool(ladder._strips), "the ladder drawn")
        screen, before = app.screen, ladder.symbol
        assert len(app.desk.symbols) > 1
        repaints: list[tuple[Any, ...]] = []
        original = screen.refresh

        def recording(*regions: Any, **kwargs: Any) -> Any:
            if kwargs.get("repaint", True) and not regions:
                repaints.append(regions)
            return original(*regions, **kwargs)

        monkeypatch.setattr(screen, "refresh", recording)
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: ladder.symbol != before, "the next symbol's ladder")
        assert repaints == []


async def test_a_resting_market_slows_the_pull_timer_and_its_next_move_wakes_it_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(desk_screen, "REST_HZ", 0.01)  # a resting pull every 100 s: it cannot be what draws the move
    desk = scripted.long_in_profit()
    app = scripted_app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, DeskScreen)
        ladder = app.query_one(Ladder)
        await until(pilot, lambda: screen._is_resting, "the scripted market, which never moves, resting")
        assert not screen._moving._active.is_set() and screen._resting._active.is_set()
        assert desk.on_move == screen._woken
        scripted.resize_best_ask(desk, size="6.666")
        desk.moved()  # as the feed does after each book frame
        await until(pilot, lambda: "6.666" in "".join(strip.text for strip in ladder.strips()), "the move drawn")
        await until(pilot, lambda: not screen._is_resting, "the full rate back")
        assert screen._moving._active.is_set() and not screen._resting._active.is_set()
        assert desk.on_move is None


async def test_a_frame_draws_only_the_widgets_a_change_is_on(monkeypatch: pytest.MonkeyPatch) -> None:
    desk = scripted.long_in_profit()
    app = scripted_app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        ladder, wallet = app.query_one(Ladder), app.query_one(WalletPanel)
        await until(pilot, lambda: bool(ladder._strips), "the ladder drawn")
        await pilot.pause(0.2)
        drawn: list[Widget] = []
        for widget in app.screen.walk_children(Widget, with_self=True):
            monkeypatch.setattr(widget, "render_lines", _recorded(widget, drawn))
        direct_cells = ladder.direct_cells

        def sent_from_cells(*row: int) -> Any:  # the ladder's change is sent from its cells: drawn too
            drawn.append(ladder)
            return direct_cells(*row)

        monkeypatch.setattr(ladder, "direct_cells", sent_from_cells)
        ladder.refresh(Region(2, 5, 6, 1))  # a changed size on the left, a changed balance on the right: the box
        wallet.refresh()  # around the two holds the tape and the position panel, which did not change
        await until(pilot, lambda: ladder in drawn and wallet in drawn, "the frame drawn")
        assert set(drawn) <= {ladder, wallet}


async def _drawn(app: Any, pilot: Any) -> tuple[DeskScreen, Ladder]:
    """The desk screen and its ladder, once the ladder is drawn."""
    screen, ladder = app.screen, app.query_one(Ladder)
    assert isinstance(screen, DeskScreen)
    await until(pilot, lambda: bool(ladder._strips), "the ladder drawn")
    return screen, ladder


def _tick_every_widget(screen: DeskScreen) -> None:
    """One tick of the desk's pull timer with every widget's turn due."""
    screen.pull_ticker._pulled.clear()
    screen._tick()


async def test_a_tick_draws_what_it_changed_in_one_frame_of_its_own_without_messages_to_the_screen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    desk = scripted.long_in_profit()
    app = scripted_app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        screen, ladder = await _drawn(app, pilot)
        await pilot.pause(0.2)
        frames: list[str] = []
        display = app._display

        def written(on: Any, update: Any) -> None:
            frames.append(update.render_segments(app.console) if update is not None else "")
            display(on, update)

        posted: list[object] = []
        post = screen.post_message

        def posting(message: Any) -> bool:
            posted.append(message)
            return post(message)

        monkeypatch.setattr(app, "_display", written)
        monkeypatch.setattr(screen, "post_message", posting)
        logged = len(ladder.draw_log)
        scripted.resize_best_ask(desk)  # the ladder's book moves, and the mark the position panel shows
        desk.ledger.mark("BTCUSDT", D("65432.1"), MarkSource.MARK_PRICE, scripted.NOW_MS)
        _tick_every_widget(screen)
        assert len(frames) == 1, "one frame, written before the tick returns"
        assert "9.999" in frames[0] and "432.1" in frames[0]  # (the mark's changed cells: "65," stayed)
        assert not [m for m in posted if isinstance(m, messages.Update)]
        assert len(ladder.draw_log) == logged + 1 and ladder.draw_log[-1][0] == scripted.NOW_MS
        await pilot.pause(0.1)
        assert not [m for m in posted if isinstance(m, messages.Update) and m.widget in (ladder, screen)]


async def test_a_book_version_a_tick_draws_nothing_of_is_logged_with_the_next_frame_not_a_later_one() -> None:
    desk = scripted.long_in_profit()
    app = scripted_app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        screen, ladder = await _drawn(app, pilot)
        await pilot.pause(0.2)
        book = desk.books["BTCUSDT"]
        deep = book.bids(50)[-1][0]  # far below the rows shown
        delta = {"s": "BTCUSDT", "b": [[repr(deep), "7.777"]], "a": [], "u": (book.u or 0) + 1, "seq": 1}
        book.apply({"topic": book.topic, "type": "delta", "ts": scripted.NOW_MS + 5, "cts": 1, "data": delta})
        logged = len(ladder.draw_log)
        _tick_every_widget(screen)
        assert not any("7.777" in strip.text for strip in ladder.strips())  # nothing shown moved
        await until(pilot, lambda: len(ladder.draw_log) > logged, "the version logged after the screen's refresh")
        assert ladder.draw_log[-1][0] == scripted.NOW_MS + 5 and not ladder._unpainted


async def test_a_tick_while_updates_are_batched_leaves_its_repaint_to_textual_until_the_batch_ends() -> None:
    desk = scripted.long_in_profit()
    app = scripted_app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        screen, ladder = await _drawn(app, pilot)
        logged = len(ladder.draw_log)
        with app.batch_update():
            scripted.resize_best_ask(desk)
            _tick_every_widget(screen)
            assert ladder in screen._dirty_widgets and len(ladder.draw_log) == logged  # nothing drawn in a batch
        await until(pilot, lambda: len(ladder.draw_log) > logged, "the ladder's frame once the batch ends")
        assert not screen._dirty_widgets
        assert "9.999" in "".join(strip.text for strip in ladder.strips())


def _layouts(monkeypatch: pytest.MonkeyPatch, screen: Any) -> list[tuple[bool, str]]:
    """Every layout of ``screen`` from now on: whether it was a scroll's, and where it was asked for."""
    layouts: list[tuple[bool, str]] = []
    original = screen._refresh_layout

    def recording(*args: Any, **kwargs: Any) -> Any:
        layouts.append((bool(kwargs.get("scroll")), "".join(traceback.format_stack(limit=4))))
        return original(*args, **kwargs)

    monkeypatch.setattr(screen, "_refresh_layout", recording)
    return layouts


def _recorded(widget: Widget, drawn: list[Widget]) -> Any:
    render_lines = widget.render_lines

    def recording(crop: Region) -> list[Strip]:
        drawn.append(widget)
        return render_lines(crop)

    return recording


@given(st.lists(st.floats(-0.004, 0.004), min_size=80, max_size=80))
def test_a_tick_a_few_ms_early_or_late_never_costs_the_ladder_a_frame(jitter: list[float]) -> None:
    now = [1000.0]
    pulls: list[int] = []
    ticker = PullTicker(clock=lambda: now[0])

    class Ladder:
        RETRY_IN_TURN = True

        def _pull(self) -> bool:
            pulls.append(int(now[0] * 20))  # its turn: the 50 ms it is pulled once in
            return True

    ticker.add(Ladder(), 20.0)  # type: ignore[arg-type]
    for tick, offset in enumerate(jitter):
        now[0] = 1000.0 + tick / ticker.tick_hz + offset
        ticker.tick()
    assert pulls == list(range(pulls[0], pulls[-1] + 1))  # every turn drawn, once


def test_a_book_that_moves_after_the_first_tick_of_the_ladders_turn_is_drawn_on_its_second() -> None:
    now = [1000.0]
    ticker = PullTicker(clock=lambda: now[0])
    moved_at = {2.5, 4.5, 7.0}  # ticks (of 25 ms) the book moves at: mid-turn, mid-turn, at a turn's first tick
    drawn: list[tuple[str, float]] = []
    book = [0.0]

    class Puller:
        def __init__(self, name: str, retry: bool) -> None:
            self.name, self.RETRY_IN_TURN, self.seen = name, retry, 0.0

        def _pull(self) -> bool:
            if book[0] == self.seen:
                return False
            self.seen = book[0]
            drawn.append((self.name, now[0]))
            return True

    ticker.add(Puller("ladder", True), 20.0)  # type: ignore[arg-type]
    ticker.add(Puller("slow", False), 4.0)  # type: ignore[arg-type]
    for tick in range(40):
        for at in moved_at:
            if tick - 1 < at <= tick:
                book[0] = at
        now[0] = 1000.0 + tick / ticker.tick_hz
        ticker.tick()
    ladder = [round((at - 1000.0) * ticker.tick_hz) for name, at in drawn if name == "ladder"]
    assert ladder == [3, 5, 7]  # each move drawn on the next tick, in the turn it came in
    slow = [round((at - 1000.0) * ticker.tick_hz) for name, at in drawn if name == "slow"]
    assert len(slow) == 1 and slow[0] >= 7  # a widget that does not retry is pulled once a turn, as before


async def test_flipping_symbols_lays_out_nothing_once_each_was_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    """A symbol with a position takes more of the position panel than one without: the panel keeps the larger
    height (and the sparkline's row), so a second round of symbol keys moves nothing and needs no layout."""
    app = scripted_app(scripted.long_in_profit())
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        ladder, tape, screen = app.query_one(Ladder), app.query_one(TradesTape), app.screen
        await until(pilot, lambda: bool(ladder._strips), "the ladder drawn")
        symbols = list(app.desk.symbols)

        async def one_round() -> list[Region]:
            regions = []
            for _ in symbols:
                before = ladder.symbol
                await pilot.press("right_square_bracket")
                await until(pilot, lambda: ladder.symbol != before, "the next symbol's ladder")  # noqa: B023
                await pilot.pause(0.05)
                regions.append(tape.region)
            return regions

        await one_round()
        layouts = _layouts(monkeypatch, screen)
        regions = await one_round()
        assert len(set(regions)) == 1, regions
        assert layouts == []


@given(st.text("ab", max_size=12), st.text("ab", max_size=12))
def test_the_common_start_of_two_texts_is_found_whole(a: str, b: str) -> None:
    assert _common_prefix(a, b) == len(os.path.commonprefix([a, b]))


async def test_a_new_print_shifts_the_tape_and_every_row_that_moved_keeps_its_strip() -> None:
    desk = scripted.long_in_profit()
    app = scripted_app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        tape = app.query_one(TradesTape)
        await until(pilot, lambda: len(tape._strips) > 5, "the tape drawn")
        symbol = tape.symbol
        assert symbol is not None
        before = tape.strips()
        last = desk.trades[symbol][-1]
        desk.trades[symbol].append(replace(last, time_ms=last.time_ms + 1, trade_id="next"))
        desk.touch(f"trades:{symbol}")
        await until(pilot, lambda: tape._strips[2] is before[1], "the shifted rows")
        assert all(tape._strips[y + 1] is before[y] for y in range(1, len(before) - 1))  # below the titles


async def test_orders_coming_and_going_lay_out_nothing_until_they_overflow_the_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An order more or less changes the table's size, which in Textual lays the whole screen out again: here it
    does only when the table's scrollbar must come (or go)."""
    desk = scripted.long_in_profit()
    app = scripted_app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        table, screen = app.query_one(OrdersTable), app.screen
        await until(pilot, lambda: table.row_count == len(desk.open_orders()), "the orders drawn")
        await pilot.pause(1.0)  # the desk's first second (its first P&L sample) settled
        layouts = _layouts(monkeypatch, screen)
        first = next(iter(desk.orders.values()))
        for count in range(3):
            desk.orders[f"more-{count}"] = replace(first, order_id=f"more-{count}")
            desk.touch("orders")
            await until(pilot, lambda: table.row_count == len(desk.open_orders()), "the order added")  # noqa: B023
            await pilot.pause(0.05)
        whole = [stack for scroll, stack in layouts if not scroll]  # a scroll only looks at what shows
        assert whole == [], "\n".join(whole)
        assert not table.show_vertical_scrollbar
        for count in range(3, 3 + table.scrollable_content_region.height):
            desk.orders[f"more-{count}"] = replace(first, order_id=f"more-{count}")
        desk.touch("orders")
        await until(pilot, lambda: table.show_vertical_scrollbar, "the scrollbar for the orders that overflow")
        await pilot.pause(0.05)
        layouts.clear()

        def thumb_fits() -> bool:
            return table.vertical_scrollbar.window_virtual_size == table.virtual_size.height == table.row_count + 1

        for more in ("one-more", "two-more"):
            desk.orders[more] = replace(first, order_id=more)
            desk.touch("orders")
            await until(pilot, thumb_fits, "the scrollbar's thumb sized for every row")
        del desk.orders["two-more"]
        desk.touch("orders")
        await until(pilot, lambda: thumb_fits() and table.row_count == len(desk.open_orders()), "a row less")
        assert table.scroll_y <= table.max_scroll_y
        assert [stack for scroll, stack in layouts if not scroll] == []  # the scrollbar stayed: nothing laid out


async def test_orders_that_refit_their_columns_inside_the_table_lay_out_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    desk = scripted.long_in_profit()
    app = scripted_app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        table, screen = app.query_one(OrdersTable), app.screen
        await until(pilot, lambda: table.row_count == len(desk.open_orders()), "the orders drawn")
        await pilot.pause(1.0)
        layouts = _layouts(monkeypatch, screen)
        width = table.virtual_size.width
        order = next(iter(desk.orders.values()))
        desk.orders[order.order_id] = replace(order, cum_exec_qty=order.qty / 4, leaves_qty=order.qty * 3 / 4)
        desk.touch("orders")
        await until(pilot, lambda: table.virtual_size.width != width, "the columns refitted (filled/ordered)")
        await pilot.pause(0.1)
        assert "/" in "".join(str(cell) for cell in table.get_row_at(0) + table.get_row_at(1))
        assert [stack for scroll, stack in layouts if not scroll] == []
        assert not table.show_horizontal_scrollbar and not table.show_vertical_scrollbar


async def test_a_warning_that_goes_gives_the_position_panel_its_row_back() -> None:
    """The panel keeps the rows other symbols needed, not those a line of the shown symbol needed once."""
    desk = scripted.long_in_profit()
    app = scripted_app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        panel, tape = app.query_one(PositionPanel), app.query_one(TradesTape)
        await until(pilot, lambda: "unrealized" in str(panel.query_one("#position-body", ContentRows).content), "drawn")
        await pilot.pause(0.3)
        symbol, top = panel.symbol, tape.region.y
        assert symbol is not None
        entry = desk.ledger.entry(symbol)
        assert entry is not None
        desk.position_disagreements[symbol] = PositionDisagreement(
            symbol, entry.position + 1, entry.running_price, entry.position, entry.running_price
        )
        desk.touch("positions")
        await until(pilot, lambda: tape.region.y == top + 1, "the warning's row")
        del desk.position_disagreements[symbol]
        desk.touch("positions")
        await until(pilot, lambda: tape.region.y == top, "the row given back")
