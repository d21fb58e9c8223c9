"""The base of the Line API desk widgets (the ladder, the tape): strips prepared on a pull, handed out on paint.

``_pull`` decides whether what the widget draws moved and, if so, builds every visible row as a :class:`Strip`
(``_show``); ``render_line`` only returns a prepared strip, so a burst of updates costs at most one rebuild per
pull and painting costs nothing. Component styles are resolved once per style change (``_style``).
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from widgets._component_style import component_style
from widgets._format import ColumnWidths
from widgets.desk_widget import SymbolWidget
from widgets.rows import Row

__all__ = ["StripWidget"]


class StripWidget(SymbolWidget):
    """A desk widget of one symbol drawn line by line from strips built when the desk moved."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._strips: list[Strip] = []
        self._widths = ColumnWidths()
        self._style_generation = 0
        """Part of every drawn key: a style change rebuilds the strips."""
        self._base = Style()
        self._styles: dict[str, Style] = {}

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._restyle()

    def _restyle(self, _theme: object = None) -> None:
        """Forget the resolved component styles (the CSS or the theme changed)."""
        self._style_generation += 1
        self._styles.clear()

    def on_resize(self) -> None:
        self._pull()

    def _show(self, strips: list[Strip]) -> None:
        """Paint these strips from the next frame on."""
        self._strips = strips
        self.refresh()

    def render_line(self, y: int) -> Strip:
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self._base)

    def _style(self, name: str) -> Style:
        """A component style, its colours resolved against the background (:mod:`widgets._component_style`),
        cached until the styles change."""
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = component_style(self, name)
        return style

    def _styled(self, names: tuple[str, ...]) -> Style:
        """The widget's style with these component classes layered over it, in order."""
        style = self._base
        for name in names:
            style += self._style(name)
        return style

    def _strip(self, row: Row, width: int) -> Strip:
        """A computed row as Textual paints it: cut or padded (in the row's fill style) to ``width``."""
        segments = [Segment(text, self._styled(names)) for text, names in row.cells]
        return Strip(segments, sum(len(text) for text, _ in row.cells)).crop_extend(0, width, self._styled(row.fill))

    def _show_rows(self, rows: list[Row], width: int) -> None:
        """Paint these computed rows from the next frame on."""
        self._base = self.rich_style
        self._show([self._strip(row, width) for row in rows])
