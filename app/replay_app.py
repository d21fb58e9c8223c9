"""``fluxum replay PATH``: the desk driven by a recording, through the same session, books, ledger and widgets.

:class:`ReplayApp` is the live desk with its session swapped for a :class:`~app.replay_player.Player`: the badge
says REPLAY where the environment is shown, a line under the link bar gives the recording's own clock and pace
(the desk's clock is the recording's: ages, time in state and the outage clock read recorded time), and keys
pause and resume, step, go faster and slower (1x up to max) and jump to the next incident. What would act on an
exchange (cancelling, reconnecting) is not offered. The history screen reads the replayed session's own link
history, kept in a temporary folder with its journal: the user's files are never written. The end of the
recording is said on screen, and the desk stays open to look at.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from app.app import FluxumApp
from app.bridge import BRIDGED_KINDS, Bridge
from app.desk_screen import ORDER_ACTIONS, DeskScreen
from app.history_screen import HistoryScreen
from app.replay_player import Player, speed_text
from app.screens import HelpScreen
from exchange.alert_rules import AlertRule
from exchange.config import Settings
from exchange.events import AlertChanged
from exchange.link_history import LinkHistory
from exchange.printable import printable
from exchange.recording.opened import Recording
from widgets.connection_bar import ConnectionBar
from widgets.desk_footer import DeskFooter
from widgets.ladder import Ladder
from widgets.link_strip import LinkStrip
from widgets.orders import OrdersTable
from widgets.position import PositionPanel
from widgets.replay_bar import ReplayBar, ReplayStatus, stamp
from widgets.symbols import SymbolStrip
from widgets.tape import TradesTape
from widgets.wallet import WalletPanel

__all__ = ["ReplayApp", "ReplayDeskScreen", "REPLAY_BINDINGS"]

FRAME_S = 1 / 30
"""How often the desk grants the replay a slice of recorded time (and takes the events it bridged)."""
NOT_IN_A_REPLAY = frozenset({"cancel_order", "app.reconnect", "ladder_cursor", *ORDER_ACTIONS})
"""Actions on an exchange (and order entry's cursor): a recording has none to act on."""
OFF_THE_FOOTER = frozenset({"zoom(1)", "zoom(-1)", "app.export_ledger", "cycle_symbol(-1)", "cycle_symbol(1)"})
"""Keys kept (in the help and the palette too) but left out of a footer the replay's keys need; the symbols have
their numbers as well."""
FIRST_KEYS = ("app.quit", "app.help")
"""Quit and help come first in the footer: the keys cut at a narrow edge are never these."""

REPLAY_BINDINGS: list[BindingType] = [
    Binding("space", "app.replay_pause", "Play/Pause", key_display="space", tooltip="Pause or resume the replay"),
    Binding(
        "full_stop", "app.replay_step", "Step", key_display=".", tooltip="Pause, then play the next recorded frame"
    ),
    Binding("greater_than_sign", "app.replay_speed(1)", "Faster", key_display=">", tooltip="Faster: up to max"),
    Binding("less_than_sign", "app.replay_speed(-1)", "Slower", key_display="<", tooltip="Slower: down to 1x"),
    Binding(
        "n",
        "app.replay_incident",
        "Incident",
        tooltip="Play to the next incident (leaving Ready, a book resyncing, an alert) and pause there",
    ),
]


def replay_bindings(desk: list[BindingType]) -> list[BindingType]:
    """Quit and help, the replay's keys, then the desk's own but those acting on an exchange (some off the
    footer: :data:`OFF_THE_FOOTER`)."""
    kept = [b for b in desk if isinstance(b, Binding) and b.action.split("(")[0] not in NOT_IN_A_REPLAY]
    first = [b for b in kept if b.action in FIRST_KEYS]
    rest = [dataclasses.replace(b, show=False) if b.action in OFF_THE_FOOTER else b for b in kept if b not in first]
    return [*first, *REPLAY_BINDINGS, *rest]


class ReplayFooter(DeskFooter):
    """The desk's footer; a compact desk also leaves the ledger's key out of it (``l`` still works)."""

    MINOR_ACTIONS: ClassVar[frozenset[str]] = DeskFooter.MINOR_ACTIONS | {"show_ledger"}


class ReplayDeskScreen(DeskScreen, inherit_bindings=False):
    """The desk with the replay's line and keys, and without the keys that act on an exchange."""

    BINDINGS = replay_bindings(DeskScreen.BINDINGS)

    def compose(self) -> ComposeResult:
        app = self.fluxum
        assert isinstance(app, ReplayApp)
        for widget in super().compose():
            yield ReplayFooter() if isinstance(widget, DeskFooter) else widget
            if isinstance(widget, ConnectionBar):
                yield ReplayBar(app.replay_status, id="replay-bar")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in NOT_IN_A_REPLAY:
            return False
        return super().check_action(action, parameters)


class ReplayApp(FluxumApp):
    """The desk on a recording."""

    NO_SESSION = "not possible in a replay, which plays the recorded topics only"

    def __init__(
        self,
        recording: Recording,
        settings: Settings,
        *,
        name: str = "recording",
        speed: float | None = 1.0,
        paused: bool = False,
        symbol: str | None = None,
    ) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="fluxum-replay-")
        self.recording_name = name
        self.player = Player(
            recording,
            settings,
            Path(self._folder.name),
            speed=speed,
            paused=paused,
            alerts=settings.alerts,
            deliver_alert=self._alert_from_replay,
            bridged=BRIDGED_KINDS,
        )
        super().__init__(settings, clock=self.player.clock, symbol=symbol)
        self.desk_screen = ReplayDeskScreen(self, self.desk_screen.desk, symbol, clock=self.player.clock)
        self.bridge = Bridge(self.desk_screen)
        self._app_loop: asyncio.AbstractEventLoop | None = None
        self._told: tuple[object, ...] = (None, False)  # the incident and the end last said
        self.frames = 0
        """Frames the desk granted the replay (tests wait on it)."""

    # ------------------------------------------------------------------ the replay

    def _start_session(self) -> None:
        """Build the replayed session on its thread, show its desk, then grant it a slice every frame."""
        self._app_loop = asyncio.get_running_loop()
        self.player.start()
        session = self.player.session
        if session is None:
            self.notify("The recording could not be replayed (see the log).", severity="error", timeout=30)
            return
        self.desk_screen.use_desk(session.desk)
        self.set_interval(FRAME_S, self._frame, name="replay")
        self._take_events()

    def _frame(self) -> None:
        self.frames += 1
        self.player.tick()
        self._take_events()

    def _take_events(self) -> None:
        """What the replay's bridge forwarded, posted as the live bridge posts it; then what a person is told."""
        for event in self.player.events():
            message = Bridge.translate(event)
            if message is not None:
                self.bridge.forwarded += 1
                self.desk_screen.post_message(message)
        self._tell()

    def _tell(self) -> None:
        """A notice for an incident reached and for the end of the recording (or of a replay that broke), once."""
        told = (self.player.incident, self.player.ended)
        if told == self._told:
            return
        if self.player.incident is not None and self.player.incident != self._told[0]:
            text, at = self.player.incident
            self.notify(printable(text, 300), title=f"Incident at {stamp(at)}", timeout=10)
        if self.player.ended and not self._told[1] and self.player.failure is not None:
            text = f"The replay stopped before the end of the recording: {printable(self.player.failure, 300)}"
            self.notify(text, title="Replay", severity="error", timeout=30)
        elif self.player.ended and not self._told[1]:
            none = "No further incident. " if self.player.ended_seeking else ""
            self.notify(
                f"{none}End of recording: the desk stays as the recording left it (q quits).",
                title="Replay",
                timeout=30,
            )
        self._told = told
        self._refresh_replay_bar()

    def replay_status(self) -> ReplayStatus:
        player = self.player
        return ReplayStatus(
            now_s=player.clock(),
            start_s=player.start_s,
            stop_s=player.recording.stop_s,
            speed=speed_text(player.speed),
            paused=player.paused,
            seeking=player.seeking,
            ended=player.ended,
            name=self.recording_name,
            failed=player.failure is not None,
        )

    def _refresh_replay_bar(self) -> None:
        for bar in self.desk_screen.query(ReplayBar):
            bar.refresh_now()

    def _after_key(self) -> None:
        """A key changed the pace: the screen says so at once, and what a step played is shown."""
        self._take_events()
        self._refresh_replay_bar()
        self.desk_screen.refresh_now(*DESK_WIDGETS)

    def action_replay_pause(self) -> None:
        if self.player.ended:
            self.notify("End of recording: nothing more to play.", timeout=4)
        self.player.toggle_pause()
        self._after_key()

    def action_replay_step(self) -> None:
        if not self.player.step():
            self.notify("Nothing left to step: end of recording.", timeout=4)
        self._after_key()

    def action_replay_speed(self, step: int) -> None:
        self.player.faster(step)
        self._after_key()

    def action_replay_incident(self) -> None:
        if self.player.ended:
            self.notify("No incident after the end of the recording.", timeout=4)
            return
        self.player.seek_incident()
        self._after_key()

    # ------------------------------------------------------------------ what differs from the live desk

    def _alert_from_replay(self, rule: AlertRule, alert: AlertChanged) -> None:
        """Called on the replay's thread: the toast is shown on the desk's."""
        loop = self._app_loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.deliver_alert, rule, alert)

    def deliver_alert(self, rule: AlertRule, alert: AlertChanged) -> None:
        """A replayed alert is a toast and the bell: it is not now, so no desktop notification and no command."""
        self.alerts_delivered += 1
        title = "Alert (replay)" if alert.active else "Alert cleared (replay)"
        self.notify(alert.text, title=title, severity="warning" if alert.active else "information", timeout=15)
        if alert.active:
            self.bell()

    async def stop_session(self, timeout: float = 5.0) -> None:
        self._stopping = True
        self.player.stop()

    async def on_unmount(self) -> None:
        await self.stop_session()
        if self.history is not None:
            self.history.close()
        self._folder.cleanup()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reconnect":
            return False
        return super().check_action(action, parameters)

    def action_show_history(self) -> None:
        """The replayed session's link history, as it was recorded up to the moment shown (never the user's)."""
        self.player.flush_history()
        if self.history is None:
            self.history = self.player.open_history()
        history: LinkHistory | None = self.history
        self.push_screen(HistoryScreen(history, clock=self.clock, started_ms=self.player.recording.start_ms))

    def action_help(self) -> None:
        self.push_screen(HelpScreen(ReplayDeskScreen.BINDINGS, log_path=self.log_path))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Replay: pause or resume", "Stop or restart the recording's clock", self.action_replay_pause
        )
        yield SystemCommand("Replay: step", "Play the next recorded frame", self.action_replay_step)
        yield SystemCommand("Replay: faster", "Up to max", lambda: self.action_replay_speed(1))
        yield SystemCommand("Replay: slower", "Down to 1x", lambda: self.action_replay_speed(-1))
        yield SystemCommand("Replay: next incident", "Play to it and pause", self.action_replay_incident)


DESK_WIDGETS = (ConnectionBar, SymbolStrip, Ladder, PositionPanel, TradesTape, WalletPanel, OrdersTable, LinkStrip)
"""What a key that moved the replay redraws at once."""


def replay_settings(recording: Recording) -> Settings:
    """The recorded session's settings (those the headless replay uses, so both decide alike), with the alerts of
    the user's config (a config that cannot be read is left out: the replay needs none of it)."""
    import logging

    from exchange.config import config_file_or_default, load_settings
    from exchange.recording.replay import recorded_settings
    from exchange.secrets import ConfigError

    settings: Settings = recorded_settings(recording, load_settings(environ={}))
    try:
        config = load_settings(config_file=config_file_or_default(None), environ={})
    except ConfigError as error:
        logging.getLogger(__name__).warning("replaying without the config's alerts: %s", error)
        return settings
    return dataclasses.replace(settings, alerts=config.alerts)


def run_desk(recording: Recording, args: Any) -> int:
    """``fluxum replay PATH``: the desk on the recording, until q."""
    app = ReplayApp(
        recording,
        replay_settings(recording),
        name=Path(args.path).name,
        speed=args.speed,
        paused=args.paused,
    )
    app.run()
    return int(app.return_code or 0)
