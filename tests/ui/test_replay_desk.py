"""The desk on a recording (``fluxum replay PATH``): a session recorded live on the local exchange (Ready, a fill,
the public link dropped by the exchange, Ready again), replayed through the same session, books, ledger and
widgets, with the recording's clock and the keys that steer it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from app.history_screen import HistoryScreen
from app.positions_screen import PositionsScreen
from app.replay_app import ReplayApp, replay_settings
from app.replay_player import MOMENT_S, moments
from app.screens import HelpScreen
from app.watchlist_screen import AddSymbolScreen, WatchlistScreen
from exchange.alert_rules import parse_alert_rules
from exchange.events import LinkState
from exchange.recording.opened import Recording
from exchange.summary import desk_summary
from tests.support.replay_recording import FIXED_RECORDING, record_an_outage
from tests.ui.support import LIVE_SIZE, notifications, press, screen_text, until
from widgets.replay_bar import ReplayBar, stamp

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, Any]]]:
    """One live session with an outage, recorded once for the module, and how its desk ended."""
    path = tmp_path_factory.mktemp("replay-desk") / "outage.jsonl.zst"
    summary = asyncio.run(record_an_outage(path))
    yield path, summary


@pytest.fixture
def recorded(live: tuple[Path, dict[str, Any]]) -> Path:
    return live[0]


def replay_app(path: Path, *, speed: float | None = 1.0, paused: bool = True) -> ReplayApp:
    recording = Recording.load(path)
    app = ReplayApp(recording, replay_settings(recording), name=path.name, speed=speed, paused=paused)
    app.animation_level = "none"
    return app


def speed_shown(app: ReplayApp) -> str | None:
    """The speed the replay's line shows."""
    shown = app.desk_screen.query_one(ReplayBar).shown
    return None if shown is None else shown.speed


async def frames_pass(pilot: Pilot[Any], app: ReplayApp, count: int = 10) -> None:
    """Let the desk grant ``count`` more frames (a paused replay is granted nothing, and must not move)."""
    target = app.frames + count
    await until(pilot, lambda: app.frames >= target, f"{count} frames")


async def step(pilot: Pilot[Any], app: ReplayApp) -> None:
    """Press ``.`` and wait for the replay's clock to move on."""
    before = app.clock()
    await press(pilot, ".")
    await until(pilot, lambda: app.clock() > before, "a step")


async def next_incident(pilot: Pilot[Any], app: ReplayApp) -> None:
    """Press ``n`` and wait for the replay to pause at the next incident."""
    before = app.player.incident
    await press(pilot, "n")
    await until(pilot, lambda: app.player.incident != before and app.player.paused, "the next incident")


async def next_leaving_of_ready(pilot: Pilot[Any], app: ReplayApp) -> None:
    """``n`` until the replay pauses where the session left Ready (a loaded machine's live run may have resynced a
    book while Ready first: an incident too)."""
    await next_incident(pilot, app)
    while app.player.incident is not None and " book resyncing" in app.player.incident[0]:
        await next_incident(pilot, app)


def state_at(path: Path, state: str) -> float:
    """When the recorded session first went into ``state`` (epoch seconds)."""
    states = [(s["state"], s["wall_ms"]) for s in Recording.load(path).states]
    return next(float(ms) for kind, ms in states if kind == state) / 1000.0


LIVE_LAG_S = 0.25
"""How long after a close the live session may have written the state it caused, on a loaded CI machine."""


def left_ready_s(path: Path) -> float:
    """When the recorded session first left Ready (epoch seconds)."""
    recording = Recording.load(path)
    states = [(s["state"], s["wall_ms"]) for s in recording.states]
    index = next(i for i, (state, _) in enumerate(states) if state == "Ready")
    return float(states[index + 1][1]) / 1000.0


async def test_the_badge_and_the_recorded_clock_are_shown_and_a_pause_stops_them(recorded: Path) -> None:
    app = replay_app(recorded, speed=1.0, paused=True)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.player.session is not None and "REPLAY · SIM" in screen_text(app), "badge")
        start = app.player.start_s
        assert app.clock() == pytest.approx(start, abs=0.001)
        await until(pilot, lambda: stamp(app.clock()) in screen_text(app), "the recorded clock on screen")
        await frames_pass(pilot, app)
        assert app.clock() == pytest.approx(start, abs=0.001), "paused: the recording's clock does not move"
        assert "‖ paused" in screen_text(app)

        await press(pilot, "space")
        await until(pilot, lambda: app.clock() > start + 0.5, "playing at 1x")
        await until(pilot, lambda: "▶ playing" in screen_text(app) or app.player.ended, "shown playing")
        await press(pilot, "space")
        await until(pilot, lambda: app.player.paused and "‖ paused" in screen_text(app), "paused again")
        held, book = app.clock(), app.desk.books["BTCUSDT"]
        versions, u = dict(app.desk.versions), book.u
        await frames_pass(pilot, app)
        assert app.clock() == held and book.u == u and dict(app.desk.versions) == versions, "the books stand still"
        assert stamp(held) in screen_text(app)


async def test_a_step_plays_the_next_recorded_frame_and_stays_paused(recorded: Path) -> None:
    app = replay_app(recorded, paused=True)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.player.session is not None, "the session")
        app.player.play_to(state_at(recorded, "Ready") + 0.1)  # Ready, books live
        await until(pilot, lambda: app.desk.state.kind is LinkState.READY, "Ready")
        before = app.clock()
        # the player's own "next": a moment within MOMENT_S of now has been played out already
        after = next(at for at in moments(app.player.recording) if at > before + MOMENT_S)
        await step(pilot, app)
        assert app.player.paused
        assert app.clock() == pytest.approx(after, abs=1e-5), "the next recorded moment"
        await frames_pass(pilot, app)
        assert app.clock() < before + 0.5 and app.player.paused


async def test_faster_and_slower_change_the_shown_speed(recorded: Path) -> None:
    app = replay_app(recorded, speed=1.0, paused=True)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: speed_shown(app) == "1x", "1x")
        await press(pilot, ">")
        await until(pilot, lambda: speed_shown(app) == "2x" and " 2x " in screen_text(app), "2x")
        await press(pilot, *">" * 10)
        await until(pilot, lambda: speed_shown(app) == "max", "max, the fastest")
        await press(pilot, "<")
        await until(pilot, lambda: speed_shown(app) == "1000x", "one slower")
        await press(pilot, *"<" * 12)
        await until(pilot, lambda: speed_shown(app) == "1x", "1x, the slowest")


async def test_next_incident_stops_where_the_session_left_ready(recorded: Path) -> None:
    app = replay_app(recorded, speed=1.0, paused=True)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.player.session is not None, "the session")
        await next_leaving_of_ready(pilot, app)
        assert app.desk.state.kind is not LinkState.READY and app.desk.outage_started_ms is not None
        assert app.player.incident is not None and app.player.incident[0].startswith("left Ready")
        # The replay leaves Ready at the recorded close that caused it; live wrote its state a moment later (the
        # time it took to act on the close, longer on a loaded machine), never earlier.
        assert left_ready_s(recorded) - LIVE_LAG_S <= app.clock() <= left_ready_s(recorded) + 0.002
        await until(pilot, lambda: "down 0.0 s" in screen_text(app) and "‖ paused" in screen_text(app), "shown")
        held = app.clock()
        await frames_pass(pilot, app)
        assert app.clock() == held, "paused at the incident"
        await press(pilot, "h")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history screen")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        await until(pilot, lambda: any(r.state == "Reconnecting" for r in screen.rows), "the loss, as recorded so far")
        assert app.clock() == held and not any(r.time_ms > held * 1000 for r in screen.rows), "nothing from later"


async def test_the_end_is_said_and_the_history_is_the_replayed_sessions(recorded: Path, tmp_path: Path) -> None:
    app = replay_app(recorded, speed=None, paused=False)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.player.ended, "the end of the recording")
        await until(pilot, lambda: "end of recording" in screen_text(app), "said on screen")
        assert app.desk.ledger.entries(), "the recorded fill is in the ledger"
        await press(pilot, "h")
        await until(pilot, lambda: isinstance(app.screen, HistoryScreen), "the history screen")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        await until(
            pilot, lambda: screen.summary is not None and len(screen.summary.outages) == 1, "the recorded outage"
        )
        assert any(row.kind == "link" and row.state == "Reconnecting" for row in screen.rows)
        await press(pilot, "escape")
        await until(pilot, lambda: app.screen is app.desk_screen, "the desk again")
        assert app.screen is app.desk_screen and app.player.ended, "the desk stays open"
    assert user_files() == [], "nothing written into the user's journal or history"


async def test_trading_keys_are_not_offered_and_the_replay_keys_are(recorded: Path) -> None:
    app = replay_app(recorded, paused=True)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.player.session is not None, "the session")
        screen = app.desk_screen
        assert screen.check_action("cancel_order", ()) is False and app.check_action("reconnect", ()) is False
        footer = screen_text(app).splitlines()[-1]
        for words in ("Play/Pause", "Step", "Faster", "Slower", "Incident"):
            assert words in footer, words
        assert "Cancel" not in footer
        await press(pilot, "c", "r")
        await frames_pass(pilot, app, 5)
        session = app.player.session
        assert session is not None and session.reconnects == 0 and app.screen is screen, "no dialog, no reconnect"
        await press(pilot, "question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen) and "Pause or resume" in screen_text(app), "help")
        text = screen_text(app)
        for words in ("Pause or resume", "next recorded frame", "next incident"):
            assert words in text, words
        assert "Cancel the order" not in text


def noticed(app: ReplayApp, fragment: str) -> bool:
    return any(fragment in str(notification.message) for notification in notifications(app))


async def test_the_views_that_need_an_exchange_say_a_replay_has_none(recorded: Path) -> None:
    """Watching a symbol, the chart and the whole account need the exchange: each says a replay cannot, in words."""
    app = replay_app(recorded, paused=True)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.player.session is not None, "the session")
        await press(pilot, "w")
        await until(pilot, lambda: isinstance(app.screen, WatchlistScreen), "the watchlist")
        await press(pilot, "a")
        await until(pilot, lambda: isinstance(app.screen, AddSymbolScreen), "the symbol asked")
        await press(pilot, *"xrpusdt", "enter")
        await until(pilot, lambda: noticed(app, "XRPUSDT not added: not possible in a replay"), "the refusal")
        await press(pilot, "delete")
        await until(pilot, lambda: noticed(app, "not removed: not possible in a replay"), "the removal refused")
        assert not noticed(app, "no session runs")
        await press(pilot, "escape")
        await until(pilot, lambda: app.screen is app.desk_screen, "the desk again")
        await press(pilot, "g")
        await until(pilot, lambda: noticed(app, "No chart: not possible in a replay"), "no chart, in words")
        await press(pilot, "p")
        await until(pilot, lambda: isinstance(app.screen, PositionsScreen), "the positions overview")
        await until(pilot, lambda: "not possible in a replay" in screen_text(app), "why no account is read")
        assert "API keys" not in screen_text(app)  # the recorded desk has an account: it is the replay that cannot


def user_files() -> list[str]:
    """Where the user's journal and link history would be (the XDG data folder of the test)."""
    import os

    data = Path(os.environ["XDG_DATA_HOME"])
    return [str(p) for p in data.rglob("*")] if data.exists() else []


async def test_paused_stepped_and_sped_up_the_replay_ends_as_the_live_run_did(
    live: tuple[Path, dict[str, Any]],
) -> None:
    """The desk's replay is exact at every pace: the loop's time moves only from one recorded moment to the next,
    so a pause, a step or a speed changes when things are shown, never what the session decides."""
    path, ended_live = live
    app = replay_app(path, speed=1.0, paused=True)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.player.session is not None, "the session")
        for _ in range(5):
            await step(pilot, app)
        await press(pilot, "space")
        await until(pilot, lambda: app.clock() > app.player.start_s + 0.3, "playing")
        await press(pilot, "space", ">", ">")
        await until(pilot, lambda: app.player.paused and speed_shown(app) == "5x", "paused, at 5x")
        await frames_pass(pilot, app, 3)
        await press(pilot, "space")
        await until(pilot, lambda: app.player.ended, "the end of the recording")
        ended = desk_summary(app.desk, ())
    assert ended["books"] == ended_live["books"]
    for key in ("ledger", "fills", "ledger_counters", "orders", "positions", "wallet"):
        assert ended[key] == ended_live[key], key


def test_a_file_that_is_no_recording_opens_no_desk(tmp_path: Path) -> None:
    """One line and exit 2, before any screen is taken over."""
    import os
    import subprocess
    import sys

    bogus = tmp_path / "not.jsonl.zst"
    bogus.write_bytes(b"\x1b[31mnot zstd at all")
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "replay", str(bogus)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(repo)},
        cwd=repo,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == "" and done.stderr.count("\n") == 1
    assert "not a Fluxum recording" in done.stderr and "\x1b" not in done.stderr


async def test_next_incident_stops_at_an_alert_which_runs_no_command(recorded: Path, tmp_path: Path) -> None:
    """An alert of the config is an incident: the recorded fill fires ``when = "fill"``; a replayed alert is a toast,
    never the rule's command (it is not now)."""
    ran = tmp_path / "the command ran"
    recording = Recording.load(recorded)
    settings = replay_settings(recording)
    rules = parse_alert_rules([{"when": "fill", "command": ["touch", str(ran)]}], settings.symbols)
    app = ReplayApp(recording, dataclasses.replace(settings, alerts=rules), name=recorded.name, paused=True)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.player.session is not None, "the session")
        await next_incident(pilot, app)
        assert app.player.incident is not None and app.player.incident[0].startswith("alert:")
        assert app.desk.state.kind is LinkState.READY and app.clock() < left_ready_s(recorded)
        await until(pilot, lambda: app.alerts_delivered == 1, "the alert's toast")
        await next_leaving_of_ready(pilot, app)
        assert app.player.incident is not None and app.player.incident[0].startswith("left Ready")
    assert not ran.exists(), "a replayed alert runs no command"


async def test_a_replay_that_breaks_says_so_and_the_desk_stays(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug in the replay")

    monkeypatch.setattr("exchange.recording.replay.replay", broken)
    app = replay_app(FIXED_RECORDING, paused=False)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: "replay stopped (see the log)" in screen_text(app), "said on the replay's line")
        assert app.player.ended and app.player.failure == "RuntimeError: a bug in the replay"
        assert app.screen is app.desk_screen
