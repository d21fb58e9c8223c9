"""Deterministic Bybit ``orderbook.{depth}.{symbol}`` streams of several shapes for the book benchmark.

Why synthetic: these machines are offline and the real captures in ``tests/fixtures`` are a handful of
messages. A stream mimics what real captures show (``tests/fixtures/bybit``): one snapshot, then deltas with
``u`` +1 each, Bybit's exact spelling of numbers per category (linear: fixed decimals such as ``"60000.10"`` on
a 0.1 tick and ``"0.123"`` on a 0.001 qty step; spot: trailing zeros cut, ``"75845.4"``, ``"0.00159"``, ``"1"``),
``"0"`` to delete, the category's envelope key order (linear ``topic, type, ts, data, cts``; spot ``topic, ts,
type, data, cts``), and server-side window maintenance: the exchange keeps a deeper book and publishes exactly
its best ``depth`` levels per side, so a delete inside the window brings the next level in within the same delta
and an insert pushes the last one out with a ``"0"``. The mid drifts as trades consume the best levels, and the
book is never crossed. Prices are integer ticks and sizes integer lots inside the generator, so the true final
book is exact and every implementation can be checked against it.

A :class:`Shape` says what varies: the depth, the tick and spelling of prices, the distribution and precision of
sizes, where in the depth changes land, how many a delta carries and how often a burst comes. :data:`SHAPES`
names the family the benchmark runs; ``default`` is the stream of the first benchmark, byte for byte.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

__all__ = ["SHAPES", "Shape", "Stream", "format_price", "format_size", "generate", "load", "save", "true_book"]

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "bybit" / "ws_public"

START_U = 21_111_423
START_SEQ = 457_538_796_406
START_TS = 1_758_845_431_663

_RESERVE_MIN = 20  # hidden levels beyond the published window, so a delete always has an entrant
_RESERVE_MAX = 80
_MEAN_GAP = 1.8  # mean ticks between neighbouring levels drawn by _Generator._gap (scale 1)


@dataclass(frozen=True)
class Shape:
    """What one stream looks like. Prices are in units of the last written digit (``price_decimals``)."""

    name: str
    about: str
    category: str = "linear"  # "linear" or "spot": the envelope's key order and the spelling of numbers
    symbol: str = "BTCUSDT"
    depth: int = 200
    price_decimals: int = 2
    tick: int = 10  # the tick in units of the last digit: BTCUSDT linear is 0.1 written with two decimals
    start: int = 6_000_000  # the first best bid, in units of the last digit (60000.00)
    gap_scale: int = 1  # levels are about ``gap_scale`` times sparser than the default's (in ticks)
    size_decimals: int = 3  # the qty step: 0.001
    size_mu: float = 6.2  # sizes in lots are lognormal(mu, sigma), capped
    size_sigma: float = 1.4
    size_cap: int = 150_000
    round_share: float = 0.0  # share of sizes rounded to two significant digits (bots' favourite sizes)
    top_share: float = 0.7  # share of changes at an exponential depth of mean 12; the rest are uniform
    max_changes: int = 10  # changes a side per ordinary delta: 1 to this
    burst_share: float = 0.0  # share of deltas that are a burst, as after a volatile print
    burst_changes: tuple[int, int] = (100, 200)  # changes a side in a burst
    cadence_ms: int = 100
    fixture: str | None = None  # a real snapshot in FIXTURES whose levels the stream starts from
    snapshots_only: bool = False  # every message a snapshot of the window, as Bybit's level 1 sends
    kept_depth: int = 0  # a snapshots-only window's book is kept this deep, so its top moves as a deep book's does

    @property
    def topic(self) -> str:
        return f"orderbook.{self.depth}.{self.symbol}"


SHAPES: dict[str, Shape] = {
    shape.name: shape
    for shape in (
        Shape("default", "linear BTCUSDT 200, 0.1 tick, 0.001 lots, changes near the top (the first benchmark's)"),
        Shape(
            "deep-1000",
            "linear BTCUSDT 1000, changes uniform over the whole depth, sizes of 3 decimals over 5 decades",
            depth=1000,
            top_share=0.0,
            size_mu=7.0,
            size_sigma=2.2,
            size_cap=5_000_000,
            max_changes=16,
            cadence_ms=200,
        ),
        Shape(
            "xrp-500",
            'linear XRPUSDT 500 on a 0.0001 tick ("0.5123"), sizes of 1 decimal, half the changes deep',
            symbol="XRPUSDT",
            depth=500,
            price_decimals=4,
            tick=1,
            start=5_123,
            size_decimals=1,
            size_mu=8.5,
            size_sigma=2.0,
            size_cap=50_000_000,
            round_share=0.3,
            top_share=0.5,
        ),
        Shape(
            "spot-btc-50",
            "spot BTCUSDT 50 on a 0.01 tick, sparse, 6-decimal sizes (nearly every size string new), uniform",
            category="spot",
            depth=50,
            tick=1,
            start=7_584_874,
            gap_scale=8,
            size_decimals=6,
            size_mu=9.5,
            size_sigma=2.1,
            size_cap=20_000_000,
            round_share=0.2,
            top_share=0.3,
            cadence_ms=20,
        ),
        Shape(
            "spot-xrp-200",
            "spot XRPUSDT 200 on a 0.0001 tick, 2-decimal sizes spelt without trailing zeros",
            category="spot",
            symbol="XRPUSDT",
            depth=200,
            price_decimals=4,
            tick=1,
            start=5_123,
            size_decimals=2,
            size_mu=10.0,
            size_sigma=2.0,
            size_cap=500_000_000,
            round_share=0.3,
            top_share=0.4,
            max_changes=12,
        ),
        Shape(
            "bursts-200",
            "linear BTCUSDT 200, one delta in 8 a burst of 150-300 changes a side, uniform depth",
            top_share=0.3,
            size_mu=7.0,
            size_sigma=2.0,
            size_cap=2_000_000,
            burst_share=0.125,
            burst_changes=(150, 300),
        ),
        Shape(
            "sparse-1000",
            'linear 1000 on a 0.00001 tick ("12.34567"), levels ~50 ticks apart: most price texts are new',
            symbol="LINKUSDT",
            depth=1000,
            price_decimals=5,
            tick=1,
            start=1_234_567,
            gap_scale=50,
            size_decimals=1,
            size_mu=6.0,
            size_sigma=1.8,
            size_cap=10_000_000,
            round_share=0.2,
            top_share=0.2,
            max_changes=16,
            cadence_ms=100,
        ),
        Shape(
            "level-1",
            "linear BTCUSDT orderbook.1: every message a snapshot of the best bid and ask, every 10 ms",
            depth=1,
            kept_depth=50,
            top_share=0.9,
            max_changes=6,
            cadence_ms=10,
            snapshots_only=True,
        ),
        Shape(
            "spot-fixture-50",
            "spot BTCUSDT 50 from the real snapshot u2876700 (its levels, gaps and size spelling), uniform",
            category="spot",
            depth=50,
            tick=1,
            size_decimals=6,
            size_mu=-4.75 + 6 * math.log(10),  # fitted to the real snapshot's sizes: log(size) mean -4.75, sd 2.14
            size_sigma=2.14,
            size_cap=20_000_000,
            round_share=0.3,
            top_share=0.3,
            cadence_ms=20,
            fixture="spot_orderbook50_BTCUSDT_snapshot_u2876700.json",
        ),
    )
}


def _fixed(units: int, decimals: int) -> str:
    if decimals == 0:
        return str(units)
    scale = 10**decimals
    return f"{units // scale}.{units % scale:0{decimals}d}"


def _trimmed(units: int, decimals: int) -> str:
    text = _fixed(units, decimals)
    return text.rstrip("0").rstrip(".") if "." in text else text


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
    shape: str = "default"


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


def _units(text: str, decimals: int) -> int:
    whole, _, part = text.partition(".")
    return int(whole) * 10**decimals + int(part.ljust(decimals, "0") or 0)


class _Generator:
    def __init__(self, seed: int, shape: Shape) -> None:
        self.rng = random.Random(seed)
        self.shape = shape
        self.depth = depth = max(shape.depth, shape.kept_depth)
        self.max_changes = shape.max_changes
        self.spot = shape.category == "spot"
        # A delta deletes at most half its changes a side, plus one, each pulling one in from the reserve.
        biggest = max(shape.max_changes, shape.burst_changes[1] if shape.burst_share else 0)
        self.reserve_min = max(_RESERVE_MIN, biggest)
        self.reserve_max = self.reserve_min + _RESERVE_MAX - _RESERVE_MIN
        self.bids = _Side(-1)
        self.asks = _Side(1)
        self.u = START_U
        self.seq = START_SEQ
        self.ts = START_TS
        self.topic = shape.topic
        self.favourites: list[int] = []  # sizes that recur (a real snapshot's)
        n = depth + (self.reserve_min + self.reserve_max) // 2
        if shape.fixture:
            self._from_fixture(shape.fixture, n)
            return
        rng = self.rng
        tick = shape.start // shape.tick
        for _ in range(n):
            self.bids.insert(tick, self._lots())
            tick -= self._gap()
        tick = shape.start // shape.tick + 1 + (rng.random() < 0.3)
        for _ in range(n):
            self.asks.insert(tick, self._lots())
            tick += self._gap()

    def _from_fixture(self, name: str, n: int) -> None:
        """Start from a real snapshot's levels (exactly its texts) and extend each side past the window."""
        data = orjson.loads((FIXTURES / name).read_bytes())["data"]
        shape = self.shape
        for side, levels in ((self.bids, data["b"]), (self.asks, data["a"])):
            for price, size in levels:
                lots = _units(size, shape.size_decimals)
                side.insert(_units(price, shape.price_decimals) // shape.tick, lots)
                self.favourites.append(lots)
            while len(side.keys) < n:
                side.insert(side.tick_at(len(side.keys) - 1) + side.sign * self._gap(), self._lots())

    # ------------------------------------------------------------------ random shapes

    def _lots(self) -> int:
        """Level size in lots: lognormal (by default median ~0.5 BTC, a few big walls), some of them favourites."""
        shape = self.shape
        rng = self.rng
        if self.favourites and rng.random() < shape.round_share:
            return rng.choice(self.favourites)
        lots = max(1, min(shape.size_cap, int(rng.lognormvariate(shape.size_mu, shape.size_sigma))))
        if shape.round_share and not self.favourites and rng.random() < shape.round_share:
            digits = len(str(lots))
            if digits > 2:
                lots = round(lots, 2 - digits)
        return lots

    def _gap(self) -> int:
        """Ticks between neighbouring levels: mostly dense, with holes that later inserts fill."""
        r = self.rng.random()
        if r < 0.6:
            gap = 1
        elif r < 0.85:
            gap = 2
        else:
            gap = self.rng.randint(3, 6)
        scale = self.shape.gap_scale
        return gap if scale == 1 else gap * scale - self.rng.randrange(scale)

    def _rank(self) -> int:
        """Which level a change hits: near the top or uniform over the depth, every depth reachable."""
        rng = self.rng
        if rng.random() < self.shape.top_share:
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
        window keeps covering about ``depth * mean gap`` ticks instead of drifting like a random walk."""
        span = max(1, abs(side.tick_at(self.depth - 1) - side.tick_at(0)))  # (a one-level window spans none)
        return 0.2 * min(2.0, max(0.5, (span / (self.depth * _MEAN_GAP * self.shape.gap_scale)) ** -2))

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

    def _price_text(self, tick: int) -> str:
        shape = self.shape
        if shape.name == "default":
            return format_price(tick)
        spell = _trimmed if self.spot else _fixed
        return spell(tick * shape.tick, shape.price_decimals)

    def _size_text(self, lots: int) -> str:
        if lots == 0:
            return "0"
        spell = _trimmed if self.spot else _fixed
        return spell(lots, self.shape.size_decimals)

    def _entries(self, side: _Side, touched: dict[int, int | None]) -> list[list[str]]:
        out = []
        for tick in sorted(touched, reverse=side.sign < 0):  # best first, like Bybit
            new = self._visible(side, tick)
            if new != touched[tick]:
                out.append([self._price_text(tick), self._size_text(new or 0)])
        return out

    # ------------------------------------------------------------------ messages

    def _envelope(self, kind: str, bids: list[list[str]], asks: list[list[str]]) -> bytes:
        rng = self.rng
        self.seq += rng.randint(1, 2_000)
        self.ts += self.shape.cadence_ms + rng.randint(-2, 2)
        cts = self.ts - rng.randint(1, 30)
        data = {"s": self.shape.symbol, "b": bids, "a": asks, "u": self.u, "seq": self.seq}
        if self.spot:
            return orjson.dumps({"topic": self.topic, "ts": self.ts, "type": kind, "data": data, "cts": cts})
        return orjson.dumps({"topic": self.topic, "type": kind, "ts": self.ts, "data": data, "cts": cts})

    def snapshot(self) -> bytes:
        return self._envelope("snapshot", self._window(self.bids), self._window(self.asks))

    def _window(self, side: _Side) -> list[list[str]]:
        return [
            [self._price_text(tick), self._size_text(side.lots[tick])]
            for tick in (side.sign * key for key in side.keys[: self.shape.depth])
        ]

    def _budgets(self) -> tuple[int, int]:
        """Changes to make on each side (an insert or delete spends 2: its window partner)."""
        rng = self.rng
        shape = self.shape
        if shape.burst_share and rng.random() < shape.burst_share:
            return rng.randint(*shape.burst_changes), rng.randint(*shape.burst_changes)
        return rng.randint(1, self.max_changes), rng.randint(1, self.max_changes)

    def delta(self) -> bytes:
        """The next message: a delta of what changed, or for a snapshots-only shape a snapshot of the window once
        it changed (Bybit pushes level 1 when it changes)."""
        if not self.shape.snapshots_only:
            bid_touched, ask_touched = self._step()
            self.u += 1
            return self._envelope("delta", self._entries(self.bids, bid_touched), self._entries(self.asks, ask_touched))
        before = (self._window(self.bids), self._window(self.asks))
        for _ in range(50):
            self._step()
            window = (self._window(self.bids), self._window(self.asks))
            if window != before:
                break
        self.u += 1
        return self._envelope("snapshot", *window)

    def _step(self) -> tuple[dict[int, int | None], dict[int, int | None]]:
        """One change of the book: levels updated, inserted and deleted on both sides; what each side touched."""
        rng = self.rng
        bids, asks = self.bids, self.asks
        bid_touched: dict[int, int | None] = {}
        ask_touched: dict[int, int | None] = {}
        bid_budget, ask_budget = self._budgets()
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
        return bid_touched, ask_touched


def generate(
    deltas: int = 200_000, seed: int = 1, depth: int = 200, max_changes: int = 10, shape: str | Shape = "default"
) -> Stream:
    """The snapshot plus ``deltas`` deltas as orjson bytes, and the true final book; same seed, same bytes.

    ``depth`` and ``max_changes`` override the default shape's (the first benchmark's options)."""
    chosen = SHAPES[shape] if isinstance(shape, str) else shape
    if chosen.name == "default":
        chosen = replace(chosen, depth=depth, max_changes=max_changes)
    gen = _Generator(seed, chosen)
    messages = [gen.snapshot()]
    append = messages.append
    delta = gen.delta
    for _ in range(deltas):
        append(delta())
    final_bids = [tuple(level) for level in gen._window(gen.bids)]
    final_asks = [tuple(level) for level in gen._window(gen.asks)]
    return Stream(seed, deltas, chosen.depth, messages, final_bids, final_asks, chosen.name)  # type: ignore[arg-type]


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
        "shape": stream.shape,
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
        h.get("shape", "default"),
    )
