"""Ledger CLI benchmark: ``fluxum bybit ledger --from-file`` over a long execution file, in time and memory.

``python -m bench.ledger_file [--rows N] [--symbols K] [--order oldest|newest] [--baseline DIR]``

Writes N executions (Bybit's record shape, several fills a millisecond, funding rows: the same generator as
``bench/ledger_replay.py``, streamed) as JSON lines to a temporary file, then runs the command in a child
process and reports its wall time and peak RSS (GNU ``time``, else ``wait4``), once writing the table and once
writing every ledger row as CSV. ``--order newest`` writes the file newest first, as Bybit lists executions.
``--baseline DIR`` runs the same commands from another checkout (e.g. the main branch) in the same run, for the
ratio. Last, how long it takes to refuse ``/dev/zero``, a FIFO and a file with an endless line.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bench.ledger_replay import START_MS, SYMBOLS, _record

ROOT = Path(__file__).resolve().parents[1]


def stream_records(count: int, symbols: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    """``count`` executions, oldest first: taker sweeps of 1-4 fills in one millisecond, a funding row every 500."""
    rng = random.Random(seed)
    price = {symbol: 100.0 * (i + 1) for i, symbol in enumerate(SYMBOLS[:symbols])}
    made, now, seq = 0, START_MS, 1_000_000
    while made < count:
        symbol = rng.choice(SYMBOLS[:symbols])
        now += rng.randint(1, 40)
        if made % 500 == 499:
            yield _record(symbol, "Buy", "1", price[symbol], "-0.0123", now, seq, "Funding", made)
            made += 1
            continue
        side = rng.choice(("Buy", "Sell"))
        for _ in range(min(rng.randint(1, 4), count - made)):
            seq += rng.randint(1, 3)
            price[symbol] = max(1.0, price[symbol] + rng.choice((-0.1, 0.0, 0.1)))
            qty = f"{rng.randint(1, 50) / 100:.2f}"
            yield _record(symbol, side, qty, price[symbol], "0.0055", now, seq, "Trade", made)
            made += 1


def write_file(path: Path, count: int, symbols: int, newest_first: bool) -> None:
    with path.open("wb") as file:
        if not newest_first:
            for record in stream_records(count, symbols):
                file.write(orjson.dumps(record) + b"\n")
            return
        lines = [orjson.dumps(record) for record in stream_records(count, symbols)]
        for line in reversed(lines):
            file.write(line + b"\n")


LAUNCH = "import sys; from app.cli import main; sys.exit(main(sys.argv[1:]))"
"""``fluxum`` as the console script runs it (``python -m app.cli`` would be a second copy of the module)."""
TIME = shutil.which("time", path="/usr/bin:/bin")
"""GNU time, when there: a child forked from this (large) process inherits its peak RSS in ``wait4``'s figure,
one forked from ``time`` does not."""


def run(root: Path, argv: list[str], timeout: float = 3600.0) -> dict[str, Any]:
    """Run ``fluxum`` from ``root`` with ``argv``; wall seconds, peak RSS (MB), exit status and stderr's tail."""
    started = time.perf_counter()
    command = [sys.executable, "-c", LAUNCH, *argv]
    report = Path(tempfile.mkstemp(prefix="fluxum-bench-time-")[1])
    process = subprocess.Popen(
        [TIME, "-f", "%M", "-o", str(report), *command] if TIME else command,
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            process.kill()
            pid, status, usage = os.wait4(process.pid, 0)
            break
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    timed = report.read_text().split()
    report.unlink()
    peak_kb = int(timed[-1]) if TIME and timed and timed[-1].isdigit() else usage.ru_maxrss
    return {
        "seconds": round(seconds, 2),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "status": os.waitstatus_to_exitcode(status),
        "stderr": stderr.strip()[-160:],
    }


def refusals(root: Path, workdir: Path) -> dict[str, dict[str, Any]]:
    """What refusing input that never ends costs: /dev/zero, a FIFO nobody writes, one endless line."""
    fifo = workdir / "fifo"
    os.mkfifo(fifo)
    endless = workdir / "one-line.jsonl"
    with endless.open("wb") as file:
        file.write(b'{"execId":"' + b"x" * (64 << 20))  # 64 MB and no end of line
    return {
        name: run(root, ["bybit", "ledger", "--from-file", str(path)], timeout=120)
        for name, path in (("/dev/zero", Path("/dev/zero")), ("a FIFO", fifo), ("a 64 MB line", endless))
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--symbols", type=int, default=3)
    parser.add_argument("--order", choices=("oldest", "newest"), default="oldest")
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout to run the same commands")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="fluxum-bench-") as directory:
        workdir = Path(directory)
        path = workdir / "executions.jsonl"
        write_file(path, args.rows, args.symbols, args.order == "newest")
        size_mb = path.stat().st_size / 1e6
        print(f"{args.rows:,} executions, {args.symbols} symbols, {args.order} first: {size_mb:.0f} MB of JSON lines")
        roots = [("this checkout", ROOT)] + ([("baseline", args.baseline)] if args.baseline else [])
        for label, root in roots:
            table = run(root, ["bybit", "ledger", "--from-file", str(path)])
            csv = run(root, ["bybit", "ledger", "--from-file", str(path), "--csv", str(workdir / "out.csv")])
            print(f"{label} ({root}):\n  table {table}\n  --csv {csv}")
        for name, figures in refusals(ROOT, workdir).items():
            print(f"refusing {name}: {figures}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
