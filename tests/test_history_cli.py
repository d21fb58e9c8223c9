"""``fluxum history``: the history of the desk the options name, as a table or JSON lines; bad input one line,
exit 2; what comes from the disk printed harmless."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import cli
from tests.support.history import S, store_history


def test_json_lines_have_the_fields(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_history(tmp_path)
    assert cli.main(["history", "-cfg", "sim", "--journal-dir", str(tmp_path), "--json"]) == 0
    objects = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all({"time_ms", "kind", "reason", "duration_ms"} <= item.keys() for item in objects)
    outage, figures, *events = objects
    assert (outage["kind"], outage["duration_ms"], outage["attempts"]) == ("outage", 41 * S, 2)
    assert outage["reason"].startswith("no pong") and "\x1b" not in outage["reason"]
    assert figures["kind"] == "figures" and figures["uptime_since_start"] is not None
    assert [e["kind"] for e in events][:2] == ["book", "link"]  # newest first


def test_the_table_lists_outages_then_figures_then_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_history(tmp_path)
    assert cli.main(["history", "-cfg", "sim", "--journal-dir", str(tmp_path), "--since", "30m"]) == 0
    out = capsys.readouterr().out
    assert out.index("Outages") < out.index("Figures") < out.index("Events")
    assert "41 s" in out and "attempts 2" in out and "mean time to recover 41 s" in out
    assert "\x1b" not in out and "\x07" not in out


@pytest.mark.parametrize("since", ["24", "1y", "-5m", "0h", "lots"])
def test_a_bad_since_is_one_line_and_exit_2(since: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_history(tmp_path)
    assert cli.main(["history", "-cfg", "sim", "--journal-dir", str(tmp_path), f"--since={since}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--since" in err


def test_no_history_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["history", "-cfg", "sim", "--journal-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert cli.main(["history", "-cfg", "sim"]) == 2  # the embedded exchange keeps it only with --journal-dir
    assert "--journal-dir" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # reading never creates a store
