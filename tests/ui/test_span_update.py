"""A partial update's span is cut from its chop as ``Strip.crop`` cuts it, wide characters and styles included,
without a strip built per span (:mod:`app.span_compositor`)."""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from app.span_compositor import _cells

STYLES = (None, Style(bold=True), Style(color="red"), Style(bgcolor="blue", italic=True))
segments = st.lists(
    st.builds(
        lambda text, style: Segment(text, style), st.text("ab █中▏\u0301\u200b", max_size=6), st.sampled_from(STYLES)
    ),
    max_size=6,
)


@settings(max_examples=500)
@given(segments, st.integers(0, 40), st.integers(1, 40))
def test_a_span_is_cut_as_strip_crop_cuts_it(parts: list[Segment], start: int, length: int) -> None:
    strip = Strip(parts)
    end = start + length  # a span is never empty
    assert _drawn(_cells(strip, start, end)) == _drawn(strip.crop(start, end))


def _drawn(segments: Iterable[Segment]) -> list[tuple[str, Style | None]]:
    """Each character with its style: what a terminal shows (an empty segment shows nothing)."""
    return [(char, segment.style) for segment in segments for char in segment.text]
