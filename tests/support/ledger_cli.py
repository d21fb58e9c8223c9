"""``fluxum bybit ledger`` run through the real entry point on the recorded executions in tests/data/ledger."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app import cli

DATA = Path(__file__).resolve().parent.parent / "data" / "ledger"
EXECUTIONS = DATA / "executions.jsonl"  # BTCUSDT (E2 out of file order, a duplicate, funding) and ETHUSDT (E4)


def run_ledger(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """The exit code, stdout and stderr of ``fluxum bybit ledger ARGV``."""
    code = cli.main(["bybit", "ledger", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_file(tmp_path: Path, name: str, text: str) -> str:
    """``text`` written to ``tmp_path/name``; its path, as an argument."""
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def printed_table(out: str) -> dict[str, dict[str, str]]:
    """The printed table as {symbol: {column: cell}}; cells are separated by at least two spaces."""
    lines = [line for line in out.splitlines() if line.strip()]
    start = next(index for index, line in enumerate(lines) if line.startswith("symbol"))
    header = re.split(r"\s{2,}", lines[start].strip())
    rows = [dict(zip(header, re.split(r"\s{2,}", line.strip()), strict=True)) for line in lines[start + 1 :]]
    return {row["symbol"]: row for row in rows}
