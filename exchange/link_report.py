"""The link history as a report: filtered events, JSON lines and CSV, shared by the history screen and
``fluxum history``.

Every string comes from the disk, so it is untrusted: text for a terminal goes through
:func:`exchange.printable.printable`; a CSV cell is printable too and never starts a formula (a leading ``=``,
``+``, ``-``, ``@``, tab or carriage return gets a quote first, as spreadsheets expect).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TextIO

from exchange.link_figures import Figures, Outage, figures
from exchange.link_history import HistoryRow, LinkHistory, RunSpan
from exchange.printable import printable

__all__ = [
    "FILTERS",
    "event_json",
    "figures_json",
    "matches",
    "outage_json",
    "read_report",
    "safe_cell",
    "write_csv",
    "write_csv_file",
]

FILTERS: dict[str, frozenset[str] | None] = {
    "all": None,
    "link": frozenset({"link", "stale", "coalesced"}),
    "books": frozenset({"book"}),
    "alerts": frozenset({"alert", "notice"}),
}
"""What each filter of the history shows (by row kind)."""

CSV_COLUMNS = ("time_ms", "kind", "subject", "state", "reason", "attempt", "duration_ms")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def read_report(
    history: LinkHistory, now_ms: int, since_ms: int, started_ms: int | None
) -> tuple[list[HistoryRow], Figures]:
    """The events of the last ``since_ms`` and their figures, ``started_ms`` being where "since start" begins;
    the run of this process (the one writing) counts as watching until now. Raises :class:`sqlite3.Error` when
    the store cannot be read."""
    rows = history.rows(now_ms - since_ms)
    runs = [
        RunSpan(run.run_ms, now_ms) if run.run_ms == history.run_ms else run for run in history.runs(now_ms - since_ms)
    ]
    return rows, figures(rows, runs, now_ms, started_ms)


def matches(row: HistoryRow, name: str) -> bool:
    kinds = FILTERS[name]
    return kinds is None or row.kind in kinds


def safe_cell(value: object) -> str:
    """A CSV cell that is printable and never a formula."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    text = printable(str(value), 300)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def outage_json(outage: Outage) -> dict[str, Any]:
    return {
        "time_ms": outage.start_ms,
        "kind": "outage",
        "state": "recovered" if outage.recovered else "not recovered",
        "reason": printable(outage.cause_text),
        "duration_ms": outage.duration_ms,
        "end_ms": outage.end_ms,
        "attempts": outage.attempts,
    }


def event_json(row: HistoryRow) -> dict[str, Any]:
    return {
        "time_ms": row.time_ms,
        "kind": printable(row.kind),
        "state": printable(row.state),
        "subject": printable(row.subject),
        "reason": printable(row.reason),
        "attempt": row.attempt,
        "duration_ms": row.duration_ms,
    }


def figures_json(summary: Figures, now_ms: int) -> dict[str, Any]:
    return {
        "time_ms": now_ms,
        "kind": "figures",
        "reason": "",
        "duration_ms": None,
        "outages": len(summary.outages),
        "uptime_hour": summary.uptime_hour,
        "uptime_day": summary.uptime_day,
        "uptime_since_start": summary.uptime_since_start,
        "longest_outage_ms": summary.longest_ms,
        "mean_time_to_recover_ms": summary.mean_recovery_ms,
        "startup_ms": summary.startup_ms,
    }


def write_csv(outages: Sequence[Outage], rows: Iterable[HistoryRow], file: TextIO) -> int:
    """Outages (kind ``outage``), then the events, newest first; returns the number of rows written."""
    writer = csv.writer(file, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for outage in sorted(outages, key=lambda o: o.start_ms, reverse=True):
        state = "recovered" if outage.recovered else "not recovered"
        writer.writerow(
            [
                safe_cell(v)
                for v in (outage.start_ms, "outage", "", state, outage.cause_text, outage.attempts, outage.duration_ms)
            ]
        )
        count += 1
    for row in sorted(rows, key=lambda r: r.time_ms, reverse=True):
        values = (row.time_ms, row.kind, row.subject, row.state, row.reason, row.attempt, row.duration_ms)
        writer.writerow([safe_cell(v) for v in values])
        count += 1
    return count


def write_csv_file(path: Path, outages: Sequence[Outage], rows: Iterable[HistoryRow]) -> int:
    """Write the CSV to a new owner-only file (0600 from its creation; an existing file is replaced)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(descriptor, 0o600)
    with open(descriptor, "w", newline="", encoding="utf-8") as file:
        return write_csv(outages, rows, file)
