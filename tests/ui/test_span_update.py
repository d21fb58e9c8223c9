"""A partial update's span is cut from its chop as ``Strip.crop`` cuts it, wide characters and styles included,
without a strip built per span (:mod:`app.span_compositor`)."""

from __future__ import annotations

from collections.abc import Iterable

import pyte
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.color import ColorSystem
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from app.span_compositor import SpanUpdate, _cells

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


RICH_STYLES = (
    None,
    Style(bold=True),
    Style(color="red"),
    Style(color="#102030", bgcolor="#405060"),
    Style(color="#102030", bgcolor="#405060", bold=True),
    Style(dim=True, italic=True, color="color(33)"),
    Style(reverse=True, strike=True),
    Style(underline=True, bgcolor="blue"),
    Style(link="https://example.com/x"),
)
WIDTH, HEIGHT = 16, 4
lines = st.lists(
    st.builds(
        lambda text, style: Segment(text, style), st.text("ab █", min_size=1, max_size=5), st.sampled_from(RICH_STYLES)
    ),
    min_size=1,
    max_size=6,
).map(lambda parts: Strip(parts).crop_extend(0, WIDTH, None))
spans = st.lists(st.tuples(st.integers(0, HEIGHT - 1), st.integers(0, WIDTH - 1), st.integers(1, WIDTH)), max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(lines, min_size=HEIGHT, max_size=HEIGHT), spans, st.sampled_from(RICH_STYLES))
def test_a_frame_sent_as_style_changes_draws_what_whole_styles_draw(
    strips: list[Strip], cuts: list[tuple[int, int, int]], before: Style | None
) -> None:
    """Spans of chops written as changes from one style to the next (and the terminal left plain) show the same
    cells, and leave the same pen, as each segment written whole with its reset, whatever the terminal had."""
    console = Console(width=WIDTH, color_system="truecolor", force_terminal=True)
    chops = [{0: strip} for strip in strips]
    merged = sorted({(y, x1, min(WIDTH, x1 + length)) for y, x1, length in cuts})
    update = SpanUpdate(chops, merged, [[WIDTH]] * HEIGHT)
    start = Strip.render_style(before, "x", ColorSystem.TRUECOLOR) if before is not None else "x"
    whole = start + "".join(
        f"\x1b[{y + 1};{x1 + 1}H"
        + "".join(
            Strip.render_style(s.style, s.text, ColorSystem.TRUECOLOR) if s.style else s.text
            for s in strips[y].crop(x1, x2)
        )
        for y, x1, x2 in merged
    )
    assert _shown(start + update.render_segments(console)) == _shown(whole)


def _shown(data: str) -> tuple[list[list[object]], object]:
    screen = pyte.Screen(WIDTH, HEIGHT)
    pyte.Stream(screen).feed(data)
    return [[screen.buffer[y][x] for x in range(WIDTH)] for y in range(HEIGHT)], screen.cursor.attrs
