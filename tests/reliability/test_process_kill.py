"""``fluxum monitor`` SIGKILLed in the middle of a burst of fills, then started again on its journal.

A fill the monitor printed was journaled first (journal, then ledger, then subscribers), so after the restart
no printed fill may be missing and none may be announced again; the fills made while it was dead arrive by the
REST backfill; and the ledger rebuilt from the journal agrees with one computed from the exchange's own
executions.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from exchange.bybit.sim.demo_credentials import DEMO_API_KEY
from exchange.bybit.sim.server import SimConfig, SimServer
from exchange.journal import Journal, journal_path
from tests.support.fills import ledger_figures, ledger_from_records, place_market, sim_exec_ids, sim_records
from tests.support.monitor_process import Monitor, clean_environment
from tests.support.waiting import until

BURST = 240
AFTER_KILL = 60
KILL_AFTER_FILLS = 40
ORDERS = (("BTCUSDT", "0.001"), ("ETHUSDT", "0.01"), ("SOLUSDT", "0.1"))


async def _burst(sim: SimServer, killed: asyncio.Event) -> int:
    """A market order every few milliseconds: BURST at least, and AFTER_KILL once the monitor is dead."""
    placed = after_kill = 0
    while placed < BURST or after_kill < AFTER_KILL:
        symbol, qty = ORDERS[placed % len(ORDERS)]
        place_market(sim, symbol, "Buy" if (placed // 6) % 2 == 0 else "Sell", qty, f"burst-{placed}")
        placed += 1
        after_kill += killed.is_set()
        await asyncio.sleep(0.005)  # the burst's own pace
    return placed


async def test_sigkill_mid_burst_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    journal_dir = tmp_path / "journal"
    async with SimServer(SimConfig(demo_trader=False, faults_enabled=True)) as sim:
        args = ["--base-url", sim.base_url, "--json", "--journal-dir", str(journal_dir), "--no-demo-trader"]
        env = clean_environment()
        first = await Monitor.start(args, env)
        second: Monitor | None = None
        try:
            await until(
                lambda: "Ready" in first.states() or first.process.returncode is not None,
                30.0,
                "the first monitor to be Ready",
            )
            assert "Ready" in first.states(), bytes(first.stderr)[-2000:]
            killed = asyncio.Event()
            burst = asyncio.create_task(_burst(sim, killed))
            await until(lambda: len(first.fill_ids()) >= KILL_AFTER_FILLS, 30.0, f"{KILL_AFTER_FILLS} printed fills")
            first.kill()
            killed.set()
            assert await first.wait() == -9
            made_at_kill = len(sim.account.executions)
            await burst
            acked = first.fill_ids()
            assert len(set(acked)) == len(acked), "the first monitor printed a fill twice"
            assert len(sim.account.executions) > made_at_kill, "the burst went on after the kill"
            with_journal = Journal(journal_path("sim", DEMO_API_KEY, "linear", journal_dir))
            journaled_at_kill = with_journal.exec_ids()
            with_journal.close()
            assert set(acked) <= journaled_at_kill, "a printed fill was not in the journal"

            second = await Monitor.start(args, env)
            await until(
                lambda: "Ready" in second.states() or second.process.returncode is not None,
                30.0,
                "the restarted monitor to be Ready",
            )
            assert "Ready" in second.states(), bytes(second.stderr)[-2000:]
            second.terminate()
            assert await second.wait() == 0
            assert b"Traceback" not in second.stderr, bytes(second.stderr)[-3000:]
        finally:
            await first.close()
            if second is not None:
                await second.close()

        journal = Journal(journal_path("sim", DEMO_API_KEY, "linear", journal_dir))
        try:
            ids = journal.exec_ids()
            replayed = list(journal.replay())
        finally:
            journal.close()
        expected = sim_exec_ids(sim)
        assert set(acked) <= ids, f"acknowledged fills missing after the restart: {set(acked) - ids}"
        assert ids == expected, f"missing {len(expected - ids)}, unknown {len(ids - expected)}"
        assert len(replayed) == len(expected)
        again = second.fill_ids()
        assert not set(again) & set(acked), "the restarted monitor announced an acknowledged fill again"
        assert len(set(again)) == len(again)
        assert all(r["backfilled"] for r in second.of_type("fill")), "only the backfill can bring these"
        # The ledger a restart rebuilds (journal replay + backfill, all in the journal) vs the exchange's.
        rebuilt, computed = ledger_from_records(replayed), ledger_from_records(sim_records(sim))
        assert ledger_figures(rebuilt) == ledger_figures(computed)
        # A backfilled fill's line carries no position (the batch's final one would be told on every fill).
        assert all(r["position"] is None for r in second.of_type("fill"))
        print(
            f"\nSIGKILL after {len(acked)} printed fills: {len(journaled_at_kill)} journaled at the kill "
            f"({len(journaled_at_kill) - len(acked)} journaled but not yet printed), {made_at_kill} made by "
            f"then, "
            f"{len(expected)} in all; restart backfilled {len(again)}; journal == exchange, no duplicates"
        )
