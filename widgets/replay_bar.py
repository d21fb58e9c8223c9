"""The replay's line under the connection bar: the recording's own clock, the speed, and playing or not.

``‖ paused · 10x · 2026-12-03 19:12:04.123 UTC · 12.3 s of 45.0 s · desk.jsonl.zst``. The clock is the
recording's (what the desk shows as now, not the wall's); the end of the recording is said in words. It pulls
its status on a timer (10 Hz) and re-renders only when the text changed; the desk calls :meth:`refresh_now` at
once when a key changed the pace.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from textual.content import Content
from textual.widget import Widget

from exchange.printable import printable

__all__ = ["ReplayBar", "ReplayStatus", "replay_text", "stamp"]

NAME_CHARS = 60


@dataclass(frozen=True)
class ReplayStatus:
    """Where a replay is: its clock and bounds (epoch seconds), its pace, and what it stopped at."""

    now_s: float
    start_s: float
    stop_s: float
    speed: str  # "1x" … "max"
    paused: bool
    seeking: bool
    ended: bool
    name: str
    failed: bool = False  # the replay stopped before the end of the recording


def stamp(seconds: float) -> str:
    """``2026-12-03 19:12:04.123 UTC``."""
    millis = int(seconds * 1000) % 1000
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds)) + f".{millis:03d} UTC"


def replay_text(status: ReplayStatus) -> Content:
    """The line, as a pure function of the status (tested without a screen)."""
    if status.failed:
        pace = ("■ replay stopped (see the log)", "bold $text-error")
    elif status.ended:
        pace = ("■ end of recording", "bold $text-warning")
    elif status.seeking:
        pace = ("» to the next incident", "bold $text-accent")
    elif status.paused:
        pace = ("‖ paused", "bold $text-warning")
    else:
        pace = ("▶ playing", "bold $text-success")
    played = max(0.0, status.now_s - status.start_s)
    length = max(0.0, status.stop_s - status.start_s)
    return Content.assemble(
        pace,
        (" · ", "$text-muted"),
        (status.speed, "bold"),
        (" · ", "$text-muted"),
        stamp(status.now_s),
        (" · ", "$text-muted"),
        f"{played:,.1f} s of {length:,.1f} s",
        (" · ", "$text-muted"),
        (printable(status.name, NAME_CHARS), "$text-muted"),
    )


class ReplayBar(Widget):
    """One line: the replay's clock and pace."""

    DEFAULT_CSS = """
    ReplayBar { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, status: Callable[[], ReplayStatus], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._status = status
        self._shown: ReplayStatus | None = None
        self._content = Content("")

    @property
    def shown(self) -> ReplayStatus | None:
        """The status on screen (tests read it)."""
        return self._shown

    def on_mount(self) -> None:
        self.set_interval(0.1, self.refresh_now, name="replay-bar-pull")
        self.refresh_now()

    def refresh_now(self) -> None:
        status = self._status()
        if status == self._shown:
            return
        self._shown = status
        self._content = replay_text(status)
        self.refresh()

    def render(self) -> Content:
        return self._content
