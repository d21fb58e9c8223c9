"""Faults on demand: the Python API behind ``sim.faults`` (and the ``/_sim/...`` control endpoints).

Every fault the client must survive can be switched on here, and each one is counted in ``sim.counters``
(``faults.<name>``), so a reliability test can check that the fault really happened before it checks the
client's reaction. Public-stream faults (``skip_u``, ``unreadable_delta``, ``restart_snapshot``, ``flood``) act
on the shared per-topic streams of :mod:`exchange.bybit.sim.public_ws`; private-side knobs (duplicate or late
executions, delayed or rejected auth) are plain attributes the private hub reads; REST faults (10006, 403) are
applied by the middleware in :mod:`exchange.bybit.sim.rest_common`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

import orjson

from exchange.bybit.sim.account import Account
from exchange.bybit.sim.clock import SimClock
from exchange.bybit.sim.connection import ConnectionRegistry, SimConnection
from exchange.bybit.sim.market import Market
from exchange.bybit.sim.public_ws import PublicFeed

log = logging.getLogger(__name__)

MALFORMED_KINDS = ("bad_json", "wrong_types", "missing_keys", "oversized")
OVERSIZED_BYTES = 2 * 1024 * 1024
ABRUPT_CODES = (None, 1006)  # 1006 may not be sent in a close frame: it *means* an abrupt close


class Faults:
    """The fault switches of one server; ``enabled`` gates the control endpoints, not this Python API."""

    def __init__(
        self,
        *,
        connections: ConnectionRegistry,
        feed: PublicFeed,
        account: Account,
        market: Market,
        clock: SimClock,
        counters: Counter[str],
        enabled: bool = False,
    ) -> None:
        self._connections = connections
        self._feed = feed
        self._account = account
        self._market = market
        self._clock = clock
        self._counters = counters
        self.enabled = enabled
        self._duplicate_executions = 0
        self._execution_delay_s = 0.0
        self._list_hides_after_seq: int | None = None
        self._list_lag_reads = 0
        self._auth_delay_s = 0.0
        self._auth_reject = False
        self.auth_reject_message = "Params Error"  # what a rejected auth says; "Invalid apikey" = a dead key
        self._rate_limited_until = 0.0  # time.monotonic()
        self._rate_limit_reset_ms = 0
        self._forbidden_until = 0.0

    @property
    def counters(self) -> Counter[str]:
        return self._counters

    def _count(self, name: str, n: int = 1) -> None:
        self._counters[f"faults.{name}"] += n
        log.info("fault injected: %s", name)

    # ----------------------------------------------------------------------------------------- connections

    async def drop_connections(self, kind_prefix: str = "", code: int | None = None) -> int:
        """Drop every open WebSocket whose kind starts with ``kind_prefix``: abrupt (no close frame) when
        ``code`` is None or 1006, else a close frame with ``code``. Returns how many were dropped."""
        targets = self._connections.all(kind_prefix)
        self._count("drop")
        if code in ABRUPT_CODES:
            for conn in targets:
                conn.abort()
        else:
            await asyncio.gather(*(conn.close(code=int(code)) for conn in targets), return_exceptions=True)
        self._counters["faults.dropped_connections"] += len(targets)
        return len(targets)

    def stall(self, seconds: float, kind_prefix: str = "") -> None:
        """Half-open link for ``seconds`` on the connections open now: nothing sent, pings unanswered.

        A new stall replaces a running one, so ``stall(0)`` ends it early.
        """
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        for conn in self._connections.all(kind_prefix):
            conn.stall(seconds)
        self._count("stall")

    def lose_pongs(self, count: int, kind_prefix: str = "") -> None:
        """The next ``count`` JSON pongs on each connection open now are not sent; every other frame flows."""
        if count < 0:
            raise ValueError("count must be >= 0")
        for conn in self._connections.all(kind_prefix):
            conn.pongs_to_lose = count
        self._count("lose_pongs")

    # ----------------------------------------------------------------------------------------- public streams

    def skip_u(self, topic: str, category: str | None = None) -> None:
        """The next delta on ``topic`` (in ``category``, or every category serving it) jumps ``u`` by 2."""
        self._feed.inject_skip_u(topic, category)
        self._count("skip_u")

    def unreadable_delta(self, topic: str, category: str | None = None) -> None:
        """The next delta on ``topic`` carries its real next ``u`` but its last level's size is not a number
        (a corrupted frame); the stream goes on from that ``u``, so a client that skips it has lost an update."""
        self._feed.inject_unreadable(topic, category)
        self._count("unreadable_delta")

    def restart_snapshot(self, topic: str, category: str | None = None) -> None:
        """``topic`` sends a ``u == 1`` snapshot (as after a Bybit restart) and continues from ``u == 1``."""
        self._feed.inject_restart(topic, category)
        self._count("restart_snapshot")

    def malformed(self, kind: str, count: int = 1, kind_prefix: str = "", *, size_bytes: int = OVERSIZED_BYTES) -> int:
        """Send ``count`` broken frames of ``kind`` to every matching connection that has a subscription
        (``kind_prefix`` "" means the public ones). Returns the number of frames sent."""
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"unknown malformed kind {kind!r} (choose from {', '.join(MALFORMED_KINDS)})")
        if count < 1:
            raise ValueError("count must be >= 1")
        sent = 0
        for conn in self._connections.all(kind_prefix or "public"):
            if not conn.subscriptions:
                continue
            topic = sorted(conn.subscriptions)[0]
            for i in range(count):
                _send_malformed(conn, kind, topic, self._clock.now_ms(), i, size_bytes)
                sent += 1
        self._count(f"malformed.{kind}", count)
        return sent

    async def flood(self, topic: str, count: int, category: str = "linear") -> int:
        """Push ``count`` book deltas for ``topic`` to its subscribers as fast as they take them (benchmarks).

        The deltas are real ones (``u`` + 1 each, sizes of the top levels changing), so a client book stays
        consistent; the feed's normal cadence resumes afterwards. Returns the number of deltas sent.
        """
        self._count("flood")
        return await self._feed.flood(category, topic, count)

    # ----------------------------------------------------------------------------------------- private side

    @property
    def duplicate_executions(self) -> int:
        """The next N executions are pushed twice (same execId); the private stream decrements it."""
        return self._duplicate_executions

    @duplicate_executions.setter
    def duplicate_executions(self, value: int) -> None:
        if value > self._duplicate_executions:
            self._count("duplicate_executions")
        self._duplicate_executions = max(0, int(value))

    @property
    def execution_delay_s(self) -> float:
        """Executions are pushed this much later (order and position pushes stay immediate)."""
        return self._execution_delay_s

    @execution_delay_s.setter
    def execution_delay_s(self, value: float) -> None:
        if value > 0:
            self._count("execution_delay")
        self._execution_delay_s = max(0.0, float(value))

    def corrupt_executions(self, fields: dict[str, Any], count: int = 1) -> None:
        """The next ``count`` executions the account makes show ``fields`` instead of their own (an
        ``execPrice`` of ``"1E+999999999"``, a 5000-digit ``execTime``), in the push and in ``execution/list``
        alike, as an exchange that recorded them wrong would; the account's own books stay right."""
        if count < 0:
            raise ValueError("count must be >= 0")
        self._account.corrupt_next.extend(dict(fields) for _ in range(count))
        self._count("corrupt_executions", count)

    def lag_execution_list(self, reads: int) -> None:
        """The next ``reads`` requests of ``execution/list`` leave out the executions made from now on, as Bybit's
        list may trail its position view and the private stream; later requests show them all."""
        if reads < 0:
            raise ValueError("reads must be >= 0")
        self._list_hides_after_seq = self._account.last_seq
        self._list_lag_reads = reads
        self._count("lag_execution_list")

    def execution_list_hides_after(self) -> int | None:
        """For one ``execution/list`` request: the ``seq`` above which executions are not listed yet, or None."""
        if self._list_lag_reads <= 0:
            return None
        self._list_lag_reads -= 1
        self._counters["rest.execution_list_lagged"] += 1
        return self._list_hides_after_seq

    @property
    def auth_delay_s(self) -> float:
        """The private ``auth`` ack is sent this much later."""
        return self._auth_delay_s

    @auth_delay_s.setter
    def auth_delay_s(self, value: float) -> None:
        if value > 0:
            self._count("auth_delay")
        self._auth_delay_s = max(0.0, float(value))

    @property
    def auth_reject(self) -> bool:
        """Every private ``auth`` is rejected, even with the right signature, with ``auth_reject_message``
        ("Params Error" by default: Bybit's own words for an auth it refuses as expired, and for a key it does not
        take, so a client measures its clock and asks again on the same link before it judges the key; set it to
        "Invalid apikey" to play a key revoked on the exchange)."""
        return self._auth_reject

    @auth_reject.setter
    def auth_reject(self, value: bool) -> None:
        if value and not self._auth_reject:
            self._count("auth_reject")
        self._auth_reject = bool(value)

    # ----------------------------------------------------------------------------------------- REST

    def rate_limit_for(self, seconds: float) -> None:
        """Every ``/v5`` request answers retCode 10006 for ``seconds``, with the reset time in the headers."""
        self._rate_limited_until = time.monotonic() + seconds
        self._rate_limit_reset_ms = self._clock.now_ms() + int(seconds * 1000)
        self._count("rate_limit")

    def forbid_for(self, seconds: float) -> None:
        """Every ``/v5`` request answers HTTP 403 (Bybit's IP ban) for ``seconds``."""
        self._forbidden_until = time.monotonic() + seconds
        self._count("forbid")

    @property
    def rate_limited(self) -> bool:
        return time.monotonic() < self._rate_limited_until

    @property
    def rate_limit_reset_ms(self) -> int:
        return self._rate_limit_reset_ms

    @property
    def forbidden(self) -> bool:
        return time.monotonic() < self._forbidden_until

    # ----------------------------------------------------------------------------------------- time, market

    def set_clock_offset(self, ms: int) -> None:
        """Shift the server clock by ``ms`` (REST timestamps, auth expiry, every ``ts``)."""
        self._clock.offset_ms = int(ms)
        self._count("clock_offset")

    def pause_market(self) -> None:
        """Stop the market (no steps: no price moves, trades, funding, demo trades)."""
        self._market.paused = True
        self._count("pause")

    def resume_market(self) -> None:
        self._market.paused = False
        self._count("resume")

    def clear(self) -> None:
        """Switch every lasting fault off (stalls already running end on their own)."""
        self._duplicate_executions = 0
        self._execution_delay_s = 0.0
        self._account.corrupt_next.clear()
        self._list_lag_reads = 0
        self._auth_delay_s = 0.0
        self._auth_reject = False
        self._rate_limited_until = 0.0
        self._forbidden_until = 0.0
        self._clock.offset_ms = 0
        self._market.paused = False
        self._count("clear")


def _send_malformed(conn: SimConnection, kind: str, topic: str, now_ms: int, i: int, size_bytes: int) -> None:
    """One deliberately broken frame that looks like it belongs to ``topic``."""
    symbol = topic.rsplit(".", 1)[-1]
    if kind == "bad_json":
        conn.send_text(f'{{"topic":"{topic}","type":"delta","ts":{now_ms},"data":{{"s":"{symbol}","b":[["1')
    elif kind == "wrong_types":
        conn.send_json(
            {
                "topic": topic,
                "type": "delta",
                "ts": str(now_ms),
                "data": {"s": symbol, "b": [[1.5, 2]], "a": {"x": None}, "u": f"{i}", "seq": None},
                "cts": "later",
            }
        )
    elif kind == "missing_keys":
        conn.send_json({"topic": topic, "ts": now_ms})
    else:
        head = orjson.dumps({"topic": topic, "type": "delta", "ts": now_ms})[:-1]
        padding = b"x" * max(0, size_bytes - len(head) - 16)
        conn.send_bytes_text(head + b',"data":"' + padding + b'"}')
