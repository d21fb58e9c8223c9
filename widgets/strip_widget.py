"""The base of the Line API widgets (the ladder, the tape, the panels' text): rows computed when what they show
moved, handed out as strips on paint. :class:`RowsView` is the machinery; :class:`StripWidget` is a desk widget of
one symbol built on it, and :class:`widgets.content_rows.ContentRows` shows a panel's text with it.

``_pull`` decides whether what the widget draws moved and, if so, computes every visible row (``_show_rows``);
``render_line`` only returns a prepared strip, so a burst of updates costs at most one rebuild per pull and
painting costs nothing. Only what changed is repainted: a row equal to the one drawn keeps its strip and is not
refreshed, and a changed row refreshes only the columns from its first to its last changed cell
(:func:`changed_span`), so the compositor renders, and the terminal is sent, those cells alone. Component styles
are resolved once per style change (``_style``).

Each strip is built clean, so the app's line filters that would only copy it are skipped for these widgets
(``get_line_filters``): the text guard (a filter with ``guards_text``), because every cell's text passes
:func:`exchange.printable.strip_controls` here and no style carries a link; Textual's ANSI-to-truecolor filter,
while the widget's own style, background and border are truecolor, because a look that needs it (a system colour,
a dim style: a stale book's rows, a panel's labels) is converted once, as the filter converts each cell. On the
ladder, a new strip per filter was two of the five strips Textual builds for each changed row.

A prepared row is final but for the widget's side borders, so a changed row is framed once, from its strip and
the two border cells, instead of being rebuilt line by line in Textual's styles cache (the border, padding, tint,
opacity and filters of every changed line: a third of the desk's CPU). The border lines, and a widget whose styles
ask for more than plain side borders (padding, tint, opacity, text opacity, outline, hatch, a filter that applies),
go through the styles cache as any widget's do (``render_lines``).

A row's strip is built only when first asked for: the desk screen sends a changed row of a widget it shows whole
straight from the row's cells (:meth:`StripWidget.direct_cells`, :class:`app.span_compositor.CellSource`), so on
the desk most rows never need one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.color import Color
from textual.filter import ANSIToTruecolor, LineFilter
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from exchange.printable import strip_controls
from widgets._component_style import component_style
from widgets._format import ColumnWidths
from widgets.desk_widget import SymbolWidget
from widgets.lean_strip import LeanStrip
from widgets.rows import Row, one_cell_text

__all__ = ["END_OF_ROW", "RowsView", "StripWidget", "changed_span"]

END_OF_ROW = 1 << 30
"""A span's end that reaches past any width."""


def changed_span(old: Row, new: Row) -> tuple[int, int] | None:
    """The columns ``[start, end)`` where ``new`` differs from ``old`` as drawn, or None when it reads and looks
    the same. Equal leading cells (same text, same styles) are skipped, then the common start of the first
    differing cell's text when its styles agree; the same from the end when both rows are as long (else the rest
    of the row changed: what follows moved). A different fill repaints to the end of the row."""
    if old is new or old == new:
        return None
    if old.fill == new.fill and old.looks == new.looks:
        return _differing(old, new)  # the same looks in the same columns: only the characters differ
    a, b = old.cells, new.cells
    shortest = min(len(a), len(b))
    lead = start = 0
    while lead < shortest and a[lead] == b[lead]:
        start += len(b[lead][0])
        lead += 1
    if lead < shortest and a[lead][1] == b[lead][1]:
        start += _common_prefix(a[lead][0], b[lead][0])
    total = len(new.text)
    if old.fill != new.fill or total != len(old.text):
        return start, END_OF_ROW
    end, tail = total, 0
    while tail < shortest - lead and a[-1 - tail] == b[-1 - tail]:
        end -= len(b[-1 - tail][0])
        tail += 1
    if tail < shortest - lead and a[-1 - tail][1] == b[-1 - tail][1]:
        end -= _common_prefix(a[-1 - tail][0][::-1], b[-1 - tail][0][::-1])
    return start, max(end, start + 1)


def _differing(old: Row, new: Row) -> tuple[int, int]:
    """The first and past the last column where the texts of two rows of equal length differ: the highest and
    lowest set bits of one XOR of the rows' code points."""
    x = old.code_points ^ new.code_points
    width = len(new.text)
    return width - (x.bit_length() + 31) // 32, width - ((x & -x).bit_length() - 1) // 32


def _common_prefix(a: str, b: str) -> int:
    """How many leading characters ``a`` and ``b`` share (halving the range with slice comparisons, which run in
    C, instead of a loop over characters)."""
    low, high = 0, min(len(a), len(b))
    if a[:high] == b[:high]:
        return high
    while high - low > 1:  # a[:low] == b[:low], a[:high] != b[:high]
        middle = (low + high) // 2
        if a[low:middle] == b[low:middle]:
            low = middle
        else:
            high = middle
    return low


class RowsView(Widget):
    """A widget drawn line by line from computed rows (:meth:`_show_rows`): the machinery of the module."""

    ROWS_MOVE: ClassVar[bool] = False
    """Whether rows drawn before come back on other lines (the tape shifts down a row a print): such a row keeps
    its strip. Where rows rarely come back (the ladder, its totals changing with the book), looking costs more."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._strips: list[Strip | None] = []
        """Each content row's strip, None until first asked for: a row the screen sends straight from its cells
        (:meth:`direct_cells`) never needs one."""
        self._rows: list[Row] = []
        self._rows_key: tuple[object, ...] | None = None
        """What the drawn rows were drawn for (width, base style, style generation): a change repaints all."""
        self._rows_width = 0
        """The width the rows were laid out for."""
        self._widths = ColumnWidths()
        self._style_generation = 0
        """Part of every drawn key: a style change rebuilds the strips."""
        self._base = Style()
        self._styles: dict[str, Style] = {}
        self._layered: dict[tuple[str, ...], Style] = {}
        self._looks: dict[Style, Style] = {}
        self._ansi_looks: set[tuple[str, ...]] = set()
        """Layered looks with a system colour or dim: drawn as the ANSI-to-truecolor filter draws them."""
        self._truecolor_looks: dict[tuple[object, ...], Style] = {}
        """Each such look as the filter draws it, per filter (:meth:`_truecolor_look`)."""
        self._widget_style: Style | None = None
        """The widget's own style (``rich_style`` walks every ancestor: kept while its styles stay the same)."""
        self._widget_style_key: object = None
        self._truecolor: ANSIToTruecolor | None = None
        """The app's ANSI-to-truecolor filter when on, as of the rows drawn (:meth:`_show_rows`)."""
        self._filters_key: tuple[object, ...] | None = None
        self._filters: list[LineFilter] = []
        self._framed: list[Strip | None] = []
        """Each content row with its side borders, built when first painted after the row changed."""
        self._edges_key: tuple[object, ...] | None = None
        self._edges: tuple[list[Segment], list[Segment]] | None = None
        """The left and right border cells of a content row, or None when the styles cache must draw the rows."""
        self._border_lines: dict[tuple[object, ...], Strip] = {}
        self._narrow_texts: dict[str, str | None] = {}

    def get_line_filters(self) -> Sequence[LineFilter]:
        """The app's line filters but those that would leave this widget's strips as they are (see the module)."""
        filters = self.app.get_line_filters()
        key = (tuple(filters), self._style_generation, len(self._layered), self._base, self.styles.border)
        if key != self._filters_key:
            self._filters_key = key
            self._filters = [f for f in filters if not self._strips_pass(f)]
        return self._filters

    def _strips_pass(self, line_filter: LineFilter) -> bool:
        """Whether ``line_filter`` would return every strip of this widget unchanged."""
        if getattr(line_filter, "guards_text", False):
            return all(style.link is None for style in (self._base, *self._layered.values()))
        if isinstance(line_filter, ANSIToTruecolor):  # a row that needs it has it already (``_strip``)
            colours = [self.styles.background, *(colour for _, colour in self.styles.border)]
            return _truecolor(self._base) and all(_not_ansi(c) for c in colours)
        return False

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        self._restyle()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._restyle()

    def _restyle(self, _theme: object = None) -> None:
        """Forget the resolved component styles (the CSS or the theme changed)."""
        self._style_generation += 1
        self._styles.clear()
        self._layered.clear()
        self._looks.clear()
        self._ansi_looks.clear()
        self._truecolor_looks.clear()
        self._widget_style_key = None

    def _repaint(self, *regions: Region) -> None:
        """Repaint these regions (all of the widget when none); a desk widget hands them to its screen's tick."""
        self.refresh(*regions)

    def _show(self, strips: list[Strip | None]) -> None:
        """Paint these strips from the next frame on."""
        self._strips = strips
        self._framed = [None] * len(strips)
        self._repaint()

    def strip(self, row: int) -> Strip:
        """Content row ``row`` as Textual paints it, built when first asked for."""
        strips = self._strips
        if row >= len(strips):
            return Strip.blank(self.size.width, self._base)
        strip = strips[row]
        if strip is None:
            strip = strips[row] = self._strip(self._rows[row], self._rows_width)
        return strip

    def strips(self) -> list[Strip]:
        """Every content row as Textual paints it."""
        return [self.strip(row) for row in range(len(self._strips))]

    def sends_cells(self) -> bool:
        """Whether a screen may send changed rows from their cells (:meth:`direct_cells`): only while the rows
        are drawn for this width and the styles cache would draw nothing but plain side borders around them."""
        return self._rows_width == self.size.width and self._side_edges() is not None

    def direct_cells(self, row: int, start: int, end: int) -> list[tuple[str, Style]] | None:
        """Cells ``[start, end)`` of content row ``row`` as pieces of text in one style each, for a screen that
        sends them to the terminal without a strip (:class:`app.span_compositor.SpanCompositor`); None when the
        row must go through its strip: a look with a link, or a character wider than one cell."""
        rows, width = self._rows, self._rows_width
        if row >= len(rows):
            return None
        end = min(end, width)
        pieces: list[tuple[str, Style]] = []
        position = 0
        for text, names in rows[row].cells:
            following = position + len(text)
            if not (text.isascii() and text.isprintable()):  # (before the span too: a wide one moves the rest)
                narrow = self._narrow(text)
                if narrow is None:
                    return None
                text = narrow
            if following > start and text:
                style = self._drawn_look(names)
                if style._link:
                    return None
                pieces.append((text[max(0, start - position) : end - position], style))
            position = following
            if position >= end:
                return pieces
        if position < end:  # the row's fill to the end of the span
            style = self._drawn_look(rows[row].fill)
            if style._link:
                return None
            pieces.append((" " * (end - max(start, position)), style))
        return pieces

    def _narrow(self, text: str) -> str | None:
        """``text`` without terminal controls, as the strip draws it, or None when a character of it does not take
        exactly one cell (a wide one, a combining one: a text as long as its cells may hold one of each); kept per
        text (the ladder's bars repeat)."""
        known = self._narrow_texts
        if text in known:
            return known[text]
        if len(known) > 4096:
            known.clear()
        drawn = strip_controls(text).ljust(len(text)) if not text.isprintable() else text
        narrow = known[text] = drawn if one_cell_text(drawn) else None
        return narrow

    def render_lines(self, crop: Region) -> list[Strip]:
        """The widget's lines in ``crop``: content rows framed here, the rest from Textual's styles cache."""
        edges = self._side_edges()
        if edges is None:
            return super().render_lines(crop)
        top = self.styles.gutter.top
        (inner, rows), width = self.size, self.outer_size.width
        lines: list[Strip] = []
        for y in crop.line_range:
            row = y - top
            framed = self._framed_row(row, inner, edges) if 0 <= row < rows else self._border_line(y, width)
            if framed is None:  # a row not yet rebuilt for a new width
                lines.extend(super().render_lines(Region(0, y, width, 1)))
            else:
                lines.append(framed)
        if crop.column_span != (0, width):
            x1, x2 = crop.column_span
            lines = [line.crop(x1, x2) for line in lines]
        return lines

    def _framed_row(self, row: int, inner: int, edges: tuple[list[Segment], list[Segment]]) -> Strip | None:
        """Content row ``row`` between the side borders, if its strip is ``inner`` cells wide."""
        framed = self._framed[row] if row < len(self._framed) else None
        if framed is None:
            strip = self.strip(row) if row < len(self._strips) else Strip.blank(inner, self._base)
            if strip.cell_length != inner:
                return None
            left, right = edges
            framed = LeanStrip([*left, *strip, *right], strip.cell_length + len(left) + len(right))
            if row < len(self._framed):
                self._framed[row] = framed
        return framed

    def _border_line(self, y: int, width: int) -> Strip:
        """A top or bottom border line, drawn by the styles cache once per title and look."""
        key = (y, self._border_title, self._border_subtitle)
        line = self._border_lines.get(key)
        if line is None:
            if len(self._border_lines) > 8:  # titles that came and went
                self._border_lines.clear()
            line = self._border_lines[key] = super().render_lines(Region(0, y, width, 1))[0]
        return line

    def _side_edges(self) -> tuple[list[Segment], list[Segment]] | None:
        """The side border cells of a content row, taken from one row the styles cache drew; None when the styles
        draw more than plain side borders (or a line filter applies), so every line must go through the cache."""
        width, height = self.outer_size
        key = (width, height, self.size, self._style_generation, self.opacity, tuple(self.get_line_filters()))
        if key == self._edges_key:
            return self._edges
        self._edges_key, self._edges = key, None
        self._framed = [None] * len(self._strips)
        self._border_lines.clear()
        styles = self.styles
        gutter = styles.gutter
        plain = (
            not self.get_line_filters()
            and self.opacity == 1
            and styles.text_opacity == 1
            and styles.tint.a == 0
            and not any(styles.padding)
            and not any(edge for edge, _ in styles.outline)
            and (not styles.has_rule("hatch") or styles.hatch == "none")
            and gutter.left <= 1
            and gutter.right <= 1
            and self.size.height > 0
        )
        if plain:
            line = super().render_lines(Region(0, gutter.top, width, 1))[0]
            self._edges = (list(line.crop(0, gutter.left)), list(line.crop(width - gutter.right, width)))
        return self._edges

    def render_line(self, y: int) -> Strip:
        return self.strip(y)

    def _style(self, name: str) -> Style:
        """A component style, its colours resolved against the background (:mod:`widgets._component_style`),
        cached until the styles change."""
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = component_style(self, name)
        return style

    def _styled(self, names: tuple[str, ...]) -> Style:
        """The widget's style with these component classes layered over it, in order (cached with them): one
        object per look, so that cells of one look are told by identity."""
        style = self._layered.get(names)
        if style is None:
            style = self._base
            for name in names:
                style += self._style(name)
            style = self._layered[names] = self._looks.setdefault(style, style)
            if not _truecolor(style):
                self._ansi_looks.add(names)
        return style

    def _strip(self, row: Row, width: int) -> Strip:
        """A computed row as Textual paints it: cut or padded (in the row's fill style) to ``width``. Neighbouring
        cells that look the same are one segment: the terminal is sent one style change per look, not per cell."""
        segments: list[Segment] = []
        layered = self._layered
        run, run_style = "", None
        total = 0
        ansi_looks = self._ansi_looks
        cells = row.cells
        pad = width - sum(len(text) for text, _ in cells)
        for text, names in (*cells, (" " * pad, row.fill)) if pad > 0 else cells:
            if not text:
                continue
            if not text.isprintable():
                text = strip_controls(text).ljust(len(text))  # (the line filter is skipped: see the module)
            style = layered.get(names)
            if style is None:
                style = self._styled(names)
            if names in ansi_looks:
                style = self._truecolor_look(names, style)
            total += len(text) if text.isascii() else cell_len(text)
            if style is run_style:  # one object per look (``_styled``)
                run += text
            else:
                if run_style is not None:
                    segments.append(Segment(run, run_style))
                run, run_style = text, style
        if run_style is not None:
            segments.append(Segment(run, run_style))
        strip: Strip = LeanStrip(segments, total)
        if total != width:
            fill = self._styled(row.fill)
            if row.fill in ansi_looks:
                fill = self._truecolor_look(row.fill, fill)
            strip = strip.crop_extend(0, width, fill)
        return strip

    def _drawn_look(self, names: tuple[str, ...]) -> Style:
        """The look of ``names`` as drawn: layered, and converted as the ANSI-to-truecolor filter would."""
        style = self._layered.get(names)
        if style is None:
            style = self._styled(names)
        return self._truecolor_look(names, style) if names in self._ansi_looks else style

    def _truecolor_look(self, names: tuple[str, ...], style: Style) -> Style:
        """A look with a system colour or dim (``style``, of ``names``) as Textual's ANSI-to-truecolor filter, if
        on, draws it: the filter reads each cell's style alone (and the widget's background), so a look is
        converted once, not each strip of its rows (the filter is skipped for these widgets: see the module)."""
        line_filter = self._truecolor
        if line_filter is None:
            return style
        key = (names, line_filter)
        look = self._truecolor_looks.get(key)
        if look is None:
            converted = LeanStrip([Segment(" ", style)], 1).apply_filter(line_filter, self.background_colors[1])
            look = next(iter(converted)).style or style
            look = self._truecolor_looks[key] = self._looks.setdefault(look, look)
        return look

    def _own_style(self) -> Style:
        """The widget's style (``rich_style``), read again only when its styles changed."""
        key = self.styles._cache_key
        if key != self._widget_style_key or self._widget_style is None:
            self._widget_style_key, self._widget_style = key, self.rich_style
        return self._widget_style

    def _active_truecolor(self) -> ANSIToTruecolor | None:
        """The app's ANSI-to-truecolor filter, if on."""
        return next((f for f in self.app.get_line_filters() if isinstance(f, ANSIToTruecolor) and f.enabled), None)

    def _show_rows(self, rows: list[Row], width: int) -> None:
        """Paint these computed rows from the next frame on: only the cells that changed are refreshed (a row
        with a character not one cell wide from its start: its columns are not its characters)."""
        base = self._own_style()
        self._truecolor = self._active_truecolor()
        if base != self._base:
            self._base = base
            self._layered.clear()
            self._looks.clear()
            self._ansi_looks.clear()
            self._truecolor_looks.clear()
        key = (width, self._base, self._style_generation, self._truecolor)
        old, strips = self._rows, self._strips
        if key != self._rows_key or len(old) != len(rows) or len(strips) != len(old):
            self._rows, self._rows_key, self._rows_width = rows, key, width
            self._show([None] * len(rows))
            return
        regions: list[Region] = []
        new_strips = list(strips)
        framed = self._framed
        drawn: dict[Row, int] = {}
        was_framed = framed
        for y, (before, row) in enumerate(zip(old, rows, strict=True)):
            span = changed_span(before, row)
            if span is None:
                continue
            if self.ROWS_MOVE and was_framed is framed:  # the first changed row: where each drawn row was
                drawn = {row: index for index, row in enumerate(old)}
                was_framed = list(framed)
            was = drawn.get(row)
            new_strips[y] = strips[was] if was is not None else None
            if y < len(framed):
                framed[y] = was_framed[was] if was is not None and was < len(was_framed) else None
            start, end = span if before.one_cell_each and row.one_cell_each else (0, END_OF_ROW)
            if start < width:
                regions.append(Region(start, y, min(end, width) - start, 1))
        self._rows, self._strips = rows, new_strips
        if regions:
            self._repaint(*regions)


class StripWidget(SymbolWidget, RowsView):
    """A desk widget of one symbol drawn line by line from strips built when the desk moved."""

    def on_resize(self) -> None:
        self._pull()


def _truecolor(style: Style) -> bool:
    """Whether Textual's ANSI-to-truecolor filter leaves ``style`` as it is: no system colour, not dim."""
    colours = (style.color, style.bgcolor)
    return not style.dim and all(colour is None or colour.triplet is not None for colour in colours)


def _not_ansi(colour: Color) -> bool:
    return colour.ansi is None
