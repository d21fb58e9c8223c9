"""Soak: the dashboard left running all day, compressed, with a long day's faults; does anything grow?

    .venv/bin/python -m bench.soak --minutes 12            # the real run (about 13 minutes)
    .venv/bin/python -m bench.soak --minutes 2 --json out.json

The app runs the way ``bench.ui_load`` runs it (its settings, options and bench app; headless, 160x50,
notifications on): the embedded exchange serving five symbols of ``orderbook.50`` + trades + tickers, the demo
trader made busy (one decision every 0.2-0.6 s instead of 1-4 s) and funding settled every 10 s (speed 2880),
while the ladder cycles through the symbols every 5 s.

Faults, through the exchange's Python API (``sim.faults``): first every kind once, back to back (the warm-up
round, so that code paths first taken on a fault are warm before the baseline), then one every
``--fault-every`` seconds in rotation: every connection dropped abruptly, the private one closed with 1001, a
public stall, a skipped ``u``, an unreadable delta, a ``u == 1`` restart snapshot, duplicated executions, and
malformed frames (bad JSON, wrong types, missing keys, 2 MB) on the public and the private streams. After each
one the bench waits for the fault to show (a reconnect, a resync, a rejected frame ...) and then for the desk to
be whole again: session Ready, every book SYNCED, no resync pending, execution history complete. Not whole
within ``--recover-timeout`` is a failure: it is printed and the exit status is 1. A hub subscription of its own
(one more subscriber than the app has) times every reconnect from Connecting to Ready, without the backoff.

Every ``--sample-every`` seconds it records the process (RSS, tracemalloc and its own overhead, gc objects,
tasks, fds, loop lag, CPU, the collector's pauses), the size of every container of the app and of the embedded
exchange that is keyed by time, order, execution or topic, and the widgets alive but no longer in the DOM. The
baseline is taken once the warm-up (``--warmup`` s, and the warm-up round) is over, the end after the last
fault, each after ``gc.collect()``. A tracemalloc snapshot holds ~165 bytes of RSS per trace until it is freed,
so the baseline's is taken before its sample and the end's after: both RSS figures hold the first one. The table
gives each metric at both, the growth, that growth per 8 hours, the rate per 8 hours fitted over the second half
alone (bounded structures are full by then) with its correlation, and the known bound.

At the end the market is paused and the desk is checked against the exchange: the ledger's fills equal the
journal's rows, and every ledger position equals the exchange's. A mismatch also exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import random
import re
import statistics
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

from bench.ui_load import SYMBOLS, _bench_app_class, _pct, _probe

EIGHT_HOURS_S = 8 * 3600
FUNDING_SPEED = 2880.0  # 8 h of funding every 10 s
EFFECT_TIMEOUT_S = 20.0
FAULT_KINDS = (
    "drop",
    "skip_u",
    "unreadable_delta",
    "restart_snapshot",
    "duplicate_executions",
    "malformed_public",
    "drop_private",
    "stall",
    "malformed_private",
    "lagging_list",
)
MALFORMED = ("bad_json", "wrong_types", "missing_keys", "oversized")
N_SYMBOLS = len(SYMBOLS.split(","))


# ============================================================================================== what is measured


@dataclass
class Ctx:
    """What the metrics read: the app's runtime (session, desk, exchange), its widgets, and this sample's heap."""

    app: Any
    window: dict[str, float] = field(default_factory=dict)  # loop lag and CPU since the last sample
    heap: dict[str, int] = field(default_factory=dict)  # one gc scan per sample
    refresh_bindings: int = 0  # calls of the desk screen's refresh_bindings (each recomposes the footer)
    gc_pauses: GcPauses = field(default_factory=lambda: GcPauses())

    @property
    def runtime(self) -> Any:
        return self.app.runtime

    @property
    def session(self) -> Any:
        return self.app.runtime.session

    @property
    def account(self) -> Any:
        return self.app.runtime.session.account

    @property
    def desk(self) -> Any:
        return self.app.runtime.session.desk

    @property
    def sim(self) -> Any:
        return self.app.runtime.sim

    @property
    def orders(self) -> Any:
        return self.app.runtime.sim.exchange.orders

    @property
    def private_hub(self) -> Any:
        return self.app.runtime.sim.private_hub

    @property
    def links(self) -> list[Any]:
        return [link for link in (self.session._public, self.session._private) if link is not None]

    @property
    def subscriptions(self) -> list[Any]:
        return list(self.runtime.hub._subscribers)

    @property
    def widgets(self) -> dict[str, Any]:
        from textual.widgets import Footer

        from widgets.connection_bar import ConnectionBar
        from widgets.ladder import Ladder
        from widgets.orders import OrdersTable
        from widgets.position import PositionPanel
        from widgets.tape import TradesTape

        kinds = (Ladder, ConnectionBar, PositionPanel, TradesTape, OrdersTable, Footer)
        return {kind.__name__: self.app.query_one(kind) for kind in kinds}

    def scan_heap(self) -> None:
        from textual.widget import Widget

        gc.unfreeze()  # frozen objects (app/heap.py) are invisible to get_objects(): count them all
        objects = gc.get_objects()
        detached = Counter(type(o).__name__ for o in objects if isinstance(o, Widget) and not o.is_attached)
        self.heap = {"objects": len(objects), "detached": sum(detached.values())}
        self.heap.update({f"detached {name}": n for name, n in detached.items()})
        del objects


class GcPauses:
    """The collector's pauses (``gc.callbacks``), per window: the longest, and the full (generation 2) ones."""

    def __init__(self) -> None:
        self.longest_ms = 0.0
        self.full: list[float] = []
        self.paused = False  # the bench's own gc.collect() calls are not the app's
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
            return
        if self.paused:
            return
        ms = (time.perf_counter() - self._start) * 1000
        self.longest_ms = max(self.longest_ms, ms)
        if info.get("generation") == 2:
            self.full.append(ms)

    def window(self) -> dict[str, float]:
        out = {"gc max": self.longest_ms, "gc full": len(self.full), "gc full max": max(self.full, default=0.0)}
        self.longest_ms, self.full = 0.0, []
        return out

    def collect(self) -> None:
        self.paused = True
        try:
            gc.collect()
        finally:
            self.paused = False


@dataclass(frozen=True)
class Metric:
    name: str  # mostly an attribute path of Ctx where one reads it
    owner: str  # the file that owns the structure
    bound: str  # what bounds it ("" = nothing known)
    read: Callable[[Ctx], float]
    cap: Callable[[Ctx], float] | None = None  # the bound as a number, where there is one


def _len(path: str) -> Callable[[Ctx], float]:
    """``len`` of the object at ``path`` (dots, from the Ctx)."""
    get = attrgetter(path)
    return lambda c: len(get(c))


def _lens(path: str, attr: str = "") -> Callable[[Ctx], float]:
    """Sum of ``len`` over the values of the mapping at ``path`` (of each value's ``attr`` when given)."""
    get = attrgetter(path)
    inner = attrgetter(attr) if attr else (lambda v: v)
    return lambda c: sum(len(inner(v)) for v in get(c).values())


def _const(n: float) -> Callable[[Ctx], float]:
    return lambda c: n


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _file_mb(path: str) -> float:
    return sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p)) / 1e6


def _book_levels(c: Ctx) -> int:
    return sum(sum(b.level_count()) for b in c.desk.books.values())


def _series(panel: Any) -> int:
    return sum(len(series.values) for series in panel.history.values())


def _footer_watchers(c: Ctx) -> int:
    """Entries in the footer's ``compact`` watcher list (textual/reactive.py ``_watch``): one per FooterKey ever
    composed, pruned only when ``compact`` changes."""
    return len(getattr(c.widgets["Footer"], "__watchers", {}).get("compact", []))


def _books_cap(c: Ctx) -> float:
    from exchange.bybit.sim.market import RECENT_TRADES

    return RECENT_TRADES * len(c.sim.market._books)


def _metric_list() -> list[Metric]:
    from exchange import book as book_module
    from exchange.account_state import CLOSED_ORDERS_KEPT, RECENT_MOVES_KEPT
    from exchange.bybit.sim.orders import MAX_ORDERS
    from exchange.desk import OWN_FILLS_KEPT, TRADES_KEPT
    from exchange.ledger import HISTORY_KEPT, SUMS_EVERY
    from widgets.ladder import DRAW_LOG_KEPT

    m, k, n = Metric, _const, N_SYMBOLS
    s, w, x, a = "exchange/session.py", "widgets/", "exchange/bybit/sim/", "exchange/account_state.py"
    panel = "PositionPanel"
    return [
        # -------------------------------------------------------------------------------- the process
        m("RSS MB", "/proc/self/status VmRSS", "", lambda c: _rss_mb()),
        m("tracemalloc MB", "tracemalloc current", "", lambda c: tracemalloc.get_traced_memory()[0] / 1e6),
        m("tracemalloc own MB", "tracemalloc overhead", "", lambda c: tracemalloc.get_tracemalloc_memory() / 1e6),
        m("gc objects", "gc.get_objects()", "", lambda c: c.heap["objects"]),
        m("widgets alive, not in DOM", "textual (see below)", "", lambda c: c.heap["detached"]),
        m("asyncio tasks", "asyncio.all_tasks()", "", lambda c: len(asyncio.all_tasks())),
        m("threads", "threading", "", lambda c: threading.active_count()),
        m("open fds", "/proc/self/fd", "", lambda c: len(os.listdir("/proc/self/fd"))),
        m("loop lag p99 ms (window)", "10 ms probe", "", lambda c: c.window.get("p99", float("nan"))),
        m("loop lag max ms (window)", "10 ms probe", "", lambda c: c.window.get("max", float("nan"))),
        m("CPU s / wall s (window)", "time.process_time", "", lambda c: c.window.get("cpu", float("nan"))),
        m("gc pause max ms (window)", "gc.callbacks", "", lambda c: c.window.get("gc max", float("nan"))),
        m("gc full collections (window)", "gc.callbacks", "", lambda c: c.window.get("gc full", float("nan"))),
        m("gc full pause max ms (window)", "gc.callbacks", "", lambda c: c.window.get("gc full max", float("nan"))),
        # -------------------------------------------------------------------------------- session, hub
        m("session.counters", s, "fixed names", _len("session.counters")),
        m("session._tasks", s, "discarded when done", _len("session._tasks")),
        m("links ._acks", "exchange/bybit/ws.py", "popped per request", lambda c: sum(len(q._acks) for q in c.links)),
        m("hub subscribers", "exchange/hub.py", "bridge + this bench", _len("subscriptions")),
        m("hub pending events", "exchange/hub.py", "lossless: no", lambda c: sum(q.pending() for q in c.subscriptions)),
        m("hub ._lossless, max", "exchange/hub.py", "none", lambda c: max(len(q._lossless) for q in c.subscriptions)),
        # -------------------------------------------------------------------------------- the desk
        m("desk.trades", "exchange/desk.py", "500 per symbol", _lens("desk.trades"), k(TRADES_KEPT * n)),
        m("desk.own_fills", "exchange/desk.py", "200", _len("desk.own_fills"), k(OWN_FILLS_KEPT)),
        m("desk.orders", "exchange/desk.py", "open orders", _len("desk.orders")),
        m("desk.positions", "exchange/desk.py", "symbols", _len("desk.positions"), k(n)),
        m("desk.versions", "exchange/desk.py", "parts x symbols", _len("desk.versions")),
        m("desk.tickers._tickers", "exchange/bybit/protocol.py", "symbols", _len("desk.tickers._tickers"), k(n)),
        m("book levels, all books", "exchange/book.py", "depth x 2 x symbols", _book_levels, k(100 * n)),
        m("book _PRICES memo", "exchange/book.py", "16384, then cleared", lambda c: len(book_module._PRICES), k(16384)),
        m("book _SIZES memo", "exchange/book.py", "limit, then cleared", lambda c: len(book_module._SIZES), k(1 << 15)),
        # -------------------------------------------------------------------------------- ledger, account, journal
        m("desk.ledger._entries", "exchange/ledger.py", "symbols", _len("desk.ledger._entries"), k(n)),
        m("desk.ledger._seen", "exchange/ledger.py", "none", _len("desk.ledger._seen")),
        m(
            "desk.ledger ... .history",
            "exchange/ledger.py",
            "11000 per symbol",
            _lens("desk.ledger._symbols", "history"),
            k((HISTORY_KEPT + SUMS_EVERY) * n),
        ),
        m("account._closed_orders", a, "2000", _len("account._closed_orders"), k(CLOSED_ORDERS_KEPT)),
        m("account._moves", a, "1000 per symbol", _lens("account._moves"), k(RECENT_MOVES_KEPT * n)),
        m("account._marked", a, "symbols", _len("account._marked"), k(n)),
        m("session.market.resyncing", "exchange/market_data.py", "topics", _len("session.market.resyncing")),
        m("session.market._resync_tries", "exchange/market_data.py", "topics", _len("session.market._resync_tries")),
        m("session.market._topic_last_ms", "exchange/market_data.py", "topics", _len("session.market._topic_last_ms")),
        m("journal rows", "exchange/journal.py", "none (disk)", _len("runtime.journal")),
        m("journal MB (+wal)", "exchange/journal.py", "none (disk)", lambda c: _file_mb(c.runtime.journal.path)),
        m(
            "runtime.rest.transport.rate_limits",
            "exchange/bybit/rest_transport.py",
            "endpoints",
            _len("runtime.rest.transport.rate_limits"),
        ),
        # -------------------------------------------------------------------------------- widgets, app
        m("Ladder.draw_log", w + "ladder.py", "4096", lambda c: len(c.widgets["Ladder"].draw_log), k(DRAW_LOG_KEPT)),
        m("Ladder._styles", w + "ladder.py", "styles", lambda c: len(c.widgets["Ladder"]._styles)),
        m("ConnectionBar.shown", w + "connection_bar.py", "64", lambda c: len(c.widgets["ConnectionBar"].shown), k(64)),
        m(f"{panel}.history", w + "position.py", "240 per symbol", lambda c: _series(c.widgets[panel]), k(240 * n)),
        m("TradesTape._styles", w + "tape.py", "styles", lambda c: len(c.widgets["TradesTape"]._styles)),
        m("OrdersTable._rows", w + "orders.py", "open orders", lambda c: len(c.widgets["OrdersTable"]._rows)),
        m("desk._cancelling", "app/desk_screen.py", "discarded on close", _len("app.desk_screen._cancelling")),
        m("desk.refresh_bindings calls", "app/desk_screen.py refresh_availability", "", lambda c: c.refresh_bindings),
        m("Footer compact watchers", "textual widgets/_footer.py", "none (textual#6666)", _footer_watchers),
        m("app._notifications", "textual", "expire (timeout)", _len("app._notifications")),
        m("DOM nodes", "textual", "", lambda c: len(list(c.app.query("*")))),
        m("app message queue", "textual", "", lambda c: c.app._message_queue.qsize()),
        # -------------------------------------------------------------------------------- the embedded exchange
        m("sim.account.executions", x + "account.py", "125,000", _len("sim.account.executions"), k(125_000)),
        m("orders.orders", x + "orders.py", "50,000", _len("orders.orders"), k(MAX_ORDERS)),
        m("orders.by_link_id", x + "orders.py", "with orders", _len("orders.by_link_id"), k(MAX_ORDERS)),
        m("orders._resting", x + "orders.py", "open orders", _len("orders._resting")),
        m("sim market trades", x + "market.py", "1000 per book", _lens("sim.market._books", "trades"), _books_cap),
        m("sim.counters", x + "server.py", "fixed names", _len("sim.counters")),
        m("sim.connections", x + "connection.py", "open sockets", _len("sim.connections")),
        m("feed subscribers", x + "public_ws.py", "open sockets", _lens("sim.public_feed.streams", "subscribers")),
        m("private_hub.sessions", x + "private_ws.py", "open sockets", _len("private_hub.sessions")),
        m("private_hub._timers", x + "private_ws.py", "delayed pushes", _len("private_hub._timers")),
        m("sim.rate_limiter._buckets", x + "rest_common.py", "10,000", _len("sim.rate_limiter._buckets"), k(10_000)),
    ]  # fmt: skip


class Sampler:
    """Reads every metric; a metric that cannot be read is reported once and left out."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.metrics = _metric_list()
        self.rows: list[dict[str, float]] = []
        self.broken: dict[str, str] = {}

    def sample(self, t: float) -> dict[str, float]:
        self.ctx.scan_heap()
        row: dict[str, float] = {"t": t}
        for metric in self.metrics:
            if metric.name in self.broken:
                continue
            try:
                row[metric.name] = float(metric.read(self.ctx))
            except Exception as error:  # a renamed attribute must not end a 12-minute run
                self.broken[metric.name] = f"{type(error).__name__}: {error}"
        row.update({name: float(n) for name, n in self.ctx.heap.items() if name.startswith("detached ")})
        self.rows.append(row)
        return row


# ============================================================================================== logs, states


class LogTally(logging.Handler):
    """Counts every record by level, logger and message template; keeps the first of each warning or worse."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.counts: Counter[tuple[str, str, str]] = Counter()
        self.first: dict[tuple[str, str, str], str] = {}
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        key = (record.levelname, record.name, str(record.msg)[:90])
        self.counts[key] += 1
        if record.levelno >= logging.WARNING and key not in self.first and len(self.first) < 200:
            with contextlib.suppress(Exception):
                self.first[key] = self.format(record)[:3000]


class StateLog:
    """Every session transition, from a hub subscription: reconnect reasons, and Connecting -> Ready times."""

    def __init__(self, hub: Any) -> None:
        from exchange.events import StateChanged

        self.subscription = hub.subscribe([StateChanged], name="soak")
        self.reasons: Counter[str] = Counter()
        self.recoveries: list[tuple[float, float]] = []  # (wall time, Connecting -> Ready seconds)
        self._connecting_ms: int | None = None

    async def run(self) -> None:
        from exchange.events import LinkState

        async for event in self.subscription:
            state = event.state
            if state.kind is LinkState.CONNECTING:
                self._connecting_ms = state.since_ms
            elif state.kind is LinkState.READY and self._connecting_ms is not None:
                self.recoveries.append((time.time(), (state.since_ms - self._connecting_ms) / 1000))
                self._connecting_ms = None
            elif state.kind is LinkState.RECONNECTING:
                self.reasons[re.sub(r"\d+(\.\d+)?", "N", state.reason)] += 1


# ============================================================================================== faults


@dataclass
class FaultResult:
    kind: str
    at_s: float
    took_effect: bool
    recovered: bool
    seconds: float  # injection to whole again
    reconnects: int  # reconnects it caused
    detail: str


class Faulter:
    """Injects one fault, waits for it to show and for the desk to be whole again."""

    def __init__(self, ctx: Ctx, rng: random.Random, recover_timeout: float) -> None:
        self.ctx = ctx
        self.rng = rng
        self.recover_timeout = recover_timeout
        self.results: list[FaultResult] = []
        self._malformed = {"public": 0, "private": 0}

    def whole(self) -> bool:
        from exchange.book import BookState
        from exchange.events import LinkState

        c = self.ctx
        return (
            c.desk.state.kind is LinkState.READY
            and all(book.state is BookState.SYNCED for book in c.desk.books.values())
            and not c.session.market.resyncing
            and c.session.account.history_complete
        )

    def _figures(self) -> dict[str, int]:
        c = self.ctx
        return {
            "reconnects": c.session.reconnects,
            "resyncs": c.session.counters["resyncs"],
            "restarts": sum(b.counters.restarts for b in c.desk.books.values()),
            "duplicated": c.sim.counters["ws.private.duplicated_executions"],
            "rejected": c.session.counters["rejected_frames"] + sum(x.rejected for x in c.links),
        }

    async def _inject(self, kind: str) -> tuple[str, str]:
        """Inject ``kind``; returns (figure that must move, detail)."""
        faults = self.ctx.sim.faults
        topic = self.rng.choice(sorted(b.topic for b in self.ctx.desk.books.values()))
        if kind == "drop":
            return "reconnects", f"{await faults.drop_connections()} sockets aborted"
        if kind == "drop_private":
            return "reconnects", f"{await faults.drop_connections('private', 1001)} closed with 1001"
        if kind == "lagging_list":  # the backfill's first execution read trails the fills made while away
            faults.lag_execution_list(1)
            return "reconnects", f"{await faults.drop_connections('private', 1001)} closed, execution list trailing"
        if kind == "stall":
            faults.stall(6.0, "public")
            return "reconnects", "public stalled 6 s"
        if kind == "skip_u":
            faults.skip_u(topic, "linear")
            return "resyncs", topic
        if kind == "unreadable_delta":
            faults.unreadable_delta(topic, "linear")
            return "resyncs", topic
        if kind == "restart_snapshot":
            faults.restart_snapshot(topic, "linear")
            return "restarts", topic
        if kind == "duplicate_executions":
            faults.duplicate_executions = 3
            return "duplicated", "next 3 executions pushed twice"
        side = "public" if kind == "malformed_public" else "private"
        what = MALFORMED[self._malformed[side] % len(MALFORMED)]
        self._malformed[side] += 1
        sent = faults.malformed(what, 3, side)
        return "rejected", f"{sent} {what} frames on {side}"

    async def run(self, kind: str, now_s: float) -> FaultResult:
        loop = asyncio.get_running_loop()
        before = self._figures()
        start = loop.time()
        moves, detail = await self._inject(kind)
        took_effect = await _until(lambda: self._figures()[moves] > before[moves], EFFECT_TIMEOUT_S)
        recovered = await _until(self.whole, self.recover_timeout)
        result = FaultResult(
            kind,
            round(now_s, 1),
            took_effect,
            recovered,
            round(loop.time() - start, 3),
            self._figures()["reconnects"] - before["reconnects"],
            detail,
        )
        self.results.append(result)
        return result


async def _until(predicate: Callable[[], bool], timeout: float, poll_s: float = 0.05) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(poll_s)
    return True


# ============================================================================================== the soak


@dataclass
class Options:
    minutes: float
    warmup_s: float
    sample_every_s: float
    fault_every_s: float
    recover_timeout_s: float
    seed: int
    trader_interval_s: tuple[float, float]
    tracemalloc: bool


async def _wait_ready(app: Any, timeout: float = 60.0) -> None:
    from exchange.events import LinkState

    ok = await _until(lambda: app.runtime is not None and app.desk.state.kind is LinkState.READY, timeout)
    if not ok:
        raise RuntimeError(f"the desk did not become Ready within {timeout:g} s")


def _instrument(ctx: Ctx) -> list[tuple[int, float]]:
    """Count the desk screen's ``refresh_bindings`` calls, and time every batch of executions that replayed a symbol
    because some of its fills came late (``Ledger.apply_fills`` replays each such symbol once), as (late fills,
    seconds). Both wrap instance attributes: behaviour is unchanged."""
    desk_screen, ledger = ctx.app.desk_screen, ctx.session.ledger
    refresh, apply_fills = desk_screen.refresh_bindings, ledger.apply_fills
    timings: list[tuple[int, float]] = []

    def counted() -> None:
        ctx.refresh_bindings += 1
        refresh()

    def timed(fills: Any) -> Any:
        before = ledger.reordered
        start = time.perf_counter()
        applied = apply_fills(fills)
        if ledger.reordered > before:
            timings.append((ledger.reordered - before, time.perf_counter() - start))
        return applied

    desk_screen.refresh_bindings = counted
    ledger.apply_fills = timed
    return timings


async def soak(app: Any, opts: Options) -> dict[str, Any]:
    """Run inside the app's loop; returns everything the report prints."""
    loop = asyncio.get_running_loop()
    await _wait_ready(app)
    await asyncio.sleep(1.0)
    ctx = Ctx(app)
    ctx.sim.demo_trader.interval_s = opts.trader_interval_s
    gc.callbacks.append(ctx.gc_pauses)
    replays = _instrument(ctx)
    states = StateLog(ctx.runtime.hub)
    watcher = asyncio.create_task(states.run(), name="soak-states")
    sampler = Sampler(ctx)
    faulter = Faulter(ctx, random.Random(opts.seed), opts.recover_timeout_s)
    lags: list[float] = []
    stop = asyncio.Event()
    probe = asyncio.create_task(_probe(lags, stop), name="soak-lag-probe")

    t0 = loop.time()
    end = t0 + opts.minutes * 60
    warm_round_done = asyncio.Event()

    async def inject_faults() -> None:
        await asyncio.sleep(3.0)
        for kind in FAULT_KINDS:  # the warm-up round
            await _one_fault(faulter, kind, loop.time() - t0)
            await asyncio.sleep(2.0)
        warm_round_done.set()
        i = 0
        while loop.time() + opts.fault_every_s < end:
            await asyncio.sleep(opts.fault_every_s)
            await _one_fault(faulter, FAULT_KINDS[i % len(FAULT_KINDS)], loop.time() - t0)
            i += 1

    injector = asyncio.create_task(inject_faults(), name="soak-faults")
    warm: dict[str, float] | None = None
    warm_snapshot: tracemalloc.Snapshot | None = None
    end_snapshot: tracemalloc.Snapshot | None = None
    mark = (time.process_time(), time.perf_counter())
    next_sample = t0
    next_switch = t0 + 5.0
    try:
        while loop.time() < end or not injector.done():
            await asyncio.sleep(0.1)
            now = loop.time()
            if injector.done() and injector.exception() is not None:
                raise injector.exception()  # type: ignore[misc]
            if now >= next_switch:
                next_switch += 5.0
                app.desk_screen.action_cycle_symbol(1)
            take_warm = warm is None and now - t0 >= opts.warmup_s and warm_round_done.is_set()
            if now >= next_sample or take_warm:
                next_sample = now + opts.sample_every_s
                mark = _window(ctx, lags, mark)
                if take_warm:  # the snapshot first (see the module's docstring)
                    ctx.gc_pauses.collect()
                    warm_snapshot = tracemalloc.take_snapshot() if opts.tracemalloc else None
                row = sampler.sample(now - t0)
                if take_warm:
                    warm = row
                    print(f"  [{now - t0:6.0f} s] warm-up baseline taken", flush=True)
                elif len(sampler.rows) % 6 == 0:
                    _progress(now - t0, row, faulter, ctx)
        if warm is None:
            raise RuntimeError("the run ended before the warm-up was over: give it more --minutes")
        mark = _window(ctx, lags, mark)
        ctx.gc_pauses.collect()
        last = sampler.sample(loop.time() - t0)
        end_snapshot = tracemalloc.take_snapshot() if opts.tracemalloc else None
    finally:
        gc.callbacks.remove(ctx.gc_pauses)
        injector.cancel()
        stop.set()
        await asyncio.gather(injector, probe, return_exceptions=True)

    checks = await _consistency(ctx, faulter)
    states.subscription.close()
    await asyncio.gather(watcher, return_exceptions=True)
    return {
        "warm": warm,
        "end": last,
        "sampler": sampler,
        "faults": faulter.results,
        "states": states,
        "growth_sites": _growth_sites(warm_snapshot, end_snapshot),
        "late_replays": replays,
        "replay": _time_replay(ctx),
        "checks": checks,
        "totals": _totals(ctx),
    }


async def _one_fault(faulter: Faulter, kind: str, now_s: float) -> None:
    result = await faulter.run(kind, now_s)
    mark = "ok" if result.recovered else "NOT RECOVERED"
    effect = "" if result.took_effect else " (no effect seen)"
    print(
        f"  [{now_s:6.0f} s] fault {kind:<21} {mark} in {result.seconds:6.2f} s, "
        f"{result.reconnects} reconnect(s){effect}: {result.detail}",
        flush=True,
    )
    if not result.recovered:
        from exchange.events import LinkState

        if faulter.ctx.desk.state.kind is LinkState.FAILED:
            raise RuntimeError(f"the session Failed after {kind}: {faulter.ctx.desk.state.reason}")


def _window(ctx: Ctx, lags: list[float], mark: tuple[float, float]) -> tuple[float, float]:
    """Loop lag and CPU of the window since the last sample; starts the next window."""
    cpu, wall = time.process_time(), time.perf_counter()
    ctx.window = {
        "p99": _pct(lags, 99),
        "max": max(lags) if lags else float("nan"),
        "cpu": (cpu - mark[0]) / max(1e-9, wall - mark[1]),
        **ctx.gc_pauses.window(),
    }
    lags.clear()
    return cpu, wall


def _progress(t: float, row: dict[str, float], faulter: Faulter, ctx: Ctx) -> None:
    print(
        f"  [{t:6.0f} s] RSS {row.get('RSS MB', 0):6.1f} MB, traced {row.get('tracemalloc MB', 0):6.1f} MB, "
        f"{row.get('gc objects', 0):8.0f} objects, {row.get('widgets alive, not in DOM', 0):5.0f} dead widgets, "
        f"{row.get('journal rows', 0):5.0f} fills, {len(faulter.results)} faults, "
        f"{ctx.session.reconnects} reconnects, lag p99 {row.get('loop lag p99 ms (window)', 0):5.1f} ms",
        flush=True,
    )


def _time_replay(ctx: Ctx) -> dict[str, float]:
    """What a journal replay into a fresh ledger costs now (every start pays it)."""
    from bench.ledger_replay import streamed

    journal = ctx.runtime.journal
    start = time.perf_counter()
    streamed(journal)
    return {"rows": len(journal), "seconds": round(time.perf_counter() - start, 4)}


async def _consistency(ctx: Ctx, faulter: Faulter) -> list[tuple[str, bool, str]]:
    """With the market paused: the ledger against the journal and against the exchange's positions."""
    ctx.sim.faults.pause_market()
    await asyncio.sleep(2.0)
    ledger = ctx.desk.ledger
    applied = sum(state.fill_count for state in ledger._symbols.values())
    rows = len(ctx.runtime.journal)
    checks = [("ledger fills == journal rows", applied == rows, f"{applied} vs {rows}")]
    wrong = []
    for symbol in ctx.desk.symbols:
        entry = ledger.entry(symbol)
        held = entry.position if entry is not None else 0
        sim_size = ctx.sim.account.position("linear", symbol).size
        if held != sim_size:
            wrong.append(f"{symbol}: ledger {held} vs exchange {sim_size}")
    checks.append(("ledger positions == exchange positions", not wrong, "; ".join(wrong) or "all equal"))
    checks.append(("desk whole (Ready, books SYNCED)", faulter.whole(), str(ctx.desk.state)))
    return checks


def _totals(ctx: Ctx) -> dict[str, Any]:
    s, sim = ctx.session, ctx.sim
    return {
        "faults injected (exchange counters)": {
            k.split(".", 1)[1]: v for k, v in sorted(sim.counters.items()) if k.startswith("faults.")
        },
        "session reconnects": s.reconnects,
        "fills applied": s.counters["fills"],
        "ledger reorders": s.counters["ledger_reorders"],
        "resyncs": s.counters["resyncs"],
        "rejected frames": s.counters["rejected_frames"] + sum(x.rejected for x in ctx.links),
        "messages processed (frames with a topic)": s._rate.total,
        "hub events published": ctx.runtime.hub.published,
        "funding settlements": sim.exchange.funding.settlements,
        "demo trader actions": dict(sim.demo_trader.actions) if sim.demo_trader else {},
    }


def _growth_sites(
    warm: tracemalloc.Snapshot | None, end: tracemalloc.Snapshot | None, top: int = 15
) -> list[tuple[str, int, int]]:
    if warm is None or end is None:
        return []
    ignore = [
        tracemalloc.Filter(False, tracemalloc.__file__),
        tracemalloc.Filter(False, __file__),
        tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
        tracemalloc.Filter(False, "<unknown>"),
    ]
    stats = end.filter_traces(ignore).compare_to(warm.filter_traces(ignore), "lineno")
    out = []
    for stat in stats[:top]:
        frame = stat.traceback[0]
        out.append((f"{_short_path(frame.filename)}:{frame.lineno}", stat.size_diff, stat.count_diff))
    return out


def _short_path(path: str) -> str:
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


# ============================================================================================== the report


def _fmt(value: float | None) -> str:
    if value is None or value != value:
        return "-"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def _trend(rows: list[dict[str, float]], name: str) -> tuple[float | None, float | None]:
    """Slope per 8 h and correlation of ``name`` over ``rows`` (None where it cannot be fitted)."""
    points = [(row["t"], row[name]) for row in rows if name in row and row[name] == row[name]]
    if len(points) < 3:
        return None, None
    times, values = zip(*points, strict=True)
    try:
        slope = statistics.linear_regression(times, values).slope
        r = statistics.correlation(times, values)
    except statistics.StatisticsError:  # a constant series
        return 0.0, None
    return slope * EIGHT_HOURS_S, r


def _verdict(metric: Metric, ctx: Ctx, end: float, per8: float | None, r: float | None) -> str:
    if "window" in metric.name:
        return ""
    if metric.cap is not None:
        cap = metric.cap(ctx)
        return f"at its cap {_fmt(cap)}" if end >= 0.9 * cap else f"bounded, {100 * end / cap:.0f}% of cap"
    if per8 is not None and r is not None and r > 0.8 and per8 > 0.01 * max(1.0, abs(end)):
        return "GROWS"
    return "flat" if not per8 else "fluctuates"


def report(figures: dict[str, Any], opts: Options, tally: LogTally) -> int:
    """Print the run's figures, faults and logs; 1 when a check failed or the desk was not whole after a fault."""
    _print_metrics(figures, opts)
    _print_faults(figures)
    _print_replays_and_logs(figures, tally)
    return _checks(figures, opts)


def _print_metrics(figures: dict[str, Any], opts: Options) -> None:
    warm, end, sampler = figures["warm"], figures["end"], figures["sampler"]
    ctx: Ctx = sampler.ctx
    span = end["t"] - warm["t"]
    after = [row for row in sampler.rows if row["t"] >= warm["t"]]
    second_half = [row for row in after if row["t"] >= warm["t"] + span / 2]
    print(
        f"\nSoak: {SYMBOLS} (orderbook.50 + trades + tickers), demo trader every "
        f"{opts.trader_interval_s[0]:g}-{opts.trader_interval_s[1]:g} s, funding speed {FUNDING_SPEED:g}, "
        f"{opts.minutes:g} min; baseline at {warm['t']:.0f} s, end at {end['t']:.0f} s "
        f"({span:.0f} s measured), {len(sampler.rows)} samples every {opts.sample_every_s:g} s"
    )
    header = (
        f"{'metric':<31} {'warm-up':>9} {'end':>9} {'growth':>9} {'per 8 h':>11} {'2nd half':>11} {'r':>5}  "
        f"{'verdict':<22} {'bound':<22} owner"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for metric in sampler.metrics:
        if metric.name not in warm or metric.name not in end:
            continue
        a, b = warm[metric.name], end[metric.name]
        windowed = "window" in metric.name
        per8 = (b - a) / span * EIGHT_HOURS_S if span > 0 and not windowed else None
        late8, r = _trend(second_half, metric.name) if not windowed else (None, None)
        print(
            f"{metric.name:<31} {_fmt(a):>9} {_fmt(b):>9} {_fmt(b - a):>9} {_fmt(per8):>11} {_fmt(late8):>11} "
            f"{_fmt(r) if r is not None else '-':>5}  {_verdict(metric, ctx, b, late8, r):<22} "
            f"{metric.bound or '-':<22} {metric.owner}"
        )
    for name in sorted(k for k in end if k.startswith("detached ")):
        print(f"  of which {name[len('detached ') :]:<21} {_fmt(warm.get(name, 0)):>9} {_fmt(end[name]):>9}")
    for name, error in sampler.broken.items():
        print(f"{name:<31} could not be read: {error}")


def _print_faults(figures: dict[str, Any]) -> None:
    print("\nTotals over the whole run:")
    for key, value in figures["totals"].items():
        print(f"  {key:<42} {value}")

    results: list[FaultResult] = figures["faults"]
    print("\nFaults (injection to whole again: Ready, books SYNCED, no resync pending, history complete):")
    print(f"  {'kind':<22} {'n':>3} {'effect':>7} {'ok':>4} {'p50 s':>7} {'max s':>7} {'reconnects':>11}  in order, s")
    for kind in FAULT_KINDS:
        mine = [r for r in results if r.kind == kind]
        if not mine:
            continue
        times = [r.seconds for r in mine]
        print(
            f"  {kind:<22} {len(mine):>3} {sum(r.took_effect for r in mine):>7} {sum(r.recovered for r in mine):>4} "
            f"{_pct(times, 50):>7.2f} {max(times):>7.2f} {sum(r.reconnects for r in mine):>11}  "
            + " ".join(f"{t:.2f}" for t in times)
        )
    states: StateLog = figures["states"]
    work = [seconds for _, seconds in states.recoveries]
    if work:
        third = max(1, len(work) // 3)
        print(
            f"  Connecting -> Ready (no backoff), {len(work)} reconnects: p50 {_pct(work, 50):.2f} s, "
            f"max {max(work):.2f} s; first third p50 {_pct(work[:third], 50):.2f} s, "
            f"last third p50 {_pct(work[-third:], 50):.2f} s"
        )
    for reason, count in states.reasons.most_common():
        print(f"  {count:>4} x Reconnecting: {reason}")


def _print_replays_and_logs(figures: dict[str, Any], tally: LogTally) -> None:
    replays = figures["late_replays"]
    if replays:
        slowest = max(replays, key=lambda item: item[1])
        print(
            f"\nBatches with late fills (their symbols replayed in execution order): {len(replays)}, "
            f"{sum(n for n, _ in replays)} late fills; slowest batch {slowest[1] * 1000:.1f} ms "
            f"({slowest[0]} late)"
        )
    replay = figures["replay"]
    print(f"Journal replay into a fresh ledger now: {replay['rows']} rows in {replay['seconds'] * 1000:.1f} ms")

    sites = figures["growth_sites"]
    if sites:
        print("\nTop tracemalloc growth sites, end vs warm-up (compare_to 'lineno'):")
        for where, size, count in sites:
            print(f"  {size / 1024:+10.1f} KiB {count:+8d} blocks  {where}")

    print("\nLog records (warnings and worse first):")
    ordered = sorted(tally.counts.items(), key=lambda kv: (-logging.getLevelName(kv[0][0]), -kv[1]))
    for (level, name, msg), count in ordered[:25]:
        print(f"  {count:>6} {level:<8} {name:<34} {msg}")
    for text in list(tally.first.values())[:12]:
        print("  first: " + text.replace("\n", "\n         "))


def _checks(figures: dict[str, Any], opts: Options) -> int:
    results: list[FaultResult] = figures["faults"]
    failures = [r for r in results if not r.recovered]
    status = 0
    print("\nChecks:")
    for name, ok, detail in figures["checks"]:
        print(f"  {'ok  ' if ok else 'FAIL'} {name}: {detail}")
        status |= 0 if ok else 1
    if failures:
        status = 1
        print(f"\nFAILED: the desk not whole again within {opts.recover_timeout_s:g} s after {len(failures)} fault(s):")
        for failed in failures:
            print(f"  at {failed.at_s} s: {failed.kind} ({failed.detail})")
    elif results:
        print(f"\nEvery one of {len(results)} faults ended with the desk whole again.")
    return status


# ============================================================================================== running it


def _soak_app(opts: Options) -> Any:
    class SoakApp(_bench_app_class()):  # type: ignore[misc]
        """The ui_load bench app, soaking instead of measuring."""

        async def _bench(self) -> None:
            try:
                self.figures = await soak(self, opts)
            except Exception as error:
                self.figures = {"error": f"{type(error).__name__}: {error}"}
                logging.getLogger("bench.soak").exception("soak failed")
            finally:
                print(f"  soak over; quitting (session {self.desk.state.kind.name})", flush=True)
                await self.action_quit()

    return SoakApp(opts.minutes * 60, opts.seed, None)


async def _run(opts: Options, size: tuple[int, int]) -> dict[str, Any]:
    """The soak's figures; an app that crashed once they were taken (on its way out) is reported, not lost.

    The app quits by itself (``action_quit``) once the figures are in: leaving ``run_test`` earlier would tear
    the screen down while the session still stops, and the session's last events would find no widgets.
    """
    app = _soak_app(opts)
    try:
        async with app.run_test(size=size, notifications=True) as pilot:
            while app.figures is None and app.is_running:
                await pilot.pause(0.5)
            quit_by = time.monotonic() + 30
            while app.is_running and time.monotonic() < quit_by:
                await pilot.pause(0.2)
    except Exception as error:
        if not app.figures or "error" in app.figures:
            raise
        app.figures["crash"] = f"{type(error).__name__}: {error}"
        logging.getLogger("bench.soak").exception("the app crashed after the soak")
    if app.figures is None:
        raise RuntimeError("the app ended before the soak did")
    return app.figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=12.0, help="run length from Ready (default 12)")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the baseline (default 60)")
    parser.add_argument("--sample-every", type=float, default=10.0, help="seconds between samples (default 10)")
    parser.add_argument("--fault-every", type=float, default=15.0, help="seconds between faults (default 15)")
    parser.add_argument("--recover-timeout", type=float, default=60.0, help="whole again within (default 60 s)")
    parser.add_argument("--trader-interval", default="0.2,0.6", help="demo trader pause range, s (default 0.2,0.6)")
    parser.add_argument("--no-tracemalloc", action="store_true", help="no tracemalloc (less overhead)")
    parser.add_argument("--size", default="160x50", help="terminal size, WIDTHxHEIGHT (default 160x50)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write every sample and fault here")
    args = parser.parse_args(argv)
    low, high = (float(x) for x in args.trader_interval.split(","))
    opts = Options(
        minutes=args.minutes,
        warmup_s=args.warmup,
        sample_every_s=args.sample_every,
        fault_every_s=args.fault_every,
        recover_timeout_s=args.recover_timeout,
        seed=args.seed,
        trader_interval_s=(low, high),
        tracemalloc=not args.no_tracemalloc,
    )
    width, height = (int(part) for part in args.size.lower().split("x"))

    tally = LogTally()
    root = logging.getLogger()
    root.addHandler(tally)  # also keeps the app from installing its Textual handler
    root.setLevel(logging.INFO)
    import app.runtime as fluxum_runtime

    fluxum_runtime.EMBEDDED_FUNDING_SPEED = FUNDING_SPEED  # the app opens its own runtime, which reads it
    if opts.tracemalloc:
        tracemalloc.start(1)
    print(
        f"Fluxum soak: {opts.minutes:g} min, faults every {opts.fault_every_s:g} s after a warm-up round, "
        f"samples every {opts.sample_every_s:g} s, tracemalloc {'on' if opts.tracemalloc else 'off'}, "
        f"{os.cpu_count()} CPUs",
        flush=True,
    )
    figures = asyncio.run(_run(opts, (width, height)))
    if "error" in figures:
        print(f"\nFAILED: {figures['error']}")
        for text in tally.first.values():
            print(text)
        return 1
    status = report(figures, opts, tally)
    if "crash" in figures:
        print(f"\nFAILED: the app crashed on its way out: {figures['crash']}")
        status = 1
    if args.json is not None:
        states: StateLog = figures["states"]
        out = {
            "samples": figures["sampler"].rows,
            "faults": [asdict(r) for r in figures["faults"]],
            "recoveries_s": [seconds for _, seconds in states.recoveries],
            "reconnect_reasons": dict(states.reasons),
            "totals": figures["totals"],
            "growth_sites": figures["growth_sites"],
            "late_replays": figures["late_replays"],
        }
        args.json.write_text(json.dumps(out, indent=1, default=str))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
