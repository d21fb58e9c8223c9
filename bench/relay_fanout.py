"""The relay's figures: the latency it adds, its CPU for 1, 10 and 50 desks and per symbol, and the Bybit
connections a floor uses, all measured side by side in one run on loopback.

``python -m bench.relay_fanout [--seconds 10] [--desks 1,10,50] [--symbols BTCUSDT,ETHUSDT,SOLUSDT]``

The local exchange (its demo trader moving the market) runs in this process, a real ``nats-server -js`` and
``fluxum relay`` each in their own (their CPU is read from ``/proc``). Desks are public-only sessions in this
process: the account side is the same direct path either way.

1. Latency: one desk direct and one on the relay at the same time; for every book frame, the desk's wall clock
   when its session gets the frame minus the exchange's ``ts`` (ms; both clocks are this machine's), p50 and p99.
2. Relay CPU (CPU seconds per wall second, all threads) and nats-server's with 1, 10 and 50 desks on the relay,
   and the relay's with one symbol against all of them at one desk.
3. Bybit connections: the public WebSockets the exchange accepted while the desks started (relayed: none, the
   relay's one is held already; direct: one per desk).
4. A flood: ``--flood`` book deltas pushed by the exchange as fast as the relay takes them, with 1 and 10 desks:
   the relay's and nats-server's CPU per message, and how long until every desk's book had the last of them
   (a desk that fell behind and started over from a snapshot gets fewer frames: counted beside).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from app.runtime import Runtime, open_runtime
from exchange.bybit.sim.server import SimConfig, SimServer
from exchange.config import load_settings
from exchange.events import LinkState
from exchange.sources import FrameHandler, FrameLink, FrameSource, LinkSpec
from tests.support.relay import nats_server
from tests.support.sim import book_stream


class LatencyProbe:
    """A frame source around the session's own: each public book frame's age when the session gets it."""

    def __init__(self) -> None:
        self.ages_ms: list[float] = []

    def wrap(self, inner: FrameSource) -> FrameSource:
        probe = self

        class Probed:
            def link(
                self, spec: LinkSpec, on_frame: FrameHandler, *, on_rejected: Callable[[], None] | None = None
            ) -> FrameLink:
                if spec.name != "public":
                    return inner.link(spec, on_frame, on_rejected=on_rejected)

                def timed(frame: dict[str, Any], received_ms: int) -> None:
                    ts = frame.get("ts")
                    if isinstance(ts, int) and str(frame.get("topic", "")).startswith("orderbook."):
                        probe.ages_ms.append(time.time() * 1000 - ts)
                    on_frame(frame, received_ms)

                return inner.link(spec, timed, on_rejected=on_rejected)

        return Probed()


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@contextlib.asynccontextmanager
async def relay_process(nats_url: str, base_url: str, symbols: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """``fluxum relay`` in its own process, publishing once it says so."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli",
        "relay",
        "--nats",
        nats_url,
        "--base-url",
        base_url,
        "--symbols",
        symbols,
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        stdin=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    while b"publishing to NATS" not in (line := await asyncio.wait_for(process.stdout.readline(), 30)):
        assert line, "the relay ended before publishing"
    drain = asyncio.create_task(_drain(process.stdout))
    try:
        await asyncio.sleep(1.5)  # its first snapshots are out
        yield process
    finally:
        process.terminate()
        await process.wait()
        drain.cancel()


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


@contextlib.asynccontextmanager
async def desks(
    count: int, base_url: str, symbols: str, feed: str | None, probe: LatencyProbe | None = None
) -> AsyncIterator[list[Runtime]]:
    """``count`` public-only desks, Ready when yielded (on the relay when ``feed`` is given, else direct)."""
    settings = load_settings(cfg="sim", base_url=base_url, symbols=symbols, environ={})
    async with contextlib.AsyncExitStack() as stack:
        runtimes: list[Runtime] = []
        for _ in range(count):
            rt = await stack.enter_async_context(
                open_runtime(settings, private=False, feed=feed, wrap_frames=probe.wrap if probe else None)
            )
            task = asyncio.create_task(rt.session.run())
            stack.push_async_callback(_stopped, rt, task)
            runtimes.append(rt)
        deadline = time.monotonic() + 60
        while not all(rt.session.state.kind is LinkState.READY for rt in runtimes):
            assert time.monotonic() < deadline, "the desks never became Ready"
            await asyncio.sleep(0.05)
        yield runtimes


async def _stopped(rt: Runtime, task: asyncio.Task[None]) -> None:
    await rt.session.stop()
    await asyncio.wait_for(task, 15)


async def latency(seconds: float, sim: SimServer, symbols: str, nats_url: str) -> None:
    direct, relayed = LatencyProbe(), LatencyProbe()
    base_url = sim.base_url
    before = sim.counters["ws.connections.public"]
    async with desks(3, base_url, symbols, None):
        opened = sim.counters["ws.connections.public"] - before
    print(f"\n0. public WebSockets the exchange accepted for 3 direct desks: {opened}")
    async with desks(1, base_url, symbols, None, direct), desks(1, base_url, symbols, nats_url, relayed):
        direct.ages_ms.clear()
        relayed.ages_ms.clear()
        await asyncio.sleep(seconds)
    print(f"\n1. exchange ts -> desk session, book frames over {seconds:g} s (one direct and one relayed desk at once)")
    print(f"   {'path':<9} {'frames':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for name, probe in (("direct", direct), ("relayed", relayed)):
        ages = probe.ages_ms
        print(f"   {name:<9} {len(ages):>7} {percentile(ages, 0.5):>8.2f} {percentile(ages, 0.99):>8.2f}")
    added = percentile(relayed.ages_ms, 0.5) - percentile(direct.ages_ms, 0.5)
    added99 = percentile(relayed.ages_ms, 0.99) - percentile(direct.ages_ms, 0.99)
    print(f"   added by the relay: p50 {added:+.2f} ms, p99 {added99:+.2f} ms")
    if direct.ages_ms:
        print(
            f"   (mean ages: direct {statistics.fmean(direct.ages_ms):.2f} ms, relayed "
            f"{statistics.fmean(relayed.ages_ms):.2f} ms)"
        )


async def cpu_per_desks(
    seconds: float, counts: list[int], sim: SimServer, symbols: str, nats_url: str, relay_pid: int, nats_pid: int
) -> None:
    print(f"\n2. CPU seconds per wall second over {seconds:g} s, {symbols}")
    print(f"   {'desks':>5} {'relay':>7} {'nats':>7} {'desks':>7} {'book frames/s/desk':>19} {'new public WS':>14}")
    for count in counts:
        probe = LatencyProbe()
        before = sim.counters["ws.connections.public"]
        async with desks(count, sim.base_url, symbols, nats_url, probe):
            opened = sim.counters["ws.connections.public"] - before
            probe.ages_ms.clear()
            relay0, nats0, own0, wall0 = cpu_s(relay_pid), cpu_s(nats_pid), time.process_time(), time.monotonic()
            await asyncio.sleep(seconds)
            wall = time.monotonic() - wall0
            relay, nats = (cpu_s(relay_pid) - relay0) / wall, (cpu_s(nats_pid) - nats0) / wall
            own = (time.process_time() - own0) / wall
        rate = len(probe.ages_ms) / wall / count
        print(f"   {count:>5} {relay:>7.3f} {nats:>7.3f} {own:>7.3f} {rate:>19.0f} {opened:>14}")


async def relay_cpu(seconds: float, base_url: str, symbols: str, nats_url: str, pid: int) -> float:
    async with desks(1, base_url, symbols, nats_url):
        before, wall0 = cpu_s(pid), time.monotonic()
        await asyncio.sleep(seconds)
        return (cpu_s(pid) - before) / (time.monotonic() - wall0)


async def flood(
    sim: SimServer, count: int, desk_counts: list[int], symbol: str, nats_url: str, pids: tuple[int, int]
) -> None:
    print(f"\n4. a flood of {count} book deltas on {symbol} through the relay")
    header = f"{'desks':>5} {'relay us/msg':>13} {'nats us/msg/desk':>17} {'all desks had them in':>22}"
    print(f"   {header} {'msgs/s/desk':>12}")
    for desks_n in desk_counts:
        probe = LatencyProbe()
        async with desks(desks_n, sim.base_url, symbol, nats_url, probe) as runtimes:
            probe.ages_ms.clear()
            relay0, nats0, wall0 = cpu_s(pids[0]), cpu_s(pids[1]), time.monotonic()
            sent = await sim.faults.flood(f"orderbook.50.{symbol}", count)
            last_u = book_stream(sim, f"orderbook.50.{symbol}").u
            deadline = wall0 + 120
            while time.monotonic() < deadline and any((rt.session.books[symbol].u or 0) < last_u for rt in runtimes):
                await asyncio.sleep(0.01)
            wall = time.monotonic() - wall0
            relay, nats = cpu_s(pids[0]) - relay0, cpu_s(pids[1]) - nats0
            resyncs = sum(rt.session.counters["resyncs"] for rt in runtimes)
        got = len(probe.ages_ms) / desks_n
        print(
            f"   {desks_n:>5} {relay / sent * 1e6:>13.1f} {nats / (sent * desks_n) * 1e6:>17.1f} "
            f"{wall:>20.2f} s {got / wall:>12.0f}   ({got:.0f} frames a desk, {resyncs} resyncs)"
        )


async def main(seconds: float, counts: list[int], symbols: str, flood_count: int) -> None:
    names = symbols.split(",")
    config = SimConfig(seed=1, demo_trader=True, symbols=tuple(names), demo_symbols=tuple(names), faults_enabled=True)
    with tempfile.TemporaryDirectory(prefix="fluxum-bench-") as store:
        async with SimServer(config) as sim, nats_server(Path(store)) as nats:
            assert nats.process is not None
            print(f"relay bench: exchange {sim.base_url}, NATS {nats.url}, load average {os.getloadavg()[0]:.1f}")
            async with relay_process(nats.url, sim.base_url, symbols) as relay:
                await latency(seconds, sim, symbols, nats.url)
                await cpu_per_desks(seconds, counts, sim, symbols, nats.url, relay.pid, nats.process.pid)
                many = await relay_cpu(seconds, sim.base_url, symbols, nats.url, relay.pid)
                if flood_count:
                    pids = (relay.pid, nats.process.pid)
                    await flood(sim, flood_count, [1, 10], names[0], nats.url, pids)
            async with relay_process(nats.url, sim.base_url, names[0]) as relay:
                one = await relay_cpu(seconds, sim.base_url, names[0], nats.url, relay.pid)
            print(
                f"\n3. relay CPU at one desk: {names[0]} alone {one:.3f}, all {len(names)} symbols {many:.3f} "
                f"({(many - one) / max(1, len(names) - 1):.3f} per added symbol)"
            )
            print(f"   load average at the end {os.getloadavg()[0]:.1f}")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--desks", default="1,10,50")
    parser.add_argument("--symbols", default="BTCUSDT,ETHUSDT,SOLUSDT")
    parser.add_argument("--flood", type=int, default=20_000, help="book deltas of the flood (0: none)")
    args = parser.parse_args()
    asyncio.run(main(args.seconds, [int(n) for n in args.desks.split(",")], args.symbols, args.flood))


if __name__ == "__main__":
    run()
