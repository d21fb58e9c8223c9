"""A Bybit v5 order book (``orderbook.{depth}.{symbol}``) that knows when it can be trusted.

Rules (Bybit v5's, as docs/behaviour.md describes them):

* any ``snapshot`` replaces the whole book (``u == 1`` after a Bybit restart, level-1 repeats: same rule);
* a ``delta`` needs a prior snapshot and ``u`` advancing by exactly 1; sizes are absolute and ``"0"`` deletes;
* a gap, a crossed book or a delta before any snapshot puts the book in RESYNCING and :meth:`OrderBook.apply`
  reports it, so the session can resubscribe the topic for a fresh snapshot;
* a stale or duplicate ``u`` is dropped and counted; deleting an absent level is counted, never raised;
* a side never holds more levels than the subscribed depth: a snapshot deeper than it, a delta with more changes
  than a whole window can make (twice the depth) or one that leaves a side deeper than the depth is not what
  Bybit sends, so the book goes to RESYNCING (``overflows`` counted) and the excess is cut off at once;
* a malformed message is counted and rejected (``REJECTED``) and leaves the book as it was, with one exception:
  a delta that carries exactly the next ``u`` but cannot be read is an update the book has lost, so the book
  goes to RESYNCING at once (``RESYNC``) instead of showing itself live until the next delta reveals the gap.
  Its levels are applied as they are read, so the part before the unreadable level may already be in; a
  RESYNCING book is never shown as live, and the snapshot asked for replaces all of it.

Representation (measured by ``bench/book_throughput.py`` on several stream shapes: ingest runs at network rate,
so the cost per delta matters, and the desk reads the top 25 up to once a frame): per side, a dict of every level
(price -> ``(price, size)``) and a sorted list of the prices of the side's front, its best 32 to 128 levels, then a
``+inf`` sentinel so that a lookup never runs off the end. Asks are best first and bids best last, so neither side
negates a price. An update is one dict store wherever it lands; an insert or delete behind the front is one dict
store too, and in the front also a C bisect and a shift of at most 128 pointers. The front is cut back to 64
prices when it outgrows 128 and refilled to 64 from the back (a sort of it) when it falls under 32, so deep books
with changes at every depth never bisect or shift a 1000-level list. A read of the best N within the front is a
slice of the front and N dict lookups; a deeper read sorts the back. ``float()`` of Bybit's decimal strings would
cost more than a dict hit, so conversions go through a bounded process-wide memo (:class:`_Numbers`) that
validates as it converts; its keys are at most :data:`MAX_NUMBER_CHARS` characters (a longer "number" is rejected),
so its memory is bounded in bytes, not only in entries. Compiled, a plain decimal is read in less time than the
memo is probed (:func:`_plain_decimal`), so the compiled book reads sizes, mostly texts it has not seen, without the
memo, and a price the memo lacks that way too. Each level is converted and applied in one pass (a separate
validation pass cost 20% more per delta), which is why an unreadable level in an in-sequence delta resyncs the book
rather than leaving it untouched. Prices and sizes are ``float``: a Bybit price string has far fewer than 15
significant digits, so distinct prices stay distinct and ``"30247.20"`` and ``"30247.2"`` are the same level. Money
that must be exact (the ledger) is taken from the original strings, never from the book. The book keeps a reference
to the last message it applied (``seq``, ``ts`` and ``cts`` are read from it on demand), so a caller must not mutate
a message it has handed over.

The module is compiled with mypyc where the install finds a C compiler (``setup.py``; :mod:`exchange.book_build`
says which build runs), and the same file is the Python fallback, so the code suits both: the hot loop keeps
prices and sizes as the float objects the memos hold (``Any``: a ``float`` local would be unboxed and boxed again
compiled), and levels travel as objects, never unpacked as ``tuple[float, float]``.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_left, insort
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final, Literal

from exchange.numbers import MAX_EPOCH_MS, MAX_MAGNITUDE, MIN_MAGNITUDE

__all__ = ["MAX_NUMBER_CHARS", "ApplyResult", "BookCounters", "BookState", "Level", "OrderBook", "cadence_ms"]

Level = tuple[float, float]
"""One price level, ``(price, size)``."""

Side = Literal["bid", "ask"]

_INF: Final = math.inf
_SMALLEST: Final = float(MIN_MAGNITUDE)  # a price or size outside [_SMALLEST, _LARGEST) is rejected (a size may be 0)
_LARGEST: Final = float(MAX_MAGNITUDE)
_EXACT_DIGITS: Final = 1 << 53  # every whole number below this is an exact float


class BookState(Enum):
    """Whether the book can be shown as live."""

    AWAITING_SNAPSHOT = "AWAITING_SNAPSHOT"
    SYNCED = "SYNCED"
    RESYNCING = "RESYNCING"


class ApplyResult(Enum):
    """What :meth:`OrderBook.apply` did with one message; ``RESYNC`` asks the caller for a fresh snapshot."""

    SNAPSHOT = "snapshot"
    DELTA = "delta"
    STALE = "stale"  # u <= last u: dropped
    IGNORED = "ignored"  # a delta while RESYNCING, waiting for the snapshot already asked for
    RESYNC = "resync"  # gap, crossed book, unreadable next delta or delta before snapshot: resubscribe
    REJECTED = "rejected"  # malformed: nothing changed

    @property
    def changed(self) -> bool:
        """True when the book's contents changed (a repaint is due)."""
        return self is ApplyResult.SNAPSHOT or self is ApplyResult.DELTA


@dataclass
class BookCounters:
    """What the book saw; the connection bar and the reliability tests read these."""

    snapshots: int = 0
    deltas: int = 0
    stale: int = 0
    gaps: int = 0
    crossed: int = 0
    deltas_before_snapshot: int = 0
    ignored_while_resyncing: int = 0
    absent_deletes: int = 0
    rejected: int = 0
    restarts: int = 0  # snapshots with u == 1 after the book had data
    overflows: int = 0  # a snapshot or delta that would make a side deeper than the subscribed depth


# Bybit's push cadence per depth (ms); spot 200 is 100 ms since 2026-03-19. Used for the STALE overlay.
_CADENCE_MS = {1: 10, 50: 20, 200: 100, 1000: 200}


def cadence_ms(depth: int, category: str = "linear") -> int:
    """Push interval of ``orderbook.{depth}`` in ms (default 100 ms for depths Bybit does not list)."""
    return _CADENCE_MS.get(depth, 100)


# An enum member lookup costs ~80 ns on Python 3.11; the hot path uses these instead.
_SYNCED = BookState.SYNCED
_DELTA = ApplyResult.DELTA


class _Rejected(Exception):
    """Raised inside :meth:`OrderBook.apply` for a malformed message; never escapes it."""


class _Overflow(Exception):
    """Raised inside :meth:`OrderBook.apply` for a delta with more changes than a whole window; never escapes it."""


MAX_NUMBER_CHARS: Final = 40
"""The longest price or size text taken: Bybit's are under 20 characters; anything longer is rejected as malformed
(a hostile stream of distinct megabyte "numbers" would otherwise fill the memo)."""


class _Numbers:
    """A bounded memo of decimal text -> float that validates on a miss (raising :class:`_Rejected`).

    ``float()`` of a decimal string costs ~150 ns and a dict hit ~20, and books see the same few thousand
    price and size strings over and over. Only ``str`` keys that parse to an allowed value are ever stored in
    :attr:`values`, so a hit is also a validation; anything else (a number, ``None``, ``"nan"``, ``"-1"``, a text
    longer than :data:`MAX_NUMBER_CHARS`) misses and is rejected by :meth:`read`. At most ``limit`` keys of at
    most :data:`MAX_NUMBER_CHARS` characters: a few MB in all (:meth:`retained_bytes`), whatever the server sends.
    The memo holds a plain dict rather than being one: the hot loop looks texts up in it directly, and a dict
    subclass would not keep ``__missing__`` where the book is compiled (mypyc).
    """

    __slots__ = ("allow_zero", "limit", "values")

    def __init__(self, allow_zero: bool, limit: int) -> None:
        self.allow_zero = allow_zero
        self.limit = limit
        self.values: dict[str, float] = {}

    def read(self, text: Any) -> float:
        """Validate and convert a text the memo does not hold, and keep it.

        Takes exactly what :func:`~exchange.numbers.is_decimal_text` takes, without its regex (which cost more
        than ``float()`` itself, and streams with many distinct sizes miss often): ``float()`` accepts a
        superset, and what it adds is refused here: non-ASCII digits, ``_`` separators and surrounding
        whitespace by the three checks, ``inf`` and ``nan`` by the range.
        """
        if text.__class__ is not str:
            raise _Rejected("price and size must be decimal strings")
        if len(text) > MAX_NUMBER_CHARS:
            raise _Rejected(f"a number of {len(text)} characters")
        try:
            value = float(text)
        except ValueError:
            raise _Rejected(f"not a decimal: {text[:24]!r}") from None
        if not text.isascii() or "_" in text or text[0] <= " " or text[-1] <= " ":
            raise _Rejected(f"not a decimal: {text[:24]!r}")
        if not (value == 0.0 and self.allow_zero or _SMALLEST <= value < _LARGEST):  # NaN fails both
            raise _Rejected(f"out of range: {text[:24]!r}")
        values = self.values
        if len(values) >= self.limit:
            values.clear()  # start over rather than track recency: a miss is cheap, memory stays bounded
        values[text] = value
        return value

    def __getitem__(self, text: Any) -> float:
        """The float of ``text``, read and kept on a miss."""
        value = self.values.get(text) if text.__class__ is str else None
        return self.read(text) if value is None else value

    def __len__(self) -> int:
        return len(self.values)

    def __contains__(self, text: object) -> bool:
        return text in self.values

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def clear(self) -> None:
        self.values.clear()  # in place: the hot loop holds the dict

    def retained_bytes(self) -> int:
        """What the memo's keys and values hold (the dict's own table aside)."""
        return sum(sys.getsizeof(text) + sys.getsizeof(value) for text, value in self.values.items())


# Shared by every book of the process, so memory stays bounded (a few MB) however many symbols are open.
_PRICES: Final = _Numbers(allow_zero=False, limit=1 << 14)
_SIZES: Final = _Numbers(allow_zero=True, limit=1 << 15)
# Compiled, a delta's sizes are read by _plain_size rather than through the memo (see there).
_COMPILED: Final = not __file__.endswith(".py")  # mypyc's build of this file
# The hot loop looks texts up in the memos' dicts directly (``dict.get``, a C call) and reads a miss itself.
_PRICE_VALUES: Final = _PRICES.values
_PRICES_LIMIT: Final = _PRICES.limit
_SIZE_VALUES: Final = _SIZES.values
_SIZES_LIMIT: Final = _SIZES.limit


def _plain_decimal(text: Any) -> float:
    """The float of a plain decimal text (digits with at most one ``.`` between them, at most 19 characters), or
    -1.0 for any other text, which then takes ``float()``'s road and the memo's checks.

    Exactly ``float(text)``: the digits as a whole number below 2**53 and the power of ten (at most 1e17, as 19
    characters hold at most 17 decimals) are exact floats, and one IEEE division of exact operands is correctly
    rounded, as ``float()`` is. Compiled, this costs less than probing the memo and a quarter of ``float()`` with
    the checks its superset needs (bench/RESULTS-book.md); as source a loop over characters costs more than either,
    so only the compiled book calls it. ``text`` stays ``Any``: compiled, indexing a ``str``-typed text costs more.
    """
    if type(text) is not str:
        return -1.0
    n = len(text)
    if n == 0 or n > 19:
        return -1.0
    digits = 0
    scale = 1.0
    dot = -1
    i = 0
    while i < n:
        c = ord(text[i])
        if 48 <= c <= 57:
            digits = digits * 10 + (c - 48)
            if dot >= 0:
                scale *= 10.0
        elif c == 46 and dot < 0:
            dot = i
        else:
            return -1.0
        i += 1
    if dot == 0 or dot == n - 1 or digits >= _EXACT_DIGITS:
        return -1.0
    return digits / scale


def _plain_size(text: Any) -> Any:
    """The size a plain decimal text stands for, as the memo would take it, or ``None``. The compiled book reads a
    delta's sizes this way rather than through the memo: sizes are mostly new texts, prices mostly repeats."""
    size = _plain_decimal(text)
    if not (_SMALLEST <= size < _LARGEST or size == 0.0):
        return None
    number: Any = size
    return number


def _new_price(text: Any) -> Any:
    """A price the memo lacks, read (compiled: by :func:`_plain_decimal` where it is plain) and kept."""
    if _COMPILED:
        price = _plain_decimal(text)
        if _SMALLEST <= price < _LARGEST:
            if len(_PRICE_VALUES) >= _PRICES_LIMIT:
                _PRICE_VALUES.clear()
            number: Any = price
            _PRICE_VALUES[text] = number
            return number
    return _PRICES.read(text)


def _new_size(text: Any) -> Any:
    """A size the memo lacks, read and kept: :meth:`_Numbers.read`'s checks, cheapest first for a compiled book;
    whatever fails them goes to ``read`` for its reason. Returns the float object the memo keeps (compiled, a
    ``float`` result would be boxed again for the level and for the memo)."""
    if type(text) is not str or len(text) > MAX_NUMBER_CHARS:
        return _SIZES.read(text)  # raises, with the reason
    try:
        number: Any = float(text)
    except ValueError:
        return _SIZES.read(text)
    size: float = number
    if (
        not (_SMALLEST <= size < _LARGEST or size == 0.0)
        or ord(text[0]) <= 32
        or ord(text[-1]) <= 32
        or "_" in text
        or not text.isascii()
    ):
        return _SIZES.read(text)
    if len(_SIZE_VALUES) >= _SIZES_LIMIT:
        _SIZE_VALUES.clear()
    _SIZE_VALUES[text] = number
    return number


# Every level of a side is in a dict (price -> level); only the front of a side (its best levels) is also in a
# sorted list of prices. An update is one dict store wherever it lands, and so is an insert or delete behind
# the front; the front is cut back to _FRONT prices when it outgrows _FRONT_MAX and refilled to _FRONT from the
# back (a sort of the back) when it falls under _FRONT_MIN.
_FRONT: Final = 64
_FRONT_MAX: Final = 128
_FRONT_MIN: Final = 32


def _side_of(raw: Any) -> dict[float, Level]:
    """One side of a snapshot as price -> level: last write wins per price, zero sizes dropped; raises on any
    malformed level. One pass, read as a delta's levels are: a stream of snapshots (Bybit's level 1 sends nothing
    else) pays this for every message."""
    compiled = _COMPILED
    sizes: dict[float, Level] = {}
    for level in raw:
        if not isinstance(level, list):
            raise _Rejected("a level must be a [price, size] list")
        p, s = level
        price: Any = _PRICE_VALUES.get(p)
        if price is None:
            price = _new_price(p)
        size: Any = _plain_size(s) if compiled else None
        if size is None:
            size = _SIZES[s]
        if size:
            sizes[price] = (price, size)
        elif price in sizes:
            del sizes[price]
    return sizes


class OrderBook:
    """One Bybit order-book topic: apply messages, answer the desk's questions.

    ``apply(message)`` takes the whole parsed envelope (``topic``, ``type``, ``ts``, ``data``, ``cts``). Reads
    (:meth:`bids`, :meth:`asks`, :meth:`best_bid` ...) return floats. ``version`` increases on every change of
    contents, so a widget can repaint only when it moved.
    """

    __slots__ = (
        "topic",
        "symbol",
        "depth",
        "state",
        "resync_reason",
        "u",
        "_last",
        "version",
        "counters",
        "_max_levels",
        "_max_changes",
        "_bids",
        "_bid_keys",
        "_bid_edge",
        "_asks",
        "_ask_keys",
        "_ask_edge",
    )

    def __init__(self, topic: str | None = None) -> None:
        self.topic: str | None = topic
        self.symbol: str | None = None
        self.depth: int | None = None
        self._max_levels = 0  # levels a side may hold: the topic's depth
        self._max_changes = 0  # changes a side of a delta may carry: a whole window deleted and another inserted
        if topic is not None:
            self._set_topic(topic)
        self.state = BookState.AWAITING_SNAPSHOT
        self.resync_reason: str | None = None
        self.u: int | None = None
        self._last: Mapping[str, Any] | None = None  # the last applied message: seq, ts and cts are read from it
        self.version = 0
        self.counters = BookCounters()
        # Per side: every level (price -> (price, size)), the front's prices ascending then the +inf sentinel, and the
        # edge between front and back: a bid at or above _bid_edge is in the front, an ask at or below _ask_edge.
        self._bids: dict[float, Level] = {}
        self._bid_keys: list[float] = [_INF]  # best bid last
        self._bid_edge = -_INF
        self._asks: dict[float, Level] = {}
        self._ask_keys: list[float] = [_INF]  # best ask first
        self._ask_edge = _INF

    def _set_topic(self, topic: str) -> None:
        parts = topic.split(".")
        if len(parts) != 3 or parts[0] != "orderbook":
            raise ValueError(f"not an order-book topic: {topic!r}")
        depth = int(parts[1])
        if depth < 1:
            raise ValueError(f"not an order-book depth: {topic!r}")
        self.topic = topic
        self.depth = depth
        self._max_levels = depth
        self._max_changes = 2 * depth
        self.symbol = parts[2]

    # ------------------------------------------------------------------ ingest

    def apply(self, message: Mapping[str, Any]) -> ApplyResult:
        """Apply one parsed Bybit message; never raises on bad data (it is counted and rejected)."""
        try:
            kind = message["type"]
            data = message["data"]
            topic = message["topic"]
            if topic != self.topic:
                if self.topic is not None:
                    raise _Rejected(f"message for {topic!r} fed to the book of {self.topic!r}")
                self._set_topic(topic)
            u = data["u"]
            if u.__class__ is not int:
                raise _Rejected("u must be an integer")
            if kind == "delta":
                if self.state is _SYNCED and u == self.u + 1:  # type: ignore[operator]
                    try:
                        self._apply_levels(data)
                    except _Overflow:
                        return self._overflow(f"delta u {u} changes more levels than a {self.depth}-level window")
                    except (_Rejected, KeyError, TypeError, ValueError) as error:
                        self.counters.rejected += 1
                        return self._resync(f"unreadable delta u {u}: {str(error)[:80]}")
                    self.u = u
                    self._last = message
                    self.version += 1
                    self.counters.deltas += 1
                    depth = self._max_levels
                    if len(self._bids) > depth or len(self._asks) > depth:
                        return self._overflow(f"delta u {u} left a side deeper than {depth} levels")
                    bids = self._bid_keys
                    if len(bids) > 1 and bids[-2] >= self._ask_keys[0]:  # an empty ask side's sentinel never crosses
                        self.counters.crossed += 1
                        return self._resync(f"crossed: bid {bids[-2]} >= ask {self._ask_keys[0]}")
                    return _DELTA
                return self._other_delta(data, u)
            if kind == "snapshot":
                return self._snapshot(message, data, u)
            raise _Rejected(f"unknown message type {kind!r}")
        except (_Rejected, KeyError, TypeError, ValueError, AttributeError):
            self.counters.rejected += 1
            return ApplyResult.REJECTED

    def _apply_levels(self, data: Mapping[str, Any]) -> None:  # noqa: C901 - the hot loop, unrolled: see below
        """Convert and apply each level of a delta in one pass; raises on the first unreadable level, and on a
        side with more changes than a whole window (before applying that side).

        The two sides are the same loop written twice: a loop over the sides, or a helper per side, costs 5%
        per delta when interpreted (``bench/book_throughput.py``). A level must be a list before it is unpacked
        because a two-character string would unpack as a price and a size ("95" -> 9 @ 5). Prices and sizes are
        held as ``Any``: compiled (mypyc), a ``float`` local would be unboxed and boxed again for every store.
        """
        most = self._max_changes
        compiled = _COMPILED
        raw = data["b"]
        if not isinstance(raw, list):
            raise _Rejected("a side must be a list of levels")
        if len(raw) > most:
            raise _Overflow
        keys = self._bid_keys
        sizes = self._bids  # price -> level
        edge: Any = self._bid_edge
        for level in raw:
            if not isinstance(level, list):
                raise _Rejected("a level must be a [price, size] list")
            p, s = level
            price: Any = _PRICE_VALUES.get(p)
            if price is None:
                price = _new_price(p)
            if compiled:
                size: Any = _plain_size(s)
                if size is None:
                    size = _new_size(s)
            else:
                size = _SIZE_VALUES.get(s)
                if size is None:
                    size = _new_size(s)
            if size:
                count = len(sizes)
                sizes[price] = (price, size)
                if len(sizes) != count and price >= edge:
                    insort(keys, price)  # a new price in the front, before the sentinel
            elif price in sizes:
                del sizes[price]
                if price >= edge:
                    del keys[bisect_left(keys, price)]
            else:
                self.counters.absent_deletes += 1
        front = len(keys) - 1
        if front > _FRONT_MAX or front < _FRONT_MIN and len(sizes) > front:
            self._bid_edge = _refit_bids(keys, sizes, edge)
        raw = data["a"]
        if not isinstance(raw, list):
            raise _Rejected("a side must be a list of levels")
        if len(raw) > most:
            raise _Overflow
        keys = self._ask_keys
        sizes = self._asks
        edge = self._ask_edge
        for level in raw:
            if not isinstance(level, list):
                raise _Rejected("a level must be a [price, size] list")
            p, s = level
            price = _PRICE_VALUES.get(p)
            if price is None:
                price = _new_price(p)
            if compiled:
                size = _plain_size(s)
                if size is None:
                    size = _new_size(s)
            else:
                size = _SIZE_VALUES.get(s)
                if size is None:
                    size = _new_size(s)
            if size:
                count = len(sizes)
                sizes[price] = (price, size)
                if len(sizes) != count and price <= edge:
                    insort(keys, price)
            elif price in sizes:
                del sizes[price]
                if price <= edge:
                    del keys[bisect_left(keys, price)]
            else:
                self.counters.absent_deletes += 1
        front = len(keys) - 1
        if front > _FRONT_MAX or front < _FRONT_MIN and len(sizes) > front:
            self._ask_edge = _refit_asks(keys, sizes, edge)

    def _other_delta(self, data: Mapping[str, Any], u: int) -> ApplyResult:
        """A delta off the hot path: before any snapshot, while resyncing, stale, or after a gap."""
        counters = self.counters
        if self.state is not _SYNCED:
            if self.state is BookState.AWAITING_SNAPSHOT:
                counters.deltas_before_snapshot += 1
                return self._resync("delta before snapshot")
            counters.ignored_while_resyncing += 1  # a snapshot was already asked for
            return ApplyResult.IGNORED
        if u <= self.u:  # type: ignore[operator]
            counters.stale += 1
            return ApplyResult.STALE
        _side_of(data["b"])  # a malformed delta is rejected even when it also skips a u
        _side_of(data["a"])
        counters.gaps += 1
        return self._resync(f"gap: u {self.u} -> {u}")

    def _snapshot(self, message: Mapping[str, Any], data: Mapping[str, Any], u: int) -> ApplyResult:
        bid_sizes = _side_of(data["b"])
        ask_sizes = _side_of(data["a"])
        depth = self._max_levels
        if len(bid_sizes) > depth or len(ask_sizes) > depth:
            return self._overflow(f"snapshot u {u} deeper than {depth} levels")
        if u == 1 and self.u is not None:
            self.counters.restarts += 1
        self._set_bids(bid_sizes)
        self._set_asks(ask_sizes)
        self._stamp(message, data, u)
        self.counters.snapshots += 1
        if len(self._bid_keys) > 1 and self._bid_keys[-2] >= self._ask_keys[0]:
            self.counters.crossed += 1
            return self._resync("crossed snapshot")
        self.state = BookState.SYNCED
        self.resync_reason = None
        return ApplyResult.SNAPSHOT

    def _stamp(self, message: Mapping[str, Any], data: Mapping[str, Any], u: int) -> None:
        self.u = u
        self._last = message
        self.version += 1

    @property
    def seq(self) -> int | None:
        """Bybit's cross sequence of the last applied message (None when absent or not a whole number)."""
        last = self._last
        return _whole(last["data"].get("seq")) if last is not None else None

    @property
    def ts(self) -> int | None:
        """When Bybit produced the last applied message (ms; None when absent or not epoch ms)."""
        last = self._last
        return _whole(last.get("ts"), MAX_EPOCH_MS) if last is not None else None

    @property
    def cts(self) -> int | None:
        """Matching-engine time of the last applied message (ms); None before 2025 captures had it."""
        last = self._last
        return _whole(last.get("cts"), MAX_EPOCH_MS) if last is not None else None

    def _overflow(self, reason: str) -> ApplyResult:
        """A side deeper than the subscribed depth is not Bybit's book: keep the best ``depth`` levels of each
        side (so memory never grows with what the server sends) and ask for a fresh snapshot."""
        self.counters.overflows += 1
        depth = self._max_levels
        if len(self._bids) > depth:
            self._set_bids(dict(sorted(self._bids.items())[-depth:]))  # keep the best: the highest bids
        if len(self._asks) > depth:
            self._set_asks(dict(sorted(self._asks.items())[:depth]))
        return self._resync(reason)

    def _set_bids(self, sizes: dict[float, Level]) -> None:
        """Replace the bid side with ``sizes`` (price -> level, sizes > 0)."""
        keys = sorted(sizes)
        if len(keys) > _FRONT_MAX:
            keys = keys[-_FRONT:]
        keys.append(_INF)
        self._bids, self._bid_keys = sizes, keys
        self._bid_edge = keys[0] if len(sizes) >= len(keys) else -_INF

    def _set_asks(self, sizes: dict[float, Level]) -> None:
        """Replace the ask side with ``sizes`` (price -> level, sizes > 0)."""
        keys = sorted(sizes)
        if len(keys) > _FRONT_MAX:
            keys = keys[:_FRONT]
        keys.append(_INF)
        self._asks, self._ask_keys = sizes, keys
        self._ask_edge = keys[-2] if len(sizes) >= len(keys) else _INF

    def _resync(self, reason: str) -> ApplyResult:
        self.state = BookState.RESYNCING
        self.resync_reason = reason
        self.version += 1
        return ApplyResult.RESYNC

    def invalidate(self, reason: str = "disconnected") -> None:
        """Distrust the book until the next snapshot (the link dropped, or the topic is being resubscribed).

        Levels stay readable for a dimmed display, but the book is never SYNCED again before a new snapshot.
        """
        if self.state is BookState.SYNCED or self.u is not None:
            self.state = BookState.RESYNCING
        self.resync_reason = reason
        self.version += 1

    # ------------------------------------------------------------------ reads

    def bids(self, n: int | None = None) -> list[Level]:
        """The best ``n`` bids (all when None) as ``(price, size)``, best first."""
        levels = self._bids
        keys = self._bid_keys
        if n is None or n >= len(keys) and len(levels) >= len(keys):  # beyond the front
            return _pick(levels, sorted(levels, reverse=True)[:n])
        return _pick(levels, keys[-2 : -n - 2 : -1]) if n > 0 else []

    def asks(self, n: int | None = None) -> list[Level]:
        """The best ``n`` asks (all when None) as ``(price, size)``, best first."""
        levels = self._asks
        keys = self._ask_keys
        if n is None or n >= len(keys) and len(levels) >= len(keys):
            return _pick(levels, sorted(levels)[:n])
        return _pick(levels, keys[: min(n, len(keys) - 1)]) if n > 0 else []

    def best_bid(self) -> Level | None:
        """The best bid, or None when the bid side is empty."""
        keys = self._bid_keys
        return self._bids[keys[-2]] if len(keys) > 1 else None

    def best_ask(self) -> Level | None:
        """The best ask, or None when the ask side is empty."""
        keys = self._ask_keys
        return self._asks[keys[0]] if len(keys) > 1 else None

    @property
    def synced(self) -> bool:
        return self.state is BookState.SYNCED

    def spread(self) -> float | None:
        """Best ask minus best bid, or None when a side is empty."""
        if len(self._bid_keys) > 1 and len(self._ask_keys) > 1:
            return self._ask_keys[0] - self._bid_keys[-2]
        return None

    def mid(self) -> float | None:
        """Midpoint of the best bid and ask, or None when a side is empty."""
        if len(self._bid_keys) > 1 and len(self._ask_keys) > 1:
            return (self._ask_keys[0] + self._bid_keys[-2]) / 2.0
        return None

    def depth_levels(self, side: Side, n: int) -> list[tuple[float, float, float]]:
        """Top ``n`` levels of a side as ``(price, size, cumulative size)``, best first."""
        total = 0.0
        out = []
        for price, size in self._top(side, n):
            total += size
            out.append((price, size, total))
        return out

    def vwap(self, side: Side, qty: float) -> float | None:
        """Average price of filling ``qty`` against one side (``"bid"``: selling into the bids), or None if
        the side holds less than ``qty``. ``qty`` must be positive."""
        if not qty > 0:
            raise ValueError("qty must be positive")
        remaining = qty
        cost = 0.0
        for price, size in self._best_first(side):
            if size >= remaining:
                return (cost + remaining * price) / qty
            cost += size * price
            remaining -= size
        return None

    def grouped(self, side: Side, step: float, n: int) -> list[Level]:
        """The best ``n`` groups of a side with prices bucketed to multiples of ``step`` (a tick multiple).

        Bids round down and asks round up, so a group never shows a better price than any order inside it.
        """
        if not step > 0:
            raise ValueError("step must be positive")
        out: list[list[float]] = []
        bucket_of = _floor_bucket if side == "bid" else _ceil_bucket
        last = None
        for price, size in self._best_first(side):
            bucket = bucket_of(price, step)
            if bucket == last:
                out[-1][1] += size
            else:
                if len(out) == n:
                    break
                out.append([bucket * step, size])
                last = bucket
        return [(price, size) for price, size in out]

    def imbalance(self, n: int) -> float | None:
        """``(bid size - ask size) / (bid size + ask size)`` over the top ``n`` levels, in [-1, 1]; None if
        empty."""
        bid = sum(size for _, size in self.bids(n))
        ask = sum(size for _, size in self.asks(n))
        total = bid + ask
        return (bid - ask) / total if total > 0 else None

    def level_count(self) -> tuple[int, int]:
        """Number of bid and ask levels."""
        return len(self._bids), len(self._asks)

    def _top(self, side: Side, n: int) -> list[Level]:
        if side == "bid":
            return self.bids(n)
        if side == "ask":
            return self.asks(n)
        raise ValueError(f"side must be 'bid' or 'ask', not {side!r}")

    def _best_first(self, side: Side) -> Iterator[Level]:
        """A side's levels best first, without copying them."""
        if side == "bid":
            keys = self._bid_keys
            return _best_first(keys[-2::-1], self._bids, keys[0], best_high=True)
        if side == "ask":
            keys = self._ask_keys
            return _best_first(keys[:-1], self._asks, keys[-2] if len(keys) > 1 else _INF, best_high=False)
        raise ValueError(f"side must be 'bid' or 'ask', not {side!r}")

    def __repr__(self) -> str:
        bid = self.best_bid()
        ask = self.best_ask()
        return (
            f"OrderBook({self.topic!r}, state={self.state.value}, u={self.u}, "
            f"bid={bid[0] if bid else None}, ask={ask[0] if ask else None}, levels={self.level_count()})"
        )


_BUCKET_EPS = 1e-9


def _whole(value: Any, limit: int = 1 << 63) -> int | None:
    """An envelope's number as read (they are not checked on the hot path): an int in [0, limit), else None."""
    return value if value.__class__ is int and 0 <= value < limit else None


def _floor_bucket(price: float, step: float) -> int:
    return math.floor(price / step + _BUCKET_EPS)


def _ceil_bucket(price: float, step: float) -> int:
    return math.ceil(price / step - _BUCKET_EPS)


def _pick(levels: dict[Any, Any], prices: list[Any]) -> list[Level]:
    """The levels at ``prices``, in their order. ``Any``, not ``Level``: compiled, a ``tuple[float, float]`` would
    be unpacked and packed again for every level read."""
    return [levels[price] for price in prices]


def _refit_bids(keys: list[float], sizes: dict[float, Level], edge: float) -> float:
    """Cut a bid side's front back to :data:`_FRONT` prices when it outgrew :data:`_FRONT_MAX`, or refill it
    to :data:`_FRONT` from the back (every price below ``edge``) when it fell under :data:`_FRONT_MIN`;
    returns the new edge."""
    front = len(keys) - 1
    if front > _FRONT_MAX:
        del keys[: front - _FRONT]  # the worst bids are at the start
    else:
        keys[:0] = sorted(price for price in sizes if price < edge)[front - _FRONT :]
    return keys[0] if len(sizes) >= len(keys) else -_INF


def _refit_asks(keys: list[float], sizes: dict[float, Level], edge: float) -> float:
    """:func:`_refit_bids` for an ask side, whose front is best first."""
    front = len(keys) - 1
    if front > _FRONT_MAX:
        del keys[_FRONT:-1]  # the sentinel stays
    else:
        keys[front:front] = sorted(price for price in sizes if price > edge)[: _FRONT - front]
    return keys[-2] if len(sizes) >= len(keys) else _INF


def _best_first(front: list[float], sizes: dict[float, Level], edge: float, *, best_high: bool) -> Iterator[Level]:
    """A side best first: its front, then (sorted only if the reader gets that far) the levels behind ``edge``,
    the front's worst price."""
    for price in front:
        yield sizes[price]
    if len(sizes) > len(front):
        behind = (price for price in sizes if price < edge) if best_high else (p for p in sizes if p > edge)
        for price in sorted(behind, reverse=best_high):
            yield sizes[price]
