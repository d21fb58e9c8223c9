"""The dashboard calling a person inside a real terminal (run by ``test_alert_terminal.py``).

``python -m tests.ui.alert_terminal NOTIFY JOURNAL_DIR`` runs the desk on the local exchange with one rule,
``link_down`` with no debounce, which starts while the session connects and clears once it is Ready; it exits
0 once both were delivered. The parent reads every byte the app wrote to the pseudo-terminal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sys
import time
from pathlib import Path

from app.app import FluxumApp
from exchange.alert_rules import parse_alert_rules
from tests.ui.support import runtime_options, sim_settings

DEADLINE_S = 60.0


class AlertTerminalApp(FluxumApp):
    def on_ready(self) -> None:
        self.run_worker(self._script(), name="script", group="script")

    async def _script(self) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while self.alerts_delivered < 2:
            if time.monotonic() > deadline:
                self.exit(return_code=3)
                return
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # the driver's writer thread flushes
        await self.stop_session()
        self.exit(return_code=0)


def main(argv: list[str]) -> int:
    notify, journal_dir = argv[0], Path(argv[1])
    settings = sim_settings()
    rules = parse_alert_rules([{"when": "link_down"}], settings.symbols)
    settings = dataclasses.replace(settings, alerts=rules, notify=notify)
    app = AlertTerminalApp(settings, runtime_options=runtime_options(journal_dir))
    app.animation_level = "none"
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
