"""What a repaint compares of a row, worked out once and kept with it (widgets/rows.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import get_character_cell_size

from widgets.rows import Row

NAMES = st.tuples(st.sampled_from(["a", "b", "c"])).map(tuple) | st.just(())
TEXT = st.text(alphabet=st.sampled_from("ab 1.\u00e9\u4e2d\u0301\x1b\t\ud800"), max_size=6)
ROW = st.builds(Row, st.lists(st.tuples(TEXT, NAMES), max_size=4).map(tuple), NAMES)


@given(ROW, ROW)
def test_what_a_row_keeps_is_what_its_cells_say(row: Row, other: Row) -> None:
    text = "".join(t for t, _ in row.cells)
    assert row.text == text
    assert row.looks == tuple((len(t), names) for t, names in row.cells)
    assert row.code_points == int.from_bytes(text.encode("utf-32-be", "surrogatepass"), "big")
    one_cell = all(c.isprintable() and get_character_cell_size(c) == 1 for c in text)
    assert row.one_cell_each == one_cell
    twin = Row(row.cells, row.fill)  # nothing worked out yet: what is kept is not part of the row's identity
    assert twin == row and hash(twin) == hash(row) and {row: 1}[twin] == 1
    assert (row == other) == ((row.cells, row.fill) == (other.cells, other.fill))
