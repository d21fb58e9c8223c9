"""Rows as the Line API widgets compute them: cells of text and the component classes that style them.

A pure function (:func:`widgets.ladder_rows.ladder_rows`, :func:`widgets.tape.tape_rows`) says what a widget shows
as :class:`Row` values, with no screen and no styles resolved; :class:`widgets.strip_widget.StripWidget` turns
each row into a strip, the classes layered in order over the widget's own style.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Generic, TypeVar, overload

from rich.cells import get_character_cell_size

__all__ = ["Cell", "Row", "one_cell_text", "text_row"]

Cell = tuple[str, tuple[str, ...]]
"""Text, and the component classes that style it (in order, over the widget's style)."""


T = TypeVar("T")


class _Kept(Generic[T]):
    """A value of a row worked out on first use and kept in the row: ``functools.cached_property`` without its
    lock (Python 3.11's takes one on every first use, which is most uses for rows built afresh each frame)."""

    __slots__ = ("_work", "_name")

    def __init__(self, work: Callable[[Any], T]) -> None:
        self._work = work
        self._name = work.__name__

    @overload
    def __get__(self, row: None, owner: type) -> _Kept[T]: ...
    @overload
    def __get__(self, row: object, owner: type | None = None) -> T: ...
    def __get__(self, row: object, owner: type | None = None) -> T | _Kept[T]:
        if row is None:
            return self
        value = row.__dict__[self._name] = self._work(row)  # found there from now on, before this descriptor
        return value


@dataclass(frozen=True)
class Row:
    """One line: its cells, then ``fill`` styles for the rest of the width.

    What a repaint compares of two rows is worked out once per row and kept with it (a widget that keeps its rows
    as they move, as the tape does, compares each new neighbour against the same row many times)."""

    cells: tuple[Cell, ...]
    fill: tuple[str, ...] = ()

    @_Kept
    def text(self) -> str:
        """What the row reads, without its styles."""
        return "".join([text for text, _ in self.cells])

    @_Kept
    def looks(self) -> tuple[tuple[int, tuple[str, ...]], ...]:
        """Each cell's length and styles: two rows alike in these differ in their characters only."""
        return tuple([(len(text), names) for text, names in self.cells])

    @_Kept
    def code_points(self) -> int:
        """The text's code points, four bytes each, as one integer (a lone surrogate too): two rows' differing
        columns are the set bits of one XOR (in C)."""
        return int.from_bytes(self.text.encode("utf-32-be", "surrogatepass"), "big")

    @_Kept
    def one_cell_each(self) -> bool:
        """Whether each character is drawn in its own one cell, so its columns are its characters: no wide or
        combining character, and no control character (the strip deletes it and the rest of its cell moves)."""
        text = self.text
        if text.isascii():
            return text.isprintable()
        return text.isprintable() and all(cell.isascii() or one_cell_text(cell) for cell, _ in self.cells)


@lru_cache(maxsize=4096)
def one_cell_text(text: str) -> bool:
    """Whether each character of ``text`` takes one cell (kept per text: a ladder's bars repeat)."""
    return all(get_character_cell_size(c) == 1 for c in text)


def text_row(text: str, width: int, *styles: str) -> Row:
    """``text`` cut or padded to ``width``, in one style."""
    return Row(((text[:width].ljust(width), styles),))
