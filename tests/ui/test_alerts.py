"""Alerts on the dashboard against the local exchange: a toast, the bell and the desktop escape reach the
terminal driver when a rule starts; a toast when it clears; the rule's command runs."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from textual.drivers.headless_driver import HeadlessDriver

from exchange.alert_rules import parse_alert_rules
from exchange.events import LinkState
from tests.ui.support import LIVE_SIZE, RecordingApp, driver_of, runtime_options, sim_settings, until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

RECORDER = "import sys; open(sys.argv[1], 'a').write(sys.stdin.read())"


class TerminalDriver(HeadlessDriver):
    """A headless driver that says it is a terminal and keeps what the app writes to it."""

    written: list[tuple[float, str]]

    @property
    def is_headless(self) -> bool:
        return False

    def write(self, data: str) -> None:
        self.written.append((time.monotonic(), data))


def _app(tmp_path: Path, notify: str, out: Path) -> RecordingApp:
    settings = sim_settings()
    command = [sys.executable, "-c", RECORDER, str(out)]
    rules = parse_alert_rules([{"when": "link_down", "after": "300ms", "command": command}], settings.symbols)
    settings = dataclasses.replace(settings, alerts=rules, notify=notify)
    return RecordingApp(settings, runtime_options=runtime_options(tmp_path))


def _started(app: RecordingApp) -> int:
    """Start toasts so far (a slow start may have fired one already: not Ready for longer than the debounce)."""
    return sum(text.startswith("link_down after 300ms: ") for _, text in app.notices)


async def _settled(pilot: Any, app: RecordingApp) -> None:
    """Ready, and an alert of a slow start (if any) cleared: the next outage starts a new one."""
    await until(pilot, lambda: app.runtime is not None and app.desk.state.kind is LinkState.READY, "Ready")
    await until(pilot, lambda: app.alerts_delivered % 2 == 0, "the start's alert to clear")


def _terminal(app: RecordingApp) -> TerminalDriver:
    driver: Any = driver_of(app)
    driver.__class__ = TerminalDriver  # from here on, what the app writes to the terminal is recorded
    driver.written = []
    return driver


@pytest.mark.slow
@pytest.mark.parametrize(
    ("notify", "escape"),
    [("osc9", "\x1b]9;Fluxum alert: link_down"), ("osc777", "\x1b]777;notify;Fluxum alert;link_down")],
)
async def test_an_alert_rings_the_bell_and_writes_the_desktop_escape(tmp_path: Path, notify: str, escape: str) -> None:
    out = tmp_path / "command.jsonl"
    app = _app(tmp_path, notify, out)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await _settled(pilot, app)
        driver, before = _terminal(app), _started(app)
        assert app.runtime is not None
        app.runtime.sim.faults.rate_limit_for(1.5)
        fault_at = time.monotonic()
        await app.runtime.sim.faults.drop_connections()
        await until(pilot, lambda: _started(app) > before, "the alert's toast")
        bells = [t for t, data in driver.written if "\x07" in data and "\x1b]" not in data]
        escapes = [data for _, data in driver.written if data.startswith("\x1b]")]
        assert bells and escapes and escapes[0].startswith(escape) and escapes[0].endswith("\x07")
        assert escapes[0][2:-1].isprintable()
        print(f"\n{notify}: bell {(bells[0] - fault_at) * 1000 - 300:.0f} ms after the drop beyond the debounce")
        await until(pilot, lambda: app.desk.state.kind is LinkState.READY, "Ready again", 20)
        await until(pilot, lambda: app.alerts_delivered == 2 * (before + 1), "the clear", 20)
        assert app.noticed("link_down after 300ms cleared after")
        await until(pilot, lambda: out.exists() and out.read_text().count("\n") == app.alerts_delivered, "commands")
        records = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["active"] for r in records][-2:] == [True, False]
        assert app.alert_commands.failed == 0
        assert len([d for _, d in driver.written if "\x07" in d and "\x1b]" not in d]) == 1  # no bell on the clear
        await app.stop_session()


@pytest.mark.slow
async def test_notify_none_writes_no_escape(tmp_path: Path) -> None:
    app = _app(tmp_path, "none", tmp_path / "out")
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await _settled(pilot, app)
        driver, before = _terminal(app), _started(app)
        assert app.runtime is not None
        app.runtime.sim.faults.rate_limit_for(1.0)
        await app.runtime.sim.faults.drop_connections()
        await until(pilot, lambda: _started(app) > before, "the alert's toast")
        assert any(data == "\x07" for _, data in driver.written)
        assert not any("\x1b]9;" in data or "\x1b]777;" in data for _, data in driver.written)
        await app.stop_session()
