"""Order-book throughput: Fluxum's book against pybit, ccxt, the order-book C extension and a SortedDict.

Run ``.venv/bin/python -m bench.book_throughput [--deltas N] [--seed S]``. The parent generates one deterministic
``orderbook.200.BTCUSDT`` stream (``bench.book_stream``), writes it to a temporary file, then runs every
implementation in its own fresh interpreter, one after another, so no import, cache or heap state leaks between
them. Each worker times, per message, ``orjson.loads`` of the bytes (the same parse for everyone) + the
implementation's apply + a top-25 read of both sides, (a) every 100 messages and (b) after every message;
best of ``--reps`` runs with the garbage collector off; then it checks its final book against the generator's
true book and measures a top-25 read on its own. Numbers from one run are comparable with each other only:
the machine is shared, which is why the table reports ratios measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from bench.book_stream import Stream, generate, load, save, true_book
from bench.peers import IMPLEMENTATIONS, TOP, Adapter, make

ROOT = Path(__file__).resolve().parent.parent
EVERY = 100  # the "read every 100 messages" cadence
PARSE_ONLY = "parse-only"
READ_CALLS = 20_000


# ---------------------------------------------------------------------------------------------- checks


def check(adapter: Adapter, stream: Stream) -> tuple[str | None, str]:
    """``(failure, note)``: failure is None when the final book holds exactly the true levels and sizes."""
    want_bids, want_asks = true_book(stream)
    try:
        bids, asks = adapter.levels()
    except Exception as exc:  # a peer that lost the book is a FAIL row, not a crash of the run
        return f"{type(exc).__name__}: {exc}", ""
    for name, got, want in (("bids", bids, want_bids), ("asks", asks, want_asks)):
        as_dict = dict(got)
        if len(as_dict) != len(got):
            return f"{name}: duplicate prices", ""
        if as_dict != want:
            missing = len(want.keys() - as_dict.keys())
            extra = len(as_dict.keys() - want.keys())
            return f"{name}: {missing} missing, {extra} extra, sizes differ elsewhere", ""
    notes = []
    sorted_ok = [p for p, _ in bids] == sorted(want_bids, reverse=True) and [p for p, _ in asks] == sorted(
        want_asks
    )
    if not sorted_ok:
        if adapter.ordered:
            return "levels right but not best-first", ""
        notes.append("same level set, unsorted (compared as sets)")
    top_bids, top_asks = adapter.read()
    true_top = (sorted(want_bids.items(), reverse=True)[:TOP], sorted(want_asks.items())[:TOP])
    as_floats = (
        [(float(p), float(s)) for p, s in top_bids],
        [(float(p), float(s)) for p, s in top_asks],
    )
    if as_floats != true_top:
        notes.append("its top-25 read is WRONG (not the best 25)")
    return None, "; ".join(notes)


# ---------------------------------------------------------------------------------------------- timing


def _noop(message: Any = None) -> None:
    return None


def run_once(messages: Sequence[bytes], apply: Callable[[Any], Any], read: Callable[[], Any], every: int) -> float:
    """Seconds to parse, apply and read the whole stream once, reading every ``every`` messages."""
    loads = orjson.loads
    n = len(messages)
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        if every == 1:
            for raw in messages:
                apply(loads(raw))
                read()
        else:
            for start in range(0, n, every):
                for raw in messages[start : start + every]:
                    apply(loads(raw))
                read()
        return time.perf_counter() - t0
    finally:
        gc.enable()


def time_reads(read: Callable[[], Any], calls: int = READ_CALLS) -> float:
    """Seconds per top-25 read of both sides on an unchanged book (best of 3)."""
    best = float("inf")
    rng = range(calls)
    for _ in range(3):
        gc.disable()
        try:
            t0 = time.perf_counter()
            for _ in rng:
                read()
            best = min(best, time.perf_counter() - t0)
        finally:
            gc.enable()
    return best / calls


def worker(key: str, path: Path, reps: int) -> dict[str, Any]:
    """Everything measured for one implementation, in this (fresh) process."""
    stream = load(path)
    messages = stream.messages
    out: dict[str, Any] = {"key": key, "messages": len(messages), "failure": None, "note": ""}
    for every in (EVERY, 1):
        best = float("inf")
        for _ in range(reps):
            if key == PARSE_ONLY:
                adapter = Adapter(_noop, _noop, lambda: ([], []))
            else:
                adapter = make(key)
            best = min(best, run_once(messages, adapter.apply, adapter.read, every))
            if key != PARSE_ONLY and out["failure"] is None:
                out["failure"], out["note"] = check(adapter, stream)
        out[f"seconds_every_{every}"] = best
    out["read_isolated_s"] = time_reads(adapter.read)
    if key == "order-book":
        from bench.peers import c_order_book

        sides = (c_order_book.OrderBook(),)
        book = sides[0]
        for price, size in stream.final_bids:
            book.bids[float(price)] = float(size)
        for price, size in stream.final_asks:
            book.asks[float(price)] = float(size)
        for name, fn in (
            ("keys()[:25] + lookups", c_order_book.read_top),
            ("to_list()[:25]", c_order_book.read_to_list),
            ("index(i) x 25", c_order_book.read_index),
        ):
            out.setdefault("read_variants", {})[name] = time_reads(lambda fn=fn: (fn(book.bids), fn(book.asks)))
    return out


# ---------------------------------------------------------------------------------------------- report


def machine() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for dist in ("orjson", "sortedcontainers", "pybit", "ccxt", "order-book"):
        try:
            versions.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{dist} (missing)")
    load1, load5, _ = os.getloadavg()
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores; load average {load1:.2f} (1 min) {load5:.2f} (5 min) at start",
        f"Python {platform.python_version()} ({platform.python_implementation()}), {platform.platform()}",
        "Packages: " + ", ".join(versions),
    ]


def _fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def table(results: list[dict[str, Any]]) -> list[str]:
    """The Markdown table (the lead copies it into README.md)."""
    by_key = {r["key"]: r for r in results}
    flux = by_key.get("fluxum")
    rows = [
        "| implementation | msgs/s, read every 100 | Fluxum / this | msgs/s, read every msg | Fluxum / this "
        "| µs/msg (every 100 / every msg) | µs per top-25 read: derived / isolated |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        label = "orjson.loads only (harness floor)" if r["key"] == PARSE_ONLY else IMPLEMENTATIONS[r["key"]][2]
        if r.get("failure"):
            rows.append(f"| {label} | FAIL: {r['failure']} | | | | | |")
            continue
        n = r["messages"]
        t100, t1 = r["seconds_every_100"], r["seconds_every_1"]
        rate100, rate1 = n / t100, n / t1
        reads_saved = n - -(-n // EVERY)
        derived = (t1 - t100) / reads_saved * 1e6
        if flux and not flux.get("failure"):
            ratio100 = f"{(n / flux['seconds_every_100']) / rate100:.2f}x"
            ratio1 = f"{(n / flux['seconds_every_1']) / rate1:.2f}x"
        else:
            ratio100 = ratio1 = "n/a"
        if r["key"] == PARSE_ONLY:
            ratio100 = ratio1 = "-"
        read = "-" if r["key"] == PARSE_ONLY else f"{derived:.2f} / {r['read_isolated_s'] * 1e6:.2f}"
        note = f" ({r['note']})" if r.get("note") else ""
        rows.append(
            f"| {label}{note} | {_fmt_rate(rate100)} | {ratio100} | {_fmt_rate(rate1)} | {ratio1} "
            f"| {t100 / n * 1e6:.2f} / {t1 / n * 1e6:.2f} | {read} |"
        )
    return rows


def run_all(keys: list[str], deltas: int, seed: int, reps: int) -> list[dict[str, Any]]:
    print(*machine(), sep="\n")
    t0 = time.perf_counter()
    stream = generate(deltas, seed)
    gen_s = time.perf_counter() - t0
    sizes = [len(m) for m in stream.messages]
    print(
        f"Stream: orderbook.200.BTCUSDT, seed {seed}, 1 snapshot + {deltas:,} deltas, "
        f"{sum(sizes) / len(sizes):.0f} bytes/message on average (generated in {gen_s:.1f} s, not timed); "
        f"best of {reps} runs per cadence, each implementation in a fresh process"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="fluxum-bench-") as tmp:
        path = Path(tmp) / "stream.jsonl"
        save(stream, path)
        for key in keys:
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "bench.book_throughput", "--worker", key, "--stream", str(path),
                 "--reps", str(reps)],
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            if proc.returncode != 0:
                tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                result = {"key": key, "failure": f"worker crashed: {tail}", "messages": len(stream.messages)}
            else:
                result = orjson.loads(proc.stdout.strip().splitlines()[-1])
            print(f"  {key}: done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
            results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deltas", type=int, default=200_000, help="deltas after the snapshot (default 200000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reps", type=int, default=3, help="runs per cadence; the best counts (default 3)")
    parser.add_argument(
        "--only", nargs="+", choices=[PARSE_ONLY, *IMPLEMENTATIONS], help="run only these implementations"
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--stream", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(orjson.dumps(worker(args.worker, args.stream, args.reps)).decode())
        return 0
    keys = args.only or [PARSE_ONLY, *IMPLEMENTATIONS]
    results = run_all(keys, args.deltas, args.seed, args.reps)
    print()
    print(*table(results), sep="\n")
    for r in results:
        for name, seconds in r.get("read_variants", {}).items():
            print(f"order-book read variant {name}: {seconds * 1e6:.2f} µs (both sides, unchanged book)")
    if args.json:
        args.json.write_bytes(orjson.dumps({"machine": machine(), "results": results}, option=orjson.OPT_INDENT_2))
    failed = [r["key"] for r in results if r.get("failure")]
    return 1 if "fluxum" in failed else 0


if __name__ == "__main__":
    sys.exit(main())
