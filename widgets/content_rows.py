"""A panel's text, drawn as rows: what ``Static`` shows, repainted only where it changed.

The desk's panels (the position, the connection bar, the symbol strip, the wallet) say what they show as Textual
``Content`` and change a few figures a second. ``Static`` renders the whole text again for each change (its lines
wrapped, every span's style parsed and combined, each line through the styles cache): a millisecond or two a
change, a tenth of the desk's CPU. :class:`ContentRows` turns the text into :class:`widgets.rows.Row` values
instead, so a change is drawn as the ladder's are (:class:`widgets.strip_widget.RowsView`): only the cells that
changed are refreshed, and each look is resolved once.

The text is plain (a string is not read as markup: the desk's text is the exchange's), and a mouse selection is
not drawn: the panels are read, not copied from.

A look is resolved as ``Content`` resolves it (the widget's style under the span styles, combined in span order),
and the rest of a line is padded with the styles cache's background, so a row reads and looks the same as in
``Static``. Lines are wrapped as ``Content`` wraps them only when one is too wide for the widget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from rich.cells import cell_len
from rich.style import Style
from textual.content import Content, Span
from textual.css.types import TextAlign, TextOverflow
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.style import Style as VisualStyle

from widgets.rows import Cell, Row
from widgets.strip_widget import RowsView, _truecolor

__all__ = ["ContentRows", "content_rows"]

FILL: Final = ("\x00fill",)
"""The look of the rest of a line past its text: the styles cache's background."""


def content_rows(
    content: Content, width: int, *, no_wrap: bool = False, overflow: TextOverflow = "fold", align: TextAlign = "left"
) -> list[Row]:
    """``content``'s lines at ``width`` cells as rows, each cell named by the span styles over it, in span order
    (a cell in no span has no names: the widget's style). A line wider than ``width`` is wrapped, or with
    ``no_wrap`` cut (``overflow``: ``ellipsis``, ``clip``) or folded, and a line with a tab expanded, as ``Content``
    does in ``Static``; ``align`` (``center``, ``right``) pads a line on its left."""
    text, spans = content.plain, content.spans
    lines = text.split("\n")
    if "\t" in text or any(len(line) > width if line.isascii() else cell_len(line) > width for line in lines):
        return [
            _row(line.plain, line.spans, width, align) for line in _fitted(content, max(1, width), no_wrap, overflow)
        ]
    rows = []
    start = 0
    for line in lines:
        end = start + len(line)
        over = [
            Span(max(span.start, start) - start, min(span.end, end) - start, span.style)
            for span in spans
            if span.start < end and span.end > start
        ]
        rows.append(_row(line, over, width, align))
        start = end + 1
    return rows


def _fitted(content: Content, width: int, no_wrap: bool, overflow: TextOverflow) -> list[Content]:
    """The lines of a text with a line too wide (or a tab), made to fit as ``Content`` makes them in ``Static``."""
    if not no_wrap:
        return content.wrap(width, overflow=overflow)
    lines = []
    for line in content.split("\n", allow_blank=True):
        line = line.expand_tabs(8)
        if overflow == "fold":
            lines += line.divide(list(range(0, line.cell_length, width))[1:])
        else:
            lines.append(line.truncate(width, ellipsis=overflow == "ellipsis"))
    return lines


def _row(text: str, spans: Sequence[Span], width: int, align: str) -> Row:
    lead: tuple[Cell, ...] = ()
    if align in ("center", "right", "end"):
        room = width - (len(text) if text.isascii() else cell_len(text))
        pad = room // 2 if align == "center" else room
        lead = ((" " * pad, FILL),) if pad > 0 else ()
    if not spans:
        return Row((*lead, (text, ())) if text else lead, FILL)
    cuts = sorted({0, len(text), *(span.start for span in spans), *(span.end for span in spans)})
    cells = []
    for start, end in zip(cuts, cuts[1:], strict=False):
        if start < end:
            names = tuple(span.style for span in spans if span.start <= start and span.end >= end)
            cells.append((text[start:end], names))
    return Row((*lead, *cells), FILL)  # type: ignore[arg-type]  # (a span's style may be a Style: hashable too)


class ContentRows(RowsView):
    """Text shown as rows: ``update`` it with new ``Content``; only what changed reaches the screen."""

    DEFAULT_CSS = """
    ContentRows { height: auto; }
    """

    def __init__(self, content: Content | str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rows_text = Content(content) if isinstance(content, str) else content
        """The text shown (plain: a string is not read as markup, as the desk's text is the exchange's)."""
        self._laid_out: tuple[object, ...] | None = None
        """What the rows were laid out for: width, styles, style generation, ANSI-to-truecolor filter."""

    @property
    def content(self) -> Content:
        """The text shown."""
        return self._rows_text

    def render(self) -> Content:
        return self._rows_text

    def update(self, content: Content | str = "", *, layout: bool = True) -> None:
        """Show ``content``: only the cells that changed are repainted, and the screen is laid out again only when
        the text's height changed (never with ``layout`` False: a widget that keeps its own height)."""
        self._rows_text = Content(content) if isinstance(content, str) else content
        rows = len(self._rows)
        self._lay_out()
        if layout and len(self._rows) != rows:
            self.refresh(layout=True)

    def on_resize(self) -> None:
        self._lay_out()

    def _theme_changed(self, theme: object) -> None:
        super()._theme_changed(theme)
        self._lay_out()

    def render_lines(self, crop: Region) -> list[Strip]:
        if self._laid_out != self._layout_key():
            self._lay_out()  # a new width, style or ANSI colour mode since the text was laid out
        return super().render_lines(crop)

    def sends_cells(self) -> bool:
        return self._laid_out == self._layout_key() and super().sends_cells()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self._rows_at(width)) if width > 0 else 0

    def _layout_key(self) -> tuple[object, ...]:
        return (self.size.width, self.styles._cache_key, self._style_generation, self._active_truecolor())

    def _lay_out(self) -> None:
        width = self.size.width
        if width:
            self._laid_out = self._layout_key()
            self._show_rows(self._rows_at(width), width)

    def _rows_at(self, width: int) -> list[Row]:
        styles = self.styles
        return content_rows(
            self._rows_text,
            width,
            no_wrap=styles.text_wrap == "nowrap",
            overflow=styles.text_overflow,
            align=styles.text_align,
        )

    def _styled(self, names: tuple[str, ...]) -> Style:
        """The look of a cell under these span styles, as ``Content`` draws it over the widget's style; the fill
        (:data:`FILL`) is the styles cache's background."""
        style = self._layered.get(names)
        if style is None:
            if names == FILL:
                base_background, background = self.background_colors
                style = VisualStyle(background=base_background + background).rich_style
            else:
                base = self.visual_style
                probe = Content(" ", [Span(0, 1, name) for name in names])
                ((_, cell_style),) = probe.render(base, end="", parse_style=self._get_style)
                style = (base + cell_style).rich_style
            style = self._layered[names] = self._looks.setdefault(style, style)
            if not _truecolor(style):
                self._ansi_looks.add(names)
        return style
