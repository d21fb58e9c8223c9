"""``fluxum monitor`` ends with a summary line on every stop, and the line tells the truth: its books are the
exchange's books, its ledger is the one the journaled executions make, its states are the session's.

The local exchange runs on its own loop (as a separate process would); the test trades on it, then pauses its
market so the books at the end can be compared level by level.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

import app.cli as cli
from app.cli import EXIT_READER_GONE
from exchange.bybit.executions import batches_in_execution_order, fill_from_execution
from exchange.bybit.sim.server import SimConfig, SimServer
from exchange.journal import Journal
from exchange.ledger import Ledger, MarkSource, format_decimal
from exchange.summary import record_of
from tests.support.sim import book_stream
from tests.support.threaded import clear_exchange_keys, served_in_thread

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parent.parent
SYMBOLS = ("BTCUSDT", "ETHUSDT")
DEPTH = 50
T = TypeVar("T")


@pytest.fixture(autouse=True)
def no_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_exchange_keys(monkeypatch)


async def _started_sim() -> SimServer:
    sim = SimServer(SimConfig(symbols=SYMBOLS, demo_trader=False, seed=7))
    await sim.start()
    return sim


def _on_loop(loop: asyncio.AbstractEventLoop, read: Callable[[], T]) -> T:
    """``read()`` run on the exchange's loop, between its steps."""

    async def call() -> T:
        return read()

    return asyncio.run_coroutine_threadsafe(call(), loop).result(30)


def _later(loop: asyncio.AbstractEventLoop, seconds: float, action: Callable[[], object]) -> None:
    loop.call_soon_threadsafe(loop.call_later, seconds, action)


def _market(symbol: str, side: str, qty: str) -> dict[str, str]:
    return {"category": "linear", "symbol": symbol, "side": side, "orderType": "Market", "qty": qty}


def _summary(out: str) -> dict[str, Any]:
    lines = out.splitlines()
    assert lines, "the monitor printed nothing"
    record = json.loads(lines[-1])
    assert record["type"] == "summary", lines[-1][:200]
    assert sum('"type":"summary"' in line for line in lines) == 1
    return record


@pytest.mark.slow
def test_the_summary_holds_the_exchanges_books_and_the_journals_ledger(capsys: Any, tmp_path: Path) -> None:
    with served_in_thread(_started_sim, SimServer.stop, "summary-sim") as (sim, loop):
        orders = [
            _market("BTCUSDT", "Buy", "0.013"),
            _market("ETHUSDT", "Sell", "0.37"),
            _market("BTCUSDT", "Sell", "0.02"),  # a flip: long 0.013 to short 0.007
            {**_market("ETHUSDT", "Buy", "0.25"), "orderType": "Limit", "price": "2000", "timeInForce": "GTC"},
        ]
        for n, params in enumerate(orders):
            _later(loop, 2.0 + 0.4 * n, functools.partial(sim.exchange.place_order, params))
        _later(loop, 5.0, sim.faults.pause_market)  # the books stop moving before the monitor stops
        argv = ["monitor", "--base-url", sim.base_url, "--json", "--duration", "9", "--journal-dir", str(tmp_path)]
        code = cli.main([*argv, "--symbols", ",".join(SYMBOLS)])
        summary = _summary(capsys.readouterr().out)
        exchange = _on_loop(loop, lambda: _exchange_view(sim))
    assert code == 0
    assert list(summary["books"]) == sorted(SYMBOLS)
    for symbol in SYMBOLS:
        book = summary["books"][symbol]
        assert (book["bids"], book["asks"]) == exchange["levels"][symbol], symbol  # every level, exactly
        assert (book["u"], book["seq"]) == exchange["u_seq"][symbol]
    rebuilt = _ledger_from_journal(tmp_path, summary)
    assert summary["ledger"] == rebuilt and set(rebuilt) == set(SYMBOLS)
    for symbol in SYMBOLS:
        assert summary["ledger"][symbol]["position"] == exchange["positions"][symbol]
    assert summary["ledger"]["BTCUSDT"]["position"] == "-0.007"
    assert summary["fills"] == {"BTCUSDT": 2, "ETHUSDT": 1}
    assert [o["price"] for o in summary["orders"]] == ["2000"]
    assert summary["positions"]["BTCUSDT"]["size"] == "-0.007"
    states = [s["state"] for s in summary["states"]]
    assert states[:2] == ["Disconnected", "Connecting"] and "Ready" in states
    assert summary["states"][-1]["state"] == "Disconnected" and summary["states"][-1]["reason"] == "stopped"
    times = [s["time_ms"] for s in summary["states"]]
    assert times == sorted(times)


def _exchange_view(sim: SimServer) -> dict[str, Any]:
    """The exchange's own books (its top ``DEPTH`` levels and the last ``u``/``seq`` it published) and positions."""
    market, account = sim.market, sim.exchange.account
    levels, u_seq, positions = {}, {}, {}
    for symbol in SYMBOLS:
        sides = [market.levels("linear", symbol, side, DEPTH) for side in ("bid", "ask")]
        levels[symbol] = tuple([[format_decimal(p), format_decimal(q)] for p, q in side] for side in sides)
        stream = book_stream(sim, f"orderbook.{DEPTH}.{symbol}")
        u_seq[symbol] = (stream.u, stream.seq)
        positions[symbol] = format_decimal(account.position("linear", symbol).size)
    return {"levels": levels, "u_seq": u_seq, "positions": positions}


def _ledger_from_journal(journal_dir: Path, summary: dict[str, Any]) -> dict[str, Any]:
    """The ledger the journaled executions make, with the open orders and the last mark the summary reports
    (those come from order pushes and tickers, not from executions)."""
    (path,) = journal_dir.glob("journal-*.sqlite3")
    journal = Journal(path)
    try:
        fills = [fill_from_execution(record, category="linear") for _, record in journal.rows() if record]
    finally:
        journal.close()
    ledger = Ledger()
    for batch in batches_in_execution_order(fills):
        ledger.apply_fills(batch)
    for symbol, live in summary["ledger"].items():
        totals = (live["total_original"], live["total_executed"], live["total_remaining"])
        ledger.set_open_orders(symbol, *(Decimal(t) for t in totals))
        if live["mark_source"] not in (None, MarkSource.LAST_FILL.value):
            ledger.mark(symbol, Decimal(live["spot"]), MarkSource(live["mark_source"]), live["update_time"])
    return {entry.symbol: record_of(entry) for entry in ledger.entries()}


def test_a_failed_session_ends_with_its_summary(capsys: Any, tmp_path: Path) -> None:
    async def rejecting() -> SimServer:
        sim = await _started_sim()
        sim.faults.auth_reject = True
        return sim

    with served_in_thread(rejecting, SimServer.stop, "summary-sim-rejecting") as (sim, _loop):
        argv = ["monitor", "--base-url", sim.base_url, "--json", "--duration", "30", "--journal-dir", str(tmp_path)]
        code = cli.main([*argv, "--symbols", "BTCUSDT"])
    summary = _summary(capsys.readouterr().out)
    assert code == 1
    assert summary["states"][0]["state"] == "Disconnected" and summary["states"][-1]["state"] == "Failed"
    assert list(summary["books"]) == ["BTCUSDT"]


def _spawn(argv: list[str], stdout: Any = subprocess.PIPE) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BYBIT_")}
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "monitor", *argv],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=stdout,
        stderr=subprocess.PIPE,
    )


@pytest.mark.timeout(120)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_stop_signal_prints_the_summary_too(tmp_path: Path, signum: signal.Signals) -> None:
    process = _spawn(["--json", "--no-demo-trader", "--journal-dir", str(tmp_path), "--symbols", "BTCUSDT"])
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 60
        while b'"state":"Ready"' not in (line := process.stdout.readline()):
            assert line and time.monotonic() < deadline, "the monitor did not become Ready"
        process.send_signal(signum)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0 and b"Traceback" not in err
    summary = _summary(out.decode())
    assert [s["state"] for s in summary["states"]][:2] == ["Disconnected", "Connecting"]
    assert summary["states"][-1]["reason"] == "stopped"
    assert summary["books"]["BTCUSDT"]["bids"] and summary["books"]["BTCUSDT"]["u"] is not None


@pytest.mark.timeout(120)
@pytest.mark.parametrize("lines_read", [0, 1])
def test_a_reader_gone_ends_the_monitor_quietly(tmp_path: Path, lines_read: int) -> None:
    """Gone before the first line, or after one: no summary is forced on it, no traceback, status 141."""
    read_end, write_end = os.pipe()
    if not lines_read:
        os.close(read_end)
    process = _spawn(["--json", "--duration", "20", "--journal-dir", str(tmp_path)], stdout=write_end)
    os.close(write_end)
    if lines_read:
        with os.fdopen(read_end, "rb") as reader:
            assert reader.readline().startswith(b'{"type":"start"')
    _, err = process.communicate(timeout=60)
    assert process.returncode == EXIT_READER_GONE
    assert b"Traceback" not in err and b"Exception ignored" not in err and b"never reached Ready" not in err
