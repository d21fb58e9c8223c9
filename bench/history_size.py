"""Link history size: how many bytes a day the default desk adds to its SQLite history, and the 90-day bound.

``python -m bench.history_size [--quiet-min 2] [--faulty-min 3] [--fault-every 20] [--faults-per-day 24 288]``

Method. The default desk's session (the embedded exchange, the default symbols, the demo trader trading, faults
enabled; the dashboard's own recorder, :func:`app.runtime.open_runtime`) runs headless in a temporary journal
folder, in two phases:

1. quiet, ``--quiet-min`` minutes with no fault: the rows a healthy link writes (book states, stale periods,
   notices, the run's liveness);
2. faulty, ``--faulty-min`` minutes with one fault every ``--fault-every`` seconds, in rotation through the kinds a
   real link meets: every connection dropped, a 5 s stall (half-open sockets), a skipped ``u`` (a book resync),
   the private socket closed with 1001, a ``u == 1`` restart snapshot, a 3 s rate-limit (10006) around a drop.

Rows are counted per kind from the history itself. The quiet rate gives rows per day with no fault; the faulty
phase less that rate, divided by its faults, gives rows per fault. Bytes per row are measured, not guessed: the
rows recorded are written again (times shifted, the same texts) into a fresh history until it holds
``--calibration-rows``, and its file (after a checkpoint of the write-ahead log, pages in use) divided by the rows.
The day: ``quiet rows/day + faults/day x rows/fault``, in bytes, for each rate asked (24: a link lost once an
hour; 288: every five minutes, a bad day); the 90-day bound is 90 days of it (rows older than the retention
are deleted when the history is opened, at each start). The recorder's budget (:mod:`exchange.link_recorder`: 60 rows a
minute, plus the transitions into and out of Ready) bounds a day whatever happens; that worst case is printed
too, so the file has a ceiling even under a link that flaps all day.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sqlite3
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from app.runtime import open_runtime
from exchange.config import load_settings
from exchange.events import LinkState
from exchange.link_history import DEFAULT_RETENTION_MS, LinkHistory
from exchange.link_recorder import ROWS_PER_MINUTE

DAY_S = 86_400
RETENTION_DAYS = DEFAULT_RETENTION_MS // (DAY_S * 1000)


def file_bytes(path: str) -> int:
    """Bytes the history's pages hold once its write-ahead log is folded in (free pages left out)."""
    db = sqlite3.connect(path)
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, free, size = (
            db.execute(f"PRAGMA {name}").fetchone()[0] for name in ("page_count", "freelist_count", "page_size")
        )
        return int((pages - free) * size)
    finally:
        db.close()


async def _ready(runtime: object, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while runtime.session.state.kind is not LinkState.READY:  # type: ignore[attr-defined]
        if time.monotonic() > deadline:
            raise SystemExit("the desk did not get Ready again")
        await asyncio.sleep(0.1)


async def _fault(runtime: object, n: int) -> str:
    """Fault number ``n`` of the rotation; returns its name."""
    sim = runtime.sim  # type: ignore[attr-defined]
    books = runtime.session.desk.books  # type: ignore[attr-defined]
    topic = next(book.topic for book in books.values() if book.topic)
    kinds = ["drop", "stall", "skip_u", "private close 1001", "restart snapshot", "rate limit + drop"]
    kind = kinds[n % len(kinds)]
    if kind == "drop":
        await sim.faults.drop_connections()
    elif kind == "stall":
        sim.faults.stall(5.0)
    elif kind == "skip_u":
        sim.faults.skip_u(topic)
    elif kind == "private close 1001":
        await sim.faults.drop_connections("private", code=1001)
    elif kind == "restart snapshot":
        sim.faults.restart_snapshot(topic)
    else:
        sim.faults.rate_limit_for(3.0)
        await sim.faults.drop_connections()
    return kind


def _counted(history_path: str, since_ms: int, until_ms: int) -> Counter[str]:
    history = LinkHistory(history_path, now_ms=0, readonly=True)
    try:
        return Counter(row.kind for row in history.rows(since_ms) if row.time_ms < until_ms)
    finally:
        history.close()


async def run_desk(
    quiet_s: float, faulty_s: float, fault_every_s: float
) -> tuple[Counter[str], Counter[str], int, str]:
    """Run the default desk; returns the rows of each phase by kind, the faults made, and the history's path."""
    folder = Path(tempfile.mkdtemp(prefix="fluxum-history-bench-"))
    settings = load_settings(environ={})
    async with open_runtime(settings, demo_trader=True, faults=True, journal_dir=folder) as runtime:
        assert runtime.history is not None and runtime.sim is not None
        path = runtime.history.path
        task = asyncio.create_task(runtime.session.run())
        await _ready(runtime)
        start_ms = int(time.time() * 1000)
        await asyncio.sleep(quiet_s)
        middle_ms = int(time.time() * 1000)
        faults = 0
        deadline = time.monotonic() + faulty_s
        while time.monotonic() < deadline:
            await _fault(runtime, faults)
            faults += 1
            await asyncio.sleep(fault_every_s)
        await _ready(runtime)
        await asyncio.sleep(2.0)  # the recorder commits once a second
        end_ms = int(time.time() * 1000)
        await runtime.session.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return _counted(path, start_ms, middle_ms), _counted(path, middle_ms, end_ms), faults, path


def bytes_per_row(path: str, rows_wanted: int) -> float:
    """The recorded rows written again into a fresh history until it holds ``rows_wanted``: bytes per row."""
    source = LinkHistory(path, now_ms=0, readonly=True)
    rows = source.rows(0)
    source.close()
    if not rows:
        raise SystemExit("the desk recorded nothing")
    with tempfile.TemporaryDirectory() as folder:
        fresh_path = str(Path(folder) / "calibration.sqlite")
        fresh = LinkHistory(fresh_path, now_ms=int(time.time() * 1000))
        empty = file_bytes(fresh_path)
        written = 0
        while written < rows_wanted:
            for row in rows:
                fresh.add(replace(row, time_ms=row.time_ms + written))
                written += 1
            fresh.flush()
        fresh.close()
        return (file_bytes(fresh_path) - empty) / written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quiet-min", type=float, default=2.0)
    parser.add_argument("--faulty-min", type=float, default=3.0)
    parser.add_argument("--fault-every", type=float, default=20.0, help="seconds between faults in phase 2")
    parser.add_argument(
        "--faults-per-day", type=float, nargs="+", default=[24.0, 288.0], help="the day's fault rates to scale to"
    )
    parser.add_argument("--calibration-rows", type=int, default=20_000)
    args = parser.parse_args()
    quiet_s, faulty_s = args.quiet_min * 60, args.faulty_min * 60
    quiet, faulty, faults, path = asyncio.run(run_desk(quiet_s, faulty_s, args.fault_every))
    row_bytes = bytes_per_row(path, args.calibration_rows)
    quiet_per_day = sum(quiet.values()) / quiet_s * DAY_S
    faulty_seconds = faulty_s + 2.0
    per_fault = max(0.0, (sum(faulty.values()) - sum(quiet.values()) / quiet_s * faulty_seconds) / max(1, faults))
    ceiling_rows = ROWS_PER_MINUTE * 1440
    print(f"quiet {args.quiet_min:g} min: {sum(quiet.values())} rows {dict(quiet)}")
    print(f"faulty {args.faulty_min:g} min, {faults} faults: {sum(faulty.values())} rows {dict(faulty)}")
    print(f"bytes per row (file pages, {args.calibration_rows:,} rows re-written): {row_bytes:.1f}")
    print(f"quiet: {quiet_per_day:,.0f} rows/day; per fault: {per_fault:.1f} rows")
    rows = sum(quiet.values()) + sum(faulty.values())
    print(f"the desk's own file: {file_bytes(path):,} bytes of pages for {rows} rows (a page holds many)")
    for rate in args.faults_per_day:
        day_rows = quiet_per_day + rate * per_fault
        day_bytes = day_rows * row_bytes
        print(
            f"a day at {rate:g} faults: {day_rows:,.0f} rows, {day_bytes / 1024:,.1f} KiB/day; "
            f"{RETENTION_DAYS} days: {RETENTION_DAYS * day_bytes / 2**20:,.1f} MiB"
        )
    print(
        f"ceiling (the recorder's budget, {ROWS_PER_MINUTE} rows/min all day): {ceiling_rows * row_bytes / 2**20:,.1f}"
        f" MiB/day; {RETENTION_DAYS} days: {RETENTION_DAYS * ceiling_rows * row_bytes / 2**30:,.2f} GiB"
    )


if __name__ == "__main__":
    main()
