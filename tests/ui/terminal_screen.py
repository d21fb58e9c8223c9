"""The live desk in a real terminal, for ``test_terminal_screen.py``: what the terminal was sent must draw the
screen Textual composed.

``python -m tests.ui.terminal_screen OUT_DIR`` runs the desk on the local exchange (its demo trader on, so the
book, the tape, the position and the orders all move). Once ``FRAMES`` partial updates have been sent after the
desk was Ready, right after one is sent (nothing can change in between), it writes Textual's own drawing of the
whole screen to ``OUT_DIR/screen``, sends :data:`MARK` to the terminal and exits 0. The parent replays the bytes
before the mark on a terminal emulator and compares it with that drawing.
"""

from __future__ import annotations

import sys
from pathlib import Path

from textual._compositor import LayoutUpdate

from app.app import FluxumApp
from exchange.events import LinkState
from tests.ui.support import runtime_options, sim_settings

FRAMES = 60
MARK = "\x1b]777;fluxum-screen-mark\x07"


class TerminalScreenApp(FluxumApp):
    out: Path
    frames = 0

    def post_display_hook(self) -> None:
        super().post_display_hook()
        desk = getattr(self.screen, "desk", None)
        if desk is None or desk.state.kind is not LinkState.READY or self.frames < 0:
            return
        self.frames += 1
        if self.frames == FRAMES:
            self.frames = -1
            whole = self.screen._compositor.render_update(full=True)
            assert isinstance(whole, LayoutUpdate)
            (self.out / "screen").write_text(whole.render_segments(self.console))
            assert self._driver is not None
            self._driver.write(MARK)
            self.call_later(self._end)

    async def _end(self) -> None:
        await self.stop_session()
        self.exit(return_code=0)


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    app = TerminalScreenApp(sim_settings(), runtime_options=runtime_options(out, demo_trader=True, faults=False))
    app.out = out
    app.animation_level = "none"
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
