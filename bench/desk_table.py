"""The desk against its floors, side by side in one run, each in its own pseudo-terminal at 160x50.

    PYTHONPATH=. .venv/bin/python -m bench.desk_table                  # ~2 minutes on 2 cores
    PYTHONPATH=. .venv/bin/python -m bench.desk_table --seconds 20 --rounds 2
    PYTHONPATH=. .venv/bin/python -m bench.desk_table --profile FILE   # also a cProfile of one desk run

Rows (each a fresh process in a pseudo-terminal whose output this process reads and counts):

* ``desk``: the default ``fluxum`` (the embedded exchange with its demo trader, the default symbols) while a
  person presses ``]`` (next symbol) every ``KEY_EVERY_S``;
* ``monitor``: ``fluxum monitor``, the same session and exchange with no UI, so ``desk - monitor`` is the UI;
* ``quiet``: the desk with the exchange paused (no book moves, no trades, no demo trader);
* ``static``: the same layout and widgets showing a scripted desk that never moves (the desk's floor);
* ``empty``: an empty Textual app (Textual's floor).

Figures: CPU seconds per wall second of the whole process (``/proc/PID/stat``, all threads), bytes per second
written to the terminal, the ladder's frames per second, book timestamp to painted ladder (the book's ``ts`` is
the exchange's send time on this machine's clock; "painted" is after the screen refresh that wrote the rebuilt
ladder), and key to screen (the key written to the terminal to the refresh that painted the new symbol's
ladder). Ratios are against the ``static`` row and the ``empty`` row of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIZE = (160, 50)
KEY_EVERY_S = 0.7
SETTLE_S = 1.0
"""After Ready (or the start), before the window opens: the first snapshots and the backfill."""
QUIET_SETTLE_S = 2.0
ROWS = ("desk", "monitor", "quiet", "static", "empty")


def _pct(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q / 100 * (len(ordered) - 1)))))]


# ---------------------------------------------------------------------------------------------- the children


async def _measure_window(app: Any, row: str, seconds: float, marker: Path, out: Path, profile: Path | None) -> None:
    """Wait for the row's desk to be Ready (and quiet), open the window (``marker``), measure, write ``out``, quit."""
    import cProfile

    ladder = None
    if row in ("desk", "quiet"):
        from exchange.events import LinkState
        from widgets.ladder import Ladder

        while app.runtime is None or app.desk.state.kind is not LinkState.READY:
            await asyncio.sleep(0.05)
        if row == "quiet":
            app.runtime.sim.faults.pause_market()
            await asyncio.sleep(QUIET_SETTLE_S)
        ladder = app.query_one(Ladder)
    await asyncio.sleep(SETTLE_S)
    profiler = cProfile.Profile() if profile is not None else None
    if ladder is not None:
        ladder.draw_log.clear()
    marker.write_text(str(time.time()))
    if profiler is not None:
        profiler.enable()
    await asyncio.sleep(seconds + 0.5)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(str(profile))
    draws = list(ladder.draw_log) if ladder is not None else []
    part = out.with_name(out.name + ".part")
    part.write_text(json.dumps({"draws": draws}))
    part.replace(out)  # whole or not at all: the parent reads it once it exists, then ends this process
    app.exit()


def _child_app(row: str, seconds: float, marker: Path, out: Path, profile: Path | None) -> Any:
    """The Textual app of one row, which opens its window (writes ``marker``), measures, writes ``out``, quits."""
    from textual.app import App

    from app.app import FluxumApp
    from exchange.config import load_settings

    class Window:
        async def window(self: Any, app: Any) -> None:
            await _measure_window(app, row, seconds, marker, out, profile)

    if row in ("desk", "quiet"):
        settings = load_settings(cfg="sim", environ={})
        options = {"seed": 1, "demo_trader": True, "journal_dir": Path(tempfile.mkdtemp(prefix="fluxum-bench-"))}

        class DeskRow(FluxumApp, Window):
            def __init__(self) -> None:
                super().__init__(settings, runtime_options=options)

            def on_ready(self) -> None:
                self.run_worker(self.window(self), name="bench", group="bench")

        return DeskRow()
    if row == "static":
        sys.path.insert(0, str(ROOT))
        from tests.ui.scripted import clock, long_in_profit

        class StaticRow(FluxumApp, Window):
            def __init__(self) -> None:
                super().__init__(desk=long_in_profit(), clock=clock)

            def on_ready(self) -> None:
                self.run_worker(self.window(self), name="bench", group="bench")

        return StaticRow()

    class EmptyRow(App[None], Window):
        def on_ready(self) -> None:
            self.run_worker(self.window(self), name="bench", group="bench")

    return EmptyRow()


# ---------------------------------------------------------------------------------------------- the parent


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of every thread of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _command(row: str, seconds: float, marker: Path, out: Path, profile: Path | None) -> list[str]:
    row = row.split("@")[0]
    if row == "monitor":
        return [sys.executable, "-m", "app.cli", "monitor", "--duration", str(seconds + 30)]
    command = [sys.executable, "-m", "bench.desk_table", "--child", row, "--seconds", str(seconds)]
    command += ["--marker", str(marker), "--out", str(out)]
    return command + (["--profile", str(profile)] if profile is not None else [])


def run_row(row: str, seconds: float, profile: Path | None = None, root: Path = ROOT) -> dict[str, Any]:
    """One row: its process in a pseudo-terminal of :data:`SIZE`, run from the code in ``root``; the figures of
    its window."""
    folder = Path(tempfile.mkdtemp(prefix="fluxum-desk-table-"))
    marker, out = folder / "window", folder / "figures.json"
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "PYTHONPATH": str(root), "COLUMNS": "", "LINES": ""}
    env["XDG_CONFIG_HOME"] = env["XDG_DATA_HOME"] = env["XDG_STATE_HOME"] = str(folder)
    env.pop("NO_COLOR", None)
    child = subprocess.Popen(
        _command(row, seconds, marker, out, profile),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=root,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    monitor = row.startswith("monitor")
    received = 0
    seen = bytearray()
    window: tuple[float, float, int] | None = None  # (wall, cpu, bytes) when it opened
    closed: tuple[float, float, int] | None = None
    keys: list[float] = []
    next_key = 0.0
    deadline = time.monotonic() + seconds + 90
    try:
        while time.monotonic() < deadline and closed is None:
            chunk = _read_some(master)
            if chunk is None:
                break
            received += len(chunk)
            if monitor and window is None:
                seen += chunk
            now = time.time()
            if window is None:
                if (monitor and b"ready" in seen.lower()) or marker.exists():
                    if monitor:
                        time.sleep(SETTLE_S)
                    window = (time.time(), _cpu_s(child.pid), received)
                    next_key = window[0] + KEY_EVERY_S / 2
                continue
            if row.startswith("desk") and now >= next_key:
                keys.append(time.time())
                os.write(master, b"]")
                next_key += KEY_EVERY_S
            if now >= window[0] + seconds:
                closed = (time.time(), _cpu_s(child.pid), received)
        if closed is None:
            raise RuntimeError(f"{row}: the window never closed ({received} bytes read)")
        if not monitor:
            _drain_until_written(master, out, child)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(10)
        os.close(master)
    assert window is not None and closed is not None
    return _window_figures(row, window, closed, keys, out, seconds)


def _read_some(master: int) -> bytes | None:
    """What the child wrote within 20 ms (``b""`` if nothing); None once its terminal is closed."""
    ready, _, _ = select.select([master], [], [], 0.02)
    if not ready:
        return b""
    try:
        chunk = os.read(master, 65536)
    except OSError:
        return None
    return chunk or None


def _drain_until_written(master: int, out: Path, child: subprocess.Popen[bytes]) -> None:
    """Keep the child's terminal read (a full one blocks it) until it has written its figures, 30 s at most."""
    end = time.monotonic() + 30
    while not out.exists() and time.monotonic() < end and child.poll() is None:
        select.select([master], [], [], 0.1)
        try:
            os.read(master, 65536)
        except OSError:
            break


def _window_figures(
    row: str,
    window: tuple[float, float, int],
    closed: tuple[float, float, int],
    keys: list[float],
    out: Path,
    seconds: float,
) -> dict[str, Any]:
    """CPU and bytes per wall second between the window's marks; the ladder's figures for a desk row."""
    wall = closed[0] - window[0]
    figures: dict[str, Any] = {
        "cpu": (closed[1] - window[1]) / wall,
        "bytes_per_s": (closed[2] - window[2]) / wall,
    }
    if row.split("@")[0] in ("desk", "quiet") and out.exists():
        figures.update(_screen_figures(json.loads(out.read_text())["draws"], keys, window[0], seconds))
    return figures


def _screen_figures(draws: list[list[Any]], keys: list[float], start: float, seconds: float) -> dict[str, Any]:
    """Ladder frames per second, book ts to painted, and each key to the first paint of a new symbol after it."""
    painted = [p - ts for ts, _cts, _built, p, _symbol in draws if ts is not None]
    changes = [p for (_, _, _, p, symbol), before in zip(draws[1:], draws, strict=False) if symbol != before[4]]
    to_screen: list[float] = []
    for key in keys:
        key_ms = key * 1000
        after = [p for p in changes if p >= key_ms]
        if after:
            to_screen.append(after[0] - key_ms)
    return {
        "frames_per_s": len([d for d in draws if d[3] >= start * 1000]) / seconds,
        "painted_p50": _pct(painted, 50),
        "painted_p99": _pct(painted, 99),
        "key_p50": _pct(to_screen, 50),
        "key_p99": _pct(to_screen, 99),
        "keys": f"{len(to_screen)}/{len(keys)}",
    }


def _merge(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one row: the mean of each figure (the key counts kept as text)."""
    merged: dict[str, Any] = {}
    for name in rounds[0]:
        values = [r[name] for r in rounds if name in r]
        merged[name] = values[-1] if isinstance(values[0], str) else sum(values) / len(values)
    return merged


def _cell(figures: dict[str, Any], name: str, fmt: str) -> str:
    value = figures.get(name)
    return "-" if value is None or value != value else format(value, fmt)


def _ratio(value: float, floor: float | None) -> str:
    return f"{value / floor:.1f}" if floor else "-"


def print_table(results: dict[str, dict[str, Any]]) -> None:
    floor, empty = results.get("static", {}), results.get("empty", {})
    print(
        f"{'row':<12} {'CPU-s/s':>8} {'/static':>8} {'/empty':>8} {'KiB/s':>8} "
        f"{'frames/s':>8} {'paint p50':>9} {'p99 ms':>7} {'key p50':>8} {'p99 ms':>7} {'keys':>6}"
    )
    for row, f in results.items():
        print(
            f"{row:<12} {f['cpu']:>8.3f} {_ratio(f['cpu'], floor.get('cpu')):>8} "
            f"{_ratio(f['cpu'], empty.get('cpu')):>8} {f['bytes_per_s'] / 1024:>8.1f} "
            f"{_cell(f, 'frames_per_s', '.1f'):>8} {_cell(f, 'painted_p50', '.0f'):>9} "
            f"{_cell(f, 'painted_p99', '.0f'):>7} {_cell(f, 'key_p50', '.0f'):>8} {_cell(f, 'key_p99', '.0f'):>7} "
            f"{f.get('keys', '-'):>6}"
        )
    if "desk" in results and "monitor" in results:
        print(f"UI share (desk - monitor): {results['desk']['cpu'] - results['monitor']['cpu']:.3f} CPU-s/s")


def print_profile(path: Path, top: int = 25) -> None:
    """Where the desk's time goes: exclusive time per part, then the top functions."""
    import pstats

    stats = pstats.Stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    parts: dict[str, float] = {}
    total = 0.0
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        total += tottime
        part = _part(filename)
        parts[part] = parts.get(part, 0.0) + tottime
    print(f"\nprofile of one desk window: {total:.2f} s of exclusive time")
    for part, seconds in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"  {part:<34} {seconds:6.2f} s  {seconds / total:5.1%}")
    print()
    stats.sort_stats("tottime").print_stats(top)


PARTS = (
    ("textual/_compositor", "textual compositor"),
    ("textual/strip", "textual strips"),
    ("textual/css", "textual styles (css)"),
    ("textual/drivers", "textual driver (terminal writes)"),
    ("textual/timer", "textual timers"),
    ("textual/message_pump", "textual message pump"),
    ("textual/", "textual, other"),
    ("rich/", "rich (segments, styles, text)"),
    ("/widgets/", "fluxum widgets"),
    ("/app/", "fluxum app"),
    ("exchange/bybit/sim", "the embedded exchange"),
    ("exchange/", "fluxum session and desk"),
    ("aiohttp", "aiohttp"),
    ("asyncio", "asyncio"),
    ("selectors", "asyncio"),
)


def _part(filename: str) -> str:
    for needle, part in PARTS:
        if needle in filename:
            return part
    return "other" if filename != "~" else "builtins"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window per row (default 15)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of every row, interleaved (default 1)")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"which rows (default {','.join(ROWS)})")
    parser.add_argument("--profile", type=Path, default=None, help="also profile one desk window into FILE")
    parser.add_argument("--profile-row", default="desk", help="the row --profile profiles (default desk)")
    parser.add_argument(
        "--code",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also run the desk rows from another checkout (with this bench in it), as row@NAME; repeatable",
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--marker", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child_app(args.child, args.seconds, args.marker, args.out, args.profile).run()
        return 0
    rows = [row for row in args.rows.split(",") if row]
    print(
        f"Fluxum desk table: {SIZE[0]}x{SIZE[1]} pseudo-terminals, {args.seconds:g} s windows, "
        f"{args.rounds} round(s), {os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    )
    roots = {"": ROOT}
    for item in args.code:
        name, _, folder = item.partition("=")
        roots[name] = Path(folder).resolve()
    plan = [(row, "") for row in rows]
    plan += [(row, name) for name in roots if name for row in rows if row in ("desk", "quiet", "static")]
    collected: dict[str, list[dict[str, Any]]] = {f"{row}@{name}" if name else row: [] for row, name in plan}
    for round_no in range(1, args.rounds + 1):
        for row, name in plan:
            label = f"{row}@{name}" if name else row
            collected[label].append(run_row(label, args.seconds, root=roots[name]))
            # each round's figure as it comes (stderr): how far the machine drifts between rounds
            print(f"  round {round_no} {label}: {collected[label][-1]['cpu']:.3f} CPU-s/s", file=sys.stderr)
    print_table({row: _merge(rounds) for row, rounds in collected.items()})
    if args.profile is not None:
        run_row(args.profile_row, args.seconds, profile=args.profile)
        print_profile(args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
