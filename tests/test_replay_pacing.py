"""The desk's replay steering, without a desk: the paced loop's slices (:mod:`exchange.recording.pacing`), what
counts as an incident, and the replay's line (:func:`widgets.replay_bar.replay_text`)."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from app.replay_app import replay_settings
from app.replay_player import SPEEDS, Incidents, Player, speed_text
from exchange.book import BookState
from exchange.config import default_config_path, load_settings
from exchange.events import AlertChanged, BookStateChanged, LinkState, SessionState, StateChanged
from exchange.recording.opened import Recording
from exchange.recording.pacing import Pacing, paced_loop
from tests.support.replay_recording import FIXED_RECORDING
from widgets.replay_bar import ReplayStatus, replay_text, stamp


def started(pacing: Pacing, main: object) -> threading.Thread:
    def run() -> None:
        with asyncio.Runner(loop_factory=lambda: paced_loop(pacing)) as runner:
            runner.run(main)  # type: ignore[arg-type]

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_the_loop_moves_only_inside_the_slices_it_is_granted() -> None:
    """Nothing runs before the first slice; a slice runs the loop up to its moment, jumping over the waits in
    between at once (an hour costs no wall time), and parks there; between slices nothing moves."""
    pacing = Pacing()
    woke: list[float] = []

    async def sleeper() -> None:
        loop = asyncio.get_running_loop()
        for _ in range(3):
            await asyncio.sleep(1800.0)
            woke.append(loop.time())

    thread = started(pacing, sleeper())
    time.sleep(0.05)
    assert woke == [] and pacing.now() == 0.0, "parked before the first slice"
    pacing.run_until(0.0, 1.0)  # the task starts and sleeps
    began = time.monotonic()
    pacing.run_until(3600.0, 1.0)
    assert time.monotonic() - began < 1.0
    assert woke == [1800.0, 3600.0] and pacing.now() == 3600.0
    time.sleep(0.05)
    assert woke == [1800.0, 3600.0] and pacing.now() == 3600.0, "between slices nothing moves"
    pacing.run_until(4000.0, 1.0)
    assert pacing.now() == 4000.0, "a slice with nothing due moves the clock to its moment"
    pacing.release()
    thread.join(5.0)
    assert woke == [1800.0, 3600.0, 5400.0] and pacing.finished and not thread.is_alive()


def test_a_hold_ends_the_slice_at_the_moment_it_is_in() -> None:
    pacing = Pacing()
    reached: list[float] = []

    async def incident_at_ten() -> None:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(10.0)
        reached.append(loop.time())
        pacing.hold()
        await asyncio.sleep(5.0)
        reached.append(loop.time())

    thread = started(pacing, incident_at_ten())
    assert pacing.run_until(float("inf"), 1.0) is True, "held"
    assert reached == [10.0] and pacing.now() == 10.0
    assert pacing.run_until(float("inf"), 1.0) is False, "ran out: the loop closed"
    thread.join(5.0)
    assert reached == [10.0, 15.0]


def state(kind: LinkState, reason: str = "") -> SessionState:
    return SessionState(kind, 1, reason)


def test_an_incident_is_leaving_ready_a_resync_while_ready_or_an_alert() -> None:
    incidents = Incidents()
    ready = StateChanged(state(LinkState.READY), state(LinkState.CONNECTED))
    resync = BookStateChanged("BTCUSDT", BookState.RESYNCING, "gap")
    assert incidents.first([resync]) is None, "not Ready yet: a book out of sync is the start, not an incident"
    assert incidents.first([ready]) is None
    assert incidents.first([resync]) == "BTCUSDT book resyncing (gap)"
    lost = StateChanged(state(LinkState.RECONNECTING, "no pong"), state(LinkState.READY))
    said = incidents.first([lost, BookStateChanged("ETHUSDT", BookState.RESYNCING, "disconnected")])
    assert said == "left Ready: Reconnecting (no pong)", "the link's loss, not its books'"
    alert = AlertChanged(rule="link_down", condition="link_down", active=True, text="link down 10 s", time_ms=5)
    assert incidents.first([alert]) == "alert: link down 10 s"
    assert incidents.first([StateChanged(state(LinkState.CONNECTING), state(LinkState.RECONNECTING))]) is None


def test_the_speeds_go_from_1x_to_max_and_on_from_a_speed_between_two(tmp_path: Path) -> None:
    assert speed_text(SPEEDS[0]) == "1x" and speed_text(SPEEDS[-1]) == "max" and speed_text(2.5) == "2.5x"
    player = Player(Recording.load(FIXED_RECORDING), load_settings(environ={}), tmp_path, speed=2.5)
    player.faster(1)
    assert player.speed == 5.0
    player.speed = 2.5
    player.faster(-1)
    assert player.speed == 2.0
    player.speed = None
    player.faster(1)
    assert player.speed is None, "max is the fastest"
    player.faster(-1)
    assert player.speed == 1000.0
    player.speed = 1.0
    player.faster(-1)
    assert player.speed == 1.0, "1x is the slowest"


def test_the_replay_line_says_the_pace_and_the_recordings_clock() -> None:
    base = ReplayStatus(1796327476.191, 1796327475.291, 1796327477.5, "10x", True, False, False, "a\x1b[31m.zst")
    text = replay_text(base).plain
    assert text.startswith("‖ paused · 10x · 2026-12-03 ") and stamp(base.now_s) in text
    assert "0.9 s of 2.2 s" in text and "\x1b" not in text
    playing = ReplayStatus(**{**base.__dict__, "paused": False})
    assert replay_text(playing).plain.startswith("▶ playing")
    ended = ReplayStatus(**{**base.__dict__, "ended": True})
    assert replay_text(ended).plain.startswith("■ end of recording")
    seeking = ReplayStatus(**{**base.__dict__, "seeking": True, "paused": False})
    assert replay_text(seeking).plain.startswith("» to the next incident")
    failed = ReplayStatus(**{**base.__dict__, "ended": True, "failed": True})
    assert replay_text(failed).plain.startswith("■ replay stopped (see the log)")


def test_the_desk_replays_with_the_recorded_settings_and_the_configs_alerts() -> None:
    """What decides the session (symbols, depth, the mark's source) is the recording's, as headless; the config adds
    only its alerts."""
    path = default_config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('symbols = ["XRPUSDT"]\nmark_source = "book"\n[[alerts]]\nwhen = "fill"\n')
    settings = replay_settings(Recording.load(FIXED_RECORDING))
    assert settings.symbols == ("BTCUSDT", "ETHUSDT") and settings.mark_source == "mark"
    assert [rule.condition for rule in settings.alerts] == ["fill"]
    path.write_text("not = toml = at all")
    assert replay_settings(Recording.load(FIXED_RECORDING)).alerts == ()
