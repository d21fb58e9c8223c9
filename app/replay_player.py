"""The desk's replay: a recording played through the live session, books and ledger on its own thread.

The session of :func:`exchange.recording.replay.replay` runs on a loop of its own (:mod:`exchange.recording.pacing`)
on a thread of its own, on the recording's time. The desk steers it from Textual's thread in slices (:meth:`tick`
every frame: as much recorded time as the speed says; nothing while paused), and the two threads never run at
once, so the widgets read the session's desk as they do live. After each slice the desk takes the events the
bridge forwards (:meth:`events`), as the live bridge would have delivered them.

What the replay writes stays in a folder of its own (``folder``, the caller's temporary directory): a journal for
its fills and the link history of the replayed session, never the user's. The history screen reads that history
(:meth:`open_history`), as it was recorded.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import contextvars
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exchange.alert_rules import AlertRule
from exchange.book import BookState
from exchange.config import Settings
from exchange.desk import Desk
from exchange.events import AlertChanged, BookStateChanged, Event, LinkState, StateChanged
from exchange.hub import EventHub, Subscription
from exchange.link_history import LinkHistory
from exchange.link_recorder import HistoryRecorder
from exchange.recording.opened import Recording
from exchange.recording.pacing import Pacing, paced_loop
from exchange.session import Session

__all__ = ["MOMENT_S", "SPEEDS", "Incidents", "Player", "moments", "speed_text"]

log = logging.getLogger(__name__)

SPEEDS: tuple[float | None, ...] = (1.0, 2.0, 5.0, 10.0, 30.0, 100.0, 300.0, 1000.0, None)
"""The speeds ``>`` and ``<`` go through: 1x (as recorded) up to max (None: as fast as it can be processed)."""
SLICE_BUDGET_S = 0.015
"""Wall time one frame's slice may take at a finite speed: the rest of the frame is the desk's, so keys and
repaints stay quick."""
FAST_SHARE = 0.75
"""At max speed and on the way to the next incident, the replay's share of the wall time: each slice may take three
times what the desk took since the last one (repaints, keys), so the desk still repaints and reads keys several
times a second however heavy its frames are."""
FAST_SLICE_BUDGET_S = (0.015, 0.15)
"""The least and the most one such slice may take."""
SETUP_BUDGET_S = 2.0
LONGEST_FRAME_S = 0.25
"""A frame the desk was late for (a loaded machine) plays at most this much wall time: no burst to catch up."""
MOMENT_S = 2e-6
"""How far past a recorded moment a step goes: under the 10 µs apart records of one millisecond are played."""
STOP_WAIT_S = 5.0


def speed_text(speed: float | None) -> str:
    """``1x``, ``2.5x``, ``max``."""
    return "max" if speed is None else f"{speed:g}x"


class Incidents:
    """What an incident is: the session leaving Ready, a book resyncing while Ready (a loss of the link puts every
    book out of sync: that is the link's incident, not the books'), an alert starting."""

    def __init__(self) -> None:
        self.ready = False

    def first(self, events: list[Event]) -> str | None:
        """The first incident among ``events`` (one moment's, as a subscription hands them over), in words."""
        found: str | None = None
        for event in events:
            if isinstance(event, StateChanged):
                left = event.previous.kind is LinkState.READY and event.state.kind is not LinkState.READY
                self.ready = event.state.kind is LinkState.READY
                if left and found is None:
                    reason = f" ({event.state.reason})" if event.state.reason else ""
                    found = f"left Ready: {event.state.kind.value}{reason}"
            elif isinstance(event, AlertChanged) and event.active and found is None:
                found = f"alert: {event.text}"
        resyncing = [e for e in events if isinstance(e, BookStateChanged) and e.state is BookState.RESYNCING]
        if found is None and resyncing and self.ready:
            book = resyncing[0]
            found = f"{book.symbol} book resyncing" + (f" ({book.reason})" if book.reason else "")
        return found


def moments(recording: Recording) -> list[float]:
    """Every recorded moment something reached the session (a connection opening or closing, a frame, a REST
    reply), in order: what a step goes to."""
    found: list[float] = [float(r["at"]) for r in recording.rest if isinstance(r.get("at"), float)]
    for attempt in recording.attempts:
        for connection in attempt.opens.values():
            found.append(connection.opened_s)
            found.extend(at for at, _, _ in connection.frames)
            if connection.close is not None:
                found.append(float(connection.close["at"]))
    return sorted(found)


@dataclass
class _Played:
    """What the replay's thread built, read by the desk's thread only while the loop is parked."""

    session: Session
    clock: Callable[[], float]
    bridge: Subscription
    loop: asyncio.AbstractEventLoop
    history_path: Path | None
    history: HistoryRecorder | None


class Player:
    """A recording played on the desk: speed, pause, step, next incident, and the end of the recording."""

    def __init__(
        self,
        recording: Recording,
        settings: Settings,
        folder: Path,
        *,
        speed: float | None = 1.0,
        paused: bool = False,
        alerts: tuple[AlertRule, ...] = (),
        deliver_alert: Callable[[AlertRule, AlertChanged], None] | None = None,
        bridged: tuple[type[Event], ...] = (),
    ) -> None:
        """``deliver_alert`` is called on the replay's thread (hand it on to the desk's thread thread-safely);
        ``bridged``: the kinds :meth:`events` returns."""
        self.recording = recording
        self.settings = settings
        self.folder = folder
        self.speed = speed
        self.paused = paused
        self.seeking = False  # playing at max until the next incident
        self.ended = False
        self.ended_seeking = False  # the recording ended on the way to an incident: there was none
        self.failure: str | None = None  # why the replay stopped before the end of the recording
        self.incident: tuple[str, float] | None = None  # the last incident a seek stopped at, and when
        self.pacing = Pacing()
        self._alerts = alerts
        self._deliver_alert = deliver_alert
        self._bridged = bridged
        self._moments = moments(recording)
        self._played: _Played | None = None
        self._done = False  # the session has played the recording out (set on the replay's thread)
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_tick = time.monotonic()
        self._slice_ended = self._last_tick

    # ------------------------------------------------------------------ what the desk reads

    @property
    def session(self) -> Session | None:
        return None if self._played is None else self._played.session

    @property
    def start_s(self) -> float:
        return self.recording.start_ms / 1000.0

    def clock(self) -> float:
        """The recording's clock: what the desk shows as now."""
        played = self._played
        return self.start_s if played is None else played.clock()

    def events(self) -> list[Event]:
        """The bridged events of the slices since the last call (the loop is parked)."""
        return [] if self._played is None else self._played.bridge.drain()

    def open_history(self) -> LinkHistory | None:
        """The replayed session's link history, read only (None before it exists)."""
        played = self._played
        if played is None or played.history_path is None or not played.history_path.exists():
            return None
        try:
            return LinkHistory(played.history_path, now_ms=int(self.clock() * 1000), readonly=True)
        except Exception as error:  # a history that cannot be read is one line in the log, not a crash
            log.warning("the replay's link history cannot be read: %s", error)
            return None

    def flush_history(self) -> None:
        """Commit what the replay's history holds (it commits once a recorded second): a slice that runs only that,
        and moves no time."""
        played = self._played
        if played is None or played.history is None or self._done:
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            played.loop.call_soon_threadsafe(played.history.flush)
            self.pacing.run_until(self.pacing.now(), SETUP_BUDGET_S)

    # ------------------------------------------------------------------ steering (the desk's thread)

    def start(self) -> None:
        """Start the replay's thread and build its session (one slice; the recording's time does not move)."""
        context = contextvars.copy_context()  # the desk's: its log lines go where the desk's go
        self._thread = threading.Thread(target=context.run, args=(self._run,), name="fluxum-replay", daemon=True)
        self._thread.start()
        self.pacing.run_until(self.pacing.now(), SETUP_BUDGET_S)
        self._last_tick = time.monotonic()
        self._check_end()

    def tick(self) -> None:
        """One frame: play what the speed says of the wall time since the last frame (nothing while paused)."""
        now = time.monotonic()
        elapsed, self._last_tick = min(LONGEST_FRAME_S, now - self._last_tick), now
        if self.ended or self.paused or self._played is None:
            return
        if self.seeking or self.speed is None:
            least, most = FAST_SLICE_BUDGET_S
            desk_s = now - self._slice_ended
            budget = min(most, max(least, desk_s * FAST_SHARE / (1 - FAST_SHARE)))
            held = self.pacing.run_until(math.inf, budget)
        else:
            held = self.pacing.run_until(self.pacing.now() + elapsed * self.speed, SLICE_BUDGET_S)
        self._slice_ended = time.monotonic()
        if held and self.seeking:
            self.seeking = False
            self.paused = True
        self._check_end()

    def toggle_pause(self) -> None:
        """Pause, or play on (the end of the recording stays paused)."""
        if self.ended:
            return
        self.seeking = False
        self.paused = not self.paused
        self._last_tick = time.monotonic()

    def faster(self, step: int) -> None:
        """The next speed of :data:`SPEEDS` up (``step`` 1) or down (-1) from the one in force (which may be one
        given on the command line between two of them)."""
        order = [math.inf if s is None else s for s in SPEEDS]
        now = math.inf if self.speed is None else self.speed
        if step > 0:
            index = next((i for i, s in enumerate(order) if s > now), len(order) - 1)
        else:
            index = next((i for i in reversed(range(len(order))) if order[i] < now), 0)
        self.speed = SPEEDS[index]

    def step(self) -> bool:
        """Pause, then play up to the next recorded moment; False when there is none."""
        self.paused, self.seeking = True, False
        if self.ended or self._played is None:
            return False
        now = self.clock()
        index = bisect.bisect_right(self._moments, now + MOMENT_S)
        target = self.recording.stop_s if index >= len(self._moments) else self._moments[index]
        self.pacing.run_until(self.pacing.now() + max(0.0, target - now) + MOMENT_S, SETUP_BUDGET_S)
        self._check_end()
        return True

    def seek_incident(self) -> None:
        """Play as fast as possible until the next incident (:class:`Incidents`), then pause there."""
        if self.ended:
            return
        self.seeking, self.paused = True, False

    def play_to(self, at: float) -> None:
        """Play, as fast as possible, up to the recording's moment ``at`` (epoch seconds), then pause (a fixed point
        to look at)."""
        self.paused, self.seeking = True, False
        while not self.ended and self._played is not None and self.clock() < at:
            self.pacing.run_until(self.pacing.now() + (at - self.clock()), SETUP_BUDGET_S)
            self._check_end()

    def stop(self) -> None:
        """Stop the replayed session and let its loop run out (the desk is quitting)."""
        self._stopping = True
        played = self._played
        if played is not None and not self._done:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                played.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(played.session.stop()))
        self.pacing.release()
        thread = self._thread
        if thread is not None:
            thread.join(STOP_WAIT_S)

    def _check_end(self) -> None:
        if self._done and not self.ended:
            self.ended_seeking = self.seeking
            self.ended, self.paused, self.seeking = True, True, False
            self.pacing.release()  # the loop closes on its own

    # ------------------------------------------------------------------ the replay's thread

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=lambda: paced_loop(self.pacing)) as runner:
                runner.run(self._play_to_the_end())
        finally:
            self._done = True
            self.pacing.finish()

    async def _play_to_the_end(self) -> None:
        """:meth:`_play`, and the end (or the failure) known within the slice it happens in."""
        try:
            await self._play()
        except Exception as error:  # a bug: the desk says so and stays open on what was played
            log.exception("the replay stopped")
            self.failure = f"{type(error).__name__}: {error}"
        finally:
            self._done = True

    async def _play(self) -> None:
        """Build the replayed session with its history, alerts and incident watch; play the recording out."""
        from exchange.alert_watch import AlertWatch
        from exchange.journal import Journal
        from exchange.recording.clock import recording_clock
        from exchange.recording.replay import replay

        clock = recording_clock(self.start_s)
        hub = EventHub()
        journal = Journal(self.folder / "replay-journal.sqlite3") if self.settings.credentials is not None else None
        played = replay(self.recording, self.settings, clock=clock, hub=hub, journal=journal)
        session = played.session
        session.desk.environment = f"REPLAY · {session.desk.environment}"
        bridge = hub.subscribe(self._bridged, name="replay-bridge")
        incidents = hub.subscribe((StateChanged, BookStateChanged, AlertChanged), name="replay-incidents")
        tasks = [asyncio.create_task(self._watch(incidents, clock))]
        history_path, recorder, recording = self._start_history(hub, session.desk, clock)
        if self._alerts:
            watch = AlertWatch(session.desk, hub, self._alerts, clock=clock, deliver=self._deliver_alert)
            watch.subscribe()
            tasks.append(asyncio.create_task(watch.run()))
        self._played = _Played(session, clock, bridge, asyncio.get_running_loop(), history_path, recorder)
        try:
            if not self._stopping:
                await played.run()
        finally:
            if recorder is not None and recording is not None:
                recorder.stop()
                await asyncio.gather(recording, return_exceptions=True)
                recorder.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if journal is not None:
                journal.close()

    def _start_history(
        self, hub: EventHub, desk: Desk, clock: Callable[[], float]
    ) -> tuple[Path | None, HistoryRecorder | None, asyncio.Task[None] | None]:
        """The replayed session's link history, in the replay's folder, and its recorder's task; a history that
        cannot be written is one line in the log and the replay goes on without it, as the live desk does."""
        from exchange.link_recorder import record

        path = self.folder / "replay-history.sqlite3"
        try:
            recorder = HistoryRecorder(LinkHistory(path, now_ms=self.recording.start_ms), hub, desk, clock)
        except Exception as error:
            log.warning("the replay's link history cannot be written: %s", error)
            return None, None, None
        return path, recorder, asyncio.create_task(record(recorder))

    async def _watch(self, incidents: Subscription, clock: Callable[[], float]) -> None:
        """While seeking, hold the loop at the first incident (the slice ends at this very moment)."""
        watch = Incidents()
        async for event in incidents:
            text = watch.first([event, *incidents.drain()])
            if text is not None and self.seeking:
                self.incident = (text, clock())
                self.pacing.hold()
