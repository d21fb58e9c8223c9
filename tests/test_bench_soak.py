"""The soak benchmark, compressed to seconds: the whole app headless on the embedded exchange, every fault kind
once, and at the end the desk checked against the exchange (ledger fills == journal rows, positions equal, Ready
with every book SYNCED). Its exit status is the verdict; no figure it prints is asserted (they are timings)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(300)  # about 40 s; the subprocess has its own 240 s bound
def test_a_short_soak_ends_with_the_desk_whole_after_every_fault() -> None:
    command = [sys.executable, "-m", "bench.soak", "--minutes", "0.2", "--warmup", "2"]
    command += ["--sample-every", "3", "--fault-every", "3", "--no-tracemalloc"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-4000:]
    assert "ended with the desk whole again" in report, report[-4000:]
    checks = [line for line in report.splitlines() if line.startswith(("  ok ", "  FAIL "))]
    assert len(checks) == 3 and all(line.startswith("  ok ") for line in checks), checks
