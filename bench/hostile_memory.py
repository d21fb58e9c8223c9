"""Memory of a desk session fed by a hostile Bybit v5 public host: RSS after N seconds of each hostile mode.

Run ``python -m bench.hostile_memory [--seconds 60] [--mode all|memo|deep-book|unknown-topics|ticker-fields]
[--code CHECKOUT]`` (``--code /path/to/main`` measures another checkout's session with this host).

For each mode the parent serves :class:`HostileExchange` on 127.0.0.1 and starts the real :class:`Session`
(public only, ``BTCUSDT``, linear, depth 50) in a child process, which reports its own RSS, state and counters
after the given seconds (with the resubscribes a second, and the toasts a second the app would raise before and
after its toast gate); the parent reads the child's RSS twice a second and stops it once it passes ``--cap-mb``
(the row then says when). The host answers pings, subscribes and unsubscribes as Bybit does, sends a valid
snapshot for every book and ticker subscribed (again on every resubscribe), then, half a second later, only
frames of its mode:

* ``memo``: in-sequence book deltas of 30 sizes of ~100 kB digits each, every one distinct (a float memo keyed
  by text keeps them all);
* ``deep-book``: in-sequence deltas each adding 2,000 ask levels above the book (a book never trimmed to its
  depth grows linearly and stays SYNCED);
* ``unknown-topics``: ticker frames of topics never subscribed, each with its own 20 kB symbol name;
* ``ticker-fields``: ticker deltas of the subscribed symbol, each with 1,000 field names never seen before.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
from aiohttp import WSMsgType, web

MODES = ("memo", "deep-book", "unknown-topics", "ticker-fields")
SYMBOL = "BTCUSDT"
DEPTH = 50
FEED_AFTER_S = 0.5  # the hostile frames start this long after the first subscribe: the session is Ready by then
PAUSE_S = {"memo": 0.05, "deep-book": 0.01, "unknown-topics": 0.005, "ticker-fields": 0.005}
HUGE_DIGITS = "7" * 100_000
MARKER_PRICE = "4242.5"


def _dumps(frame: dict[str, Any]) -> str:
    return orjson.dumps(frame).decode()


class HostileExchange:
    """A Bybit v5 public WebSocket (``/v5/public/linear``) on 127.0.0.1 that turns hostile once subscribed.

    ``limit`` stops the hostile frames after that many (None: until the client leaves); ``sent`` counts them. After
    the last one comes a valid ticker delta with ``markPrice`` :data:`MARKER_PRICE`: a client that shows it has
    read every hostile frame before it.
    """

    def __init__(self, mode: str, *, limit: int | None = None, pause_s: float | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        self.mode = mode
        self.limit = limit
        self.pause_s = PAUSE_S[mode] if pause_s is None else pause_s
        self.sent = 0
        self.subscribes = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        """Serve on a free port of 127.0.0.1; returns the port."""
        app = web.Application()
        app.router.add_get("/v5/public/{category}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=64 * 1024, heartbeat=None)
        await ws.prepare(request)
        state = {"u": 1_000}
        feeder: asyncio.Task[None] | None = None
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                frame = orjson.loads(message.data)
                op, req_id = frame.get("op"), frame.get("req_id")
                if op == "ping":
                    await ws.send_str(_dumps({"success": True, "ret_msg": "pong", "req_id": req_id, "op": "ping"}))
                    continue
                await ws.send_str(_dumps({"success": True, "ret_msg": "", "req_id": req_id, "op": op}))
                if op == "subscribe":
                    self.subscribes += 1
                    for topic in frame.get("args") or []:
                        snapshot = _snapshot(topic, state["u"])
                        if snapshot is not None:
                            await ws.send_str(_dumps(snapshot))
                    if feeder is None:
                        feeder = asyncio.create_task(self._feed(ws, state))
        finally:
            if feeder is not None:
                feeder.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await feeder
        return ws

    async def _feed(self, ws: web.WebSocketResponse, state: dict[str, int]) -> None:
        await asyncio.sleep(FEED_AFTER_S)
        frames = _FRAMES[self.mode](state)
        while not ws.closed and (self.limit is None or self.sent < self.limit):
            await ws.send_str(next(frames))
            self.sent += 1
            await asyncio.sleep(self.pause_s)
        marker = {"symbol": SYMBOL, "markPrice": MARKER_PRICE}
        await ws.send_str(_dumps({"topic": f"tickers.{SYMBOL}", "type": "delta", "data": marker, "cs": 2, "ts": 2}))


def _snapshot(topic: str, u: int) -> dict[str, Any] | None:
    """A valid Bybit snapshot of a subscribed book or ticker (trades have none)."""
    if topic.startswith("orderbook."):
        bids = [[f"{99.9 - i * 0.1:.1f}", "1"] for i in range(DEPTH)]
        asks = [[f"{100.1 + i * 0.1:.1f}", "1"] for i in range(DEPTH)]
        data = {"s": SYMBOL, "b": bids, "a": asks, "u": u, "seq": u}
        return {"topic": topic, "type": "snapshot", "ts": int(time.time() * 1000), "data": data, "cts": 1}
    if topic.startswith("tickers."):
        data = {"symbol": topic[len("tickers.") :], "markPrice": "100.0", "lastPrice": "100.0", "bid1Price": "99.9"}
        return {"topic": topic, "type": "snapshot", "data": data, "cs": 1, "ts": int(time.time() * 1000)}
    return None


def _delta(state: dict[str, int], bids: list[list[str]], asks: list[list[str]]) -> str:
    state["u"] += 1
    data = {"s": SYMBOL, "b": bids, "a": asks, "u": state["u"], "seq": state["u"]}
    return _dumps({"topic": f"orderbook.{DEPTH}.{SYMBOL}", "type": "delta", "ts": 1, "data": data, "cts": 1})


def _memo_frames(state: dict[str, int]) -> Iterator[str]:
    for n in itertools.count():
        sizes = [f"1.{HUGE_DIGITS}{n:08d}{i:02d}" for i in range(30)]
        yield _delta(state, [[f"{99.9 - i * 0.1:.1f}", size] for i, size in enumerate(sizes)], [])


def _deep_book_frames(state: dict[str, int]) -> Iterator[str]:
    for n in itertools.count():
        base = 200 + n * 2_000
        yield _delta(state, [], [[f"{(base + i) * 0.1:.1f}", "1"] for i in range(2_000)])


def _unknown_topic_frames(state: dict[str, int]) -> Iterator[str]:
    for n in itertools.count():
        name = f"{n:09d}" + "Z" * 20_000
        yield _dumps({"topic": f"tickers.{name}", "type": "snapshot", "data": {"symbol": name, "markPrice": "1"}})


def _ticker_field_frames(state: dict[str, int]) -> Iterator[str]:
    for n in itertools.count():
        data = {"symbol": SYMBOL, "markPrice": "100.0", **{f"f{n}_{i}": "1" for i in range(1_000)}}
        yield _dumps({"topic": f"tickers.{SYMBOL}", "type": "delta", "data": data, "cs": 1, "ts": 1})


_FRAMES: dict[str, Callable[[dict[str, int]], Iterator[str]]] = {
    "memo": _memo_frames,
    "deep-book": _deep_book_frames,
    "unknown-topics": _unknown_topic_frames,
    "ticker-fields": _ticker_field_frames,
}


# ---------------------------------------------------------------------------------------------- the session side


def rss_mb(pid: int | str = "self") -> float | None:
    """Resident set size of a process in MB (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def session_figures(session: Any) -> dict[str, Any]:
    """What a hostile host may have made the session keep, and what it counted."""
    from exchange.book import _PRICES, _SIZES

    memo_bytes = _PRICES.retained_bytes() + _SIZES.retained_bytes()
    book = session.books[SYMBOL]
    ticker = session.tickers.get(SYMBOL) or {}
    return {
        "state": session.state.kind.value,
        "book": book.state.value,
        "levels": max(book.level_count()),
        "ticker_fields": len(ticker),
        "tickers": len(session.tickers._tickers),
        "topics_heard": len(session.market._topic_last_ms),
        "versions": len(session.desk.versions),
        "memo_kb": round(memo_bytes / 1024),
        "counters": {key: value for key, value in session.counters.items() if value},
    }


TOASTS = {"events": 0, "shown": 0}


async def count_toasts(session: Any) -> None:
    """Count the events the app turns into toasts (notices; a book RESYNCING while Ready) and how many toasts the
    app's toast gate (:class:`exchange.notices.NoticeGate` with a screen's burst, when this checkout has one) lets
    through, summaries included. Textual is not imported: it would weigh on the RSS measured here."""
    from exchange.events import BookStateChanged, Notice

    try:
        from exchange.notices import SCREEN_BURST, WINDOW_S, NoticeGate

        gate: Any = NoticeGate(WINDOW_S, burst=SCREEN_BURST)
    except ImportError:
        gate = None
    async for event in session.hub.subscribe([Notice, BookStateChanged], name="bench-toasts"):
        if isinstance(event, BookStateChanged):
            if event.state.value != "RESYNCING" or session.state.kind.value != "Ready":
                continue
            key, text = f"{event.symbol} book RESYNCING", f"{event.symbol} book RESYNCING: {event.reason}"
        else:
            key = text = event.text
        TOASTS["events"] += 1
        TOASTS["shown"] += 1 if gate is None else len(gate.admit(key, "warning", text))


async def _child(port: int, seconds: float) -> None:
    logging.basicConfig(level=logging.ERROR)  # a warning per rejected frame is the session's business, not this table's
    from exchange.config import load_settings
    from exchange.session import Session

    settings = load_settings(environ={}, base_url=f"http://127.0.0.1:{port}", symbols=SYMBOL)
    session = Session(settings)
    toasts = asyncio.create_task(count_toasts(session))
    task = asyncio.create_task(session.run())
    ready_seen = False
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        ready_seen = ready_seen or session.state.kind.value == "Ready"
    toasts.cancel()
    figures = {"rss_mb": round(rss_mb() or 0), "ready_seen": ready_seen, **session_figures(session)}
    figures["per_s"] = {
        "resubscribes": round(session.counters["resubscribes"] / seconds, 1),
        "toast_events": round(TOASTS["events"] / seconds, 1),
        "toasts": round(TOASTS["shown"] / seconds, 1),
    }
    print(orjson.dumps(figures).decode(), flush=True)
    await session.stop()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(task, 5)


async def measure(mode: str, seconds: float, cap_mb: float, code: str | None) -> dict[str, Any]:
    """One mode: the host here, the session in a child process (importing Fluxum from ``code`` when given, e.g. a
    checkout of main for the figure before a change); the child's figures, or where the cap stopped it."""
    host = HostileExchange(mode)
    port = await host.start()
    env = os.environ.copy()
    if code is not None:
        env["PYTHONPATH"] = code
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--child-port", str(port), "--seconds", str(seconds),
        stdout=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    started = time.monotonic()
    result: dict[str, Any] = {}
    try:
        while child.returncode is None:
            rss = rss_mb(child.pid)
            if rss is not None and rss > cap_mb:
                result = {"rss_mb": round(rss), "capped_after_s": round(time.monotonic() - started, 1)}
                child.kill()
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(child.wait(), 0.5)
        out, _ = await child.communicate()
        if not result:
            result = orjson.loads(out.splitlines()[-1]) if out.strip() else {"error": "no report"}
    finally:
        await host.stop()
    result["frames"] = host.sent
    return result


def describe(mode: str, result: dict[str, Any], seconds: float, cap_mb: float) -> str:
    if "capped_after_s" in result:
        return (
            f"{mode:15} RSS > {cap_mb:.0f} MB after {result['capped_after_s']} s "
            f"({result['frames']:,} hostile frames): stopped"
        )
    counters = ", ".join(f"{k} {v:,}" for k, v in sorted(result.get("counters", {}).items()))
    return (
        f"{mode:15} RSS {result.get('rss_mb')} MB after {seconds:g} s ({result['frames']:,} hostile frames); "
        f"session {result.get('state')} (Ready seen: {result.get('ready_seen')}), book {result.get('book')} "
        f"{result.get('levels')} levels/side, ticker {result.get('ticker_fields')} fields, "
        f"{result.get('tickers')} tickers, {result.get('topics_heard')} topics heard, "
        f"memo {result.get('memo_kb')} kB; per second {result.get('per_s')}; {counters}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--mode", default="all", choices=["all", *MODES])
    parser.add_argument("--cap-mb", type=float, default=1500.0, help="stop a session past this RSS (1500)")
    parser.add_argument("--code", help="import the session from this checkout (default: this one)")
    parser.add_argument("--child-port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_port is not None:
        asyncio.run(_child(args.child_port, args.seconds))
        return 0
    modes = MODES if args.mode == "all" else (args.mode,)
    code = args.code or os.environ.get("PYTHONPATH") or str(Path(__file__).resolve().parent.parent)
    print(f"Hostile Bybit v5 host, {args.seconds:g} s per mode, session RSS cap {args.cap_mb:.0f} MB, code {code}")
    for mode in modes:
        result = asyncio.run(measure(mode, args.seconds, args.cap_mb, code))
        print(describe(mode, result, args.seconds, args.cap_mb), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
