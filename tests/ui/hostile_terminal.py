"""The dashboard meeting a hostile exchange inside a real terminal (run by ``test_hostile_terminal.py``).

``python -m tests.ui.hostile_terminal scripted`` shows the hostile scripted desk, then its notifications, the
ledger, a cancel confirmation, the command palette and a session failure quoting a title sequence.
``python -m tests.ui.hostile_terminal live JOURNAL_DIR`` runs the desk on the local exchange, which pushes a
wallet whose coin writes the clipboard (OSC 52) and hostile orders, then rejects the key with a window-title
sequence. Each exits 0 once its script ran to the end with the desk still up; the parent reads every byte
the app wrote to the pseudo-terminal.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from textual.command import CommandPalette
from textual.widgets import Input

from app.app import FluxumApp
from app.bridge import Bridge
from app.screens import ConfirmScreen, LedgerScreen
from exchange.book import BookState
from exchange.events import LinkState
from tests.support.waiting import until
from tests.ui import hostile, scripted
from tests.ui.support import runtime_options, sim_settings

SHOWN_S = 0.6
"""How long each state stays on screen: several frames, so the driver writes it."""
DEADLINE_S = 40.0


class HostileDesk(FluxumApp):
    """The desk, running a script against itself once ready, then exiting with 0 (3 if the script failed)."""

    def __init__(self, live: bool, journal_dir: Path | None = None) -> None:
        if live:
            assert journal_dir is not None
            super().__init__(sim_settings(), runtime_options=runtime_options(journal_dir))
        else:
            super().__init__(desk=hostile.hostile_desk(), clock=scripted.clock)
        self.live = live

    def on_ready(self) -> None:
        self.run_worker(self._run_script(), name="script", group="script", exit_on_error=False)

    async def _run_script(self) -> None:
        try:
            await (self._live() if self.live else self._scripted())
        except Exception as error:  # the parent sees the exit status; the reason goes to the app's log
            self.log.error(f"script failed: {error!r}")
            await self.stop_session()
            self.exit(return_code=3)
            return
        await asyncio.sleep(SHOWN_S)
        await self.stop_session()
        self.exit(return_code=0)

    async def _scripted(self) -> None:
        await asyncio.sleep(SHOWN_S)
        self.desk_screen.post_message(
            Bridge.OrderChanged(hostile.order("r1", hostile.SYMBOL, "Rejected", "l", hostile.ORDER_TYPE))
        )
        self.desk_screen.post_message(Bridge.NoticeReceived("error", f"Session failed: {hostile.FAILED_REASON}"))
        self.desk_screen.post_message(Bridge.BookStateChanged("BTCUSDT", BookState.RESYNCING, hostile.REASON))
        await asyncio.sleep(SHOWN_S)
        self.desk_screen.symbol = hostile.SYMBOL
        await asyncio.sleep(SHOWN_S)
        for screen in (
            LedgerScreen(self.desk, hostile.LINK_SYMBOL),
            ConfirmScreen(f"Cancel BUY 2 {hostile.SYMBOL}?\n(order {hostile.LINK_ID})"),
        ):
            await self.push_screen(screen)
            await asyncio.sleep(SHOWN_S)
            self.pop_screen()
        self.action_command_palette()
        await until(lambda: isinstance(self.screen, CommandPalette), DEADLINE_S, "the palette", poll_s=0.05)
        await asyncio.sleep(SHOWN_S)  # its command list is mounted
        self.screen.query_one(Input).value = "x"
        await asyncio.sleep(SHOWN_S)
        self.pop_screen()

        async def session() -> None:
            raise RuntimeError(f"link lost {hostile.TITLE}[/]{hostile.BIDI}")

        self.run_worker(session(), name="session", group="session", exit_on_error=False)
        await until(lambda: self.desk.state.kind is LinkState.FAILED, DEADLINE_S, "the failure", poll_s=0.05)

    async def _live(self) -> None:
        await until(
            lambda: self.runtime is not None and self.desk.state.kind is LinkState.READY,
            DEADLINE_S,
            "Ready",
            poll_s=0.05,
        )
        assert self.runtime is not None
        sim = self.runtime.sim
        hostile.inject(sim)
        wallet = self.desk.wallet
        await until(
            lambda: self.desk.wallet is not wallet and "hostile-open" in self.desk.orders,
            DEADLINE_S,
            "pushes",
            poll_s=0.05,
        )
        await asyncio.sleep(SHOWN_S)
        await hostile.reject_the_key(sim)
        await until(lambda: bool(self.desk.account_down), DEADLINE_S, "the account down", poll_s=0.05)
        await asyncio.sleep(SHOWN_S)  # the reason drawn on the bar and in the toast


def main(argv: list[str]) -> int:
    live = argv[0] == "live"
    app = HostileDesk(live, Path(argv[1]) if live else None)
    app.run()
    return app.return_code if app.return_code is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
