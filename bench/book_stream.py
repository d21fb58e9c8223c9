"""A deterministic, realistic ``orderbook.200.BTCUSDT`` stream for the book throughput benchmark.

Why synthetic: these machines are offline and the real captures in ``tests/fixtures`` are a handful of
messages. The stream mimics what a real linear 200-level capture shows (``tests/fixtures/bybit``): one
snapshot, then deltas with ``u`` +1 each, Bybit's exact string formatting (prices with two decimals on a 0.1
tick such as ``"60000.10"``, sizes with the 0.001 qty step such as ``"0.123"``, ``"0"`` to delete), the linear
envelope key order ``topic, type, ts, data{s, b, a, u, seq}, cts``, and server-side window maintenance: the
exchange keeps a deeper book and publishes exactly its best 200 levels per side, so a delete inside the window
brings the next level in as an insert in the same delta and an insert pushes the 200th level out with a
``"0"``. Updates cluster near the top of the book but reach every depth, the mid drifts as trades consume the
best levels, and the book is never crossed. Prices are integer ticks and sizes integer lots inside the
generator, so the true final book is exact and every implementation can be checked against it.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

import orjson

__all__ = ["Stream", "format_price", "format_size", "generate", "load", "save", "true_book"]

SYMBOL = "BTCUSDT"
TICK = 0.1  # the generator works in integer ticks of 0.1 and lots of 0.001
START_TICKS = 600_000  # 60000.0
START_U = 21_111_423
START_SEQ = 457_538_796_406
START_TS = 1_758_845_431_663
CADENCE_MS = 100  # linear orderbook.200 push interval

_RESERVE_MIN = 20  # hidden levels beyond the published window, so a delete always has an entrant
_RESERVE_MAX = 80
_MEAN_GAP = 1.8  # mean ticks between neighbouring levels drawn by _Generator._gap


def format_price(ticks: int) -> str:
    """Bybit linear BTCUSDT price text: tick 0.1 written with two decimals (``"109147.80"``)."""
    return f"{ticks // 10}.{ticks % 10}0"


def format_size(lots: int) -> str:
    """Bybit size text with the 0.001 qty step (``"0.123"``); a zero size is ``"0"`` (a delete)."""
    if lots == 0:
        return "0"
    return f"{lots // 1000}.{lots % 1000:03d}"


@dataclass(frozen=True)
class Stream:
    """The serialized messages (snapshot first) and the true final book, best first, as Bybit strings."""

    seed: int
    deltas: int
    depth: int
    messages: list[bytes]
    final_bids: list[tuple[str, str]]
    final_asks: list[tuple[str, str]]


class _Side:
    """One side of the exchange's deeper book: rank keys ascending (best first) and sizes by tick."""

    __slots__ = ("sign", "keys", "lots")

    def __init__(self, sign: int) -> None:
        self.sign = sign  # key = sign * tick: -1 for bids, +1 for asks, so rank 0 is the best level
        self.keys: list[int] = []
        self.lots: dict[int, int] = {}

    def tick_at(self, rank: int) -> int:
        return self.sign * self.keys[rank]

    def rank_of(self, tick: int) -> int:
        return bisect_left(self.keys, self.sign * tick)

    def insert(self, tick: int, lots: int) -> None:
        key = self.sign * tick
        self.keys.insert(bisect_left(self.keys, key), key)
        self.lots[tick] = lots

    def delete(self, tick: int) -> None:
        key = self.sign * tick
        del self.keys[bisect_left(self.keys, key)]
        del self.lots[tick]


class _Generator:
    def __init__(self, seed: int, depth: int, max_changes: int) -> None:
        self.rng = random.Random(seed)
        self.depth = depth
        self.max_changes = max_changes
        # A delta deletes at most max_changes / 2 + 1 levels per side, each pulling one in from the reserve.
        self.reserve_min = max(_RESERVE_MIN, max_changes)
        self.reserve_max = self.reserve_min + _RESERVE_MAX - _RESERVE_MIN
        self.bids = _Side(-1)
        self.asks = _Side(1)
        self.u = START_U
        self.seq = START_SEQ
        self.ts = START_TS
        self.topic = f"orderbook.{depth}.{SYMBOL}"
        rng = self.rng
        n = depth + (self.reserve_min + self.reserve_max) // 2
        tick = START_TICKS
        for _ in range(n):
            self.bids.insert(tick, self._lots())
            tick -= self._gap()
        tick = START_TICKS + 1 + (rng.random() < 0.3)
        for _ in range(n):
            self.asks.insert(tick, self._lots())
            tick += self._gap()

    # ------------------------------------------------------------------ random shapes

    def _lots(self) -> int:
        """Level size in lots of 0.001: lognormal, median ~0.5 BTC, a few big walls."""
        return max(1, min(150_000, int(self.rng.lognormvariate(6.2, 1.4))))

    def _gap(self) -> int:
        """Ticks between neighbouring levels: mostly dense, with holes that later inserts fill."""
        r = self.rng.random()
        if r < 0.6:
            return 1
        if r < 0.85:
            return 2
        return self.rng.randint(3, 6)

    def _rank(self) -> int:
        """Which level a change hits: mostly near the top, but every depth of the window is reachable."""
        rng = self.rng
        if rng.random() < 0.7:
            return min(self.depth - 1, int(rng.expovariate(1 / 12.0)))
        return rng.randrange(self.depth)

    # ------------------------------------------------------------------ mutations that keep the window exact

    def _visible(self, side: _Side, tick: int) -> int | None:
        lots = side.lots.get(tick)
        if lots is None or side.rank_of(tick) >= self.depth:
            return None
        return lots

    def _record(self, side: _Side, touched: dict[int, int | None], tick: int) -> None:
        if tick not in touched:
            touched[tick] = self._visible(side, tick)

    def _delete_probability(self, side: _Side) -> float:
        """Deletes outpace inserts when the window is denser than usual and lag when it is sparser, so the
        200 levels keep covering about ``depth * _MEAN_GAP`` ticks instead of drifting like a random walk."""
        span = abs(side.tick_at(self.depth - 1) - side.tick_at(0))
        return 0.2 * min(2.0, max(0.5, (span / (self.depth * _MEAN_GAP)) ** -2))

    def _at(self, rank: int) -> int:
        """Liquidity refills a spread wider than one tick (BTCUSDT's spread is nearly always one tick)."""
        if self.asks.tick_at(0) - self.bids.tick_at(0) > 1 and self.rng.random() < 0.5:
            return 0
        return rank

    def _update(self, side: _Side, touched: dict[int, int | None], rank: int) -> None:
        tick = side.tick_at(rank)
        self._record(side, touched, tick)
        old = side.lots[tick]
        new = self._lots()
        if new == old:
            new = old + 1
        side.lots[tick] = new

    def _delete(self, side: _Side, touched: dict[int, int | None], rank: int) -> None:
        tick = side.tick_at(rank)
        self._record(side, touched, tick)
        self._record(side, touched, side.tick_at(self.depth))  # the level that enters the window
        side.delete(tick)

    def _insert(self, side: _Side, other: _Side, touched: dict[int, int | None], rank: int) -> bool:
        """Insert a new level in the first hole at or below ``rank``; False when the next ranks are full."""
        sign = side.sign
        tick = None
        if rank == 0:
            best = side.tick_at(0)
            limit = other.tick_at(0)  # never cross: a bid stays below the best ask and vice versa
            room = (best - limit) * sign - 1  # free ticks inside the spread
            if room > 0:
                tick = best - sign * self.rng.randint(1, min(room, 2))
            rank = 1
        if tick is None:
            for r in range(rank, min(rank + 12, self.depth)):
                better = side.tick_at(r - 1)
                worse = side.tick_at(r)
                room = (worse - better) * sign - 1
                if room > 0:
                    tick = worse - sign * self.rng.randint(1, room)
                    break
            else:
                return False
        self._record(side, touched, tick)
        self._record(side, touched, side.tick_at(self.depth - 1))  # the level pushed out of the window
        side.insert(tick, self._lots())
        return True

    def _replenish(self, side: _Side) -> None:
        """Keep a hidden reserve of levels past the window, so a delete always has a level to bring in; what
        is added or trimmed here lies past rank ``depth`` and is never published."""
        keys = side.keys
        while len(keys) < self.depth + self.reserve_min:
            side.insert(side.tick_at(len(keys) - 1) + side.sign * self._gap(), self._lots())
        while len(keys) > self.depth + self.reserve_max:
            del side.lots[side.tick_at(len(keys) - 1)]
            keys.pop()

    def _entries(self, side: _Side, touched: dict[int, int | None]) -> list[list[str]]:
        out = []
        for tick in sorted(touched, reverse=side.sign < 0):  # best first, like Bybit
            new = self._visible(side, tick)
            if new != touched[tick]:
                out.append([format_price(tick), format_size(new or 0)])
        return out

    # ------------------------------------------------------------------ messages

    def _envelope(self, kind: str, bids: list[list[str]], asks: list[list[str]]) -> bytes:
        rng = self.rng
        self.seq += rng.randint(1, 2_000)
        self.ts += CADENCE_MS + rng.randint(-2, 2)
        cts = self.ts - rng.randint(1, 30)
        data = {"s": SYMBOL, "b": bids, "a": asks, "u": self.u, "seq": self.seq}
        return orjson.dumps({"topic": self.topic, "type": kind, "ts": self.ts, "data": data, "cts": cts})

    def snapshot(self) -> bytes:
        return self._envelope("snapshot", self._window(self.bids), self._window(self.asks))

    def _window(self, side: _Side) -> list[list[str]]:
        return [
            [format_price(tick), format_size(side.lots[tick])]
            for tick in (side.sign * key for key in side.keys[: self.depth])
        ]

    def delta(self) -> bytes:
        rng = self.rng
        bids, asks = self.bids, self.asks
        bid_touched: dict[int, int | None] = {}
        ask_touched: dict[int, int | None] = {}
        bid_budget = rng.randint(1, self.max_changes)  # an insert or delete spends 2: its window partner
        ask_budget = rng.randint(1, self.max_changes)
        if rng.random() < 0.3 and bid_budget >= 4 and ask_budget >= 4:
            # A trade consumes the best level(s) on one side and the other side follows: the mid drifts.
            if rng.random() < 0.5:
                self._delete(asks, ask_touched, 0)
                ask_budget -= 2
                if self._insert(bids, asks, bid_touched, 0):
                    bid_budget -= 2
            else:
                self._delete(bids, bid_touched, 0)
                bid_budget -= 2
                if self._insert(asks, bids, ask_touched, 0):
                    ask_budget -= 2
        for side, other, touched, budget in (
            (bids, asks, bid_touched, bid_budget),
            (asks, bids, ask_touched, ask_budget),
        ):
            p_delete = self._delete_probability(side)
            p_insert = p_delete + 0.2
            while budget > 0:
                rank = self._rank()
                r = rng.random()
                if budget >= 2 and r < p_delete:
                    self._delete(side, touched, rank)
                    budget -= 2
                elif budget >= 2 and r < p_insert and self._insert(side, other, touched, self._at(rank)):
                    budget -= 2
                else:
                    self._update(side, touched, rank)
                    budget -= 1
        self._replenish(bids)
        self._replenish(asks)
        self.u += 1
        return self._envelope("delta", self._entries(bids, bid_touched), self._entries(asks, ask_touched))


def generate(deltas: int = 200_000, seed: int = 1, depth: int = 200, max_changes: int = 10) -> Stream:
    """The snapshot plus ``deltas`` deltas as orjson bytes, and the true final book; same seed, same bytes."""
    gen = _Generator(seed, depth, max_changes)
    messages = [gen.snapshot()]
    append = messages.append
    delta = gen.delta
    for _ in range(deltas):
        append(delta())
    final_bids = [tuple(level) for level in gen._window(gen.bids)]
    final_asks = [tuple(level) for level in gen._window(gen.asks)]
    return Stream(seed, deltas, depth, messages, final_bids, final_asks)  # type: ignore[arg-type]


def true_book(stream: Stream) -> tuple[dict[float, float], dict[float, float]]:
    """The true final book as ``price -> size`` floats per side, what every implementation must end with."""
    bids = {float(p): float(s) for p, s in stream.final_bids}
    asks = {float(p): float(s) for p, s in stream.final_asks}
    return bids, asks


def save(stream: Stream, path: Path) -> None:
    """Write the stream for a worker process: a JSON header line, then one message per line."""
    header = {
        "seed": stream.seed,
        "deltas": stream.deltas,
        "depth": stream.depth,
        "bids": stream.final_bids,
        "asks": stream.final_asks,
    }
    path.write_bytes(b"\n".join([orjson.dumps(header), *stream.messages]))


def load(path: Path) -> Stream:
    """Read what :func:`save` wrote (orjson never emits a newline inside a message)."""
    header, *messages = path.read_bytes().split(b"\n")
    h = orjson.loads(header)
    return Stream(
        h["seed"],
        h["deltas"],
        h["depth"],
        messages,
        [tuple(level) for level in h["bids"]],
        [tuple(level) for level in h["asks"]],
    )
