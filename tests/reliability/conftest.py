"""Shared machinery of the reliability suite: a session on the embedded exchange, deadlines, comparisons.

Every wait is a condition awaited with a deadline (:func:`until`); a deadline is a failure bound, never a
measurement, so nothing here asserts that something was fast. Figures worth knowing (detection times, attempt
counts) are printed by the tests (run with ``-s`` to see them) and summarised in the suite's report.

The session runs against the in-process local exchange (``app.runtime.open_runtime``) with faults enabled and,
unless a test asks for it, no demo trader, so what happens on the account is what the test does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.runtime import Runtime, open_runtime
from exchange.book import BookState
from exchange.bybit.executions import fill_from_execution
from exchange.bybit.sim.wire import execution_record, ticker_fields
from exchange.config import Settings, load_settings
from exchange.events import LinkState
from exchange.ledger import Ledger, LedgerEntry
from exchange.session import Backoff, Timeouts

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bybit"
DEADLINE_S = 20.0
CATEGORY = "linear"

FAST_BACKOFF = Backoff(initial_s=0.05, factor=2.0, cap_s=0.3, burst=1000)
"""Reconnect delays short enough for a hundred cycles in CI time (the real default starts at 0.5 s), and no
connection budget: those cycles are the test's, not a flapping server's."""

ORDER_INDEPENDENT_FIELDS = (
    "position",
    "notional",
    "fees",
    "funding",
    "total_buy_qty",
    "total_sell_qty",
    "buy_notional",
    "sell_notional",
    "avg_buy_price",
    "avg_sell_price",
)
"""Ledger fields that depend only on the *set* of fills, not on the order they were applied in (average-cost
realized P&L does depend on it: a fill backfilled after a later live push is applied out of order)."""


def fixture(relpath: str) -> Any:
    """One real Bybit message from tests/fixtures/bybit."""
    return json.loads((FIXTURES / relpath).read_text())


async def until(
    predicate: Callable[[], bool], timeout: float = DEADLINE_S, what: str = "condition", poll_s: float = 0.005
) -> float:
    """Await ``predicate()`` becoming true; fail after ``timeout`` s. Returns the time it took (to print)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline = start + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(poll_s)
    return loop.time() - start


def is_ready(rt: Runtime) -> bool:
    return rt.session.state.kind is LinkState.READY


def sim_settings(**kwargs: Any) -> Settings:
    """The embedded exchange's settings (BTCUSDT, ETHUSDT, SOLUSDT, linear, depth 50), no host keys."""
    return load_settings(environ={}, **kwargs)


@contextlib.asynccontextmanager
async def running_session(
    settings: Settings | None = None,
    *,
    demo_trader: bool = False,
    backoff: Backoff = FAST_BACKOFF,
    timeouts: Timeouts | None = None,
    journal_dir: Path | None = None,
    seed: int = 1,
    sim_overrides: dict[str, Any] | None = None,
    wait_ready: bool = True,
) -> AsyncIterator[Runtime]:
    """The embedded exchange plus a running session; stops both and checks that ``run()`` ended cleanly."""
    async with open_runtime(
        settings or sim_settings(),
        seed=seed,
        demo_trader=demo_trader,
        faults=True,
        journal_dir=journal_dir,
        backoff=backoff,
        timeouts=timeouts or Timeouts(),
        sim_overrides=sim_overrides,
    ) as rt:
        task = asyncio.create_task(rt.session.run(), name="test-session")
        rt.task = task  # type: ignore[attr-defined]
        try:
            if wait_ready:
                await until(lambda: is_ready(rt) or task.done(), what="the session to become Ready")
                assert not task.done(), f"session ended early: {rt.session.state}"
            yield rt
        finally:
            await rt.session.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(task, 15.0)
        if task.done() and not task.cancelled():
            assert task.exception() is None, f"session.run() raised {task.exception()!r}"


# ------------------------------------------------------------------------------------------------ books


def book_mismatch(rt: Runtime, symbol: str) -> str | None:
    """Why the session's book of ``symbol`` differs from the exchange's (None when SYNCED and equal)."""
    book = rt.session.books[symbol]
    if book.state is not BookState.SYNCED:
        return f"{symbol} is {book.state.value} ({book.resync_reason})"
    depth = rt.session.settings.depth
    for side, ours in (("bid", book.bids()), ("ask", book.asks())):
        theirs = [(float(p), float(q)) for p, q in rt.sim.market.levels(CATEGORY, symbol, side, depth)]
        if ours != theirs:
            diff = next((i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), None)
            where = f"{diff}: {ours[diff]} vs {theirs[diff]}" if diff is not None else "the end of the shorter"
            return f"{symbol} {side}s differ: {len(ours)} vs {len(theirs)} levels, first difference at {where}"
    return None


def books_mismatch(rt: Runtime) -> list[str]:
    return [m for symbol in rt.session.symbols if (m := book_mismatch(rt, symbol)) is not None]


def tickers_settled(rt: Runtime) -> bool:
    """Nothing is left to publish on the ticker streams and the session holds what they published."""
    for symbol in rt.session.symbols:
        stream = rt.sim.public_feed.streams.get((CATEGORY, f"tickers.{symbol}"))
        if stream is None or stream.fields != ticker_fields(stream.book, "ws"):
            return False
        if rt.session.tickers.get(symbol) != stream.fields:
            return False
    return True


async def quiesce(rt: Runtime, timeout: float = DEADLINE_S) -> None:
    """Pause the market and wait until every session book is SYNCED and equal to the exchange's (and the
    tickers have caught up), so that nothing in the desk moves any more unless a test makes it move."""
    rt.sim.faults.pause_market()
    try:
        await until(lambda: not books_mismatch(rt), timeout, "every book SYNCED and equal to the exchange's")
    except AssertionError:
        raise AssertionError(f"books never matched the exchange: {books_mismatch(rt)}") from None
    await until(lambda: tickers_settled(rt), timeout, "the tickers to settle")


def resume(rt: Runtime) -> None:
    rt.sim.faults.resume_market()


# ------------------------------------------------------------------------------------------------ fills


def place_market(sim: Any, symbol: str, side: str, qty: str, link_id: str) -> Any:
    """A market order straight through the exchange's account API (synchronous: fills before it returns)."""
    return sim.exchange.place_order(
        {
            "category": CATEGORY,
            "symbol": symbol,
            "side": side,
            "orderType": "Market",
            "qty": qty,
            "orderLinkId": link_id,
        }
    )


def sim_exec_ids(sim: Any) -> set[str]:
    return {execution.exec_id for execution in sim.account.executions}


def sim_records(sim: Any) -> list[dict[str, Any]]:
    """The exchange's executions as Bybit records, in the order they happened."""
    return [execution_record(execution) for execution in sim.account.executions]


def ledger_from_records(records: list[dict[str, Any]]) -> Ledger:
    ledger = Ledger()
    for record in records:
        assert ledger.apply_fill(fill_from_execution(record, category=CATEGORY)) is not None
    return ledger


def ledger_figures(ledger: Ledger, fields: tuple[str, ...] = ORDER_INDEPENDENT_FIELDS) -> dict[str, dict[str, Decimal]]:
    """Per symbol, the figures that must agree between two ledgers fed the same set of fills."""
    out = {}
    for entry in ledger.entries():
        figures = {name: getattr(entry, name) for name in fields}
        if any(figures.values()):
            out[entry.symbol] = figures
    return out


def entry_sources(ledger: Ledger) -> dict[str, str]:
    return {entry.symbol: str(entry.update_source) for entry in ledger.entries()}


def no_external_legs(entries: list[LedgerEntry]) -> bool:
    return all(entry.update_source != "External_trade" for entry in entries)


class Stopwatch:
    """Wall-clock durations to print (never to assert)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.start
