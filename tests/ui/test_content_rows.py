"""A :class:`~widgets.content_rows.ContentRows` draws a text as ``Static`` draws it, and a change as only the cells
that changed: the desk's panels (the position, the connection bar, the symbol strip) are drawn this way."""

from __future__ import annotations

import io
import random
import unicodedata
from decimal import Decimal as D
from typing import Any

import pyte
import pytest
from rich.console import Console
from textual.app import App, ComposeResult
from textual.content import Content
from textual.css.types import TextAlign, TextOverflow
from textual.geometry import Region
from textual.screen import Screen
from textual.widgets import Static

from app.span_compositor import SpanCompositor, SpanUpdate
from exchange.ledger import MarkSource
from exchange.printable import strip_controls
from tests.ui import scripted
from tests.ui.support import SNAPSHOT_SIZE, scripted_app, strip_cells, until
from widgets.content_rows import ContentRows, content_rows
from widgets.position import PositionPanel
from widgets.symbols import SymbolStrip

STYLES = ("bold", "dim", "$text-warning", "bold $profit", "reverse", "$loss", "italic dim", "underline $accent")
WORDS = ("BTCUSDT", "65,010.2", "—", "⚠", "中文", "mark", "  ", " ", "+0.42 %", "\t", "x" * 30, "")


class _Pair(App[None]):
    """A ``Static`` and a ``ContentRows`` side by side, styled alike."""

    CSS = """
    Static, ContentRows { width: 1fr; height: auto; }
    .cut { text-wrap: nowrap; text-overflow: ellipsis; }
    .clip { text-wrap: nowrap; text-overflow: clip; }
    .fold { text-wrap: nowrap; text-overflow: fold; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="static")
        yield ContentRows(id="rows")


def _random_content(rng: random.Random) -> Content:
    parts: list[Any] = []
    for _ in range(rng.randint(0, 12)):
        word = rng.choice(WORDS)
        parts.append("\n" if rng.random() < 0.15 else (word, rng.choice(STYLES)) if rng.random() < 0.6 else word)
    content = Content.assemble(*parts)
    if content.plain and rng.random() < 0.3:  # a span over others
        start = rng.randrange(len(content.plain))
        content = content.stylize(rng.choice(STYLES), start, rng.randint(start, len(content.plain)))
    return content


def _cells(widget: Any, width: int, height: int) -> list[list[tuple[str, str, object]]]:
    """Each line's cells as drawn: character, style (without the mouse's offsets), background."""
    return [
        [(char, str(style.without_color), (style.color, style.bgcolor)) for char, style in strip_cells(strip)]
        for strip in widget.render_lines(Region(0, 0, width, height))
    ]


async def test_it_draws_any_text_as_static_draws_it() -> None:
    rng = random.Random(7)
    app = _Pair()
    async with app.run_test(size=(48, 30)) as pilot:
        static, rows = app.query_one(Static), app.query_one(ContentRows)
        for case in range(160):
            content = _random_content(rng)
            kind = rng.choice(("", "cut", "clip", "fold"))
            align: TextAlign = rng.choice(("left", "left", "center", "right"))
            for widget in (static, rows):
                widget.set_classes(kind)
                widget.styles.text_align = align
                widget.update(content)
            await pilot.pause()
            width, height = rows.size
            assert static.size == rows.size, (case, content.plain)
            assert _cells(rows, width, height) == _cells(static, width, height), (case, kind, align, content.plain)


def test_lines_that_fit_are_cut_where_content_cuts_them() -> None:
    text = Content.assemble(("BTCUSDT", "bold"), " LONG\n", ("mark", "dim"), "\n\n", ("a\nb", "$profit"))
    rows = content_rows(text, 20)
    assert [row.text for row in rows] == [line.plain for line in text.split("\n", allow_blank=True)]
    assert rows[0].cells == (("BTCUSDT", ("bold",)), (" LONG", ()))
    assert rows[3].cells == (("a", ("$profit",)),) and rows[4].cells == (("b", ("$profit",)),)
    overflow: TextOverflow = "ellipsis"
    assert [row.text for row in content_rows(Content("abcdef"), 4, no_wrap=True, overflow=overflow)] == ["abc…"]


async def test_a_new_mark_repaints_only_the_figures_that_changed() -> None:
    desk = scripted.long_in_profit()
    app = scripted_app(desk)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        body = app.query_one(PositionPanel).query_one("#position-body", ContentRows)
        await until(pilot, lambda: "unrealized" in body.content.plain, "drawn")
        await pilot.pause(0.2)
        repainted: list[Region] = []
        body._repaint = lambda *regions: repainted.extend(regions)  # type: ignore[method-assign]
        desk.ledger.mark("BTCUSDT", D("65432.1"), MarkSource.MARK_PRICE, scripted.NOW_MS)
        app.query_one(PositionPanel)._pull()
        assert repainted, "the new mark is drawn"
        width = body.size.width
        assert sum(region.area for region in repainted) < width * 2, "a few figures, not the panel"
        y = next(y for y, row in enumerate(body._rows) if "65,432.1" in row.text)
        line = body._rows[y].text
        assert any(region.y == y and line[region.x : region.right].strip() in "65,432.1" for region in repainted)


async def test_the_symbol_strip_highlights_the_symbol_chosen_when_only_its_look_changes() -> None:
    app = scripted_app(scripted.long_in_profit())
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        strip = app.query_one(SymbolStrip)
        await pilot.pause(0.3)

        def highlighted() -> str:
            line = app.screen._compositor.render_strips()[strip.region.y]
            return "".join(text for text, style, _ in line if style is not None and style.reverse).strip()

        assert highlighted() == "BTCUSDT"
        text = strip.content.plain
        await pilot.press("2")
        await until(pilot, lambda: highlighted() == "ETHUSDT", "the highlight on the chosen symbol")
        assert strip.content.plain == text, "the same words: only the look moved"


class _OnSpans(Screen[None]):
    """A screen drawn by the desk's compositor: a change inside a widget is sent as its changed cells."""

    CSS = "ContentRows { width: 1fr; }"

    def __init__(self) -> None:
        super().__init__()
        self._compositor = SpanCompositor()

    def compose(self) -> ComposeResult:
        yield ContentRows()


class _SpanApp(App[None]):
    def on_mount(self) -> None:
        self.push_screen(_OnSpans())


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("中文 abc 65,010.2", "中文 abc 65,432.1"),  # two cells a character before the change
        ("ab xyz 65,010.2", "中b xyz 65,010.2"),  # a wide character comes: the rest moves a cell
        ("a\u0301bc xyz", "a\u0301bc xyw"),  # a combining accent takes no cell
        ("币安人生USDT 0.1234 │ BTCUSDT 65,010.2", "币安人生USDT 0.1234 │ BTCUSDT 65,432.1"),
        ("中 xyz a\u0301", "中 xyw a\u0301"),  # as many cells as characters: a wide one and a combining one
        ("ab\u200bcd xyz", "ab\u200bcd xyw"),  # a control character, deleted as drawn: the rest moves left
    ],
)
async def test_a_change_after_a_character_not_one_cell_wide_reaches_the_terminal_whole(before: str, after: str) -> None:
    """The columns of a change are cells, not characters: a terminal fed the frames reads the new text."""
    width = 40
    app = _SpanApp()
    async with app.run_test(size=(width, 3)) as pilot:
        await pilot.pause()
        rows = app.screen.query_one(ContentRows)
        rows.update(Content(before))
        await pilot.pause(0.1)
        compositor = app.screen._compositor
        console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=width)
        terminal = pyte.Screen(width, 3)
        stream = pyte.Stream(terminal)
        for y, strip in enumerate(compositor.render_strips()):
            stream.feed(f"\x1b[{y + 1};1H" + "".join(segment.text for segment in strip))
        render_update = compositor.render_update

        def fed(*args: Any, **kwargs: Any) -> Any:
            update = render_update(*args, **kwargs)
            if isinstance(update, SpanUpdate):
                stream.feed(update.render_segments(console))
            return update

        compositor.render_update = fed  # type: ignore[method-assign]
        rows.update(Content(after))
        await pilot.pause(0.2)
        shown = unicodedata.normalize("NFC", strip_controls(after))  # (as the terminal keeps it)
        assert terminal.display[0].rstrip() == shown
