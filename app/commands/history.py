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
    from exchange.link_report import event_json, figures_json, outage_json, read_report

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
        rows, summary = read_report(history, now_ms, since_ms, started_ms=now_ms - since_ms)
    except sqlite3.Error as error:
        raise UserError(f"no readable link history for this desk ({error}); it is kept while the desk runs") from None
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
    from app.history_text import event_parts, figures_lines, outage_parts
    from exchange.printable import printable

    out.write(f"Outages in the last {printable(since)} (newest first): {len(summary.outages)}\n")
    for outage in reversed(summary.outages):
        start, lasted, attempts, cause, over = outage_parts(outage, with_year=True)
        state = f" ({over})" if over else ""
        out.write(f"  {start}  {lasted:>8}  attempts {attempts:<3} {cause}{state}\n")
    out.write("Figures\n")
    for line in figures_lines(summary, f"since {printable(since)} ago"):
        out.write(f"  {line}\n")
    out.write(f"Events (newest first): {len(rows)}\n")
    for row in reversed(rows):
        time_text, kind, subject, state, lasted, reason = event_parts(row, with_year=True)
        what = " ".join(part for part in (kind, subject, state) if part)
        out.write(f"  {time_text}  {what:<40} {lasted:>8}  {reason}\n")
