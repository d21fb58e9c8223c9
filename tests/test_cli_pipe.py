"""A command whose reader leaves early (``fluxum bybit trades | head -1``) stops quietly: no traceback, the
status a SIGPIPE gives (141), nothing on stderr but its own lines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import EXIT_READER_GONE
from tests.support.history import store_history

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
EXECUTIONS = ROOT / "tests" / "data" / "ledger" / "executions.jsonl"


@pytest.mark.parametrize(
    "argv",
    [
        ["bybit", "balances"],
        ["bybit", "positions"],
        ["bybit", "trades"],
        ["bybit", "order-book", "--symbol", "BTCUSDT", "--once"],
        ["bybit", "ledger", "--from-file", str(EXECUTIONS)],
    ],
    ids=lambda argv: argv[1],
)
def test_a_reader_gone_before_the_first_line_ends_quietly(argv: list[str]) -> None:
    _ends_quietly(argv)


@pytest.mark.parametrize("json_lines", [[], ["--json"]], ids=["table", "json"])
def test_history_to_a_reader_gone_ends_quietly(json_lines: list[str], tmp_path: Path) -> None:
    store_history(tmp_path)
    _ends_quietly(["history", "-cfg", "sim", "--journal-dir", str(tmp_path), *json_lines])


def _ends_quietly(argv: list[str]) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes anything
    try:
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    err = done.stderr.decode()
    assert "Traceback" not in err
    assert "BrokenPipeError" not in err
    assert "Exception ignored" not in err
    assert done.returncode == EXIT_READER_GONE
