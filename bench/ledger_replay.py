"""Start-up replay benchmark: what a long journal costs a desk that starts, in time and in memory.

``python -m bench.ledger_replay [--fills N] [--symbols K]``

A deterministic journal of N linear executions (Bybit's record shape, the simulator's formatting: several fills a
millisecond, flips, funding rows), written once to a temporary SQLite journal. Each way of rebuilding the ledger
from it runs in one process, one after the other, timed without tracing and then measured with ``tracemalloc``
for its peak:

* **streamed**: :func:`~exchange.bybit.executions.fills_in_execution_order` over the journal's cursor into a
  :class:`~exchange.ledger.Ledger` keeping its default bounded history (what the desk holds once running);
* **a desk's start**: the account state's journal replay (the same streaming, every record screened and a bad one
  quarantined), every fill held until the position reconcile that follows the replay, then folded;
* **all at once** (the simplest start, as a baseline): every record read into memory, sorted, applied as one
  batch to a ledger that keeps every fill;
* **one by one**: the same sorted fills applied one ``apply_fill`` at a time to a ledger that keeps every fill.

Every way must end with the same money on every symbol; the figures are printed with their ratio to streamed.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from exchange.account_state import AccountState
from exchange.bybit.executions import ExecutionRecordError, fill_from_execution, fills_in_execution_order
from exchange.desk import Desk
from exchange.hub import EventHub
from exchange.journal import Journal
from exchange.ledger import Ledger, LedgerEntry, UpdateSource, execution_order

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT")
START_MS = 1_767_225_600_000


def records(count: int, symbols: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` executions: taker sweeps of 1-4 fills in one millisecond, a funding row every 500."""
    rng = random.Random(seed)
    price = {symbol: 100.0 * (i + 1) for i, symbol in enumerate(SYMBOLS[:symbols])}
    out: list[dict[str, Any]] = []
    now, seq = START_MS, 1_000_000
    while len(out) < count:
        symbol = rng.choice(SYMBOLS[:symbols])
        now += rng.randint(1, 40)
        if len(out) % 500 == 499:
            out.append(_record(symbol, "Buy", "1", price[symbol], "-0.0123", now, seq, "Funding", len(out)))
            continue
        side = rng.choice(("Buy", "Sell"))
        for _ in range(rng.randint(1, 4)):  # one sweep: same millisecond, rising seq
            seq += rng.randint(1, 3)
            price[symbol] = max(1.0, price[symbol] + rng.choice((-0.1, 0.0, 0.1)))
            qty = f"{rng.randint(1, 50) / 100:.2f}"
            out.append(_record(symbol, side, qty, price[symbol], "0.0055", now, seq, "Trade", len(out)))
    return out[:count]


def _record(
    symbol: str, side: str, qty: str, price: float, fee: str, now: int, seq: int, kind: str, n: int
) -> dict[str, Any]:
    return {
        "category": "linear",
        "symbol": symbol,
        "execId": f"{n:08d}-{random.Random(n).getrandbits(64):016x}",  # Bybit's ids do not sort by time
        "side": side,
        "execQty": qty,
        "execPrice": f"{price:.2f}",
        "execFee": fee,
        "execType": kind,
        "execTime": str(now),
        "seq": seq,
        "orderId": f"o{n}",
        "isMaker": False,
    }


def _fail(error: ExecutionRecordError) -> None:
    raise error


def _replay_into(ledger: Ledger, journal: Journal) -> Ledger:
    for fills in fills_in_execution_order(journal.replay(), category="linear", rejected=_fail):
        ledger.apply_fills(fills)
    return ledger


def streamed(journal: Journal) -> Ledger:
    return _replay_into(Ledger(), journal)


def all_at_once(journal: Journal) -> Ledger:
    fills = sorted((fill_from_execution(r, category="linear") for r in list(journal.replay())), key=execution_order)
    ledger = Ledger(history_kept=10**12)
    ledger.apply_fills(fills)
    return ledger


def one_by_one(journal: Journal) -> Ledger:
    fills = sorted((fill_from_execution(r, category="linear") for r in list(journal.replay())), key=execution_order)
    ledger = Ledger(history_kept=10**12)
    for fill in fills:
        ledger.apply_fill(fill)
    return ledger


def start(journal: Journal) -> Ledger:
    """What a desk's start really does (:meth:`~exchange.account_state.AccountState.replay_journal`: every record
    screened, the bad ones quarantined), and holds: every fill until the first position reconcile."""
    desk = Desk(environment="SIM", category="linear", symbols=list(SYMBOLS), books={})
    account = AccountState(desk, EventHub(), Counter(), journal, "mark", reread=lambda: None)
    account.replay_journal()
    account.ledger.release_history()
    return account.ledger


WAYS: dict[str, Callable[[Journal], Ledger]] = {
    "streamed (bounded history)": streamed,
    "a desk's start (held, screened)": start,
    "all at once (every fill kept)": all_at_once,
    "one by one (every fill kept)": one_by_one,
}


def _money(entry: LedgerEntry) -> LedgerEntry:
    """The money of an entry, without what describes the last event applied (arrival, not money)."""
    return replace(entry, update_time=0, update_source=UpdateSource.Trade, price=None, side=None, qty=None)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=200_000)
    parser.add_argument("--symbols", type=int, default=3, choices=range(1, len(SYMBOLS) + 1))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        journal = Journal(Path(tmp) / "journal.sqlite")
        journal.record(records(args.fills, args.symbols), START_MS)
        rows = len(journal)
        results: dict[str, tuple[float, float]] = {}
        reference: list[LedgerEntry] | None = None
        for name, way in WAYS.items():
            start = time.perf_counter()
            ledger = way(journal)
            seconds = time.perf_counter() - start
            money = [_money(entry) for entry in ledger.entries()]
            if reference is None:
                reference = money
            elif money != reference:
                raise SystemExit(f"{name}: the ledger differs from the streamed one")
            del ledger
            tracemalloc.start()
            kept = way(journal)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            del kept
            results[name] = (seconds, peak / 1e6)
        journal.close()
    base_s, base_mb = results["streamed (bounded history)"]
    print(f"start-up replay of {rows:,} journaled executions, {args.symbols} symbols (one run, one process)")
    print(f"{'way':32} {'µs/row':>8} {'x time':>7} {'peak MB':>9} {'x memory':>9}")
    for name, (seconds, mb) in results.items():
        print(f"{name:32} {seconds / rows * 1e6:8.2f} {seconds / base_s:6.2f}x {mb:9.1f} {mb / base_mb:8.2f}x")
    assert reference is not None
    total = sum((entry.fees for entry in reference), Decimal(0))
    print(f"(all ways agree on every symbol's money; fees {total})")


if __name__ == "__main__":
    main()
