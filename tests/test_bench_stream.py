"""The benchmark's stream generator and every adapter, on a small stream (the benchmark lives in bench/)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from bench.book_stream import SHAPES, format_price, format_size, generate, load, save, true_book
from bench.book_throughput import check
from bench.peers import IMPLEMENTATIONS, make
from exchange import book_build

DELTAS = 400


@pytest.fixture(scope="module")
def stream():
    return generate(DELTAS, seed=7)


def replay(stream) -> list[tuple[dict[str, str], dict[str, str]]]:
    """The book as Bybit's own rules build it (price text -> size text), after every message."""
    bids: dict[str, str] = {}
    asks: dict[str, str] = {}
    states = []
    for raw in stream.messages:
        message = orjson.loads(raw)
        data = message["data"]
        if message["type"] == "snapshot":
            bids, asks = dict(data["b"]), dict(data["a"])
        else:
            for side, changes in ((bids, data["b"]), (asks, data["a"])):
                for price, size in changes:
                    if size == "0":
                        assert price in side, f"delete of an absent level {price} at u {data['u']}"
                        del side[price]
                    else:
                        side[price] = size
        states.append((dict(bids), dict(asks)))
    return states


def test_same_seed_same_bytes_other_seed_other_bytes(stream):
    again = generate(DELTAS, seed=7)
    assert again.messages == stream.messages
    assert (again.final_bids, again.final_asks) == (stream.final_bids, stream.final_asks)
    assert generate(DELTAS, seed=8).messages != stream.messages


def test_messages_look_like_bybit_linear(stream):
    assert len(stream.messages) == DELTAS + 1
    first, second, last = (orjson.loads(stream.messages[i]) for i in (0, 1, -1))
    assert list(first) == ["topic", "type", "ts", "data", "cts"]
    assert list(second["data"]) == ["s", "b", "a", "u", "seq"]
    assert first["topic"] == "orderbook.200.BTCUSDT" and first["type"] == "snapshot"
    assert second["type"] == "delta" and second["data"]["s"] == "BTCUSDT"
    assert last["data"]["u"] - first["data"]["u"] == DELTAS
    previous = None
    for raw in stream.messages:
        message = orjson.loads(raw)
        data = message["data"]
        if previous is not None:
            assert data["u"] == previous["data"]["u"] + 1
            assert data["seq"] > previous["data"]["seq"] and message["ts"] > previous["ts"]
        assert message["cts"] <= message["ts"]
        for price, size in data["b"] + data["a"]:
            assert price == format_price(round(float(price) * 10))  # "60000.10": two decimals on a 0.1 tick
            assert size == "0" or size == format_size(round(float(size) * 1000))  # "0.123"
        previous = message
    assert format_price(600_001) == "60000.10"
    assert format_size(123) == "0.123" and format_size(30_028) == "30.028"


def test_book_stays_200_by_200_never_crosses_and_changes_near_the_top(stream):
    states = replay(stream)
    mids = []
    for bids, asks in states:
        assert len(bids) == 200 and len(asks) == 200
        best_bid = max(map(float, bids))
        best_ask = min(map(float, asks))
        assert best_bid < best_ask
        mids.append((best_bid + best_ask) / 2)
    assert max(mids) - min(mids) > 0.5, "the mid never moved"
    datas = [orjson.loads(m)["data"] for m in stream.messages[1:]]
    counts = [len(data["b"]) + len(data["a"]) for data in datas]
    assert min(counts) >= 1 and 5 <= sum(counts) / len(counts) <= 20
    final_bids, final_asks = states[-1]
    assert final_bids == dict(stream.final_bids) and final_asks == dict(stream.final_asks)


def test_save_and_load_round_trip(stream, tmp_path):
    path = tmp_path / "stream.jsonl"
    save(stream, path)
    assert load(path) == stream


@pytest.mark.parametrize("key", list(IMPLEMENTATIONS))
def test_every_adapter_ends_on_the_true_book(stream, key, monkeypatch):
    # fluxum-before loads another book.py for a before/after run; here, this tree's own.
    monkeypatch.setenv("FLUXUM_BOOK_BEFORE", str(book_build.SOURCE))
    adapter = make(key)
    for raw in stream.messages:
        adapter.apply(orjson.loads(raw))
        adapter.read()
    failure, note = check(adapter, stream)
    assert failure is None
    bids, asks = adapter.levels()
    want_bids, want_asks = true_book(stream)
    assert dict(bids) == want_bids and dict(asks) == want_asks
    if key.startswith("pybit"):
        assert "unsorted" in note  # pybit appends inserts: right levels, wrong order
    if key == "pybit":
        assert "WRONG" in note
    else:
        assert "WRONG" not in note


def test_check_reports_a_wrong_book(stream):
    adapter = make("sorteddict")
    for raw in stream.messages[:-1]:  # one delta short of the end
        adapter.apply(orjson.loads(raw))
    failure, _ = check(adapter, stream)
    assert failure is not None


def test_bigger_deltas_keep_the_window_exact():
    big = generate(300, seed=3, max_changes=40)
    counts = []
    for bids, asks in replay(big):
        assert len(bids) == 200 and len(asks) == 200
        assert max(map(float, bids)) < min(map(float, asks))
    for raw in big.messages[1:]:
        data = orjson.loads(raw)["data"]
        counts.append(len(data["b"]) + len(data["a"]))
    assert sum(counts) / len(counts) > 20


# ---------------------------------------------------------------------------------------------- the other shapes

OTHER_SHAPES = [name for name in SHAPES if name != "default"]


@pytest.fixture(scope="module", params=OTHER_SHAPES)
def shaped(request):
    return SHAPES[request.param], generate(150, seed=5, shape=request.param)


def ranks_touched(stream) -> list[int]:
    """The rank (0 = best) in the book before each delta of every price the delta touches."""
    ranks: list[int] = []
    for (bids, asks), raw in zip(replay(stream), stream.messages[1:], strict=False):
        data = orjson.loads(raw)["data"]
        for held, changes, best_high in ((bids, data["b"], True), (asks, data["a"], False)):
            order = sorted(map(float, held), reverse=best_high)
            ranks.extend(order.index(float(p)) for p, _ in changes if p in held)
    return ranks


def test_every_shape_keeps_its_window_exact_uncrossed_and_spelt_by_category(shaped):
    shape, stream = shaped
    first = orjson.loads(stream.messages[0])
    assert first["topic"] == shape.topic
    order = (
        ["topic", "ts", "type", "data", "cts"] if shape.category == "spot" else ["topic", "type", "ts", "data", "cts"]
    )
    assert list(first) == order
    for bids, asks in replay(stream):
        assert len(bids) == shape.depth and len(asks) == shape.depth
        assert max(map(float, bids)) < min(map(float, asks))
    for raw in stream.messages:
        data = orjson.loads(raw)["data"]
        for price, size in data["b"] + data["a"]:
            if shape.category == "spot":
                assert not (("." in price and price.endswith("0")) or ("." in size and size.endswith("0")))
            else:
                assert len(price.partition(".")[2]) == shape.price_decimals
                assert size == "0" or len(size.partition(".")[2]) == shape.size_decimals


def test_uniform_shapes_change_every_depth_and_bursts_are_large(shaped):
    shape, stream = shaped
    ranks = ranks_touched(stream)
    if shape.top_share < 0.5:
        assert max(ranks) >= shape.depth * 0.9 and sum(r >= shape.depth // 2 for r in ranks) > len(ranks) / 5
    if shape.burst_share:
        sides = [
            len(side)
            for raw in stream.messages[1:]
            for side in orjson.loads(raw)["data"].values()
            if isinstance(side, list)
        ]
        assert max(sides) >= 100


def test_sub_cent_shapes_spell_prices_under_a_cent():
    stream = generate(20, seed=1, shape="xrp-500")
    price = orjson.loads(stream.messages[0])["data"]["b"][0][0]
    assert price.startswith("0.5") and len(price) == 6  # "0.5123"


def test_the_fixture_shape_starts_from_the_real_snapshot():
    real = orjson.loads(
        (
            Path(__file__).parent / "fixtures/bybit/ws_public/spot_orderbook50_BTCUSDT_snapshot_u2876700.json"
        ).read_bytes()
    )
    first = orjson.loads(generate(5, seed=1, shape="spot-fixture-50").messages[0])
    assert first["data"]["b"] == real["data"]["b"] and first["data"]["a"] == real["data"]["a"]


@pytest.mark.parametrize("key", ["fluxum", "order-book", "sorteddict", "ccxt"])
def test_every_peer_ends_on_the_true_book_of_every_shape(shaped, key):
    shape, stream = shaped
    adapter = make(key, shape.topic, shape.category)
    for raw in stream.messages:
        adapter.apply(orjson.loads(raw))
        adapter.read()
    assert check(adapter, stream) == (None, "")


def test_the_level_1_shape_sends_only_snapshots_of_the_best_bid_and_ask():
    stream = generate(300, seed=2, shape="level-1")
    messages = [orjson.loads(raw) for raw in stream.messages]
    assert {m["type"] for m in messages} == {"snapshot"} and messages[0]["topic"] == "orderbook.1.BTCUSDT"
    assert all(len(m["data"]["b"]) == len(m["data"]["a"]) == 1 for m in messages)
    assert [m["data"]["u"] for m in messages] == list(range(messages[0]["data"]["u"], messages[0]["data"]["u"] + 301))
    tops = [(m["data"]["b"][0], m["data"]["a"][0]) for m in messages]
    assert all(a != b for a, b in zip(tops, tops[1:], strict=False)), "a snapshot is sent when the top changed"
    assert len({(bid[0], ask[0]) for bid, ask in tops}) > 30, "the best bid and ask move"
    spreads = [float(ask[0]) - float(bid[0]) for bid, ask in tops]
    assert min(spreads) > 0 and max(spreads) < 5, "the spread stays a few ticks, as a real book's top does"
