"""The link history in desk words: the figures, an outage and an event as text, for the history screen and for
``fluxum history`` alike (one wording, one rounding). Every string in a row came from the disk: it is made
printable here."""

from __future__ import annotations

import time

from exchange.durations import duration_text
from exchange.link_figures import Figures, Outage, joined_cause
from exchange.link_history import HistoryRow
from exchange.printable import printable
from widgets.connection_bar import desk_words

CAUSE_PART_CHARS = 38  # each of the two reasons in an outage's cause: the column holds both
STATE_CHARS = 20  # the longest state, a book's AWAITING_SNAPSHOT, whole; a state from the disk no longer

__all__ = ["cause_words", "event_parts", "figures_lines", "lasted", "outage_parts", "share", "when"]


def when(ms: int, *, with_year: bool = False) -> str:
    """A UTC wall time of the history (``12-03 16:20:05``, or with the year)."""
    return time.strftime("%Y-%m-%d %H:%M:%S" if with_year else "%m-%d %H:%M:%S", time.gmtime(ms / 1000))


def lasted(ms: int | None) -> str:
    """How long something lasted, empty when not known."""
    return "" if ms is None else duration_text(ms / 1000)


def share(value: float | None) -> str:
    """A share of time as a percentage, a dash when it cannot be known (no watch covered the span)."""
    return "—" if value is None else f"{value * 100:.2f} %"


def figures_lines(summary: Figures, since_words: str) -> tuple[str, str]:
    """The figures as two lines: uptime over the last hour, day and ``since_words`` (``since start``), then the
    outages, the longest, the mean time to recover and the latest run's start-up (its first connect, which is
    neither an outage nor counted in uptime)."""
    startup = f" · start-up {lasted(summary.startup_ms)}" if summary.startup_ms is not None else ""
    return (
        f"uptime: last hour {share(summary.uptime_hour)} · last day {share(summary.uptime_day)} · "
        f"{since_words} {share(summary.uptime_since_start)}",
        f"outages {len(summary.outages)} · longest {lasted(summary.longest_ms) or '—'} · "
        f"mean time to recover {lasted(summary.mean_recovery_ms) or '—'}{startup}",
    )


def outage_parts(outage: Outage, *, with_year: bool = False) -> tuple[str, str, str, str, str]:
    """An outage as its start, how long it lasted, its attempts, its cause and whether it is over."""
    return (
        when(outage.start_ms, with_year=with_year),
        lasted(outage.duration_ms),
        str(outage.attempts),
        cause_words(outage),
        "" if outage.recovered else "not recovered",
    )


def cause_words(outage: Outage) -> str:
    """An outage's cause in desk words: the first loss, then what kept the link down when that differs
    (``closed by exchange → IP refused (403 cool-down)``)."""
    first = printable(desk_words(outage.cause), CAUSE_PART_CHARS)
    kept = printable(desk_words(outage.kept_down_by), CAUSE_PART_CHARS) if outage.kept_down_by else ""
    return joined_cause(first, "" if kept == first else kept)


def event_parts(row: HistoryRow, *, with_year: bool = False) -> tuple[str, str, str, str, str, str]:
    """An event as its time, kind, subject, state, how long the state before it lasted, and its reason."""
    return (
        when(row.time_ms, with_year=with_year),
        printable(row.kind, 12),
        printable(row.subject, 40),
        printable(row.state, STATE_CHARS),
        lasted(row.duration_ms),
        printable(row.reason, 120),
    )
