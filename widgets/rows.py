"""Rows as the Line API widgets compute them: cells of text and the component classes that style them.

A pure function (:func:`widgets.ladder_rows.ladder_rows`, :func:`widgets.tape.tape_rows`) says what a widget shows
as :class:`Row` values, with no screen and no styles resolved; :class:`widgets.strip_widget.StripWidget` turns
each row into a strip, the classes layered in order over the widget's own style.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Cell", "Row", "text_row"]

Cell = tuple[str, tuple[str, ...]]
"""Text, and the component classes that style it (in order, over the widget's style)."""


@dataclass(frozen=True)
class Row:
    """One line: its cells, then ``fill`` styles for the rest of the width."""

    cells: tuple[Cell, ...]
    fill: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """What the row reads, without its styles."""
        return "".join(text for text, _ in self.cells)


def text_row(text: str, width: int, *styles: str) -> Row:
    """``text`` cut or padded to ``width``, in one style."""
    return Row(((text[:width].ljust(width), styles),))
