"""A journal that cannot be written, or cannot be used at all.

A full disk (SQLite's page limit lowered to the journal's size: every new page is refused, SQLITE_FULL) is one
clear state: one notice when it starts, one when it clears, no reconnect, market data live, no fill applied that
was not journaled, the watermark held; once writes work again the fills made meanwhile come back by re-reading.
A corrupt, truncated or read-only journal stops ``fluxum monitor`` with one line naming the file and the fix.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from pathlib import Path

import pytest

from exchange.bybit.sim.demo_credentials import DEMO_API_KEY
from exchange.events import LinkState, Notice
from exchange.journal import Journal, journal_path
from tests.support.fills import (
    ledger_figures,
    ledger_from_records,
    no_external_legs,
    place_market,
    sim_exec_ids,
    sim_records,
)
from tests.support.monitor_process import Monitor, clean_environment
from tests.support.runtime import running_session
from tests.support.waiting import until

DURING = 30  # market orders while the disk is full
ORDERS = (("BTCUSDT", "0.001"), ("ETHUSDT", "0.01"), ("SOLUSDT", "0.1"))


@pytest.mark.slow
async def test_a_full_disk_is_one_state_and_every_fill_comes_back_when_space_returns(tmp_path: Path) -> None:
    async with running_session(journal_dir=tmp_path) as rt:
        assert rt.journal is not None and rt.sim is not None
        sim, session, account = rt.sim, rt.session, rt.session.account
        notices: list[Notice] = []
        subscription = rt.hub.subscribe([Notice], name="test")

        async def collect() -> None:
            async for event in subscription:
                assert isinstance(event, Notice)
                notices.append(event)

        collector = asyncio.create_task(collect())
        for i in range(6):
            place_market(sim, *_order(i), f"before-{i}")
        await until(lambda: len(rt.journal) == 6, what="the first fills journaled")
        watermark = rt.journal.complete_until_ms()
        reconnects, before = session.reconnects, len(notices)

        rt.journal._db.execute("PRAGMA max_page_count = 1")  # as big as it is: no new page (SQLITE_FULL)
        full_at = time.monotonic()
        book_updates = {symbol: book.u for symbol, book in session.books.items()}
        for i in range(DURING):
            place_market(sim, *_order(i), f"full-{i}")
            await asyncio.sleep(0.01)
        await until(lambda: account.journal_problem is not None, what="the journal problem to show")
        clear_after = time.monotonic() - full_at
        assert (
            account.journal_problem == "journal: disk full" and session.desk.journal_problem == account.journal_problem
        )
        await asyncio.sleep(3 * 5.0)  # several of the session's retries (every 5 s) while still full
        journaled = rt.journal.exec_ids()
        applied = {fill.exec_id for fill in session.desk.own_fills}
        assert applied <= journaled, "a fill changed the P&L before it was journaled"
        assert len(journaled) < len(sim_exec_ids(sim)), "the disk never filled up"
        assert rt.journal.complete_until_ms() == watermark or (rt.journal.complete_until_ms() or 0) < min(
            e.exec_time_ms for e in sim.account.executions if e.exec_id not in journaled
        ), "the watermark moved past fills it could not journal"
        assert session.reconnects == reconnects and session.state.kind is LinkState.READY
        assert all(book.u != book_updates[s] for s, book in session.books.items()), "market data stopped"
        during = notices[before:]
        assert len(during) == 1 and "disk full" in during[0].text, [n.text for n in during]

        # A reconnect while full: its backfill cannot journal either, and the ledger, short of the fills that
        # wait, must not be "reconciled" to the exchange's positions with an External_trade leg.
        assert await sim.faults.drop_connections() >= 2
        await until(lambda: session.reconnects > reconnects and session.state.kind is LinkState.READY, what="Ready")
        assert account.journal_problem == "journal: disk full"
        assert no_external_legs(session.ledger.entries()), "a leg was booked for fills waiting for the journal"
        reconnects = session.reconnects

        rt.journal._db.execute("PRAGMA max_page_count = 1073741823")  # space returns
        cleared_after = await until(lambda: account.journal_problem is None, 30.0, "the journal to write again")
        expected = sim_exec_ids(sim)
        await until(lambda: rt.journal.exec_ids() == expected, what="every fill journaled")
        recovered = account.counters["journal_recovered_fills"]
        await until(lambda: any("writing again" in n.text for n in notices), what="the journal writing again")
        after = [n for n in notices[before:] if "journal" in n.text]
        assert len(after) == 2 and "writing again" in after[1].text, [n.text for n in after]
        assert no_external_legs(session.ledger.entries())
        assert session.reconnects == reconnects
        assert ledger_figures(session.ledger) == ledger_figures(ledger_from_records(sim_records(sim)))
        subscription.close()
        with contextlib.suppress(asyncio.CancelledError):
            await collector
        print(
            f"\nfull disk: problem shown {clear_after:.3f} s after the first refused write, "
            f"{len(during)} notice while full, {len(after)} in all; cleared {cleared_after:.1f} s after space "
            f"returned, {recovered} fills recovered; {len(expected)} fills == exchange; other reconnects "
            f"{session.reconnects - reconnects}"
        )


def _order(i: int) -> tuple[str, str, str]:
    symbol, qty = ORDERS[i % len(ORDERS)]
    return symbol, "Buy" if i % 4 else "Sell", qty


def _damaged(kind: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "corrupt":
        path.write_bytes(os.urandom(1 << 16))
        return
    journal = Journal(path)
    for start in range(0, 3000, 500):
        journal.record(
            [
                {"execId": f"e-{i}", "symbol": "BTCUSDT", "execTime": str(i), "pad": "z" * 300}
                for i in range(start, start + 500)
            ],
            received_ms=0,
        )
    journal.close()
    if kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])


def _make_read_only(path: Path) -> bool:
    """chmod 0400; as root (whom modes do not stop) the immutable attribute too. False when neither holds."""
    path.chmod(0o400)
    if os.geteuid() != 0:
        return True
    return subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0


@pytest.mark.parametrize("kind", ["corrupt", "truncated", "read-only"])
async def test_an_unusable_journal_stops_the_monitor_with_one_line(tmp_path: Path, kind: str) -> None:
    journal_dir = tmp_path / "journal"
    path = journal_path("sim", DEMO_API_KEY, "linear", journal_dir)
    _damaged(kind, path)
    if kind == "read-only" and not _make_read_only(path):
        pytest.skip("no way to make a file read-only for this user")
    try:
        monitor = await Monitor.start(["--json", "--journal-dir", str(journal_dir)], clean_environment())
        try:
            code = await monitor.wait(60.0)
        finally:
            await monitor.close()
    finally:
        if kind == "read-only" and os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    stderr = bytes(monitor.stderr).decode()
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, stderr
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert str(path) in lines[0]
    fix = "move it aside" if kind != "read-only" else "writable"
    assert fix in lines[0], lines[0]
    print(f"\n{kind}: exit {code}: {lines[0]}")
