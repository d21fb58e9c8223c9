"""Order-book throughput on several stream shapes: Fluxum's book against the order-book C extension, a
SortedDict, ccxt (and pybit on request).

Run ``.venv/bin/python -m bench.book_throughput [--shapes NAME ...] [--deltas N] [--seed S]``. For each shape
(``bench.book_stream.SHAPES``) the parent generates one deterministic stream and writes it to a temporary file.
Every implementation then gets its own fresh interpreter (a worker) that loads the stream, imports only its
own library and makes its timed passes; the workers run one after another, never at the same time.

A pass times, per message, ``orjson.loads`` of the bytes (the same parse for everyone) + the implementation's
apply + a top-25 read of both sides, (a) every 100 messages or (b) after every message, with the garbage
collector off, on a fresh book, in chunks of 1,000 messages. Time is the worker thread's CPU time
(``time.thread_time``): the machine is shared, and wall time counted every moment another process held the
core. The figure kept is the sum over chunks of each chunk's best time across the passes, so "best of 3"
holds per chunk. After every pass the worker checks its final book against the generator's true book.
Numbers are comparable within one run only, which is why the tables report ratios measured in the same run.
For Fluxum the worker also reports where the time goes (``profile``) and the number memo's hit rate.
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
from typing import IO, Any

import orjson

from bench.book_profile import profile
from bench.book_stream import SHAPES, Stream, generate, load, save, true_book
from bench.peers import IMPLEMENTATIONS, TOP, Adapter, make

ROOT = Path(__file__).resolve().parent.parent
EVERY = 100  # the "read every 100 messages" cadence
CHUNK = 1_000  # messages per timed chunk (a multiple of EVERY)
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
    best_first = [p for p, _ in bids] == sorted(want_bids, reverse=True) and [p for p, _ in asks] == sorted(want_asks)
    if not best_first:
        if adapter.ordered:
            return "levels right but not best-first", ""
        notes.append("right level set and sizes, unsorted (compared as sets)")
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


def run_once(
    messages: Sequence[bytes], apply: Callable[[Any], Any], read: Callable[[], Any], every: int
) -> list[float]:
    """Seconds per chunk of :data:`CHUNK` messages to parse, apply and read the stream once."""
    loads = orjson.loads
    clock = time.thread_time
    n = len(messages)
    chunks = []
    gc.collect()
    gc.disable()
    try:
        for first in range(0, n, CHUNK):
            last = min(first + CHUNK, n)
            t0 = clock()
            if every == 1:
                for raw in messages[first:last]:
                    apply(loads(raw))
                    read()
            else:
                for start in range(first, last, every):
                    for raw in messages[start : min(start + every, last)]:
                        apply(loads(raw))
                    read()
            chunks.append(clock() - t0)
    finally:
        gc.enable()
    return chunks


def time_reads(read: Callable[[], Any], calls: int = READ_CALLS) -> float:
    """Seconds per top-25 read of both sides on an unchanged book (best of 3)."""
    best = float("inf")
    rng = range(calls)
    for _ in range(3):
        gc.disable()
        try:
            t0 = time.thread_time()
            for _ in rng:
                read()
            best = min(best, time.thread_time() - t0)
        finally:
            gc.enable()
    return best / calls


def _adapter(key: str, stream: Stream) -> Adapter:
    if key == PARSE_ONLY:
        return Adapter(_noop, _noop, lambda: ([], []))
    shape = SHAPES[stream.shape]
    return make(key, f"orderbook.{stream.depth}.{shape.symbol}", shape.category)


def _order_book_read_variants(stream: Stream) -> dict[str, float]:
    """Seconds per top-25 read of both sides for each read the C extension's API offers (unchanged book)."""
    from order_book import OrderBook as CBook

    from bench.peers import c_order_book

    book = CBook()
    for price, size in stream.final_bids:
        book.bids[float(price)] = float(size)
    for price, size in stream.final_asks:
        book.asks[float(price)] = float(size)
    variants = {
        "keys()[:25] + lookups": c_order_book.read_top,
        "to_list()[:25]": c_order_book.read_to_list,
        "index(i) x 25": c_order_book.read_index,
    }

    def both_sides(read: Callable[[Any], object]) -> Callable[[], object]:
        return lambda: (read(book.bids), read(book.asks))

    return {name: time_reads(both_sides(read)) for name, read in variants.items()}


def worker(key: str, path: Path) -> None:
    """Serve the parent's requests for one implementation: ``run <every>``, ``reads``, ``quit``."""
    stream = load(path)
    adapter = _adapter(key, stream)
    print("ready", flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command == "run":
            adapter = _adapter(key, stream)
            chunks = run_once(stream.messages, adapter.apply, adapter.read, int(args[0]))
            failure, note = check(adapter, stream) if key != PARSE_ONLY else (None, "")
            reply: dict[str, Any] = {"chunks": chunks, "failure": failure, "note": note}
        elif command == "reads":
            reply = {"read_isolated_s": time_reads(adapter.read)}
            if key == "order-book":
                reply["read_variants"] = _order_book_read_variants(stream)
            if key == "fluxum":
                reply["profile"] = profile(stream.messages)
        else:
            return
        print(orjson.dumps(reply).decode(), flush=True)


class _Worker:
    """The parent's handle on one worker process."""

    def __init__(self, key: str, path: Path, log: IO[str]) -> None:
        self.key = key
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.book_throughput", "--worker", key, "--stream", str(path)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        self.dead: str | None = None
        if self._readline() != "ready":
            self._die()

    def _readline(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def _die(self) -> None:
        self.proc.wait()
        self.log.seek(0)
        tail = (self.log.read().strip().splitlines() or ["no output"])[-1]
        self.dead = f"worker crashed: {tail}"

    def ask(self, command: str) -> dict[str, Any] | None:
        if self.dead:
            return None
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            self._die()
            return None
        line = self._readline()
        if not line:
            self._die()
            return None
        return orjson.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait()


def measure(keys: list[str], path: Path, messages: int, reps: int, budget: float) -> list[dict[str, Any]]:
    """One fresh worker process per implementation, one after another; one result per implementation.

    A worker is started only when its turn comes and makes all its passes back to back, alternating the two
    cadences: on these machines the memory of a process that sat idle for a minute comes back slowly (the
    host pages cold memory out), which would tax whoever waited longest, so nothing waits.
    """
    results = []
    with tempfile.TemporaryDirectory(prefix="fluxum-bench-logs-") as logs:
        for key in keys:
            result: dict[str, Any] = {"key": key, "messages": messages, "failure": None, "note": ""}
            passes: dict[int, list[list[float]]] = {EVERY: [], 1: []}
            with open(Path(logs) / f"{key}.log", "w+") as log:
                w = _Worker(key, path, log)
                for _ in range(reps):
                    for every in (EVERY, 1):
                        done = passes[every]
                        totals = [sum(chunks) for chunks in done]
                        if totals and sum(totals) + min(totals) > budget:
                            continue  # a slow implementation: keep the whole run to a few minutes
                        started = time.perf_counter()
                        reply = w.ask(f"run {every}")
                        if reply is None:
                            break
                        done.append(reply["chunks"])
                        if reply["failure"] and not result["failure"]:
                            result["failure"] = reply["failure"]
                        result["note"] = reply["note"]
                        print(
                            f"  {key:<13} read every {every:>3}: pass {len(done)} "
                            f"{time.perf_counter() - started:5.1f} s",
                            file=sys.stderr,
                            flush=True,
                        )
                reply = w.ask("reads")
                if reply is not None:
                    result.update(reply)
                w.close()
                if w.dead and not result["failure"]:
                    result["failure"] = w.dead
            for every, done in passes.items():
                if not done:
                    result["failure"] = result["failure"] or "no pass completed"
                    continue
                result[f"seconds_every_{every}"] = sum(map(min, zip(*done, strict=True)))
                result[f"best_pass_every_{every}"] = min(sum(chunks) for chunks in done)
                result[f"runs_every_{every}"] = len(done)
            results.append(result)
    return results


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
        _which_book(),
    ]


def _which_book() -> str:
    """Which build ``exchange.book`` is (imported here, in the parent: a worker imports only its own library)."""
    from exchange import book, book_build

    return f"Fluxum's book as installed (exchange.book): {book_build.build_of(book)}, {book.__file__}"


def table(results: list[dict[str, Any]]) -> list[str]:
    """The Markdown table (the lead copies it into README.md), then its footnotes."""
    by_key = {r["key"]: r for r in results}
    flux = by_key.get("fluxum")
    flux_ok = flux is not None and not flux.get("failure")
    rows = [
        "| implementation | msgs/s, read every 100 | Fluxum ÷ this | msgs/s, read every msg | Fluxum ÷ this "
        "| µs/msg (every 100 / every msg) | µs per top-25 read (derived / isolated) | passes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for r in results:
        key = r["key"]
        label = "orjson.loads only (harness floor)" if key == PARSE_ONLY else IMPLEMENTATIONS[key][2]
        if r.get("note"):
            notes.append(r["note"])
            label += f" [{len(notes)}]"
        if r.get("failure"):
            rows.append(f"| {label} | FAIL: {r['failure']} | | | | | | |")
            continue
        n = r["messages"]
        t100, t1 = r["seconds_every_100"], r["seconds_every_1"]
        if key == PARSE_ONLY or not flux_ok:
            ratio100 = ratio1 = "-"
        else:
            ratio100 = f"{t100 / flux['seconds_every_100']:.2f}x"  # type: ignore[index]
            ratio1 = f"{t1 / flux['seconds_every_1']:.2f}x"  # type: ignore[index]
        if key == PARSE_ONLY:
            read = "-"
        else:
            derived = (t1 - t100) / (n - -(-n // EVERY)) * 1e6  # extra time per extra read
            read = f"{derived:.2f} / {r['read_isolated_s'] * 1e6:.2f}"
        rows.append(
            f"| {label} | {n / t100:,.0f} | {ratio100} | {n / t1:,.0f} | {ratio1} "
            f"| {t100 / n * 1e6:.2f} / {t1 / n * 1e6:.2f} | {read} "
            f"| {r['runs_every_100']}/{r['runs_every_1']} |"
        )
    rows.append("")
    rows.extend(f"[{i}] {note}" for i, note in enumerate(notes, 1))
    return rows


def summary(by_shape: dict[str, list[dict[str, Any]]]) -> list[str]:
    """One row per shape: how many times faster Fluxum is than each peer, at both cadences."""
    peers = [
        key
        for key in ("order-book", "fluxum-source", "fluxum-before", "sorteddict", "ccxt", "pybit-sorted")
        if any(r["key"] == key for results in by_shape.values() for r in results)
    ]
    head = " | ".join(f"÷ {IMPLEMENTATIONS[key][2].split(' (')[0]} (100 / 1)" for key in peers)
    rows = [f"| shape | level changes per delta | {head} |", "|---|---:|" + "---:|" * len(peers)]
    for name, results in by_shape.items():
        by_key = {r["key"]: r for r in results}
        flux = by_key.get("fluxum")
        cells = []
        for key in peers:
            r = by_key.get(key)
            if flux is None or r is None or flux.get("failure") or r.get("failure"):
                cells.append("FAIL" if r is not None and r.get("failure") else "-")
                continue
            cells.append(
                f"{r['seconds_every_100'] / flux['seconds_every_100']:.2f}x / "
                f"{r['seconds_every_1'] / flux['seconds_every_1']:.2f}x"
            )
        rows.append(f"| {name} | {results[0].get('changes', 0):.1f} | " + " | ".join(cells) + " |")
    return rows


def profile_lines(result: dict[str, Any]) -> list[str]:
    """Where Fluxum's time goes on one shape, and its memo's hit rate."""
    p = result.get("profile")
    if not p:
        return []
    from exchange import book, book_build

    parts = ", ".join(f"{name} {us:.2f}" for name, us in p["us_per_msg"].items())
    prices = f"Memo hits: prices {p['price_hits']:.1%}"
    if book_build.build_of(book) == "compiled":
        sizes = f"sizes {p['plain_sizes']:.1%} plain decimals, read without the memo (compiled)"
    else:
        sizes = (
            f"sizes {p['size_hits']:.1%} (first pass on a cold memo); "
            f"repeat pass {p['price_hits_again']:.1%} / {p['size_hits_again']:.1%}"
        )
    return [
        f"Fluxum, µs per message: {parts} (total {sum(p['us_per_msg'].values()):.2f})",
        f"{prices}, {sizes}; {p['distinct_sizes']:,} distinct size texts, {p['distinct_prices']:,} price texts",
    ]


def _describe(stream: Stream, generated: float) -> str:
    shape = SHAPES[stream.shape]
    size = sum(map(len, stream.messages)) / len(stream.messages)
    changes = _changes(stream)
    kind, levels = ("snapshots", "levels a snapshot") if shape.snapshots_only else ("deltas", "level changes a delta")
    return (
        f"Shape {shape.name}: {shape.about}. {shape.topic} ({shape.category}), seed {stream.seed}, "
        f"1 snapshot + {stream.deltas:,} {kind}, {size:.0f} bytes and {changes:.1f} {levels} "
        f"(generated in {generated:.1f} s, not timed)"
    )


def _changes(stream: Stream) -> float:
    datas = (orjson.loads(m)["data"] for m in stream.messages[1:])
    return sum(len(d["b"]) + len(d["a"]) for d in datas) / max(1, stream.deltas)


DEFAULT_KEYS = [PARSE_ONLY, "fluxum", "fluxum-source", "order-book", "sorteddict", "ccxt"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deltas", type=int, default=50_000, help="deltas after each snapshot (50000)")
    parser.add_argument(
        "--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES), help="stream shapes (default: all)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--max-changes",
        type=int,
        default=10,
        help="level changes per delta side in the default shape: 1 to this (default 10)",
    )
    parser.add_argument("--reps", type=int, default=3, help="passes per cadence (default 3)")
    parser.add_argument(
        "--budget",
        type=float,
        default=45.0,
        help="seconds per implementation and cadence after which further passes are skipped (default 45)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=[PARSE_ONLY, *IMPLEMENTATIONS],
        help="run only these implementations (default: parse-only fluxum fluxum-source order-book sorteddict ccxt)",
    )
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--stream", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.stream)
        return 0
    keys = args.only or DEFAULT_KEYS
    print(*machine(), sep="\n")
    print(
        f"Timing: {args.reps} passes per implementation and cadence, back to back in its own "
        f"process (fewer once a cadence has taken {args.budget:.0f} s); per-chunk best of the passes, CPU time"
    )
    by_shape: dict[str, list[dict[str, Any]]] = {}
    raw: dict[str, Any] = {"machine": machine(), "shapes": {}}
    for name in args.shapes:
        started = time.perf_counter()
        if name == "default":
            stream = generate(args.deltas, args.seed, max_changes=args.max_changes)
        else:
            stream = generate(args.deltas, args.seed, shape=name)
        print()
        print(_describe(stream, time.perf_counter() - started))
        with tempfile.TemporaryDirectory(prefix="fluxum-bench-") as tmp:
            path = Path(tmp) / "stream.jsonl"
            save(stream, path)
            results = measure(keys, path, len(stream.messages), args.reps, args.budget)
        changes = _changes(stream)
        for r in results:
            r["changes"] = changes
        by_shape[name] = results
        raw["shapes"][name] = results
        print()
        print(*table(results), sep="\n")
        for r in results:
            for variant, seconds in r.get("read_variants", {}).items():
                print(f"order-book read variant {variant}: {seconds * 1e6:.2f} µs (both sides, unchanged book)")
            if r["key"] == "fluxum":
                print(*profile_lines(r), sep="\n")
    print()
    print("Summary: Fluxum ÷ each peer per shape, read every 100 messages / after every message")
    print(*summary(by_shape), sep="\n")
    if args.json:
        args.json.write_bytes(orjson.dumps(raw, option=orjson.OPT_INDENT_2))
    failed = any(r.get("failure") for results in by_shape.values() for r in results if r["key"] == "fluxum")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
