"""What the desk sends its terminal draws, cell for cell and style for style, the screen Textual composed: the
partial updates sent span by span (:mod:`app.span_compositor`), each style as a change (:mod:`app.style_delta`)
and the strip rows framed by the widget itself (:mod:`widgets.strip_widget`), on the live desk."""

from __future__ import annotations

from pathlib import Path

import pyte
import pytest

from tests.ui.pty_run import SIZE, run_in_terminal
from tests.ui.terminal_screen import MARK

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _replayed(data: str) -> pyte.Screen:
    screen = pyte.Screen(*SIZE)
    pyte.Stream(screen).feed(data)
    return screen


def _cells(screen: pyte.Screen) -> list[list[pyte.screens.Char]]:
    return [[screen.buffer[y][x] for x in range(SIZE[0])] for y in range(SIZE[1])]


@pytest.mark.slow
def test_the_bytes_sent_draw_the_screen_textual_composed(tmp_path: Path) -> None:
    status, output = run_in_terminal("tests.ui.terminal_screen", str(tmp_path))
    text = output.decode("utf-8", "replace")
    assert status == 0 and MARK in text, text[-3000:]
    sent = _replayed(text[: text.index(MARK)])
    composed = _replayed((tmp_path / "screen").read_text())
    assert sent.display == composed.display
    different = [
        (y, x, got, want)
        for y, (got_row, want_row) in enumerate(zip(_cells(sent), _cells(composed), strict=True))
        for x, (got, want) in enumerate(zip(got_row, want_row, strict=True))
        if got != want
    ]
    assert not different, different[:5]
    assert sum(1 for row in _cells(composed) for cell in row if cell.bg != "default") > SIZE[0]  # it has colours
