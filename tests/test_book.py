"""The order book: every Bybit v5 rule, the real captured messages, and properties against a naive model."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, cast
from unittest.mock import patch

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange import book as book_module
from exchange import book_build
from exchange.book import MAX_NUMBER_CHARS, ApplyResult, BookState, OrderBook
from exchange.numbers import is_decimal_text

FIXTURES = Path(__file__).parent / "fixtures" / "bybit" / "ws_public"
TOPIC = "orderbook.50.BTCUSDT"


# The source runs as a second round only where the installed book is compiled (else it would be the same book twice).
BUILDS = ["installed", "source"] if book_build.build_of(book_module) == "compiled" else ["installed"]


@pytest.fixture(autouse=True, scope="module", params=BUILDS)
def build(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every test runs on ``exchange.book`` as installed (compiled with mypyc where ``make`` built it) and, when that
    is compiled, again on ``book.py`` run as Python source, the fallback where no compiler is at hand, so neither
    goes untested: for the second round the module's names the tests use are swapped for the source's."""
    if request.param == "installed":
        yield book_build.build_of(book_module)
        return
    source = book_build.load_source("exchange.book_as_source")
    names = {"book_module": source, "MAX_NUMBER_CHARS": source.MAX_NUMBER_CHARS}
    names |= {name: getattr(source, name) for name in ("ApplyResult", "BookState", "OrderBook")}
    kept = {name: globals()[name] for name in names}
    globals().update(names)
    try:
        yield "source"
    finally:
        globals().update(kept)


def load(name: str) -> dict:
    return orjson.loads((FIXTURES / name).read_bytes())


def msg(kind: str, u: int, bids=(), asks=(), topic: str | None = TOPIC, seq: int | None = None) -> dict:
    assert topic is not None, "a book's topic"
    return {
        "topic": topic,
        "type": kind,
        "ts": 1_700_000_000_000 + u,
        "data": {
            "s": topic.split(".")[2],
            "b": [list(level) for level in bids],
            "a": [list(level) for level in asks],
            "u": u,
            "seq": seq if seq is not None else 1000 + u,
        },
        "cts": 1_700_000_000_000 + u - 1,
    }


def snapshot(u: int = 10, **kwargs) -> dict:
    kwargs.setdefault("bids", [("100.0", "1"), ("99.5", "2"), ("99.0", "3")])
    kwargs.setdefault("asks", [("100.5", "1"), ("101.0", "2"), ("101.5", "3")])
    return msg("snapshot", u, **kwargs)


def synced(u: int = 10) -> OrderBook:
    book = OrderBook()
    assert book.apply(snapshot(u)) is ApplyResult.SNAPSHOT
    return book


# ---------------------------------------------------------------------------------------------- snapshots


def test_new_book_awaits_its_snapshot():
    book = OrderBook(TOPIC)
    assert book.state is BookState.AWAITING_SNAPSHOT
    assert book.best_bid() is None and book.best_ask() is None
    assert book.spread() is None and book.mid() is None
    assert (book.symbol, book.depth) == ("BTCUSDT", 50)


def test_snapshot_replaces_everything_and_sorts_best_first():
    book = synced()
    assert book.state is BookState.SYNCED
    assert book.bids() == [(100.0, 1.0), (99.5, 2.0), (99.0, 3.0)]
    assert book.asks() == [(100.5, 1.0), (101.0, 2.0), (101.5, 3.0)]
    book.apply(snapshot(20, bids=[("98", "5")], asks=[("102", "6"), ("101.9", "1")]))
    assert book.bids() == [(98.0, 5.0)]
    assert book.asks() == [(101.9, 1.0), (102.0, 6.0)]
    assert book.u == 20


def test_restart_snapshot_u1_resets_and_deltas_continue_from_it():
    book = synced(u=500)
    assert book.apply(snapshot(1, bids=[("50", "1")], asks=[("51", "1")])) is ApplyResult.SNAPSHOT
    assert book.counters.restarts == 1
    assert book.bids() == [(50.0, 1.0)] and book.u == 1
    assert book.apply(msg("delta", 2, bids=[("50.5", "2")])) is ApplyResult.DELTA
    assert book.best_bid() == (50.5, 2.0)


def test_level1_repeated_snapshot_with_same_u_is_not_a_gap():
    book = OrderBook()
    first = load("linear_orderbook1_BTCUSDT_snapshot_cts.json")
    assert book.apply(first) is ApplyResult.SNAPSHOT
    assert book.apply(first) is ApplyResult.SNAPSHOT
    assert book.state is BookState.SYNCED
    assert book.counters.gaps == 0 and book.counters.stale == 0
    assert book.best_bid() == (109378.8, 1.273) and book.best_ask() == (109378.9, 6.278)
    assert book.cts == 1758841134598 and book.ts == 1758841134603 and book.seq == 457514742271


def test_snapshot_zero_sizes_and_duplicates_are_cleaned():
    book = OrderBook()
    book.apply(snapshot(bids=[("10", "1"), ("9", "0"), ("10", "4")], asks=[("11", "2")]))
    assert book.bids() == [(10.0, 4.0)]


# ---------------------------------------------------------------------------------------------- deltas


def test_delta_updates_inserts_and_deletes_with_absolute_sizes():
    book = synced()
    result = book.apply(
        msg(
            "delta",
            11,
            bids=[("100.0", "7"), ("99.75", "1"), ("99.0", "0")],
            asks=[("100.5", "0"), ("100.75", "4")],
        )
    )
    assert result is ApplyResult.DELTA and result.changed
    assert book.bids() == [(100.0, 7.0), (99.75, 1.0), (99.5, 2.0)]
    assert book.asks() == [(100.75, 4.0), (101.0, 2.0), (101.5, 3.0)]


def test_same_price_in_different_spelling_is_one_level():
    book = synced()
    book.apply(msg("delta", 11, bids=[("100.00", "9")]))
    assert book.bids(1) == [(100.0, 9.0)]
    assert book.level_count() == (3, 3)


def test_delta_before_snapshot_asks_for_a_resync_once():
    book = OrderBook()
    assert book.apply(msg("delta", 5, bids=[("1", "1")])) is ApplyResult.RESYNC
    assert book.state is BookState.RESYNCING
    assert book.counters.deltas_before_snapshot == 1
    assert book.bids() == []
    assert book.apply(msg("delta", 6, bids=[("1", "1")])) is ApplyResult.IGNORED
    assert book.apply(snapshot(7)) is ApplyResult.SNAPSHOT
    assert book.state is BookState.SYNCED


def test_gap_puts_the_book_in_resyncing_and_it_ignores_deltas_until_a_snapshot():
    book = synced(u=10)
    assert book.apply(msg("delta", 12, bids=[("100.0", "5")])) is ApplyResult.RESYNC
    assert book.state is BookState.RESYNCING and "gap" in (book.resync_reason or "")
    assert book.counters.gaps == 1
    assert book.best_bid() == (100.0, 1.0), "the gapped delta must not be applied"
    assert book.apply(msg("delta", 13, bids=[("100.0", "6")])) is ApplyResult.IGNORED
    assert book.counters.ignored_while_resyncing == 1
    assert book.apply(snapshot(40)) is ApplyResult.SNAPSHOT
    assert book.state is BookState.SYNCED and book.resync_reason is None


@pytest.mark.parametrize("u", [10, 9, 1])
def test_stale_or_duplicate_u_is_dropped_and_counted(u):
    book = synced(u=10)
    before = book.bids()
    assert book.apply(msg("delta", u, bids=[("100.0", "5")])) is ApplyResult.STALE
    assert book.bids() == before and book.state is BookState.SYNCED
    assert book.counters.stale == 1


def test_deleting_an_absent_level_is_counted_not_raised():
    book = synced()
    assert book.apply(msg("delta", 11, bids=[("42", "0")], asks=[("43", "0")])) is ApplyResult.DELTA
    assert book.counters.absent_deletes == 2
    assert book.level_count() == (3, 3)


def test_crossed_result_asks_for_a_resync():
    book = synced()
    assert book.apply(msg("delta", 11, bids=[("100.5", "1")])) is ApplyResult.RESYNC
    assert book.state is BookState.RESYNCING and "crossed" in (book.resync_reason or "")
    assert book.counters.crossed == 1


def test_crossed_snapshot_is_not_trusted():
    book = OrderBook()
    assert book.apply(snapshot(bids=[("101", "1")], asks=[("100", "1")])) is ApplyResult.RESYNC
    assert book.state is BookState.RESYNCING


def test_one_sided_book_is_fine_and_answers_none_where_it_must():
    book = OrderBook()
    book.apply(snapshot(bids=[("10", "1")], asks=[]))
    assert book.state is BookState.SYNCED
    assert book.spread() is None and book.mid() is None and book.best_ask() is None
    assert book.imbalance(5) == 1.0


def test_invalidate_distrusts_the_book_until_the_next_snapshot():
    book = synced()
    book.invalidate("disconnected")
    assert book.state is BookState.RESYNCING and book.resync_reason == "disconnected"
    assert book.bids(1) == [(100.0, 1.0)], "levels stay readable for a dimmed display"
    assert book.apply(msg("delta", 11, bids=[("100.0", "2")])) is ApplyResult.IGNORED
    assert book.apply(snapshot(99)) is ApplyResult.SNAPSHOT
    assert book.synced


def test_invalidate_before_any_data_keeps_awaiting_snapshot():
    book = OrderBook(TOPIC)
    book.invalidate()
    assert book.state is BookState.AWAITING_SNAPSHOT


def test_version_moves_only_when_contents_or_trust_change():
    book = synced()
    v = book.version
    book.apply(msg("delta", 10))  # stale
    assert book.version == v
    book.apply(msg("delta", 11, bids=[("99.9", "1")]))
    assert book.version == v + 1


# ---------------------------------------------------------------------------------------------- bad input


ENVELOPE_FAULTS = [
    lambda m: m.pop("data"),
    lambda m: m.pop("type"),
    lambda m: m.update(type="nonsense"),
    lambda m: m["data"].update(u="11"),
    lambda m: m["data"].pop("u"),
    lambda m: m.update(topic="orderbook.50.ETHUSDT"),
]
LEVEL_FAULTS = [
    lambda m: m["data"].update(b="not a list"),
    lambda m: m["data"].update(a=None),
    lambda m: m["data"].pop("a"),
    lambda m: m["data"].update(b=[["100.0"]]),
    lambda m: m["data"].update(b=[["100.0", "1", "extra"]]),
    lambda m: m["data"].update(b=[[100.0, 1.0]]),
    lambda m: m["data"].update(b=[["abc", "1"]]),
    lambda m: m["data"].update(b=[["100.0", "-1"]]),
    lambda m: m["data"].update(b=[["-5", "1"]]),
    lambda m: m["data"].update(b=[["nan", "1"]]),
    lambda m: m["data"].update(a=[["inf", "1"]]),
    lambda m: m["data"].update(a=[["Infinity", "1"]]),
    lambda m: m["data"].update(b=[["1e999999", "1"]]),
    lambda m: m["data"].update(b=[["99.9", "-0.5"]]),
    lambda m: m["data"].update(b=[["99.9", "1" + "0" * 100_000]]),
    lambda m: m["data"].update(a=[["100." + "1" * 40, "1"]]),
    lambda m: m["data"].update(b=[["99.9", "1"], None]),
    lambda m: m["data"].update(b=["95"]),
    lambda m: m["data"].update(a=[["100.7", "1"], "95"]),
    lambda m: m["data"].update(a=[["100.7", "1"], [["100.8"], "1"]]),
]


def bad_delta(mutate, u: int = 11) -> dict:
    message = msg("delta", u, bids=[("99.9", "1")], asks=[("100.6", "1")])
    mutate(message)
    return message


@pytest.mark.parametrize("mutate", ENVELOPE_FAULTS)
def test_an_unreadable_envelope_is_rejected_and_changes_nothing(mutate):
    book = synced()
    before = (book.bids(), book.asks(), book.u, book.state, book.version)
    assert book.apply(bad_delta(mutate)) is ApplyResult.REJECTED
    assert (book.bids(), book.asks(), book.u, book.state, book.version) == before
    assert book.counters.rejected == 1
    assert book.apply(msg("delta", 11, bids=[("99.9", "1")])) is ApplyResult.DELTA


@pytest.mark.parametrize("mutate", LEVEL_FAULTS)
def test_an_unreadable_next_delta_is_a_lost_update_and_resyncs(mutate):
    """The delta with the next ``u`` is gone either way; the book says so now, not at the next delta."""
    book = synced()
    version = book.version
    assert book.apply(bad_delta(mutate)) is ApplyResult.RESYNC
    assert book.state is BookState.RESYNCING and "unreadable delta u 11" in (book.resync_reason or "")
    assert book.u == 10 and book.seq == 1010 and book.version > version
    assert book.counters.rejected == 1 and book.counters.gaps == 0
    assert book.apply(msg("delta", 11, bids=[("99.9", "1")])) is ApplyResult.IGNORED
    assert book.apply(snapshot(12)) is ApplyResult.SNAPSHOT
    assert book.state is BookState.SYNCED and book.bids() == [(100.0, 1.0), (99.5, 2.0), (99.0, 3.0)]


@pytest.mark.parametrize("mutate", LEVEL_FAULTS)
def test_an_unreadable_delta_out_of_sequence_changes_nothing(mutate):
    """Stale, gapped or resyncing: the delta would not be applied anyway, so only the rejection is counted."""
    for u, state in ((10, BookState.SYNCED), (13, BookState.SYNCED)):
        book = synced()
        before = (book.bids(), book.asks(), book.u, book.state, book.version)
        result = book.apply(bad_delta(mutate, u))
        assert result in (ApplyResult.STALE, ApplyResult.REJECTED)
        assert (book.bids(), book.asks(), book.u, book.state, book.version) == before
        assert book.state is state


@pytest.mark.parametrize("mutate", LEVEL_FAULTS)
def test_an_unreadable_snapshot_is_rejected_whole(mutate):
    book = synced()
    before = (book.bids(), book.asks(), book.u, book.state, book.version)
    message = bad_delta(mutate, 20)
    message["type"] = "snapshot"
    assert book.apply(message) is ApplyResult.REJECTED
    assert (book.bids(), book.asks(), book.u, book.state, book.version) == before


def test_a_two_character_string_is_not_a_level_in_a_snapshot_either():
    book = OrderBook()
    message = snapshot()
    message["data"]["b"] = ["95"]
    assert book.apply(message) is ApplyResult.REJECTED
    assert book.state is BookState.AWAITING_SNAPSHOT and book.bids() == []


def test_non_dict_message_is_rejected():
    book = synced()
    assert book.apply(cast(Any, ["not", "a", "dict"])) is ApplyResult.REJECTED  # a list, on purpose
    assert book.apply({}) is ApplyResult.REJECTED


# ---------------------------------------------------------------------------------------------- queries


def test_spread_mid_and_depth_with_cumulative_size():
    book = synced()
    assert book.spread() == pytest.approx(0.5)
    assert book.mid() == pytest.approx(100.25)
    assert book.depth_levels("bid", 2) == [(100.0, 1.0, 1.0), (99.5, 2.0, 3.0)]
    assert book.depth_levels("ask", 5) == [(100.5, 1.0, 1.0), (101.0, 2.0, 3.0), (101.5, 3.0, 6.0)]
    assert book.bids(2) == [(100.0, 1.0), (99.5, 2.0)]


def test_vwap_walks_the_side_and_says_none_when_too_thin():
    book = OrderBook()
    book.apply(snapshot(bids=[("100", "1"), ("99", "2")], asks=[("51000", "1"), ("52000", "2"), ("53000", "3")]))
    assert book.vwap("bid", 1.5) == pytest.approx((100 + 99 * 0.5) / 1.5)  # 99.6667, Fluxum's example
    assert book.vwap("bid", 5) is None
    assert book.vwap("ask", 0.5) == pytest.approx(51000)
    assert book.vwap("ask", 2.5) == pytest.approx(51600)  # the Kraken test figure
    with pytest.raises(ValueError):
        book.vwap("ask", 0)


def test_grouping_rounds_bids_down_and_asks_up():
    book = OrderBook()
    book.apply(
        snapshot(
            bids=[("100.4", "1"), ("100.2", "2"), ("99.6", "1"), ("98.1", "1")],
            asks=[("100.6", "1"), ("101.0", "2"), ("101.1", "4")],
        )
    )
    assert book.grouped("bid", 1.0, 10) == [(100.0, 3.0), (99.0, 1.0), (98.0, 1.0)]
    assert book.grouped("bid", 1.0, 2) == [(100.0, 3.0), (99.0, 1.0)]
    assert book.grouped("ask", 1.0, 10) == [(101.0, 3.0), (102.0, 4.0)]
    # Tick-multiple steps with float-unfriendly ticks still bucket exactly.
    book.apply(snapshot(u=11, bids=[("0.3", "1"), ("0.2", "1")], asks=[("0.7", "1")]))
    assert book.grouped("bid", 0.1, 5) == [(pytest.approx(0.3), 1.0), (pytest.approx(0.2), 1.0)]


def test_imbalance_over_top_n():
    book = synced()
    assert book.imbalance(1) == 0.0
    assert book.imbalance(3) == 0.0
    book.apply(msg("delta", 11, bids=[("100.0", "3")]))
    assert book.imbalance(1) == pytest.approx(0.5)
    assert OrderBook().imbalance(5) is None


# ---------------------------------------------------------------------------------------------- real fixtures


def test_real_spot_snapshot_then_its_next_delta():
    book = OrderBook()
    snap = load("spot_orderbook50_BTCUSDT_snapshot_u2876700.json")
    delta = load("spot_orderbook50_BTCUSDT_delta_u2876701.json")
    assert book.apply(snap) is ApplyResult.SNAPSHOT
    assert book.level_count() == (50, 50)
    assert book.apply(delta) is ApplyResult.DELTA
    # Server-side window maintenance: one level enters and one leaves on each side.
    assert book.level_count() == (50, 50)
    bids = dict(book.bids())
    asks = dict(book.asks())
    assert bids[75848.62] == 0.014895 and 75837.13 not in bids
    assert 75852.65 not in asks and asks[75857.74] == 0.049778
    assert book.best_bid() == (75848.74, 0.067669) and book.best_ask() == (75848.75, 0.747137)
    assert (book.u, book.seq, book.ts, book.cts) == (2876701, 47474967823, 1731035685345, 1731035685342)
    assert book.counters.absent_deletes == 0 and book.synced


@pytest.mark.parametrize("name", ["docs_linear_orderbook50_delta.json", "linear_orderbook50_BTCUSDT_delta_cts.json"])
def test_real_linear_deltas_apply_onto_a_book_around_them(name):
    delta = load(name)
    data = delta["data"]
    levels = [float(p) for p, _ in data["b"] + data["a"]]
    mid = (max(float(p) for p, _ in data["b"]) + min(float(p) for p, _ in data["a"])) / 2
    # A snapshot that holds every price the delta deletes, one u before it.
    bids = [(p, "1.000") for p, s in data["b"] if float(p) < mid]
    asks = [(p, "1.000") for p, s in data["a"] if float(p) > mid]
    book = OrderBook()
    assert (
        book.apply(msg("snapshot", data["u"] - 1, bids=bids, asks=asks, topic=delta["topic"])) is ApplyResult.SNAPSHOT
    )
    assert book.apply(delta) is ApplyResult.DELTA
    for price, size in data["b"]:
        assert dict(book.bids()).get(float(price), 0.0) == float(size)
    for price, size in data["a"]:
        assert dict(book.asks()).get(float(price), 0.0) == float(size)
    assert book.counters.absent_deletes == 0 and book.cts == delta["cts"] and len(levels) > 0


def test_fixture_spot_snapshots_from_2023_without_cts_load():
    for name in [
        "spot_orderbook50_ACAUSDT_snapshot_2023.json",
        "spot_orderbook50_BTCUSDT_snapshot_2023.json",
    ]:
        book = OrderBook()
        assert book.apply(load(name)) is ApplyResult.SNAPSHOT
        assert book.cts is None and book.synced
        bids, asks = book.bids(), book.asks()
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)


# ---------------------------------------------------------------------------------------------- properties

TICK = Decimal("0.5")
prices = st.integers(min_value=1, max_value=60).map(lambda n: Decimal(n) * TICK)
sizes = st.integers(min_value=0, max_value=5).map(lambda n: Decimal(n) / 4)


class NaiveBook:
    """The obviously-correct model: two dicts of Decimal, sorted on every read."""

    def __init__(self) -> None:
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}

    def apply(self, side: dict, changes) -> None:
        for price, size in changes:
            if size == 0:
                side.pop(price, None)
            else:
                side[price] = size

    def top(self, which: str) -> list[tuple[float, float]]:
        side = self.bids if which == "bid" else self.asks
        keys = sorted(side, reverse=(which == "bid"))
        return [(float(k), float(side[k])) for k in keys]


@st.composite
def valid_sequences(draw):
    """A snapshot then deltas that never cross: bids stay below a moving divide, asks above it."""
    divide = draw(st.integers(min_value=10, max_value=50))

    def side_levels(lo, hi):
        return draw(st.lists(st.tuples(st.integers(lo, hi).map(lambda n: Decimal(n) * TICK), sizes), max_size=12))

    snap_bids = side_levels(1, 2 * divide - 1)
    snap_asks = side_levels(2 * divide + 1, 120)
    deltas = []
    for _ in range(draw(st.integers(0, 25))):
        deltas.append((side_levels(1, 2 * divide - 1), side_levels(2 * divide + 1, 120)))
    return snap_bids, snap_asks, deltas


def fmt(levels):
    return [(str(p), str(s)) for p, s in levels]


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(valid_sequences(), st.integers(min_value=1, max_value=10**9))
def test_property_book_equals_naive_model_after_any_valid_sequence(sequence, start_u):
    snap_bids, snap_asks, deltas = sequence
    book, model = OrderBook(), NaiveBook()
    topic = "orderbook.200.BTCUSDT"  # deep enough for every price the sequences use: no side outgrows it
    book.apply(msg("snapshot", start_u, bids=fmt(snap_bids), asks=fmt(snap_asks), topic=topic))
    model.apply(model.bids, snap_bids)
    model.apply(model.asks, snap_asks)
    for i, (bids, asks) in enumerate(deltas, start=1):
        assert book.apply(msg("delta", start_u + i, bids=fmt(bids), asks=fmt(asks), topic=topic)) is ApplyResult.DELTA
        model.apply(model.bids, bids)
        model.apply(model.asks, asks)
        assert book.state is BookState.SYNCED
        got_bids, got_asks = book.bids(), book.asks()
        assert got_bids == model.top("bid") and got_asks == model.top("ask")
        assert all(size > 0 for _, size in got_bids + got_asks)
        assert [p for p, _ in got_bids] == sorted({p for p, _ in got_bids}, reverse=True)
        assert [p for p, _ in got_asks] == sorted({p for p, _ in got_asks})
        if got_bids and got_asks:
            assert got_bids[0][0] < got_asks[0][0], "never crossed while SYNCED"


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["snapshot", "delta"]),
            st.integers(0, 30),
            st.lists(st.tuples(prices, sizes), max_size=6),
            st.lists(st.tuples(prices, sizes), max_size=6),
        ),
        max_size=30,
    )
)
def test_property_any_sequence_never_raises_and_synced_means_uncrossed(steps):
    """Arbitrary (even crossing, gapped, stale) sequences: no exception, and SYNCED is never a crossed book."""
    book = OrderBook()
    for kind, u, bids, asks in steps:
        result = book.apply(msg(kind, u, bids=fmt(bids), asks=fmt(asks)))
        assert isinstance(result, ApplyResult)
        if book.state is BookState.SYNCED:
            bid, ask = book.best_bid(), book.best_ask()
            if bid and ask:
                assert bid[0] < ask[0]
        assert all(size > 0 for _, size in book.bids() + book.asks())


# ---------------------------------------------------------------------------------------------- hostile input


def memo_cap(memo) -> int:
    """The most a number memo may hold: ``limit`` keys of the longest text it takes, each with its float."""
    return memo.limit * (sys.getsizeof("9" * MAX_NUMBER_CHARS) + sys.getsizeof(1.0))


def test_huge_distinct_numbers_are_rejected_and_the_memo_stays_under_its_byte_cap():
    """A stream of distinct 100 KB "numbers" (parseable: digits only) must neither be taken nor fill the memo."""
    book = synced()
    for i in range(40):
        huge = str(i + 1) + "0" * 100_000
        assert book.apply(msg("snapshot", 20 + i, bids=[("99", huge)], asks=[(huge, "1")])) is ApplyResult.REJECTED
    assert book.counters.rejected == 40 and book.synced
    for i in range(40_000):  # every distinct text of the longest length taken
        text = f"1.{i:0{MAX_NUMBER_CHARS - 2}d}"
        assert book_module._PRICES[text] > 0 and book_module._SIZES[text] > 0
    for memo in (book_module._PRICES, book_module._SIZES):
        assert max(map(len, memo)) <= MAX_NUMBER_CHARS
        assert 0 < memo.retained_bytes() <= memo_cap(memo) < 8_000_000


def deep_levels(start: float, step: float, count: int) -> list[tuple[str, str]]:
    return [(f"{start + i * step:.1f}", "1") for i in range(count)]


def full_book(depth: int = 50, u: int = 10) -> OrderBook:
    """A book at its full subscribed depth: bids 99.9 down, asks 100.1 up."""
    topic = f"orderbook.{depth}.BTCUSDT"
    book = OrderBook(topic)
    bids, asks = deep_levels(99.9, -0.1, depth), deep_levels(100.1, 0.1, depth)
    assert book.apply(msg("snapshot", u, bids=bids, asks=asks, topic=topic)) is ApplyResult.SNAPSHOT
    return book


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=3_000), st.sampled_from(["b", "a"]), st.sampled_from([1, 50, 200]))
def test_a_delta_that_deepens_a_side_past_its_depth_resyncs_and_never_grows(added, side, depth):
    """Bybit keeps a client's book at the subscribed depth; a delta adding levels beyond it is a resync, and the
    book keeps only its best ``depth`` levels meanwhile."""
    book = full_book(depth)
    best = (book.best_bid(), book.best_ask())
    start, step = (99.9 - depth * 0.1, -0.1) if side == "b" else (100.1 + depth * 0.1, 0.1)
    new = deep_levels(start, step, added)
    bids, asks = (new, []) if side == "b" else ([], new)
    delta = msg("delta", 11, topic=book.topic, bids=bids, asks=asks)
    assert book.apply(delta) is ApplyResult.RESYNC
    assert book.state is BookState.RESYNCING and book.counters.overflows == 1
    assert f"{depth}" in (book.resync_reason or "")
    assert max(book.level_count()) <= depth and (book.best_bid(), book.best_ask()) == best
    assert book.apply(msg("delta", 12, topic=book.topic, bids=new)) is ApplyResult.IGNORED
    assert max(book.level_count()) <= depth


def test_deltas_adding_2000_levels_each_leave_the_book_resyncing_at_its_depth():
    book = full_book(50)
    u = 10
    for round_ in range(20):
        book.apply(msg("snapshot", u + 1, topic=book.topic, bids=deep_levels(99.9, -0.1, 50)))
        u += 2
        delta = msg("delta", u, topic=book.topic, bids=deep_levels(90.0 - round_, -0.0001, 2_000))
        assert book.apply(delta) is ApplyResult.RESYNC
        assert book.state is BookState.RESYNCING and max(book.level_count()) <= 50
    assert book.counters.overflows == 20


def test_a_snapshot_deeper_than_the_depth_resyncs_and_leaves_the_book_as_it_was():
    book = full_book(50)
    before = (book.bids(), book.asks(), book.u)
    deep = msg("snapshot", 30, topic=book.topic, bids=deep_levels(99.9, -0.1, 51))
    assert book.apply(deep) is ApplyResult.RESYNC
    assert book.state is BookState.RESYNCING and book.counters.overflows == 1
    assert (book.bids(), book.asks(), book.u) == before
    assert book.apply(msg("snapshot", 31, topic=book.topic, bids=deep_levels(99.9, -0.1, 50))) is ApplyResult.SNAPSHOT
    assert book.synced and book.level_count() == (50, 0)


def test_a_full_window_replaced_in_one_delta_is_bybit_behaviour_not_an_overflow():
    """The most a delta can change: every level deleted and a whole new window inserted (2 x depth per side)."""
    book = full_book(50)
    old = [(price, "0") for price, _ in deep_levels(99.9, -0.1, 50)]
    delta = msg("delta", 11, topic=book.topic, bids=old + deep_levels(95.0, -0.1, 50))
    assert book.apply(delta) is ApplyResult.DELTA
    assert book.synced and book.level_count() == (50, 50) and book.best_bid() == (95.0, 1.0)


@pytest.mark.parametrize(
    "text", [" 100.7", "100.7 ", "\u0661\u0660\u0660", "1_00", "\uff11\uff10\uff10", "0x10", "100.7\n"]
)
@pytest.mark.parametrize("where", ["price", "size"])
def test_a_number_only_python_reads_is_not_a_level(text: str, where: str) -> None:
    """``float()`` takes spaces, underscores and any script's digits (Arabic-Indic ``١٠٠`` is 100.0): a book
    level is Bybit's plain ASCII decimal or it is unreadable, as everywhere else numbers come from outside."""
    level = (text, "1") if where == "price" else ("100.7", text)
    message = snapshot(20, asks=[level, ("101.0", "2")])
    book = synced()
    before = (book.bids(), book.asks(), book.u)
    assert book.apply(message) is ApplyResult.REJECTED
    assert (book.bids(), book.asks(), book.u) == before


# ---------------------------------------------------------------------------------------------- shapes the desk meets

SUB_CENT = Decimal("0.0001")  # XRPUSDT's tick: prices like "0.5123"


def spell(value: Decimal, decimals: int, trimmed: bool) -> str:
    """Bybit's two spellings: linear keeps the decimals ("0.5120"), spot cuts trailing zeros ("0.512")."""
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if trimmed and "." in text else text


@st.composite
def sub_cent_streams(draw):
    """A deep sub-cent book, then deltas that update, insert and delete at any depth (deep deletes included),
    with sizes of 0 to 6 decimals: never crossed, every delete of a level the book holds."""
    divide = 5_123
    bids = set(draw(st.lists(st.integers(divide - 400, divide - 1), min_size=1, max_size=300)))
    asks = set(draw(st.lists(st.integers(divide + 1, divide + 400), min_size=1, max_size=300)))
    sizes = st.builds(lambda n, k: Decimal(n).scaleb(-k), st.integers(1, 10**7), st.integers(0, 6))
    book = {"b": {tick: draw(sizes) for tick in bids}, "a": {tick: draw(sizes) for tick in asks}}
    snapshot = {side: dict(levels) for side, levels in book.items()}
    deltas = []
    for _ in range(draw(st.integers(1, 30))):
        delta = {}
        for side, (lo, hi) in (("b", (divide - 400, divide - 1)), ("a", (divide + 1, divide + 400))):
            changes: dict[int, Decimal] = {}
            before = set(book[side])
            for _ in range(draw(st.integers(0, 12))):
                held = sorted(book[side])
                if held and draw(st.booleans()):  # delete or update a level the book holds, at any depth
                    tick = held[draw(st.integers(0, len(held) - 1))]
                    size = Decimal(0) if draw(st.booleans()) else draw(sizes)
                else:
                    tick, size = draw(st.integers(lo, hi)), draw(sizes)
                    if tick not in book[side] and not size:
                        continue
                if size or tick in before:
                    changes[tick] = size
                else:  # added earlier in this delta, gone again: Bybit sends neither
                    changes.pop(tick, None)
                if size:
                    book[side][tick] = size
                else:
                    book[side].pop(tick, None)
            delta[side] = changes
        deltas.append(delta)
    return snapshot, deltas, draw(st.booleans())


def sub_cent_levels(levels: dict[int, Decimal], trimmed: bool) -> list[tuple[str, str]]:
    return [(spell(tick * SUB_CENT, 4, trimmed), spell(size, 6, trimmed)) for tick, size in levels.items()]


def check_against_model(book: OrderBook, model: NaiveBook) -> None:
    """Every read the desk makes agrees with the naive model."""
    want_bids, want_asks = model.top("bid"), model.top("ask")
    assert book.bids() == want_bids and book.asks() == want_asks
    for n in (1, 3, 25, 200):
        assert book.bids(n) == want_bids[:n] and book.asks(n) == want_asks[:n]
    assert book.best_bid() == (want_bids[0] if want_bids else None)
    assert book.best_ask() == (want_asks[0] if want_asks else None)
    assert book.level_count() == (len(want_bids), len(want_asks))
    assert list(book._best_first("bid")) == want_bids and list(book._best_first("ask")) == want_asks
    assert [p for p, _, _ in book.depth_levels("ask", 40)] == [p for p, _ in want_asks[:40]]


def run_sub_cent(stream) -> None:
    snapshot, deltas, trimmed = stream
    topic = "orderbook.1000.XRPUSDT"
    book, model = OrderBook(), NaiveBook()
    first = msg("snapshot", 1, sub_cent_levels(snapshot["b"], trimmed), sub_cent_levels(snapshot["a"], trimmed), topic)
    assert book.apply(first) is ApplyResult.SNAPSHOT
    for side, levels in ((model.bids, snapshot["b"]), (model.asks, snapshot["a"])):
        model.apply(side, [(tick * SUB_CENT, size) for tick, size in levels.items()])
    check_against_model(book, model)
    for u, delta in enumerate(deltas, start=2):
        bids, asks = sub_cent_levels(delta["b"], trimmed), sub_cent_levels(delta["a"], trimmed)
        assert book.apply(msg("delta", u, bids, asks, topic)) is ApplyResult.DELTA
        for side, changes in ((model.bids, delta["b"]), (model.asks, delta["a"])):
            model.apply(side, [(tick * SUB_CENT, size) for tick, size in changes.items()])
        assert book.state is BookState.SYNCED and book.counters.absent_deletes == 0
        check_against_model(book, model)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(sub_cent_streams())
def test_property_sub_cent_deep_book_with_deep_deletes_equals_the_model(stream):
    run_sub_cent(stream)


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(sub_cent_streams())
def test_property_a_tiny_front_refits_all_the_time_and_still_equals_the_model(stream):
    """The front of 2 to 8 prices is cut back and refilled from the back on nearly every delta."""
    with patch.multiple(book_module, _FRONT=4, _FRONT_MAX=8, _FRONT_MIN=2):
        run_sub_cent(stream)


def test_a_delete_behind_the_front_and_in_it_both_count_an_absent_level():
    book = OrderBook()
    asks = [(f"{100 + i}.0", "1") for i in range(300)]  # a front of 64, the rest behind it
    assert book.apply(msg("snapshot", 1, [("99.0", "1")], asks, "orderbook.1000.BTCUSDT")) is ApplyResult.SNAPSHOT
    missing = [("150.5", "0"), ("390.5", "0")]  # one absent level in the front, one behind it
    assert book.apply(msg("delta", 2, [], missing, "orderbook.1000.BTCUSDT")) is ApplyResult.DELTA
    assert book.counters.absent_deletes == 2 and book.level_count() == (1, 300)
    deep = [(f"{100 + i}.0", "0") for i in range(100, 300)]  # delete everything behind the front
    assert book.apply(msg("delta", 3, [], deep, "orderbook.1000.BTCUSDT")) is ApplyResult.DELTA
    assert book.asks() == [(100.0 + i, 1.0) for i in range(100)]


NUMBER_TEXT = st.text(alphabet="0123456789.eE+-_ \t\n1\u0661\u00b2infaINFNA", max_size=12)


@given(NUMBER_TEXT)
def test_the_number_reader_takes_exactly_plain_decimals_in_range(text):
    """The reader without a regex agrees with ``is_decimal_text`` and the range, on any text."""
    memo = book_module._Numbers(allow_zero=True, limit=4)
    try:
        value = memo.read(text)
    except book_module._Rejected:
        value = None
    plain = is_decimal_text(text) and (float(text) == 0 or 1e-18 <= float(text) < 1e18)
    assert (value is not None) == plain
    if plain:
        assert value == float(text) and len(memo) <= 4


DECIMAL_TEXT = st.from_regex(r"[0-9]{1,19}|[0-9]{1,18}\.[0-9]{1,18}", fullmatch=True).filter(lambda t: len(t) <= 24)


@given(NUMBER_TEXT | DECIMAL_TEXT | st.sampled_from(["9007199254740991", "9007199254740993", "0.9007199254740993"]))
def test_a_plain_size_is_read_as_the_memo_reads_it_and_bybits_sizes_are_plain(text):
    """The compiled book reads a delta's sizes without the memo: whatever that reader takes, it takes as
    ``float()`` and the memo's checks do, and every size written as Bybit writes them (15 significant digits or
    fewer, a point between digits) takes that road rather than the memo's."""
    try:
        expected = book_module._Numbers(allow_zero=True, limit=4).read(text)
    except book_module._Rejected:
        expected = None
    value = book_module._plain_size(text)
    if value is not None:
        assert value == expected and value.__class__ is float
    shaped = re.fullmatch(r"[0-9]+(\.[0-9]+)?", text) and len(text.replace(".", "").lstrip("0")) <= 15
    if shaped and len(text) <= 19 and expected is not None:
        assert value == expected


@given(NUMBER_TEXT | DECIMAL_TEXT | st.sampled_from([5, None, "0", "0.0", "9" * 41, "1" + "0" * 18]))
def test_a_price_new_to_the_memo_is_read_as_the_memo_reads_it(text):
    """A price the memo lacks is read by the plain-decimal reader where the book is compiled: taken (and kept)
    exactly when the memo's reader takes it, with the same value, else rejected with the reader's reason."""
    try:
        expected = book_module._Numbers(allow_zero=False, limit=4).read(text)
    except book_module._Rejected as error:
        expected, reason = None, str(error)
    book_module._PRICES.clear()
    try:
        value = book_module._new_price(text)
    except book_module._Rejected as error:
        assert expected is None and str(error) == reason and text not in book_module._PRICES
    else:
        assert value == expected and text in book_module._PRICES and book_module._PRICES[text] == value


@given(NUMBER_TEXT | st.sampled_from([5, 1.5, True, None, "9" * 41, "1" + "0" * 19, "1e-19"]), st.booleans())
def test_a_size_new_to_the_memo_in_a_delta_is_read_as_the_reader_reads_it(size, on_bids):
    """The delta's hot loop checks a size the memo lacks itself (a call of the reader would cost a fifth of the
    miss again): it takes exactly what the reader takes, and anything else resyncs the book with the reader's
    reason and never enters the memo."""
    book_module._SIZES.clear()
    book = synced()
    try:
        expected = book_module._Numbers(allow_zero=True, limit=4).read(size)
    except book_module._Rejected as error:
        expected, reason = None, str(error)
    level = [("99.7", size)]
    result = book.apply(msg("delta", 11, bids=level if on_bids else [], asks=[] if on_bids else [("100.7", size)]))
    if expected is None:
        assert result is ApplyResult.RESYNC and book.counters.rejected == 1
        assert book.resync_reason == f"unreadable delta u 11: {reason}"[: len(book.resync_reason or "")]
        assert all(text.__class__ is str and text != size for text in book_module._SIZES)
    else:
        assert result is ApplyResult.DELTA and book.synced
        side = book.bids() if on_bids else book.asks()
        price = 99.7 if on_bids else 100.7
        assert (dict(side).get(price) == expected) if expected else price not in dict(side)
        assert book_module._SIZES[size] == expected
