"""The 30-minute strip: how the link fared over the last half hour, one cell a minute, at a glance.

``█`` Ready, ``▒`` degraded (Ready, but a stream stale or a book not live), ``░`` down, a blank unknown (before
the desk was watching). The glyphs differ without colour (``NO_COLOR``); with it they wear the theme's success,
warning and error colours. Each cell shows the worst status in its minute, so a short drop is never hidden.

A Line-API widget of one row that pulls ``desk.link_timeline`` once a second and repaints when a cell changed.
While nothing is known yet it takes no width at all.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from exchange.link_timeline import WINDOW_MS
from widgets._component_style import component_style
from widgets.desk_widget import DeskWidget

__all__ = ["GLYPHS", "LinkStrip"]

CELLS = 30
LABEL = " 30m "
GLYPHS = {"ready": "█", "degraded": "▒", "down": "░", "unknown": " "}


class LinkStrip(DeskWidget):
    """``30m ███████▒▒██░░░███…`` with the newest minute on the right."""

    PULL_NAME = "link-strip"
    REFRESH_HZ = 1.0

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "link-strip--label",
        "link-strip--ready",
        "link-strip--degraded",
        "link-strip--down",
        "link-strip--unknown",
    }

    DEFAULT_CSS = """
    LinkStrip { height: 1; width: auto; }
    LinkStrip > .link-strip--label { color: $text-muted; }
    LinkStrip > .link-strip--ready { color: $success; }
    LinkStrip > .link-strip--degraded { color: $warning; }
    LinkStrip > .link-strip--down { color: $error; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cells: list[str] = []
        """What is drawn, oldest first (tests read it)."""

    def _pull(self) -> None:
        if not self._started:
            return
        desk = self.desk
        now_ms = int(self.clock() * 1000)
        if desk is None or not desk.link_timeline.version:  # nothing known yet: no width at all
            cells: list[str] = []
        else:
            cells = desk.link_timeline.cells(now_ms, CELLS, WINDOW_MS)
        if cells == self.cells:
            return
        resized = bool(cells) != bool(self.cells)
        self.cells = cells
        self.refresh(layout=resized)

    def get_content_width(self, container: Any, viewport: Any) -> int:
        return len(LABEL) + CELLS + 1 if self.cells else 0  # a blank cell on the right, as the bar's padding

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        return 1

    def render_line(self, y: int) -> Strip:
        if y != 0 or not self.cells:
            return Strip.blank(self.size.width, self.rich_style)
        base = self.rich_style
        segments = [Segment(LABEL, base + self._style("label"))]
        run_status, run_length = self.cells[0], 0
        for status in [*self.cells, ""]:  # runs of one status are one segment
            if status == run_status:
                run_length += 1
                continue
            segments.append(Segment(GLYPHS[run_status] * run_length, base + self._style(run_status)))
            run_status, run_length = status, 1
        return Strip(segments).adjust_cell_length(self.size.width, base)

    def _style(self, name: str) -> Style:
        return component_style(self, f"link-strip--{name}")
