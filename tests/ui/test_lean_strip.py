"""A :class:`~widgets.lean_strip.LeanStrip` is a Textual ``Strip`` that makes its caches when first used: every
cache the pinned ``Strip`` makes is one it knows, and it crops, divides, styles, extends and renders as ``Strip``
does."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from widgets.lean_strip import CACHE_SIZES, LeanStrip

STYLES = (None, Style(bold=True), Style(color="red"), Style(bgcolor="blue", italic=True))
segments = st.lists(
    st.builds(lambda text, style: Segment(text, style), st.text("ab █中▏", max_size=6), st.sampled_from(STYLES)),
    max_size=6,
)


def test_it_knows_every_cache_the_pinned_strip_makes() -> None:
    strip = Strip([Segment("x")])
    caches = {name for name in Strip.__slots__ if name.endswith("_cache") and name != "_render_cache"}
    assert caches == set(CACHE_SIZES)
    for name, size in CACHE_SIZES.items():
        assert getattr(strip, name)._maxsize == size


@given(segments, st.integers(0, 12), st.integers(0, 12), st.lists(st.integers(0, 14), max_size=3))
def test_it_draws_as_a_strip_does(parts: list[Segment], start: int, length: int, cuts: list[int]) -> None:
    console = Console(width=40, color_system="truecolor")
    lean, plain = LeanStrip(list(parts)), Strip(list(parts))
    assert lean.cell_length == plain.cell_length
    assert lean.render(console) == plain.render(console)
    assert list(lean.crop(start, start + length)) == list(plain.crop(start, start + length))
    assert list(lean.crop_extend(start, start + length, None)) == list(plain.crop_extend(start, start + length, None))
    assert [list(s) for s in lean.divide(sorted(cuts))] == [list(s) for s in plain.divide(sorted(cuts))]
    assert list(lean.apply_style(Style(underline=True))) == list(plain.apply_style(Style(underline=True)))
    assert list(lean.extend_cell_length(20)) == list(plain.extend_cell_length(20))
    if lean.cell_length > 1:
        assert lean.crop(0, 1) is lean.crop(0, 1)  # cached, as a Strip caches it
