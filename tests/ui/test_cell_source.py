"""A changed ladder or tape row is sent from its cells (:class:`app.span_compositor.CellSource`): no strip is
built, cut or composed for it, and the cells sent are its strip's, style for style. A row the cells cannot give,
and a widget something stands in front of, go through the strips."""

from __future__ import annotations

import io
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pyte
import pytest
from rich.console import Console
from rich.segment import Segment
from textual._compositor import CompositorUpdate
from textual.filter import ANSIToTruecolor
from textual.geometry import Region
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widgets import Static

from app.app import FluxumApp
from app.span_compositor import SpanCompositor, SpanUpdate
from exchange.desk import Desk
from tests.ui import scripted
from tests.ui.support import SNAPSHOT_SIZE, scripted_app, strip_cells, until
from widgets.ladder import Ladder
from widgets.rows import Row
from widgets.strip_widget import StripWidget
from widgets.tape import TradesTape


@asynccontextmanager
async def _drawn_desk() -> AsyncIterator[tuple[Desk, FluxumApp, Pilot[Any], Ladder]]:
    """The scripted desk at the snapshot size, its ladder drawn."""
    desk = scripted.long_in_profit()
    app = scripted_app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        ladder = app.query_one(Ladder)
        await until(pilot, lambda: bool(ladder._rows), "the ladder drawn")
        yield desk, app, pilot, ladder


def _sent(update: SpanUpdate) -> list[tuple[int, int, list[tuple[str, Any]]]]:
    return [(y, x, [(char, style) for text, style in pieces for char in text]) for y, x, pieces in update.direct]


def _record(monkeypatch: pytest.MonkeyPatch, widget: StripWidget, name: str) -> list[tuple[Any, ...]]:
    """The arguments of every call of ``widget``'s method ``name`` from now on."""
    calls: list[tuple[Any, ...]] = []
    method = getattr(widget, name)

    def recording(*args: Any) -> Any:
        calls.append(args)
        return method(*args)

    monkeypatch.setattr(widget, name, recording)
    return calls


def _updates(monkeypatch: pytest.MonkeyPatch, compositor: SpanCompositor) -> list[SpanUpdate]:
    """Every partial update the screen's compositor renders from now on."""
    updates: list[SpanUpdate] = []
    original = compositor.render_partial_update

    def recording() -> Any:
        update = original()
        if isinstance(update, SpanUpdate):
            updates.append(update)
        return update

    monkeypatch.setattr(compositor, "render_partial_update", recording)
    return updates


async def test_a_changed_ladder_row_is_sent_from_its_cells_which_are_its_strips(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with _drawn_desk() as (desk, app, pilot, ladder):
        await pilot.pause(0.2)
        compositor = app.screen._compositor
        assert isinstance(compositor, SpanCompositor)
        updates = _updates(monkeypatch, compositor)
        built, drawn = _record(monkeypatch, ladder, "_strip"), _record(monkeypatch, ladder, "render_lines")
        scripted.resize_best_ask(desk)
        await until(pilot, lambda: any(update.direct for update in updates), "the change sent")
        assert not built and not drawn  # no strip built, nothing drawn through the compositor
        box = ladder.content_region
        for y, x, cells in (span for update in updates for span in _sent(update)):
            row, start = y - box.y, x - box.x
            assert cells == strip_cells(ladder.strip(row))[start : start + len(cells)]
        assert any("9.999" in "".join(char for char, _ in cells) for *_, cells in _sent(updates[-1]))


async def test_every_span_of_a_row_sent_from_its_cells_is_that_span_of_its_strip() -> None:
    desk = scripted.long_in_profit()
    app = scripted_app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        widgets: list[StripWidget] = [app.query_one(Ladder), app.query_one(TradesTape)]
        await until(pilot, lambda: all(widget._rows for widget in widgets), "the ladder and the tape drawn")
        pick = random.Random(7)
        for widget in widgets:
            assert widget.sends_cells()
            width = widget.size.width
            for row in range(len(widget._rows)):
                strip = strip_cells(widget.strip(row))
                for start in range(width):
                    for end in {start + 1, start + 2, pick.randint(start + 1, width), width, width + 3}:
                        pieces = widget.direct_cells(row, start, end)
                        assert pieces is not None
                        assert [(char, style) for text, style in pieces for char in text] == strip[start:end]


def _terminal(width: int, height: int) -> tuple[pyte.Screen, pyte.Stream]:
    screen = pyte.Screen(width, height)
    return screen, pyte.Stream(screen)


def _whole(compositor: SpanCompositor, console: Console) -> str:
    """The whole screen as Textual composes it, written as the desk writes a frame. (Rich keeps a style's codes
    for the first colour system it was written in: a test before this one may have written the same style
    objects with fewer colours, so Textual's own writer would not show what this console sends.)"""
    strips = compositor.render_strips()
    width = compositor.size.width
    return SpanUpdate(
        [{0: strip} for strip in strips], [(y, 0, width) for y in range(len(strips))], [[width]] * len(strips)
    ).render_segments(console)


def _shown(screen: pyte.Screen) -> list[list[pyte.screens.Char]]:
    return [[screen.buffer[y][x] for x in range(screen.columns)] for y in range(screen.lines)]


async def test_frames_sent_from_cells_draw_the_screen_textual_composes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every update of a desk whose book moves and cursor walks, with a toast over part of it and then without,
    replayed on a terminal: the screen Textual composes from scratch, cell for cell and style for style."""
    async with _drawn_desk() as (desk, app, pilot, ladder):
        await pilot.pause(0.3)
        compositor = app.screen._compositor
        assert isinstance(compositor, SpanCompositor)
        console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor")
        screen, stream = _terminal(*SNAPSHOT_SIZE)
        render_update = compositor.render_update
        sent_direct: list[object] = []

        def replayed(*args: Any, **kwargs: Any) -> Any:
            update = render_update(*args, **kwargs)
            if isinstance(update, CompositorUpdate):
                sent_direct.extend(getattr(update, "direct", []))
                stream.feed(update.render_segments(console))
            return update

        monkeypatch.setattr(compositor, "render_update", replayed)
        stream.feed(_whole(compositor, console))

        async def moves(sizes: list[str]) -> None:
            for index, size in enumerate(sizes):
                scripted.resize_best_ask(desk, size=size)
                await pilot.pause(0.06)
                await pilot.press("up" if index % 2 else "down")

        async def matches(what: str) -> None:
            await pilot.pause(0.3)
            composed, composed_stream = _terminal(*SNAPSHOT_SIZE)
            composed_stream.feed(_whole(compositor, console))
            different = [
                (y, x)
                for y, (got, want) in enumerate(zip(_shown(screen), _shown(composed), strict=True))
                for x in range(SNAPSHOT_SIZE[0])
                if got[x] != want[x]
            ]
            assert not different, (what, different[:5])

        await moves(["9.999", "1.234", "0.5", "12.75"])
        await matches("the book and the cursor moved")
        assert sent_direct, "the ladder's changes were sent from its cells"
        app.notify("a toast over the desk " * 4, timeout=30)
        await pilot.pause(0.3)
        await moves(["3.3", "4.4"])
        await matches("under a toast")
        app.clear_notifications()
        await matches("the toast gone")


async def test_a_wide_character_anywhere_before_the_span_sends_the_row_through_its_strip() -> None:
    async with _drawn_desk() as (desk, app, pilot, ladder):
        symbol, badge, price = " 币安人生USDT ", " ● LIVE ", " 65,000.0 "  # the symbol takes two cells a character
        ladder._rows[0] = Row(((symbol, ("ladder--header",)), (badge, ("ladder--live",)), (price, ("ladder--cursor",))))
        ladder._strips[0] = ladder._framed[0] = None
        start = len(symbol) + len(badge)
        assert ladder.direct_cells(0, start, start + len(price)) is None


async def test_a_row_its_cells_cannot_give_goes_through_its_strip(monkeypatch: pytest.MonkeyPatch) -> None:
    async with _drawn_desk() as (desk, app, pilot, ladder):
        await pilot.pause(0.2)
        wide = Row(((" 比特币 ", ("ladder--ask",)),))  # two cells a character
        assert ladder.direct_cells(4, 0, 10) is not None
        drawn = _record(monkeypatch, ladder, "render_lines")
        ladder._rows[4], ladder._strips[4], ladder._framed[4] = wide, None, None
        assert ladder.direct_cells(4, 0, 10) is None
        ladder.refresh(Region(0, 4, 10, 1))
        await until(pilot, lambda: bool(drawn), "the row drawn through its strip")


async def test_a_dim_look_is_sent_as_the_ansi_to_truecolor_filter_draws_it() -> None:
    async with _drawn_desk() as (desk, app, pilot, ladder):
        await pilot.pause(0.2)
        dim = Row(((" 65,010.2 ", ("ladder--ask", "ladder--untrusted")),))  # a stale book's row
        ladder._rows[4], ladder._strips[4], ladder._framed[4] = dim, None, None
        ((text, sent),) = ladder.direct_cells(4, 0, 10) or []
        assert text == " 65,010.2 " and not sent.dim and sent.color is not None and sent.color.triplet is not None
        layered = ladder._styled(dim.cells[0][1])
        assert layered.dim, "the look itself is dim: the filter's blend is what is sent"
        filtered = Strip([Segment(" 65,010.2 ", layered)]).apply_filter(
            next(f for f in app.get_line_filters() if isinstance(f, ANSIToTruecolor)), ladder.background_colors[1]
        )
        assert [(s.text, s.style) for s in filtered] == [(text, sent)]
        assert next(iter(ladder.strip(4))).style == sent, "the strip draws the same look"


async def test_a_ladder_something_stands_in_front_of_is_drawn_through_its_strips(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with _drawn_desk() as (desk, app, pilot, ladder):
        over = Static("in front", id="over")
        over.styles.layer, over.styles.dock = "_toastrack", "top"
        over.styles.width, over.styles.height = 12, 2
        over.styles.offset = (ladder.region.x + 3, ladder.region.y + 4)
        await app.screen.mount(over)
        await pilot.pause(0.2)
        assert over.region.overlaps(ladder.region)
        compositor = app.screen._compositor
        assert isinstance(compositor, SpanCompositor)
        updates = _updates(monkeypatch, compositor)
        drawn = _record(monkeypatch, ladder, "render_lines")
        scripted.resize_best_ask(desk)
        await until(pilot, lambda: bool(drawn), "the change drawn through the strips")
        assert not any(update.direct for update in updates)
