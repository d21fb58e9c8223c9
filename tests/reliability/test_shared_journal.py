"""Two ``fluxum monitor`` processes on one account and one journal file (the README suggests the dashboard and the
monitor side by side): each ledger must hold every fill of the account, whichever process journaled it first.

The orders go through the exchange's signed REST API while both watch; then both are stopped and each writes
the ledger it ended with, which must equal the exchange's position and the ledger computed from the exchange's
own executions, and equal each other.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from exchange.bybit.rest import RestClient
from exchange.bybit.sim.demo_credentials import DEMO_API_KEY, DEMO_API_SECRET
from exchange.bybit.sim.server import SimConfig, SimServer
from exchange.config import Endpoints
from exchange.secrets import Credentials, Secret
from tests.support.fills import ORDER_INDEPENDENT_FIELDS, ledger_from_records, sim_exec_ids, sim_records
from tests.support.monitor_process import REPO, Monitor, clean_environment
from tests.support.runtime import CATEGORY
from tests.support.waiting import until

ORDERS = 50
SIZES = (("BTCUSDT", "0.001"), ("ETHUSDT", "0.01"), ("SOLUSDT", "0.1"))
FIELDS = ORDER_INDEPENDENT_FIELDS

# The CLI as is, plus one thing a test needs: the ledger the session ended with, written where LEDGER_OUT says.
DRIVER = """
import os, sys, orjson
import exchange.session as session_module

run = session_module.Session.run
fields = sys.argv[1].split(",")

async def run_then_write_ledger(self):
    try:
        await run(self)
    finally:
        entries = {e.symbol: {f: str(getattr(e, f)) for f in fields} for e in self.ledger.entries()}
        with open(os.environ["LEDGER_OUT"], "wb") as out:
            out.write(orjson.dumps(entries))

session_module.Session.run = run_then_write_ledger
from app.cli import main
sys.exit(main(sys.argv[2:]))
"""


async def _start(args: list[str], ledger_out: Path) -> Monitor:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        DRIVER,
        ",".join(FIELDS),
        "monitor",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_environment(LEDGER_OUT=str(ledger_out)),
        cwd=str(REPO),
    )
    return Monitor(process)


async def _place_orders(sim: SimServer, name: str, halfway: Callable[[], Awaitable[None]] | None = None) -> None:
    """:data:`ORDERS` market orders over the signed REST API; ``halfway`` is awaited when half are placed."""
    credentials = Credentials(DEMO_API_KEY, Secret(DEMO_API_SECRET))
    async with aiohttp.ClientSession() as http:
        rest = RestClient(Endpoints.for_base_url(sim.base_url), credentials, session=http)
        for i in range(ORDERS):
            if i == ORDERS // 2 and halfway is not None:
                await halfway()
            symbol, qty = SIZES[i % len(SIZES)]
            side = "Buy" if (i // 4) % 3 else "Sell"  # mostly buys: positions open, grow, shrink and flip
            await rest.place_order(CATEGORY, symbol, side, "Market", Decimal(qty), order_link_id=f"{name}-{i}")


@contextlib.asynccontextmanager
async def _monitors(args: list[str], outs: list[Path]) -> AsyncIterator[list[Monitor]]:
    """A monitor per ledger file, started now; every one in the list (one added later too) is gone afterwards."""
    monitors = [await _start(args, out) for out in outs]
    try:
        yield monitors
    finally:
        for monitor in monitors:
            await monitor.close()


async def _stopped(monitors: list[Monitor]) -> list[int]:
    """Stop every monitor as a stop signal does; their exit statuses."""
    for monitor in monitors:
        monitor.terminate()
    return [await monitor.wait() for monitor in monitors]


def _exchange_figures(sim: SimServer) -> dict[str, dict[str, str]]:
    ledger = ledger_from_records(sim_records(sim))
    return {e.symbol: {f: str(getattr(e, f)) for f in FIELDS} for e in ledger.entries()}


@pytest.mark.slow
async def test_two_processes_on_one_journal_each_hold_every_fill(tmp_path: Path) -> None:
    journal_dir = tmp_path / "journal"
    outs = [tmp_path / "ledger-a.json", tmp_path / "ledger-b.json"]
    async with SimServer(SimConfig(demo_trader=False)) as sim:
        args = ["--base-url", sim.base_url, "--json", "--journal-dir", str(journal_dir), "--no-demo-trader"]
        async with _monitors(args, outs) as monitors:
            for monitor in monitors:
                await until(
                    lambda m=monitor: "Ready" in m.states() or m.process.returncode is not None,  # type: ignore[misc]
                    30.0,
                    "both monitors to be Ready",
                )
                assert "Ready" in monitor.states(), bytes(monitor.stderr)[-2000:]
            await _place_orders(sim, "shared")
            expected = sim_exec_ids(sim)
            assert len(expected) >= ORDERS
            with contextlib.suppress(AssertionError):  # a process missing fills is reported below, with figures
                await until(lambda: all(set(m.fill_ids()) >= expected for m in monitors), 20.0, "every fill")
            codes = await _stopped(monitors)
        assert codes == [0, 0], [bytes(m.stderr)[-2000:] for m in monitors]
        ledgers: list[dict[str, Any]] = [orjson.loads(out.read_bytes()) for out in outs]
        positions = {s: str(sim.account.position(CATEGORY, s).size) for s, _ in SIZES}
        held = [{s: ledger.get(s, {}).get("position", "0") for s, _ in SIZES} for ledger in ledgers]
        print(f"\n{ORDERS} orders, {len(expected)} fills; exchange {positions}; process A {held[0]}; B {held[1]}")
        for ledger, fills in zip(ledgers, (m.fill_ids() for m in monitors), strict=True):
            assert {s: Decimal(p) for s, p in positions.items()} == {
                s: Decimal(ledger.get(s, {}).get("position", "0")) for s in positions
            }, f"a process's positions differ from the exchange's ({len(set(fills))} of {len(expected)} fills)"
            assert ledger == _exchange_figures(sim)
        assert ledgers[0] == ledgers[1]


@pytest.mark.slow
async def test_three_processes_one_starting_while_orders_flow_each_hold_every_fill(tmp_path: Path) -> None:
    """A third process joins half-way: its start (replay of what the others journaled, backfill from the shared
    watermark) runs while the others journal new fills. Every process ends with the exchange's ledger."""
    journal_dir = tmp_path / "journal"
    outs = [tmp_path / f"ledger-{name}.json" for name in "abc"]
    async with SimServer(SimConfig(demo_trader=False)) as sim:
        args = ["--base-url", sim.base_url, "--json", "--journal-dir", str(journal_dir), "--no-demo-trader"]
        async with _monitors(args, outs[:2]) as monitors:
            for monitor in monitors:
                await until(lambda m=monitor: "Ready" in m.states(), 30.0, "the first monitors to be Ready")  # type: ignore[misc]

            async def join() -> None:  # a third process starts while the orders keep coming
                monitors.append(await _start(args, outs[2]))

            await _place_orders(sim, "three", halfway=join)
            await until(lambda: "Ready" in monitors[2].states(), 30.0, "the late monitor to be Ready")
            expected = sim_exec_ids(sim)
            with contextlib.suppress(AssertionError):
                await until(lambda: all(set(m.fill_ids()) >= expected for m in monitors[:2]), 20.0, "every fill")
            await asyncio.sleep(2.0)  # the late one's backfill and journal tail
            codes = await _stopped(monitors)
        assert codes == [0, 0, 0], [bytes(m.stderr)[-2000:] for m in monitors]
        ledgers: list[dict[str, Any]] = [orjson.loads(out.read_bytes()) for out in outs]
        expected_figures = _exchange_figures(sim)
        for name, ledger in zip("abc", ledgers, strict=True):
            assert ledger == expected_figures, f"process {name}'s ledger differs from the exchange's"
