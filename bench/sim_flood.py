"""Flood benchmark: how many order-book deltas per second one client receives from the local exchange.

``python -m bench.sim_flood [--count N] [--depth 50] [--apply] [--in-process]``

By default the exchange runs in its own process (``fluxum sim --faults``, its control token given through
``FLUXUM_SIM_TOKEN``), as it would for a real client, so the client measured here has a core to itself: it
subscribes ``orderbook.{depth}.BTCUSDT``, asks the exchange to flood that topic through ``POST /_sim/flood``
(real deltas, ``u`` + 1 each), and receives and parses
(``orjson``) every frame on an aiohttp WebSocket, checking that ``u`` never skips. ``--apply`` also feeds each
delta to Fluxum's :class:`exchange.book.OrderBook`; ``--in-process`` runs the exchange in the client's own
event loop (one core for both, a lower bound). The figure is messages received per second of wall time from
the first flooded frame to the last.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import subprocess
import sys
import time
from contextlib import AsyncExitStack

import aiohttp
import orjson

from exchange.book import ApplyResult, OrderBook
from exchange.bybit.sim.control_access import TOKEN_ENV, TOKEN_HEADER

SYMBOL = "BTCUSDT"


async def _start_external(stack: AsyncExitStack) -> tuple[str, dict[str, str]]:
    """The base URL of a ``fluxum sim`` process, and the header its control requests carry."""
    token = secrets.token_urlsafe(32)
    process = subprocess.Popen(
        [sys.executable, "-m", "app", "sim", "--port", "0", "--faults", "--no-demo-trader",
         "--symbols", SYMBOL, "--categories", "linear"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, TOKEN_ENV: token},
    )  # fmt: skip

    async def stop() -> None:
        process.terminate()
        await asyncio.get_running_loop().run_in_executor(None, process.wait)

    stack.push_async_callback(stop)
    line = await asyncio.get_running_loop().run_in_executor(None, process.stdout.readline)  # type: ignore[union-attr]
    match = re.search(r"http://[^ ]+", line)
    if not match:
        raise SystemExit(f"the exchange did not start: {line!r}")
    return match.group(0), {TOKEN_HEADER: token}


async def _start_in_process(stack: AsyncExitStack) -> tuple[str, dict[str, str]]:
    from exchange.bybit.sim.server import SimConfig, SimServer

    sim = SimServer(SimConfig(symbols=(SYMBOL,), categories=("linear",), faults_enabled=True, demo_trader=False))
    await stack.enter_async_context(sim)
    return sim.base_url, sim.control_headers


async def run(count: int, depth: int, apply: bool, in_process: bool) -> dict[str, float]:
    topic = f"orderbook.{depth}.{SYMBOL}"
    async with AsyncExitStack() as stack:
        base, control_headers = await (_start_in_process(stack) if in_process else _start_external(stack))
        session = await stack.enter_async_context(aiohttp.ClientSession())
        ws = await session.ws_connect(base.replace("http", "ws", 1) + "/v5/public/linear", max_msg_size=16 << 20)
        await ws.send_str(orjson.dumps({"op": "subscribe", "args": [topic]}).decode())
        book = OrderBook(topic)
        last_u = None
        while last_u is None:  # ack, then the snapshot
            message = orjson.loads((await ws.receive()).data)
            if message.get("topic") == topic:
                book.apply(message)
                last_u = message["data"]["u"]
        flood = asyncio.ensure_future(
            session.post(f"{base}/_sim/flood", json={"topic": topic, "count": count}, headers=control_headers)
        )
        received = 0
        gaps = 0
        first = 0.0
        loads = orjson.loads
        book_apply = book.apply
        while received < count:
            msg = await ws.receive()
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise SystemExit(f"connection ended early: {msg.type!r}")
            message = loads(msg.data)
            if message.get("topic") != topic:
                continue
            if not first:
                first = time.perf_counter()
            u = message["data"]["u"]
            if u != last_u + 1:
                gaps += 1
            last_u = u
            if apply and book_apply(message) is not ApplyResult.DELTA:
                gaps += 1
            received += 1
        elapsed = time.perf_counter() - first
        response = await flood
        sent = (await response.json())["sent"]
        await ws.close()
    return {
        "received": received,
        "sent": sent,
        "seconds": elapsed,
        "msgs_per_s": received / elapsed,
        "gaps": gaps,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sim_flood", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200_000, help="deltas to flood (default 200000)")
    parser.add_argument("--depth", type=int, default=50, choices=(50, 200, 1000))
    parser.add_argument("--apply", action="store_true", help="also apply every delta to exchange.book.OrderBook")
    parser.add_argument("--in-process", action="store_true", help="run the exchange in the client's event loop")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.count, args.depth, args.apply, args.in_process))
    where = "in-process" if args.in_process else "separate process"
    what = "received+parsed+applied" if args.apply else "received+parsed"
    print(
        f"sim flood orderbook.{args.depth}.{SYMBOL} ({where}, {what}): {result['received']:,} msgs in "
        f"{result['seconds']:.2f} s = {result['msgs_per_s']:,.0f} msg/s, gaps {result['gaps']}"
    )
    return 0 if result["gaps"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
