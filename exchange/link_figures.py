"""Figures derived from the link history: outages, uptime, the longest outage, the mean time to recover.

Pure functions over :class:`exchange.link_history.HistoryRow` rows and :class:`RunSpan` runs, so they are tested
with hand-made timelines.

* **Start-up** is a run's first connect: from its start to its first Ready, while it is Connecting or Connected
  and nothing has failed yet. A desk that takes 2 s to start is not down: start-up is neither an outage nor
  counted in uptime; the figures give the last run's start-up time apart.
* An **outage** is a span away from Ready: from the first state that is not Ready after Ready (the first loss) to
  Ready again, however many Reconnecting attempts it took. A start-up that fails (Reconnecting or Failed before
  the first Ready) is an outage from that failure on. An outage still open when its run ended (killed, quit)
  ends there, *not recovered*; in the live run it is *ongoing*.
* **Uptime** is the share of the *known* time that was Ready. Time with no Fluxum running (between one run's last
  sign of life and the next run's start), before a run's first state, a start-up, and after a deliberate stop
  (Disconnected) is unknown: it counts neither as up nor as down.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from exchange.events import LinkState
from exchange.link_history import HistoryRow, RunSpan

__all__ = ["Figures", "Outage", "Segment", "figures", "outages", "segments", "startup_ms", "uptime"]

READY = LinkState.READY.value
DISCONNECTED = LinkState.DISCONNECTED.value
LOSS_BEFORE_READY = (LinkState.RECONNECTING.value, LinkState.FAILED.value)
STARTING = (LinkState.CONNECTING.value, LinkState.CONNECTED.value)
"""States of a start-up: before the first Ready and before any failure, a run in one of them is starting."""
FAILURES = LOSS_BEFORE_READY
"""States whose reason says why an attempt failed (Connecting and Connected rows say what is being tried)."""
CAUSE_PART_CHARS = 100


@dataclass(frozen=True)
class Segment:
    """A span of one run in one link state: ``up`` (Ready), ``startup`` (the first connect, see the module),
    ``down`` (any other state) or ``unknown``."""

    start_ms: int
    end_ms: int
    status: str


@dataclass(frozen=True)
class Outage:
    start_ms: int
    end_ms: int
    attempts: int
    cause: str  # the first loss's reason
    recovered: bool  # False: the run ended (or is still) in it
    kept_down_by: str = ""  # the later failures' reason that lasted longest, when not the first loss's

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms

    @property
    def cause_text(self) -> str:
        """The first loss, then what kept the link down (``closed by server → HTTP 403 cool-down``)."""
        return joined_cause(self.cause, self.kept_down_by)


def joined_cause(first: str, kept: str) -> str:
    """Two reasons as one cause, each cut to :data:`CAUSE_PART_CHARS`."""
    first = first[:CAUSE_PART_CHARS]
    return f"{first} → {kept[:CAUSE_PART_CHARS]}" if kept else first


@dataclass(frozen=True)
class Figures:
    """What the history screen and ``fluxum history`` put on top."""

    outages: tuple[Outage, ...]
    uptime_hour: float | None
    uptime_day: float | None
    uptime_since_start: float | None
    longest_ms: int | None
    mean_recovery_ms: int | None
    startup_ms: int | None = None
    """How long the latest run took from its start to its first Ready (None: it has not reached Ready)."""


def _by_run(rows: Iterable[HistoryRow], runs: Sequence[RunSpan]) -> list[tuple[RunSpan, list[HistoryRow]]]:
    link: dict[int, list[HistoryRow]] = {}
    for row in rows:
        if row.kind == "link":
            link.setdefault(row.run_ms, []).append(row)
    known = {run.run_ms: run for run in runs}
    for run_ms, run_rows in link.items():  # a run whose mark was lost still ends at its last row
        if run_ms not in known:
            known[run_ms] = RunSpan(run_ms, max(row.time_ms for row in run_rows))
    return [
        (run, sorted(link.get(run.run_ms, []), key=lambda r: r.time_ms))
        for run in sorted(known.values(), key=lambda r: r.run_ms)
    ]


def segments(rows: Iterable[HistoryRow], runs: Sequence[RunSpan]) -> list[Segment]:
    """Known spans of every run, oldest first (the gaps between them are unknown)."""
    out: list[Segment] = []
    for run, run_rows in _by_run(rows, runs):
        end_of_run = max(run.alive_ms, run_rows[-1].time_ms) if run_rows else run.alive_ms
        starting = True  # until the first Ready or the first failure
        for index, row in enumerate(run_rows):
            starting = starting and row.state in STARTING
            end = run_rows[index + 1].time_ms if index + 1 < len(run_rows) else end_of_run
            if end <= row.time_ms:
                continue
            out.append(Segment(row.time_ms, end, "startup" if starting else _status(row.state)))
    return out


def _status(state: str) -> str:
    return "up" if state == READY else "unknown" if state == DISCONNECTED else "down"


def startup_ms(run: RunSpan, run_rows: Sequence[HistoryRow]) -> int | None:
    """How long ``run`` took from its start to its first Ready; None when it has not got there (or failed on
    the way: then the failure is an outage, not a start-up)."""
    for row in run_rows:
        if row.state == READY:
            return max(0, row.time_ms - run.run_ms)
        if row.state not in STARTING:
            return None
    return None


def uptime(rows: Iterable[HistoryRow], runs: Sequence[RunSpan], start_ms: int, end_ms: int) -> float | None:
    """Share of the known time in ``[start_ms, end_ms)`` that was Ready; None when nothing in it is known."""
    up = known = 0
    for segment in segments(rows, runs):
        overlap = min(segment.end_ms, end_ms) - max(segment.start_ms, start_ms)
        if overlap <= 0 or segment.status in ("unknown", "startup"):
            continue
        known += overlap
        if segment.status == "up":
            up += overlap
    return up / known if known else None


def outages(rows: Iterable[HistoryRow], runs: Sequence[RunSpan]) -> list[Outage]:
    """Every outage, oldest first."""
    out: list[Outage] = []
    for run, run_rows in _by_run(rows, runs):
        out.extend(_run_outages(run, run_rows))
    return out


def _run_outages(run: RunSpan, run_rows: list[HistoryRow]) -> list[Outage]:
    out: list[Outage] = []
    ever_ready = False
    start: int | None = None
    attempts = 0
    cause = ""
    later: Counter[str] = Counter()  # ms spent in each later failure's state, by its reason
    for index, row in enumerate(run_rows):
        if row.state == READY or row.state == DISCONNECTED:
            if start is not None:
                kept = _kept_down_by(cause, later)
                out.append(Outage(start, row.time_ms, attempts, cause, row.state == READY, kept))
                start = None
            ever_ready = ever_ready or row.state == READY
            continue
        if start is None and (ever_ready or row.state in LOSS_BEFORE_READY):
            start = row.time_ms
            attempts, cause = 0, row.reason
            later = Counter()
        elif start is not None and row.state in FAILURES:
            end = run_rows[index + 1].time_ms if index + 1 < len(run_rows) else max(run.alive_ms, row.time_ms)
            later[row.reason] += max(1, end - row.time_ms)  # at least 1: a failure told is counted
        if start is not None and row.state == LinkState.RECONNECTING.value:
            attempts = max(attempts, row.attempt)
    if start is not None:
        end = max(run.alive_ms, run_rows[-1].time_ms)
        out.append(Outage(start, end, attempts, cause, False, _kept_down_by(cause, later)))
    return out


def _kept_down_by(cause: str, later: Counter[str]) -> str:
    """The reason of the later failures the outage spent longest in, unless it is the first loss's own."""
    if not later:
        return ""
    reason = max(later, key=lambda r: later[r])
    return "" if reason == cause else reason


def figures(rows: Sequence[HistoryRow], runs: Sequence[RunSpan], now_ms: int, started_ms: int | None = None) -> Figures:
    """The figures at ``now_ms``; ``started_ms`` is where "since start" begins (default: the first run)."""
    found = outages(rows, runs)
    durations = [outage.duration_ms for outage in found]
    recovered = [outage.duration_ms for outage in found if outage.recovered]
    if started_ms is None:
        started_ms = min((run.run_ms for run in runs), default=now_ms)
    by_run = _by_run(rows, runs)
    latest = startup_ms(*by_run[-1]) if by_run else None
    return Figures(
        outages=tuple(found),
        uptime_hour=uptime(rows, runs, now_ms - 3_600_000, now_ms),
        uptime_day=uptime(rows, runs, now_ms - 86_400_000, now_ms),
        uptime_since_start=uptime(rows, runs, started_ms, now_ms),
        longest_ms=max(durations) if durations else None,
        mean_recovery_ms=sum(recovered) // len(recovered) if recovered else None,
        startup_ms=latest,
    )
