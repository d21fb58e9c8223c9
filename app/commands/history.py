"""``fluxum history``: the link's outages, figures and events, from the history kept beside the journal.

It finds the history the way the dashboard and ``monitor`` do (``-cfg``, ``--base-url``, ``--journal-dir``, the
keys' account), opens it read-only and prints outages first, then the figures, then the events, newest first; with
``--json`` one object a line (each with ``time_ms``, ``kind``, ``state``, ``reason``, ``duration_ms``).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from app.commands.options import add_session_arguments

if TYPE_CHECKING:
    from exchange.link_figures import Figures
    from exchange.link_history import HistoryRow

SINCE = re.compile(r"^\s*(\d{1,6})\s*([smhd])\s*$")
UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_session_arguments(parser)
    parser.add_argument(
        "--journal-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the journal and the link history live (default: the user's data directory)",
    )
    parser.add_argument("--since", default="24h", metavar="AGE", help="how far back: 30m, 24h, 7d (default 24h)")
    parser.add_argument("--json", action="store_true", help="one JSON object a line")


def parse_since(text: str) -> int:
    """``30m``/``24h``/``7d`` in milliseconds; anything else is a one-line UserError."""
    from app.cli import UserError

    match = SINCE.match(text)
    if match is None or int(match.group(1)) == 0:
        raise UserError(f"--since {text!r} is not an age such as 30m, 24h or 7d")
    return int(match.group(1)) * UNIT_MS[match.group(2)]


def run(args: argparse.Namespace) -> int:
    import sqlite3

    import orjson

    from app.cli import UserError
    from app.commands.options import settings_from_args
    from app.runtime import open_history
    from exchange.config import Environment
    from exchange.link_figures import figures
    from exchange.link_report import event_json, figures_json, outage_json

    since_ms = parse_since(args.since)
    settings = settings_from_args(args)
    if args.journal_dir is None and settings.environment is Environment.SIM:
        raise UserError(
            "a local exchange's desk keeps its link history only for its run unless it was given --journal-dir: "
            "pass the same --journal-dir here"
        )
    now_ms = int(time.time() * 1000)
    try:
        history = open_history(settings, args.journal_dir, now_ms, readonly=True)
        rows = history.rows(now_ms - since_ms)
        runs = history.runs(now_ms - since_ms)
    except sqlite3.Error as error:
        raise UserError(f"no readable link history for this desk ({error}); it is kept while the desk runs") from None
    summary = figures(rows, runs, now_ms, started_ms=now_ms - since_ms)
    out = sys.stdout
    if args.json:
        objects: list[dict[str, Any]] = [outage_json(o) for o in reversed(summary.outages)]
        objects.append(figures_json(summary, now_ms))
        objects.extend(event_json(row) for row in reversed(rows))
        for item in objects:
            out.write(orjson.dumps(item).decode() + "\n")
    else:
        print_table(summary, rows, args.since, out)
    return 0


def print_table(summary: Figures, rows: list[HistoryRow], since: str, out: TextIO) -> None:
    """Outages, then the figures, then the events, newest first, as aligned text."""
    from exchange.durations import duration_text
    from exchange.printable import printable

    def when(ms: int) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000))

    def lasted(ms: int | None) -> str:
        return "" if ms is None else duration_text(ms / 1000)

    out.write(f"Outages in the last {printable(since)} (newest first): {len(summary.outages)}\n")
    for outage in reversed(summary.outages):
        state = "" if outage.recovered else " (not recovered)"
        out.write(
            f"  {when(outage.start_ms)}  {lasted(outage.duration_ms):>8}  attempts {outage.attempts:<3} "
            f"{printable(outage.cause, 80)}{state}\n"
        )
    out.write("Figures\n")
    out.write(
        f"  uptime: last hour {_share(summary.uptime_hour)} · last day {_share(summary.uptime_day)} · "
        f"since {printable(since)} ago {_share(summary.uptime_since_start)}\n"
    )
    out.write(
        f"  longest outage {lasted(summary.longest_ms) or '—'} · "
        f"mean time to recover {lasted(summary.mean_recovery_ms) or '—'}\n"
    )
    out.write(f"Events (newest first): {len(rows)}\n")
    for row in reversed(rows):
        what = " ".join(printable(part, 40) for part in (row.kind, row.subject, row.state) if part)
        out.write(f"  {when(row.time_ms)}  {what:<40} {lasted(row.duration_ms):>8}  {printable(row.reason, 80)}\n")


def _share(value: float | None) -> str:
    return "unknown" if value is None else f"{value * 100:.2f} %"
