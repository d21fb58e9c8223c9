"""A sim desk's link history on disk, as the dashboard with ``--journal-dir`` writes it."""

from __future__ import annotations

import time
from pathlib import Path

from app.runtime import open_history
from exchange.config import load_settings
from exchange.events import LinkState
from exchange.link_history import HistoryRow

NOW_MS = int(time.time() * 1000)
S = 1000


def store_history(journal_dir: Path) -> None:
    """A sim desk's history as the dashboard with ``--journal-dir`` writes it: one 41 s outage, a hostile reason."""
    history = open_history(load_settings(cfg="sim", environ={}), journal_dir, NOW_MS - 600 * S)
    run = history.run_ms
    for time_ms, state, reason, attempt in (
        (run, LinkState.CONNECTING, "opening links", 0),
        (run + 2 * S, LinkState.READY, "all topics live", 0),
        (run + 100 * S, LinkState.RECONNECTING, "no pong \x1b]0;owned\x07\x1b[31m", 1),
        (run + 102 * S, LinkState.RECONNECTING, "exchange unreachable", 2),
        (run + 141 * S, LinkState.READY, "all topics live", 0),
    ):
        history.add(HistoryRow(time_ms, "link", "", state.value, reason, attempt))
    history.add(HistoryRow(run + 200 * S, "book", "BTCUSDT", "RESYNCING", "gap", 0))
    history.close(NOW_MS)
