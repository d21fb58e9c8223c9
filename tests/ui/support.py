"""Helpers of the UI tests: apps on the local exchange or scripted desks, screen text, deadlines.

This is the only test module that touches Textual's private API (names with a leading underscore): each use
is one small function below with a comment on why no public API serves, so a Textual upgrade that changes one
breaks here, in one place.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal

from rich.console import Console, RenderableType
from textual import events
from textual.app import App
from textual.command import CommandPalette
from textual.driver import Driver
from textual.keys import _character_to_key  # the key name Textual's own driver gives a typed character
from textual.notifications import Notification
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widgets import Input
from textual.widgets._footer import FooterKey as FooterKey  # not exported: counted to find footer keys left behind
from textual.widgets._toast import Toast  # not exported: the toasts on screen are what a person sees

from app.app import FluxumApp
from exchange.config import Settings, load_settings
from exchange.desk import Desk
from exchange.session import Backoff, Timeouts
from tests.support import waiting
from tests.ui import scripted

DEADLINE_S = 20.0  # a failure bound for a loaded CI machine, never a measurement
SEED = 7
LIVE_SIZE = (140, 44)
SNAPSHOT_SIZE = (130, 42)


def screen_text(app: FluxumApp) -> str:
    """The screen as plain text (what a person would read), for assertions."""
    return _printed(app, color_system=None).export_text(styles=False)


def screen_bytes(app: FluxumApp) -> bytes:
    """The screen as the bytes a terminal would get: colours, hyperlinks and whatever the segments hold."""
    output = _printed(app, color_system="truecolor").file.getvalue()  # type: ignore[attr-defined]
    return str(output).encode("utf-8", "surrogatepass")


def _printed(app: FluxumApp, *, color_system: Literal["truecolor"] | None) -> Console:
    """A console of the app's size that has printed the whole screen, every layer."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system=color_system,
        record=True,
        legacy_windows=False,
    )
    console.print(screen_update(app))
    return console


def screen_update(app: App[Any]) -> RenderableType:
    """The whole screen, every layer, as the driver would write it (Pilot offers only an SVG export of it)."""
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    assert update is not None, "a full update always renders"
    return update


def notifications(app: App[Any]) -> list[Notification]:
    """The notifications the app holds now (expired ones gone); Textual keeps them only in a private list."""
    return list(app._notifications)


def toasts(app: App[Any]) -> list[Toast]:
    """The toasts on the current screen, oldest first."""
    return list(app.screen.query(Toast))


def toast_message(toast: Toast) -> str:
    """What a toast says; the notification it shows is a private attribute of the toast."""
    return str(toast._notification.message)


def driver_of(app: App[Any]) -> Driver:
    """The driver writing to the terminal; App exposes no public handle on it."""
    assert app._driver is not None, "the app is not running"
    return app._driver


def crash_report(app: App[Any]) -> list[RenderableType]:
    """Fail the app on the exception being handled, as an unhandled one would, and return the report it would
    print on leaving (Textual clears it at shutdown; ``_fatal_error`` is what its message loop calls)."""
    app._fatal_error()
    return list(app._exit_renderables)


def keep_crash_report(app: App[Any]) -> list[RenderableType]:
    """A list that receives the report the app prints after it crashes, before Textual's shutdown clears it."""
    report: list[RenderableType] = []
    fail = app._fatal_error

    def fail_and_keep() -> None:
        fail()
        report[:] = app._exit_renderables

    app._fatal_error = fail_and_keep  # type: ignore[method-assign]
    return report


async def until(pilot: Pilot[Any], condition: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    """Let the app run until ``condition()`` holds; fail after ``timeout`` (a deadline, not a measurement)."""
    await waiting.until(condition, timeout, what, poll_s=0.05, pause=pilot.pause)


async def press(pilot: Pilot[Any], *keys: str) -> None:
    """Press keys while a live market keeps the process busy.

    ``Pilot.press`` waits for the process to go idle (up to a second per key), which an in-process exchange
    publishing every 20 ms never does; this posts the same key events and pauses briefly. It does not wait for
    their effect: a loaded machine may take longer, so a test awaits what a key should change with
    :func:`until` (and a screen a key opens before the next key).
    """
    for key in keys:
        character = key if len(key) == 1 else None
        name = _character_to_key(key) if len(key) == 1 and not key.isalnum() else key
        pilot.app.post_message(events.Key(name, character))
        await pilot.pause(0.02)


async def palette(pilot: Pilot[Any], app: FluxumApp, query: str, hit: str) -> None:
    """Open the command palette, type ``query``, and run the command shown as ``hit``."""
    app.action_command_palette()
    await until(pilot, lambda: isinstance(app.focused, Input), "the command palette's input")
    await press(pilot, *query)
    await until(pilot, lambda: hit in screen_text(app), f"the palette to offer {hit!r}")
    await press(pilot, "enter")
    await until(pilot, lambda: not isinstance(app.screen, CommandPalette), "the palette closed")


def sim_settings(symbols: str = "BTCUSDT,ETHUSDT,SOLUSDT") -> Settings:
    """The embedded local exchange, whatever the environment of the test run says."""
    return load_settings(cfg="sim", symbols=symbols, environ={})


def runtime_options(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """Fixed seed, no demo trader (the test is the only trader), faults on, quick reconnects."""
    options: dict[str, Any] = {
        "seed": SEED,
        "demo_trader": False,
        "faults": True,
        "journal_dir": tmp_path / "journal",
        "backoff": Backoff(initial_s=0.5, factor=2.0, cap_s=4.0),
        "timeouts": Timeouts(connect_s=3.0, auth_s=3.0, subscribe_s=3.0, snapshot_s=5.0, backfill_s=10.0),
    }
    options.update(overrides)
    return options


class _NoSession:
    """What the app stops on unmount when a test stood in for the runtime: nothing runs."""

    async def stop(self) -> None:
        return None


def stand_in(settings: Settings, rest: Any = None) -> Any:
    """A runtime with settings (and a REST stand-in) but no session, for the app's checks of what it may offer."""
    return SimpleNamespace(settings=settings, rest=rest, session=_NoSession())


class RecordingApp(FluxumApp):
    """The app, remembering every notification it showed (they expire on screen)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.notices: list[tuple[str, str]] = []

    def notify(self, message: str, *args: Any, **kwargs: Any) -> None:
        self.notices.append((str(kwargs.get("severity", "information")), message))
        super().notify(message, *args, **kwargs)

    def noticed(self, fragment: str) -> bool:
        return any(fragment in text for _, text in self.notices)


class WebApp(RecordingApp):
    """The desk as ``textual serve`` runs it: a browser at the other end, each download recorded as (text, file
    name, MIME type)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.delivered: list[tuple[str, str, str | None]] = []

    @property
    def is_web(self) -> bool:
        return True

    def deliver_text(self, path_or_file: Any, **kwargs: Any) -> str | None:
        self.delivered.append((path_or_file.read(), kwargs["save_filename"], kwargs.get("mime_type")))
        return "key"


def scripted_app(desk: Desk, symbol: str | None = None) -> FluxumApp:
    """An app on a scripted desk: no session, frozen clock, no animations."""
    app = FluxumApp(desk=desk, clock=scripted.clock, symbol=symbol)
    app.animation_level = "none"
    return app


def strip_cells(strip: Strip) -> list[tuple[str, Any]]:
    """A strip as its cells: each character with its style."""
    return [(char, segment.style) for segment in strip for char in segment.text]
