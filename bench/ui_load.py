"""End-to-end load of the dashboard: the embedded exchange pushing orderbook.50, trades, tickers, 5 symbols.

    .venv/bin/python -m bench.ui_load                 # headless App.run_test, ~25 s
    .venv/bin/python -m bench.ui_load --pty           # the real terminal driver in a pseudo-terminal
    .venv/bin/python -m bench.ui_load --baseline 10   # also the session + exchange alone, for comparison

What it measures while the desk is Ready, cycling through the symbols every few seconds:

* CPU seconds per wall second of the whole process (``time.process_time``): exchange + session + UI, since the
  exchange is embedded; ``--baseline`` runs the exchange and session without the UI for comparison;
* event-loop lag: a probe task sleeps 10 ms in a loop and records the overshoot (p50 / p99 / max);
* data-to-screen delay: for every book version the ladder drew, the book's own ``ts`` (the exchange's send
  time, its clock being this machine's) against the wall clock when the ladder rebuilt its strips and when the
  compositor asked for them (painted); p50 / p99;
* state-to-screen delay, once at the end: the connections are dropped and the time from the session entering
  Reconnecting to the connection bar showing it is recorded.

The headless driver builds every strip and composes every frame but skips writing ANSI to a terminal;
``--pty`` runs the normal Linux driver in a pseudo-terminal whose output is read and discarded, so that cost
is in too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SYMBOLS = "BTCUSDT,ETHUSDT,SOLUSDT,XRPUSDT,DOGEUSDT"
PROBE_S = 0.010


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))
    return ordered[index]


async def _probe(lags: list[float], stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(PROBE_S)
        lags.append((loop.time() - start - PROBE_S) * 1000)


def _settings() -> Any:
    from exchange.config import load_settings

    return load_settings(cfg="sim", symbols=SYMBOLS, environ={})


def _options(seed: int) -> dict[str, Any]:
    import tempfile

    return {"seed": seed, "demo_trader": True, "journal_dir": Path(tempfile.mkdtemp(prefix="fluxum-bench-"))}


async def measure(app: Any, seconds: float, switch_every: float = 5.0) -> dict[str, Any]:
    """Run inside the app's loop once it is Ready; returns the figures."""
    from exchange.events import LinkState
    from widgets.connection_bar import ConnectionBar
    from widgets.ladder import Ladder

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while app.runtime is None or app.desk.state.kind is not LinkState.READY:
        if loop.time() > deadline:
            raise RuntimeError("the desk did not become Ready within 30 s")
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.0)  # let the first snapshots and the backfill settle

    ladder = app.query_one(Ladder)
    ladder.draw_log.clear()
    lags: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(_probe(lags, stop))
    published0 = app.runtime.hub.published
    draws: list[tuple[int | None, int | None, int, int, str | None]] = []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    next_switch = loop.time() + switch_every
    end = loop.time() + seconds
    while loop.time() < end:
        await asyncio.sleep(0.1)
        draws.extend(ladder.draw_log)
        ladder.draw_log.clear()
        if loop.time() >= next_switch:
            next_switch += switch_every
            app.desk_screen.action_cycle_symbol(1)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    stop.set()
    await probe
    published = app.runtime.hub.published - published0
    stats = app.desk.stats

    built = [b - ts for ts, _, b, _, _ in draws if ts is not None]
    painted = [p - ts for ts, _, _, p, _ in draws if ts is not None]

    # state-to-screen: drop every connection, time the bar against the session's own timestamp
    bar = app.query_one(ConnectionBar)
    shown_before = len(bar.shown)
    await app.runtime.sim.faults.drop_connections()
    state_delay_ms = None
    deadline = loop.time() + 10
    while loop.time() < deadline:
        await asyncio.sleep(0.005)
        recon = [when for kind, when in list(bar.shown)[shown_before:] if kind is LinkState.RECONNECTING]
        if recon:
            since = app.desk.state.since_ms if app.desk.state.kind is LinkState.RECONNECTING else None
            if since is None:
                break
            state_delay_ms = recon[0] * 1000 - since
            break

    return {
        "seconds": round(wall1 - wall0, 2),
        "cpu_per_wall": round((cpu1 - cpu0) / (wall1 - wall0), 3),
        "loop_lag_ms": {
            "p50": round(_pct(lags, 50), 2),
            "p99": round(_pct(lags, 99), 2),
            "max": round(max(lags) if lags else float("nan"), 2),
            "samples": len(lags),
        },
        "ladder_frames_per_s": round(len(draws) / (wall1 - wall0), 1),
        "data_to_rebuilt_ms": {"p50": round(_pct(built, 50), 1), "p99": round(_pct(built, 99), 1)},
        "data_to_painted_ms": {
            "p50": round(_pct(painted, 50), 1),
            "p99": round(_pct(painted, 99), 1),
            "samples": len(painted),
        },
        "session_messages_per_s": round(stats.messages_per_second, 1) if stats else None,
        "hub_events_per_s": round(published / (wall1 - wall0), 1),
        "state_to_screen_ms": round(state_delay_ms, 1) if state_delay_ms is not None else None,
    }


async def baseline(seconds: float, seed: int) -> dict[str, Any]:
    """The exchange and the session alone (no UI), same symbols."""
    from app.runtime import open_runtime
    from exchange.events import LinkState

    async with open_runtime(_settings(), **_options(seed)) as runtime:
        task = asyncio.create_task(runtime.session.run())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while runtime.session.state.kind is not LinkState.READY:
            if loop.time() > deadline:
                raise RuntimeError("the session did not become Ready within 30 s")
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        lags: list[float] = []
        stop = asyncio.Event()
        probe = asyncio.create_task(_probe(lags, stop))
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu1, wall1 = time.process_time(), time.perf_counter()
        stop.set()
        await probe
        await runtime.session.stop()
        await task
    return {
        "seconds": round(wall1 - wall0, 2),
        "cpu_per_wall": round((cpu1 - cpu0) / (wall1 - wall0), 3),
        "loop_lag_ms": {"p50": round(_pct(lags, 50), 2), "p99": round(_pct(lags, 99), 2)},
    }


def _bench_app_class() -> type:
    from app.app import FluxumApp

    class BenchApp(FluxumApp):
        """The dashboard, measuring itself once Ready, then quitting."""

        def __init__(self, seconds: float, seed: int, out: Path | None) -> None:
            super().__init__(_settings(), runtime_options=_options(seed))
            self.bench_seconds = seconds
            self.bench_out = out
            self.figures: dict[str, Any] | None = None

        def on_ready(self) -> None:
            self.run_worker(self._bench(), name="bench", group="bench")

        async def _bench(self) -> None:
            try:
                self.figures = await measure(self, self.bench_seconds)
            finally:
                if self.bench_out is not None:
                    self.bench_out.write_text(json.dumps(self.figures))
                await self.action_quit()

    return BenchApp


async def headless(seconds: float, seed: int, size: tuple[int, int]) -> dict[str, Any]:
    app = _bench_app_class()(seconds, seed, None)
    async with app.run_test(size=size) as pilot:
        while app.figures is None and app.is_running:
            await pilot.pause(0.2)
    if app.figures is None:
        raise RuntimeError("the bench did not finish")
    return app.figures


def in_pty(seconds: float, seed: int, size: tuple[int, int]) -> dict[str, Any]:
    """Run the real app (Linux driver) in a pseudo-terminal; read and discard its output."""
    import fcntl
    import pty
    import select
    import struct
    import tempfile
    import termios

    out = Path(tempfile.mkdtemp(prefix="fluxum-bench-")) / "figures.json"
    pid, fd = pty.fork()
    if pid == 0:  # the child: the dashboard in a terminal
        os.environ["TERM"] = "xterm-256color"
        os.execv(
            sys.executable,
            [
                sys.executable,
                "-m",
                "bench.ui_load",
                "--child",
                "--seconds",
                str(seconds),
                "--seed",
                str(seed),
                "--out",
                str(out),
            ],
        )
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    received = 0
    deadline = time.monotonic() + seconds + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            received += len(chunk)
        finished, status = os.waitpid(pid, os.WNOHANG)
        if finished:
            break
    else:
        os.kill(pid, 9)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    if not out.exists():
        raise RuntimeError("the dashboard in the pseudo-terminal did not write its figures")
    figures = json.loads(out.read_text())
    figures["terminal_bytes_per_s"] = round(received / max(1e-9, figures["seconds"] + 2), 0)
    return figures


def _print(title: str, figures: dict[str, Any]) -> None:
    print(f"\n{title}")
    for key, value in figures.items():
        print(f"  {key:<24} {value}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=25.0, help="measured time with the UI (default 25)")
    parser.add_argument(
        "--baseline",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="also measure the exchange + session without the UI for this long",
    )
    parser.add_argument("--pty", action="store_true", help="run the real terminal driver in a pseudo-terminal")
    parser.add_argument("--size", default="160x50", help="terminal size, WIDTHxHEIGHT (default 160x50)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    width, height = (int(part) for part in args.size.lower().split("x"))

    if args.child:
        app = _bench_app_class()(args.seconds, args.seed, args.out)
        app.run()
        return 0

    print(
        f"Fluxum UI load: embedded exchange, {SYMBOLS} (orderbook.50 + trades + tickers), demo trader on, "
        f"{width}x{height}, {args.seconds:g} s, {os.cpu_count()} CPUs"
    )
    if args.baseline > 0:
        _print("exchange + session, no UI", asyncio.run(baseline(args.baseline, args.seed)))
    if args.pty:
        _print("dashboard, Linux driver in a pseudo-terminal", in_pty(args.seconds, args.seed, (width, height)))
    else:
        _print("dashboard, headless driver", asyncio.run(headless(args.seconds, args.seed, (width, height))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
