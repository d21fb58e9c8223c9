"""``fluxum history``: the history of the desk the options name, as a table or JSON lines; bad input one line,
exit 2; what comes from the disk printed harmless."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from app import cli
from app.runtime import open_history
from exchange.config import load_settings
from exchange.events import LinkState
from exchange.link_history import HistoryRow

NOW_MS = int(time.time() * 1000)
S = 1000


def _store(journal_dir: Path) -> None:
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


def test_json_lines_have_the_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _store(tmp_path)
    assert cli.main(["history", "-cfg", "sim", "--journal-dir", str(tmp_path), "--json"]) == 0
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all({"time_ms", "kind", "reason", "duration_ms"} <= item.keys() for item in objects)
    outage, figures, *events = objects
    assert (outage["kind"], outage["duration_ms"], outage["attempts"]) == ("outage", 41 * S, 2)
    assert outage["reason"].startswith("no pong") and "\x1b" not in outage["reason"]
    assert figures["kind"] == "figures" and figures["uptime_since_start"] is not None
    assert [e["kind"] for e in events][:2] == ["book", "link"]  # newest first


def test_the_table_lists_outages_then_figures_then_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _store(tmp_path)
    assert cli.main(["history", "-cfg", "sim", "--journal-dir", str(tmp_path), "--since", "30m"]) == 0
    out = capsys.readouterr().out
    assert out.index("Outages") < out.index("Figures") < out.index("Events")
    assert "41 s" in out and "attempts 2" in out and "mean time to recover 41 s" in out
    assert "\x1b" not in out and "\x07" not in out


@pytest.mark.parametrize("since", ["24", "1y", "-5m", "0h", "lots"])
def test_a_bad_since_is_one_line_and_exit_2(since: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _store(tmp_path)
    assert cli.main(["history", "-cfg", "sim", "--journal-dir", str(tmp_path), f"--since={since}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--since" in err


def test_no_history_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["history", "-cfg", "sim", "--journal-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert cli.main(["history", "-cfg", "sim"]) == 2  # the embedded exchange keeps it only with --journal-dir
    assert "--journal-dir" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # reading never creates a store
