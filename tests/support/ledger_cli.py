"""``fluxum bybit ledger`` run through the real entry point on the recorded executions in tests/data/ledger."""

from __future__ import annotations

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
