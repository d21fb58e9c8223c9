"""More than ten thousand malformed frames: never an escaped exception, never a state change, always counted.

One change is required rather than forbidden: a book delta that carries the book's next ``u`` but cannot be
read is an update the book has lost, so that book goes to RESYNCING at once (``only_a_lost_update``) instead of
showing itself live until the next delta reveals the gap.

Three sources:

* seeded mutations of the real fixtures (``tests/fixtures/bybit/ws_public`` and ``ws_private``), each built to
  be invalid in one specific way Bybit's protocol forbids, fed as text through the links' frame handling into
  the session's handlers: every one must be counted (the link's ``rejected`` for text that is not a JSON
  object, ``session.counters["rejected_frames"]`` for the rest) and leave every part of the desk as it was;
* hypothesis: fixtures with any field replaced by any JSON value (or removed), and arbitrary JSON objects;
  those may be valid by accident, so the rule checked is "no exception, and a rejected frame changes nothing";
* the exchange's malformed-frame fault over real sockets on a running session.
"""

from __future__ import annotations

import asyncio
import copy
import os
import random
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exchange.book import BookState
from exchange.bybit.ws import WsLink
from exchange.config import load_settings
from exchange.hub import EventHub
from exchange.journal import Journal
from exchange.session import Session
from tests.support.recorded import fixture
from tests.support.runtime import is_ready, quiesce, resume, running_session
from tests.support.waiting import until

MUTATIONS = int(os.environ.get("FLUXUM_MALFORMED_MUTATIONS", "9000"))
HYPOTHESIS_EXAMPLES = int(os.environ.get("FLUXUM_MALFORMED_EXAMPLES", "600"))
SEED_U = 21111422

BOOK_DELTA = fixture("ws_public/docs_linear_orderbook50_delta.json")
TEMPLATES_PUBLIC = {
    "book_delta": BOOK_DELTA,
    "book_delta_cts": fixture("ws_public/linear_orderbook50_BTCUSDT_delta_cts.json"),
    "trade": fixture("ws_public/linear_publicTrade_BTCUSDT_rpi_seq.json"),
    "ticker": fixture("ws_public/docs_linear_ticker_perpetual_snapshot.json"),
}
TEMPLATES_PRIVATE = {
    "execution": fixture("ws_private/docs_execution_linear.json"),
    "order": fixture("ws_private/docs_order_option_filled.json"),
    "position": fixture("ws_private/docs_position_linear.json"),
    "wallet": fixture("ws_private/docs_wallet.json"),
}

# Levels Bybit can never send, including a two-character string of digits (which would unpack as [price, size]).
BAD_LEVELS: list[Any] = [
    "95",
    [1.5, "2"],
    ["1", 2],
    ["x", "1"],
    ["", "1"],
    ["-1", "1"],
    ["0", "1"],
    ["nan", "1"],
    ["inf", "1"],
    ["1e999", "1"],
    ["1", "-1"],
    ["1", "nan"],
    ["1", "inf"],
    ["1", ""],
    [],
    ["1"],
    ["1", "2", "3"],
    None,
    5,
    {"p": "1"},
    "abc",
    [None, None],
    [["1", "2"], "3"],
    [True, "1"],
    ["1", None],
    "x",
    "",
]
BAD_SIDES: list[Any] = [None, 5, 1.5, "abc", {"1": "2"}, True, [None], [5]]
BAD_U: list[Any] = ["21111423", 21111423.0, None, True, [21111423], {"u": 1}, "", -0.5]
BAD_DATA: list[Any] = [None, 5, "data", [], [1, 2], True]


# ------------------------------------------------------------------------------------------------ harness


class Harness:
    """A session with a journal and two links, no network: text goes in through the links' frame handling."""

    def __init__(self) -> None:
        settings_ = load_settings(
            environ={"BYBIT_SIM_API_KEY": "fuzz-key-0001", "BYBIT_SIM_API_SECRET": "fuzz"},
            base_url="http://127.0.0.1:9",
        )
        assert settings_.endpoints is not None
        self.journal = Journal(":memory:")
        self.session = Session(settings_, hub=EventHub(), journal=self.journal)
        self.public = WsLink(
            settings_.endpoints.public_url("linear"),
            cast(aiohttp.ClientSession, None),  # never opened: the test feeds the link's handler
            self.session._on_public_frame,
            name="public",
        )
        self.private = WsLink(
            settings_.endpoints.private_url(),
            cast(aiohttp.ClientSession, None),  # never opened: the test feeds the link's handler
            self.session._on_private_frame,
            name="private",
        )
        self.book = self.session.books["BTCUSDT"]
        self.seed()

    def seed(self) -> None:
        """A SYNCED book, a ticker, trades, one fill, an order, a position and a wallet: state to protect."""
        snapshot = copy.deepcopy(BOOK_DELTA)
        snapshot["type"] = "snapshot"
        snapshot["data"]["u"] = SEED_U
        snapshot["data"]["a"] = [level for level in snapshot["data"]["a"] if level[1] != "0"]
        snapshot["data"]["b"] = [level for level in snapshot["data"]["b"] if level[1] != "0"]
        for text_frame in (snapshot, TEMPLATES_PUBLIC["ticker"], TEMPLATES_PUBLIC["trade"]):
            self.public._handle_text(orjson.dumps(text_frame).decode())
        for name, text_frame in TEMPLATES_PRIVATE.items():
            if name == "position":  # the docs sample is flat, and a flat position leaves the desk: hold one
                text_frame = copy.deepcopy(text_frame)
                text_frame["data"][0].update(size="0.5", side="Buy", entryPrice="28000")
            self.private._handle_text(orjson.dumps(text_frame).decode())
        assert self.book.state is BookState.SYNCED and self.book.u == SEED_U
        assert len(self.journal) >= 1 and self.session.wallet is not None and self.session.positions

    def reseed_book(self) -> None:
        if self.book.state is not BookState.SYNCED or self.book.u != SEED_U:
            snapshot = copy.deepcopy(BOOK_DELTA)
            snapshot["type"] = "snapshot"
            snapshot["data"]["u"] = SEED_U
            snapshot["data"]["a"] = [level for level in snapshot["data"]["a"] if level[1] != "0"]
            snapshot["data"]["b"] = [level for level in snapshot["data"]["b"] if level[1] != "0"]
            self.session._on_public_frame(snapshot, 0)

    def counts(self) -> tuple[int, int, int]:
        counters = self.session.counters
        return (
            self.public.rejected + self.private.rejected,
            counters["rejected_frames"],
            counters["unknown_topic_frames"],
        )

    def feed(self, link: str, text: str) -> str:
        """Feed one text frame; returns how it was counted: link, session, unknown or accepted."""
        before = self.counts()
        (self.public if link == "public" else self.private)._handle_text(text)
        after = self.counts()
        changed = [i for i in range(3) if after[i] != before[i]]
        assert len(changed) <= 1 and all(after[i] - before[i] == 1 for i in changed), (before, after)
        return ("link", "session", "unknown")[changed[0]] if changed else "accepted"


def fingerprint(session: Session, journal: Journal) -> tuple:
    """Everything a frame could change that the desk shows (link statistics and fault counters excluded)."""
    books = tuple(
        (
            b.topic,
            b.state,
            b.resync_reason,
            b.u,
            b.seq,
            b.ts,
            b.cts,
            b.version,
            tuple(b.bids()),
            tuple(b.asks()),
        )
        for b in session.books.values()
    )
    tickers = tuple(
        sorted((s, tuple(sorted((session.tickers.get(s) or {}).items()))) for s in list(session.tickers._tickers))
    )
    # link figures and the 30-minute strip move with the clock, not with frames
    versions = tuple(sorted((k, v) for k, v in session.desk.versions.items() if k not in ("stats", "timeline")))
    return (
        session.state,
        books,
        tickers,
        tuple((s, tuple(t)) for s, t in session.trades.items()),
        session.ledger.version,
        tuple(session.ledger.entries()),
        tuple(sorted(session.orders.items())),
        tuple(sorted(session.positions.items())),
        session.wallet,
        len(journal),
        versions,
        len(session.desk.own_fills),
    )


def only_a_lost_update(session: Session, before: tuple, after: tuple) -> bool:
    """The one change a rejected frame may make: a book delta carrying the book's next ``u`` that cannot be read
    is an update the book has lost, so that book (and nothing else) goes to RESYNCING, still at its old ``u``."""
    book = session.books["BTCUSDT"]
    return (
        book.state is BookState.RESYNCING
        and (book.resync_reason or "").startswith(f"unreadable delta u {SEED_U + 1}:")
        and book.u == SEED_U
        and after[:1] + after[2:] == before[:1] + before[2:]
    )


# ------------------------------------------------------------------------------------------------ mutations


def _public(name: str) -> dict[str, Any]:
    return copy.deepcopy(TEMPLATES_PUBLIC[name])


def _private(name: str) -> dict[str, Any]:
    return copy.deepcopy(TEMPLATES_PRIVATE[name])


def _book(rng: random.Random) -> dict[str, Any]:
    frame = _public(rng.choice(("book_delta", "book_delta_cts")))
    frame["type"] = rng.choice(("delta", "snapshot"))
    frame["data"]["u"] = SEED_U + 1  # in sequence: the broken part is what gets checked
    return frame


def _fresh_execution(rng: random.Random) -> dict[str, Any]:
    record = copy.deepcopy(TEMPLATES_PRIVATE["execution"]["data"][0])
    record["execId"] = str(uuid.UUID(int=rng.getrandbits(128)))
    return record


def malformed(rng: random.Random) -> tuple[str, str, str]:
    """One frame that Bybit's protocol forbids: (link, family, text)."""
    family = rng.choice(FAMILIES)
    link, frame = BY_FAMILY[family](rng)
    return link, family, frame if isinstance(frame, str) else orjson.dumps(frame).decode()


def _truncated(rng: random.Random) -> tuple[str, Any]:
    templates = {**TEMPLATES_PUBLIC, **TEMPLATES_PRIVATE}
    name = rng.choice(sorted(templates))
    text = orjson.dumps(templates[name]).decode()
    return ("private" if name in TEMPLATES_PRIVATE else "public"), text[: rng.randrange(1, len(text))]


def _not_an_object(rng: random.Random) -> tuple[str, Any]:
    value = rng.choice([[BOOK_DELTA], 5, "orderbook.50.BTCUSDT", None, True, [], 1.5, [1, 2]])
    return rng.choice(("public", "private")), orjson.dumps(value).decode()


def _no_topic(rng: random.Random) -> tuple[str, Any]:
    frame = (
        _public(rng.choice(sorted(TEMPLATES_PUBLIC)))
        if rng.random() < 0.5
        else _private(rng.choice(sorted(TEMPLATES_PRIVATE)))
    )
    link = "public" if frame["topic"] in {t["topic"] for t in TEMPLATES_PUBLIC.values()} else "private"
    if rng.random() < 0.5:
        del frame["topic"]
    else:
        frame["topic"] = rng.choice([5, None, ["orderbook.50.BTCUSDT"], {"t": 1}, True, 1.5])
    return link, frame


def _book_level(rng: random.Random) -> tuple[str, Any]:
    frame = _book(rng)
    side = rng.choice(("b", "a"))
    levels = frame["data"][side]
    levels.insert(rng.randrange(len(levels) + 1), rng.choice(BAD_LEVELS))
    return "public", frame


def _book_side(rng: random.Random) -> tuple[str, Any]:
    frame = _book(rng)
    frame["data"][rng.choice(("b", "a"))] = rng.choice(BAD_SIDES)
    return "public", frame


def _book_u(rng: random.Random) -> tuple[str, Any]:
    frame = _book(rng)
    if rng.random() < 0.2:
        del frame["data"]["u"]
    else:
        frame["data"]["u"] = rng.choice(BAD_U)
    return "public", frame


def _book_envelope(rng: random.Random) -> tuple[str, Any]:
    frame = _book(rng)
    choice = rng.randrange(4)
    if choice == 0:
        del frame["type"]
    elif choice == 1:
        frame["type"] = rng.choice(["deltaa", "", 5, None, "Snapshot"])
    elif choice == 2:
        del frame["data"]
    else:
        frame["data"] = rng.choice(BAD_DATA)
    return "public", frame


def _trade(rng: random.Random) -> tuple[str, Any]:
    frame = _public("trade")
    item = frame["data"][0]
    choice = rng.randrange(4)
    if choice == 0:
        frame["data"] = rng.choice([None, 5, "x", {"T": 1}])
    elif choice == 1:
        del item[rng.choice(["T", "s", "S", "v", "p", "i"])]
    elif choice == 2:
        key, bad = rng.choice(
            [
                ("S", "Up"),
                ("S", None),
                ("p", "x"),
                ("p", 5),
                ("v", "1e"),
                ("v", None),
                ("T", "abc"),
                ("T", None),
                ("T", True),
                ("T", "1.5"),
                ("s", 5),
            ]
        )
        item[key] = bad
    else:
        frame["data"].append(rng.choice([5, "x", None, [1]]))
    return "public", frame


def _ticker(rng: random.Random) -> tuple[str, Any]:
    frame = _public("ticker")
    choice = rng.randrange(3)
    if choice == 0:
        frame["data"] = rng.choice([None, 5, "x", [frame["data"]]])
    elif choice == 1:
        del frame["data"]["symbol"]
    else:
        frame["data"]["symbol"] = rng.choice([5, None, ["BTCUSDT"], True])
    return "public", frame


def _execution(rng: random.Random) -> tuple[str, Any]:
    frame = _private("execution")
    broken = _fresh_execution(rng)
    choice = rng.randrange(3)
    if choice == 0:
        del broken[rng.choice(["execId", "symbol", "side", "execQty", "execPrice", "execFee", "execType", "execTime"])]
    else:
        bad_fields: list[tuple[str, Any]] = [
            ("execQty", "x"),
            ("execQty", "-1"),
            ("execQty", "0"),
            ("execPrice", "0"),
            ("execPrice", "abc"),
            ("execPrice", None),
            ("side", "Up"),
            ("side", 5),
            ("execTime", "x"),
            ("execTime", 1.5),
            ("execTime", None),
            ("execType", 5),
            ("execId", ""),
            ("execId", 5),
            ("execFee", "fee"),
            ("execFee", "nan"),
            ("symbol", ""),
            ("execQty", "Infinity"),
            ("execPrice", "1E+999999999"),
            ("execTime", "1" * 5000),
            ("execQty", "1e-999999"),
            ("execFee", "1E-20000"),
        ]
        key, bad = rng.choice(bad_fields)
        broken[key] = bad
    # Alone in its frame: a good frame-mate would be taken, as it should (test_session_recovery.py).
    frame["data"] = [broken] if rng.random() < 0.9 else rng.choice([None, {"execId": "x"}, "x"])
    return "private", frame


def _order(rng: random.Random) -> tuple[str, Any]:
    frame = _private("order")
    record = frame["data"][0]
    if rng.random() < 0.3:
        del record[rng.choice(["orderId", "symbol", "side", "orderType", "qty", "orderStatus"])]
    else:
        key, bad = rng.choice(
            [
                ("qty", "x"),
                ("qty", None),
                ("orderStatus", 5),
                ("side", None),
                ("updatedTime", "x"),
                ("price", "abc"),
                ("cumExecQty", 5),
                ("orderId", 5),
            ]
        )
        record[key] = bad
    return "private", frame


def _position(rng: random.Random) -> tuple[str, Any]:
    frame = _private("position")
    record = frame["data"][0]
    key, bad = rng.choice(
        [
            ("size", "x"),
            ("size", None),
            ("side", "Up"),
            ("symbol", 5),
            ("updatedTime", "x"),
            ("markPrice", "abc"),
            ("leverage", 10),
        ]
    )
    if rng.random() < 0.2:
        del record[rng.choice(["size", "symbol"])]
    else:
        record[key] = bad
    return "private", frame


def _wallet(rng: random.Random) -> tuple[str, Any]:
    frame = _private("wallet")
    record = frame["data"][0]
    choice = rng.randrange(3)
    if choice == 0:
        record[rng.choice(["totalEquity", "totalAvailableBalance", "totalWalletBalance"])] = rng.choice(
            ["x", 5, [], "1e", "nan"]
        )
    elif choice == 1:
        coin = record["coin"][0]
        if rng.random() < 0.5:
            del coin["coin"]
        else:
            coin[rng.choice(["equity", "walletBalance", "unrealisedPnl"])] = rng.choice(["x", 5, "1e"])
    else:
        frame["data"] = rng.choice([None, record, "x", [5]])
    return "private", frame


def _unknown_topic(rng: random.Random) -> tuple[str, Any]:
    if rng.random() < 0.5:
        link = "public"
        frame = _book(rng)
        frame["topic"] = rng.choice(
            [
                "orderbook.50.XRPUSDT",
                "kline.1.BTCUSDT",
                "liquidation.BTCUSDT",
                "orderbook.200.BTCUSDT",
                "allLiquidation.BTCUSDT",
            ]
        )
    else:
        link = "private"
        frame = _private("wallet")
        frame["topic"] = rng.choice(["greeks", "dcp", "spread.order", "fast.execution"])
    return link, frame


BY_FAMILY: dict[str, Callable[[random.Random], tuple[str, Any]]] = {
    "truncated": _truncated,
    "not_an_object": _not_an_object,
    "no_topic": _no_topic,
    "book_level": _book_level,
    "book_side": _book_side,
    "book_u": _book_u,
    "book_envelope": _book_envelope,
    "trade": _trade,
    "ticker": _ticker,
    "execution": _execution,
    "order": _order,
    "position": _position,
    "wallet": _wallet,
    "unknown_topic": _unknown_topic,
}
"""Each family's mutation: the link it goes on, and the frame (a str is sent as it is, anything else as JSON)."""


FAMILIES = tuple(BY_FAMILY)


def mutations(n: int, seed: int = 20240611) -> Iterator[tuple[str, str, str]]:
    rng = random.Random(seed)
    for _ in range(n):
        yield malformed(rng)


def test_seeded_mutations_of_real_fixtures_are_counted_and_change_nothing() -> None:
    harness = Harness()
    session = harness.session
    baseline = fingerprint(session, harness.journal)
    counted: dict[str, int] = {}
    families: dict[str, int] = {}
    lost = 0
    for link, family, text in mutations(MUTATIONS):
        how = harness.feed(link, text)
        expected = (
            ("link",)
            if family in ("truncated", "not_an_object")
            else (("unknown",) if family == "unknown_topic" else ("session",))
        )
        assert how in expected, f"{family} frame counted as {how}: {text[:300]}"
        counted[how] = counted.get(how, 0) + 1
        families[family] = families.get(family, 0) + 1
        after = fingerprint(session, harness.journal)
        if after != baseline:
            if not (family in ("book_level", "book_side") and only_a_lost_update(session, baseline, after)):
                raise AssertionError(f"a rejected {family} frame changed the desk: {text[:300]}")
            lost += 1
            harness.reseed_book()
            baseline = fingerprint(session, harness.journal)
    assert sum(counted.values()) == MUTATIONS
    assert lost > 0, "no mutation was an unreadable in-sequence delta"
    assert harness.counts() == (counted.get("link", 0), counted.get("session", 0), counted.get("unknown", 0))
    assert session.ledger.rejected == 0 and session.ledger.duplicates == 0
    print(f"\n{MUTATIONS} mutated fixtures: counted by {counted}; families {families}; {lost} lost updates")


# ------------------------------------------------------------------------------------------------ hypothesis

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=12)
    | st.sampled_from(
        [
            "0",
            "1",
            "-1",
            "1e5",
            "abc",
            "",
            "BTCUSDT",
            "Buy",
            "Sell",
            "delta",
            "snapshot",
            "orderbook.50.BTCUSDT",
            "execution",
            "NaN",
            "30247.20",
        ]
    )
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


TEMPLATES = [("public", name, frame) for name, frame in TEMPLATES_PUBLIC.items()] + [
    ("private", name, frame) for name, frame in TEMPLATES_PRIVATE.items()
]
PATHS = {name: _paths(frame) for _, name, frame in TEMPLATES}


@st.composite
def fuzzed_frames(draw: st.DrawFn) -> tuple[str, Any]:
    if draw(st.integers(0, 9)) == 0:  # an arbitrary object, some of them with a plausible topic
        keys = st.sampled_from(["topic", "type", "data", "ts", "op", "ret_msg", "success", "req_id"]) | st.text(
            max_size=5
        )
        return draw(st.sampled_from(["public", "private"])), draw(st.dictionaries(keys, JSON_VALUES, max_size=5))
    link, name, template = draw(st.sampled_from(TEMPLATES))
    frame = copy.deepcopy(template)
    if name.startswith("book"):
        frame["data"]["u"] = SEED_U + 1
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(frame)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = frame
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return link, frame


@pytest.mark.slow
@settings(
    max_examples=HYPOTHESIS_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(frames=st.lists(fuzzed_frames(), min_size=1, max_size=12))
def test_hypothesis_frames_never_escape_and_rejected_ones_change_nothing(
    frames: list[tuple[str, Any]],
) -> None:
    harness = _shared_harness()
    session = harness.session
    for link, frame in frames:
        harness.reseed_book()
        before = fingerprint(session, harness.journal)
        how = harness.feed(link, orjson.dumps(frame).decode())  # raises if anything escaped
        STATS[how] = STATS.get(how, 0) + 1
        if how in ("link", "session", "unknown"):
            after = fingerprint(session, harness.journal)
            assert after == before or only_a_lost_update(session, before, after), (
                f"a rejected frame changed the desk: {frame!r}"
            )
    assert session.state.kind.value != "Failed"


_HARNESS: list[Harness] = []
STATS: dict[str, int] = {}


def _shared_harness() -> Harness:
    """One harness for every hypothesis example (a fresh one per example would dominate the run time)."""
    if not _HARNESS:
        _HARNESS.append(Harness())
    return _HARNESS[0]


@pytest.mark.slow  # it reads what the (slow) hypothesis test counted: selected with it, or skipped
def test_hypothesis_frame_count() -> None:
    """Runs after the hypothesis test in file order: how many frames it fed, and how they were counted."""
    total = sum(STATS.values())
    if total:
        print(f"\nhypothesis fed {total} frames: {STATS}")
        assert STATS.get("session", 0) > 0 and STATS.get("accepted", 0) > 0
    else:
        pytest.skip("the hypothesis test did not run in this session")


def test_two_character_string_level_is_rejected() -> None:
    """Bybit sends each level as ["price", "size"]; the string "95" is not a level, yet it becomes 9 @ 5."""
    harness = Harness()
    frame = _book(random.Random(1))
    frame["type"] = "delta"
    frame["data"]["b"] = ["95"]
    frame["data"]["a"] = []
    assert harness.feed("public", orjson.dumps(frame).decode()) == "session"


# ------------------------------------------------------------------------------------------------ real socket


async def test_malformed_frames_over_real_sockets_are_counted_and_change_nothing() -> None:
    async with running_session() as rt:
        session, sim = rt.session, rt.sim
        await quiesce(rt)  # a paused market: the desk only changes if a malformed frame changes it
        public, private = session._public, session._private
        assert public is not None and private is not None
        baseline = fingerprint(session, rt.journal)
        link_rejected = public.rejected + private.rejected
        session_rejected = session.counters["rejected_frames"]
        sent = {"link": 0, "session": 0}
        for prefix in ("public", "private"):
            for kind, count in (
                ("bad_json", 60),
                ("wrong_types", 60),
                ("missing_keys", 60),
                ("oversized", 2),
            ):
                n = sim.faults.malformed(kind, count, prefix)
                assert n >= count
                sent["link" if kind == "bad_json" else "session"] += n
        await until(
            lambda: (
                public.rejected + private.rejected - link_rejected == sent["link"]
                and session.counters["rejected_frames"] - session_rejected == sent["session"]
            ),
            what=f"{sum(sent.values())} malformed frames counted",
        )
        await asyncio.sleep(0)
        assert fingerprint(session, rt.journal) == baseline
        assert session.reconnects == 0 and is_ready(rt)
        assert session._public is public and session._private is private
        stats = session.link_stats()
        assert stats.rejected_frames == session.counters["rejected_frames"] + public.rejected + private.rejected
        print(f"\nreal sockets: {sum(sent.values())} malformed frames ({sent}), all counted, nothing changed")
        resume(rt)


async def test_frame_over_the_size_limit_costs_the_link_not_the_session() -> None:
    """A frame above the 4 MiB ceiling cannot be skipped (aiohttp ends the socket): the session reconnects."""
    from exchange.bybit.ws import MAX_FRAME_BYTES

    async with running_session() as rt:
        session = rt.session
        sent = rt.sim.faults.malformed("oversized", 1, "public", size_bytes=MAX_FRAME_BYTES + 1024)
        assert sent == 1
        await until(lambda: session.reconnects == 1, what="the oversized frame to end the public link")
        await until(lambda: is_ready(rt), what="Ready again")
        assert str(MAX_FRAME_BYTES) in session.last_reconnect_reason, session.last_reconnect_reason
        await quiesce(rt)
        print(f"\noversized frame: link replaced ({session.last_reconnect_reason})")
        resume(rt)
