"""The link history: the store (owner-only, pruned, surviving a restart, never failing its caller), the figures
derived from hand-made timelines, the recent timeline and the recorder's budget."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from app.history_text import cause_words, event_parts, figures_lines
from exchange.book import BookState
from exchange.desk import Desk
from exchange.events import (
    AlertChanged,
    BookStateChanged,
    LinkState,
    LinkStats,
    Notice,
    SessionState,
    StateChanged,
    TopicHealth,
)
from exchange.hub import EventHub
from exchange.link_figures import CAUSE_PART_CHARS, figures, outages, uptime
from exchange.link_history import DEFAULT_RETENTION_MS, HistoryRow, LinkHistory, RunSpan, history_path
from exchange.link_recorder import ROWS_BURST, HistoryRecorder
from exchange.link_report import outage_json
from exchange.link_timeline import LinkTimeline

T0 = 1_700_000_000_000
S = 1000


def link(time_ms: int, state: LinkState, reason: str = "", attempt: int = 0, run_ms: int = T0) -> HistoryRow:
    return HistoryRow(time_ms, "link", "", state.value, reason, attempt, None, run_ms)


@pytest.mark.parametrize("state", [*BookState, *LinkState])
def test_the_history_writes_every_state_whole(state: BookState | LinkState) -> None:
    """``AWAITING_SNAPSHOT`` is a state a trader reads in full, not cut to ``AWAITING_SNAPSH…``."""
    row = HistoryRow(T0, "book" if isinstance(state, BookState) else "link", "BTCUSDT", state.value)
    assert event_parts(row)[3] == state.value


# ---------------------------------------------------------------------- figures


def test_an_outage_over_several_attempts_is_one_outage() -> None:
    rows = [
        link(T0, LinkState.CONNECTING),
        link(T0 + 1 * S, LinkState.READY),
        link(T0 + 100 * S, LinkState.RECONNECTING, "no pong", 1),
        link(T0 + 101 * S, LinkState.CONNECTING, "retrying", 1),
        link(T0 + 102 * S, LinkState.RECONNECTING, "exchange unreachable", 2),
        link(T0 + 104 * S, LinkState.CONNECTING, "retrying", 2),
        link(T0 + 105 * S, LinkState.CONNECTED, "sockets open"),
        link(T0 + 141 * S, LinkState.READY),
    ]
    runs = [RunSpan(T0, T0 + 200 * S)]
    found = outages(rows, runs)
    assert len(found) == 1
    outage = found[0]
    assert (outage.start_ms, outage.end_ms, outage.duration_ms) == (T0 + 100 * S, T0 + 141 * S, 41 * S)
    assert outage.attempts == 2 and outage.cause == "no pong" and outage.recovered
    summary = figures(rows, runs, T0 + 200 * S)
    assert summary.longest_ms == 41 * S and summary.mean_recovery_ms == 41 * S
    # 199 s known after the 1 s start-up (not counted): 41 s down
    assert summary.uptime_since_start == pytest.approx(158 / 199)
    assert summary.startup_ms == 1 * S


def test_an_outage_names_the_first_loss_and_what_kept_the_link_down() -> None:
    """A drop that lasted because of a 403 ban: the ban's cool-downs (longest in total) name what kept it down."""
    ban = "HTTP 403 cool-down: Bybit refused this IP"
    rows = [
        link(T0, LinkState.READY),
        link(T0 + 10 * S, LinkState.RECONNECTING, "closed by server (code 1006)", 1),
        link(T0 + 11 * S, LinkState.CONNECTING, "retrying", 1),
        link(T0 + 12 * S, LinkState.RECONNECTING, ban, 2),
        link(T0 + 15 * S, LinkState.CONNECTING, "retrying", 2),
        link(T0 + 16 * S, LinkState.RECONNECTING, "Cannot connect to host 127.0.0.1:9", 3),
        link(T0 + 17 * S, LinkState.CONNECTING, "retrying", 3),
        link(T0 + 18 * S, LinkState.RECONNECTING, ban, 4),
        link(T0 + 24 * S, LinkState.CONNECTING, "retrying", 4),
        link(T0 + 25 * S, LinkState.READY),
        link(T0 + 30 * S, LinkState.RECONNECTING, "no pong", 1),
        link(T0 + 31 * S, LinkState.CONNECTING, "retrying", 1),
        link(T0 + 32 * S, LinkState.READY),
    ]
    banned, stalled = outages(rows, [RunSpan(T0, T0 + 40 * S)])
    assert banned.cause == "closed by server (code 1006)" and banned.kept_down_by == ban
    assert banned.cause_text == f"closed by server (code 1006) → {ban}"
    assert cause_words(banned) == "closed by exchange → IP refused (403 cool-down)"
    assert outage_json(banned)["reason"] == banned.cause_text
    assert stalled.kept_down_by == "" and cause_words(stalled) == "no pong"
    long = outages(
        [
            link(T0, LinkState.READY),
            link(T0 + S, LinkState.RECONNECTING, "x" * 500, 1),
            link(T0 + 2 * S, LinkState.RECONNECTING, "\x1b[31m" + "y" * 500, 2),
        ],
        [RunSpan(T0, T0 + 9 * S)],
    )[0]
    assert len(long.cause_text) <= 2 * CAUSE_PART_CHARS + 3 and len(cause_words(long)) <= 80
    assert "\x1b" not in cause_words(long)


def test_uptime_over_a_window_that_starts_inside_an_outage() -> None:
    rows = [
        link(T0, LinkState.READY),
        link(T0 + 10 * S, LinkState.RECONNECTING, "link closed", 1),
        link(T0 + 30 * S, LinkState.READY),
    ]
    runs = [RunSpan(T0, T0 + 40 * S)]
    assert uptime(rows, runs, T0 + 20 * S, T0 + 40 * S) == pytest.approx(0.5)
    assert uptime(rows, runs, T0 + 15 * S, T0 + 25 * S) == 0.0


def test_a_gap_with_no_process_running_is_unknown_not_down() -> None:
    second = T0 + 1000 * S
    rows = [
        link(T0, LinkState.READY),
        link(T0 + 50 * S, LinkState.RECONNECTING, "no pong", 1),  # killed in the outage at +60 s
        link(second, LinkState.CONNECTING, run_ms=second),
        link(second + 10 * S, LinkState.READY, run_ms=second),
    ]
    runs = [RunSpan(T0, T0 + 60 * S), RunSpan(second, second + 100 * S)]
    # known: 50 s up + 10 s down (first run), 90 s up (second run, after its 10 s start-up); the 940 s gap is not
    # counted
    assert uptime(rows, runs, T0, second + 100 * S) == pytest.approx(140 / 150)
    found = outages(rows, runs)
    assert [(o.duration_ms, o.recovered) for o in found] == [(10 * S, False)]  # ends where the run's watch ended
    assert figures(rows, runs, second + 100 * S).mean_recovery_ms is None


def test_a_start_up_that_fails_is_down_from_its_first_failure() -> None:
    """The 5 s of its first connect are start-up; the failure that ended it starts the outage."""
    rows = [
        link(T0, LinkState.CONNECTING),
        link(T0 + 5 * S, LinkState.RECONNECTING, "exchange unreachable", 1),
        link(T0 + 20 * S, LinkState.FAILED, "auth rejected"),
    ]
    runs = [RunSpan(T0, T0 + 30 * S)]
    (outage,) = outages(rows, runs)
    assert (outage.start_ms, outage.end_ms, outage.cause, outage.recovered) == (
        T0 + 5 * S,
        T0 + 30 * S,
        "exchange unreachable",
        False,
    )
    summary = figures(rows, runs, T0 + 30 * S)
    assert summary.uptime_since_start == 0.0 and summary.startup_ms is None


def test_a_slow_start_up_is_start_up_not_an_outage_nor_downtime() -> None:
    """A desk that takes 2 s (Connecting, then Connected) to its first Ready was not down: no outage, 100 %
    uptime, and its start-up told apart; a drop later in the run is an outage as ever."""
    rows = [
        link(T0 + 100, LinkState.CONNECTING),
        link(T0 + 1 * S, LinkState.CONNECTED, "sockets open"),
        link(T0 + 2 * S, LinkState.READY),
    ]
    runs = [RunSpan(T0, T0 + 60 * S)]
    assert outages(rows, runs) == []
    summary = figures(rows, runs, T0 + 60 * S)
    assert summary.uptime_since_start == 1.0 and summary.uptime_hour == 1.0
    assert summary.startup_ms == 2 * S
    assert figures_lines(summary, "since start")[1] == "outages 0 · longest — · mean time to recover — · start-up 2.0 s"
    dropped = [*rows, link(T0 + 30 * S, LinkState.RECONNECTING, "no pong", 1), link(T0 + 40 * S, LinkState.READY)]
    (outage,) = outages(dropped, runs)
    assert (outage.start_ms, outage.duration_ms) == (T0 + 30 * S, 10 * S)
    assert figures(dropped, runs, T0 + 60 * S).uptime_since_start == pytest.approx(48 / 58)


def test_a_deliberate_stop_is_no_outage_and_unknown_after() -> None:
    rows = [link(T0, LinkState.READY), link(T0 + 10 * S, LinkState.DISCONNECTED, "stopped")]
    runs = [RunSpan(T0, T0 + 20 * S)]
    assert outages(rows, runs) == []
    assert uptime(rows, runs, T0, T0 + 20 * S) == 1.0


# ---------------------------------------------------------------------- the store


def test_the_store_survives_a_restart_and_is_owner_only(tmp_path: Path) -> None:
    path = history_path("sim", "key", "linear", tmp_path)
    first = LinkHistory(path, now_ms=T0)
    first.add(link(T0, LinkState.READY))
    first.record_alert(T0 + S, "link_down", True, "down for 10 s")
    first.record_notice(T0 + 2 * S, "warning", "Link lost")
    first.close(T0 + 3 * S)
    for suffix in ("", "-wal", "-shm"):
        side = Path(str(path) + suffix)
        if side.exists():
            assert stat.S_IMODE(side.stat().st_mode) == 0o600
    second = LinkHistory(path, now_ms=T0 + 10 * S)
    rows = second.rows()
    assert [(r.kind, r.state, r.run_ms) for r in rows] == [
        ("link", "Ready", T0),
        ("alert", "on", T0),
        ("notice", "warning", T0),
    ]
    assert [run.run_ms for run in second.runs()] == [T0, T0 + 10 * S]
    assert second.runs()[0].alive_ms == T0 + 3 * S
    second.close()


def test_rows_older_than_the_retention_are_pruned_at_open(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    old = LinkHistory(path, now_ms=T0)
    old.add(link(T0, LinkState.READY))
    old.close(T0)
    later = T0 + DEFAULT_RETENTION_MS + S
    fresh = LinkHistory(path, now_ms=later)
    assert fresh.rows() == [] and [r.run_ms for r in fresh.runs()] == [later]
    fresh.close()


def test_a_desk_left_running_past_the_retention_prunes_while_it_runs(tmp_path: Path) -> None:
    history = LinkHistory(tmp_path / "h.sqlite3", now_ms=T0)
    history.add(link(T0, LinkState.READY))
    history.flush(T0 + 60 * S)
    assert len(history.rows()) == 1
    day = 86_400 * S
    for alive in range(T0 + day, T0 + DEFAULT_RETENTION_MS + 2 * day, day):  # its minutely sign of life, months on
        history.add(link(alive, LinkState.READY))
        history.flush(alive)
    kept = history.rows()
    assert min(r.time_ms for r in kept) == T0 + day, "rows past the retention kept while running"  # the last cutoff
    assert [r.run_ms for r in history.runs()] == [T0]  # the live run itself is never pruned
    history.close()


def test_a_bad_row_on_disk_is_counted_and_skipped(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    store = LinkHistory(path, now_ms=T0)
    store.add(link(T0, LinkState.READY))
    store.flush()
    db = sqlite3.connect(path)
    db.execute(
        "INSERT INTO events (run_ms, time_ms, kind, subject, state, reason, attempt) VALUES (?,?,?,?,?,?,?)",
        (T0, "soon", "link", "", "Ready", "", 0),
    )
    db.commit()
    db.close()
    assert len(store.rows()) == 1 and store.rejected_rows == 1
    store.close()


def test_a_write_failure_is_counted_and_never_raised(tmp_path: Path) -> None:
    store = LinkHistory(tmp_path / "h.sqlite3", now_ms=T0)
    store._db.execute("PRAGMA query_only = ON")  # every write now fails, as on a read-only disk
    store.add(link(T0, LinkState.READY))
    store.flush(T0)
    store.add(link(T0 + S, LinkState.READY))
    store.flush(T0 + S)
    assert store.write_failures == 2 and store.failure_said
    store._db.execute("PRAGMA query_only = OFF")
    store.close()


# ---------------------------------------------------------------------- timeline


def test_timeline_cells_show_the_worst_status_in_each() -> None:
    timeline = LinkTimeline()
    timeline.note(T0, "ready")
    timeline.note(T0 + 600 * S, "down")
    timeline.note(T0 + 605 * S, "ready")
    timeline.note(T0 + 1200 * S, "degraded")
    cells = timeline.cells(T0 + 1800 * S, 30)  # a minute a cell, the window starts at T0
    assert cells[:10] == ["ready"] * 10
    assert cells[10] == "down"  # 5 s of a minute, never hidden
    assert cells[11:20] == ["ready"] * 9 and cells[20:] == ["degraded"] * 10
    assert LinkTimeline().cells(T0, 30) == ["unknown"] * 30
    assert timeline.cells(T0 + 3600 * S, 30)[-1] == "degraded"  # the last status holds until it changes


# ---------------------------------------------------------------------- recorder


def _desk() -> Desk:
    return Desk(environment="SIM", category="linear", symbols=["BTCUSDT"], books={})


def _state(kind: LinkState, since_ms: int, reason: str = "", attempt: int = 0) -> SessionState:
    return SessionState(kind, since_ms, reason, attempt)


class Recording(NamedTuple):
    """A recorder on a store in ``tmp_path``, its desk and hub, on a clock the test moves (``now[0]``, seconds)."""

    now: list[float]
    hub: EventHub
    desk: Desk
    store: LinkHistory
    recorder: HistoryRecorder


@pytest.fixture
def recording(tmp_path: Path) -> Iterator[Recording]:
    now = [T0 / 1000]
    hub, desk = EventHub(), _desk()
    store = LinkHistory(tmp_path / "h.sqlite3", now_ms=T0)
    yield Recording(now, hub, desk, store, HistoryRecorder(store, hub, desk, clock=lambda: now[0]))
    store.close()


def test_the_recorder_writes_transitions_books_stale_periods_and_notices(recording: Recording) -> None:
    now, hub, desk, store, recorder = recording
    connecting = _state(LinkState.CONNECTING, T0)
    ready = _state(LinkState.READY, T0 + 2 * S, "all topics live")
    recorder.handle(StateChanged(connecting, _state(LinkState.DISCONNECTED, 0)))
    recorder.handle(StateChanged(ready, connecting))
    assert desk.link_timeline.current == "ready"
    now[0] += 10
    # silent since T0 + 4 s, found stale at T0 + 10 s: the period is the silence, not the verdict
    recorder.handle(LinkStats(None, 0.0, 0, "", (TopicHealth("tickers.BTCUSDT", T0 + 4 * S, True),)))
    assert desk.link_timeline.current == "degraded"
    now[0] += 4
    recorder.handle(LinkStats(None, 0.0, 0, "", (TopicHealth("tickers.BTCUSDT", T0 + 14 * S, False),)))
    recorder.handle(BookStateChanged("BTCUSDT", BookState.RESYNCING, "gap"))
    now[0] += 1
    recorder.handle(BookStateChanged("BTCUSDT", BookState.SYNCED, None))
    recorder.handle(Notice("warning", "Link lost"))
    recorder.handle(StateChanged(_state(LinkState.RECONNECTING, T0 + 20 * S, "no pong", 1), ready))
    assert desk.link_timeline.current == "down"
    recorder.flush()
    rows = [(r.kind, r.subject, r.state, r.reason, r.duration_ms) for r in store.rows()]
    assert rows == [
        ("link", "", "Connecting", "", None),
        ("link", "", "Ready", "all topics live", 2 * S),
        ("stale", "tickers.BTCUSDT", "stale", "stream silent", 10 * S),
        ("book", "BTCUSDT", "RESYNCING", "gap", None),
        ("book", "BTCUSDT", "SYNCED", "", 1 * S),
        ("notice", "", "warning", "Link lost", None),
        ("link", "", "Reconnecting", "no pong", 18 * S),
    ]


def test_a_stale_period_starts_at_the_last_message_of_this_connection(recording: Recording) -> None:
    """Silent since before this Ready (a message of the last connection): the period starts at Ready; a stream
    that never spoke starts when it was found stale."""
    now, hub, desk, store, recorder = recording
    ready = _state(LinkState.READY, T0 + 2 * S, "all topics live")
    recorder.handle(StateChanged(ready, _state(LinkState.CONNECTED, T0)))
    now[0] += 10
    topics = (TopicHealth("tickers.BTCUSDT", T0 - 60 * S, True), TopicHealth("orderbook.50.BTCUSDT", None, True))
    recorder.handle(LinkStats(None, 0.0, 0, "", topics))
    now[0] += 2
    recorder.handle(StateChanged(_state(LinkState.RECONNECTING, T0 + 12 * S, "no pong", 1), ready))
    recorder.flush()
    stale = {r.subject: (r.time_ms, r.reason, r.duration_ms) for r in store.rows() if r.kind == "stale"}
    assert stale == {
        "tickers.BTCUSDT": (T0 + 2 * S, "link lost", 10 * S),
        "orderbook.50.BTCUSDT": (T0 + 10 * S, "link lost", 2 * S),
    }


def test_alerts_are_recorded_when_they_start_and_clear_even_past_the_budget(recording: Recording) -> None:
    now, hub, desk, store, recorder = recording
    for _ in range(ROWS_BURST * 2):  # spend the budget on notices
        recorder.handle(Notice("warning", "Link lost"))
    recorder.handle(AlertChanged("link_down after 10s", "link_down", True, "link down", T0 + S))
    recorder.handle(AlertChanged("link_down after 10s", "link_down", False, "link back", T0 + 30 * S, 29 * S))
    recorder.flush()
    alerts = [(r.time_ms, r.subject, r.state, r.reason, r.duration_ms) for r in store.rows() if r.kind == "alert"]
    assert alerts == [
        (T0 + S, "link_down after 10s", "on", "link down", None),
        (T0 + 30 * S, "link_down after 10s", "off", "link back", 29 * S),
    ]


def test_a_flapping_link_is_bounded_and_the_skipped_rows_counted(recording: Recording) -> None:
    now, hub, desk, store, recorder = recording
    previous = _state(LinkState.DISCONNECTED, 0)
    flaps = 1000
    for index in range(flaps):  # a thousand Ready/Reconnecting flaps in a second, each with a notice
        for state in (_state(LinkState.READY, T0 + index), _state(LinkState.RECONNECTING, T0 + index, "x", 1)):
            recorder.handle(StateChanged(state, previous))
            previous = state
        recorder.handle(Notice("warning", "Link lost"))
    now[0] += 120  # the budget refills
    recorder.flush()
    rows = store.rows()
    links = [r for r in rows if r.kind == "link"]
    assert len(links) == 2 * flaps  # transitions in and out of Ready are never skipped: the outages hold
    notices = [r for r in rows if r.kind == "notice"]
    assert len(notices) < ROWS_BURST
    (coalesced,) = [r for r in rows if r.kind == "coalesced"]
    assert coalesced.attempt == flaps - len(notices) == recorder.coalesced


async def test_the_running_recorder_records_on_arrival_and_stops_on_request(recording: Recording) -> None:
    now, hub, desk, store, recorder = recording
    task = asyncio.create_task(recorder.run())
    await asyncio.sleep(0)
    hub.publish(BookStateChanged("BTCUSDT", BookState.RESYNCING, "gap"))
    await asyncio.sleep(0.05)
    now[0] += 30  # handled on arrival: the row keeps the time it was seen, not the time of the next commit
    hub.publish(Notice("information", "last words"))
    recorder.stop()
    await asyncio.wait_for(task, 5)
    recorder.close()  # records what is still queued and commits
    reopened = LinkHistory(store.path, now_ms=T0 + 60 * S)
    assert [(r.kind, r.time_ms) for r in reopened.rows()] == [("book", T0), ("notice", T0 + 30 * S)]
    reopened.close()


def test_the_first_connect_and_a_stop_are_not_down_on_the_timeline(tmp_path: Path) -> None:
    hub, desk = EventHub(), _desk()
    recorder = HistoryRecorder(LinkHistory(tmp_path / "h.sqlite3", now_ms=T0), hub, desk, clock=lambda: T0 / 1000)
    connecting = _state(LinkState.CONNECTING, T0)
    recorder.handle(StateChanged(connecting, _state(LinkState.DISCONNECTED, 0)))
    assert desk.link_timeline.version == 0  # nothing known: the strip takes no room
    ready = _state(LinkState.READY, T0)
    recorder.handle(StateChanged(ready, connecting))
    lost = _state(LinkState.CONNECTING, T0, "retrying", 1)
    recorder.handle(StateChanged(lost, ready))
    assert desk.link_timeline.current == "down"
    recorder.handle(StateChanged(_state(LinkState.DISCONNECTED, T0, "stopped"), lost))
    assert desk.link_timeline.current == "unknown"


def test_a_failing_store_is_told_once_and_the_recorder_goes_on(tmp_path: Path) -> None:
    hub, desk = EventHub(), _desk()
    notices = hub.subscribe([Notice])
    store = LinkHistory(tmp_path / "h.sqlite3", now_ms=T0)
    store._db.execute("PRAGMA query_only = ON")  # a read-only disk
    recorder = HistoryRecorder(store, hub, desk, clock=lambda: T0 / 1000)
    for attempt in range(3):
        ready = _state(LinkState.READY, T0 + attempt)
        recorder.handle(StateChanged(ready, _state(LinkState.CONNECTED, T0)))
        recorder.flush()
    told = [event for event in notices.drain() if isinstance(event, Notice)]
    assert len(told) == 1 and "could not be written" in told[0].text
    assert store.write_failures == 3 and desk.link_timeline.current == "ready"  # the desk still sees the link
    store._db.execute("PRAGMA query_only = OFF")
