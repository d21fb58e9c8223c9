"""The event hub: fan-out to every subscriber, conflation of latest-state events, nothing lossless dropped."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from exchange.book import BookState
from exchange.events import (
    BookChanged,
    BookStateChanged,
    Event,
    LinkState,
    Notice,
    PublicTrade,
    SessionState,
    StateChanged,
    TickerChanged,
    TradesReceived,
)
from exchange.hub import NOTICES_WAITING, EventHub
from exchange.notices import NoticeGate
from tests.support.expect import all_of


def state(kind: LinkState, ms: int = 0) -> StateChanged:
    return StateChanged(SessionState(kind, ms), SessionState(LinkState.DISCONNECTED, 0))


def test_every_subscriber_gets_every_event_of_its_kinds():
    hub = EventHub()
    everything = hub.subscribe()
    states_only = hub.subscribe([StateChanged])
    hub.publish(state(LinkState.CONNECTING))
    hub.publish(BookChanged("BTCUSDT", 1))
    hub.publish(state(LinkState.READY))
    assert [type(e) for e in everything.drain()] == [StateChanged, StateChanged, BookChanged]
    assert [e.state.kind for e in all_of(StateChanged, states_only.drain())] == [LinkState.CONNECTING, LinkState.READY]


def test_book_updates_are_conflated_per_symbol_latest_wins():
    hub = EventHub()
    slow = hub.subscribe()
    for version in range(10_000):
        hub.publish(BookChanged("BTCUSDT", version))
        hub.publish(BookChanged("ETHUSDT", version))
    events = all_of(BookChanged, slow.drain())
    assert [(e.symbol, e.version) for e in events] == [("BTCUSDT", 9_999), ("ETHUSDT", 9_999)]
    assert slow.conflated == 2 * 9_999


def test_state_changes_and_notices_are_never_dropped_or_reordered():
    hub = EventHub()
    slow = hub.subscribe()
    kinds = [LinkState.CONNECTING, LinkState.CONNECTED, LinkState.READY, LinkState.RECONNECTING] * 1000
    for i, kind in enumerate(kinds):
        hub.publish(state(kind, i))
        hub.publish(TickerChanged("BTCUSDT", {"lastPrice": str(i)}))
        if i % 100 == 0:
            hub.publish(Notice("warning", f"n{i}"))
    events = slow.drain()
    states = [e for e in events if isinstance(e, StateChanged)]
    assert [e.state.kind for e in states] == kinds
    assert [e.state.since_ms for e in states] == list(range(len(kinds)))
    assert len([e for e in events if isinstance(e, Notice)]) == 40
    tickers = [e for e in events if isinstance(e, TickerChanged)]
    assert len(tickers) == 1 and tickers[0].fields["lastPrice"] == str(len(kinds) - 1)
    # lossless events come before the latest-state ones
    assert isinstance(events[-1], TickerChanged)


def test_trade_batches_are_bounded_for_a_lagging_subscriber_and_the_drop_is_counted():
    hub = EventHub()
    slow = hub.subscribe()
    trade = PublicTrade("BTCUSDT", 1, "Buy", Decimal("1"), Decimal("1"), "t")
    assert TradesReceived.bounded is not None
    for _ in range(TradesReceived.bounded + 25):
        hub.publish(TradesReceived("BTCUSDT", (trade,)))
    assert len(slow.drain()) == TradesReceived.bounded
    assert slow.dropped == 25


def test_a_lagging_subscriber_keeps_the_newest_trades_however_they_are_batched():
    hub = EventHub()
    slow = hub.subscribe()
    for n in range(100):
        trades = tuple(PublicTrade("BTCUSDT", n, "Buy", Decimal("1"), Decimal("1"), f"{n}-{i}") for i in range(400))
        hub.publish(TradesReceived("BTCUSDT", trades))
    waiting = all_of(TradesReceived, slow.drain())
    assert TradesReceived.bounded is not None
    assert sum(len(e.trades) for e in waiting) <= TradesReceived.bounded
    assert waiting[-1].trades[-1].trade_id == "99-399" and slow.dropped == 99
    hub.publish(TradesReceived("BTCUSDT", waiting[-1].trades))  # the lane's weight was given back on reading
    assert len(slow.drain()) == 1 and slow.dropped == 99


def test_book_trust_flipping_is_one_event_per_symbol_for_a_lagging_subscriber_latest_wins():
    hub = EventHub()
    slow = hub.subscribe()
    for n in range(100_000):
        state = BookState.RESYNCING if n % 2 == 0 else BookState.SYNCED
        hub.publish(BookStateChanged("BTCUSDT", state, "gap" if n % 2 == 0 else None))
    hub.publish(BookStateChanged("ETHUSDT", BookState.RESYNCING, "crossed"))
    assert slow.pending() == 2
    waiting = slow.drain()
    assert [(e.symbol, e.state) for e in waiting if isinstance(e, BookStateChanged)] == [
        ("BTCUSDT", BookState.SYNCED),
        ("ETHUSDT", BookState.RESYNCING),
    ]


async def test_get_waits_and_close_ends_iteration():
    hub = EventHub()
    sub = hub.subscribe()
    received: list[Event] = []

    async def consume() -> None:
        async for event in sub:
            received.append(event)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    hub.publish(Notice("information", "hello"))
    hub.publish(Notice("information", "world"))
    await asyncio.sleep(0)
    sub.close()
    await asyncio.wait_for(task, 1)
    assert [e.text for e in all_of(Notice, received)] == ["hello", "world"]
    assert hub.subscribers == 0


async def test_publish_never_waits_for_a_consumer():
    hub = EventHub()
    hub.subscribe()  # never read
    for i in range(50_000):
        hub.publish(BookChanged("BTCUSDT", i))
    assert hub.published == 50_000


@pytest.mark.parametrize("kind", list(LinkState))
def test_session_state_reads_like_the_bar(kind):
    text = str(SessionState(kind, 0, "why", attempt=3))
    assert text.startswith(kind.value) and "why" in text


class ScriptedClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_thousand_identical_notices_are_one_and_a_count():
    clock = ScriptedClock()
    hub = EventHub(NoticeGate(5.0, clock=clock))
    sub = hub.subscribe([Notice])
    for _ in range(1_000):
        hub.publish(Notice("warning", "orderbook.50.BTCUSDT: unreadable delta"))
    assert [e.text for e in all_of(Notice, sub.drain())] == ["orderbook.50.BTCUSDT: unreadable delta"]
    hub.flush_notices()
    assert sub.drain() == []  # the window is still open
    clock.now += 5.0
    hub.flush_notices()
    told = all_of(Notice, sub.drain())
    assert [(e.level, e.text) for e in told] == [
        ("warning", "orderbook.50.BTCUSDT: unreadable delta (… and 999 more like it)")
    ]
    hub.publish(Notice("warning", "orderbook.50.BTCUSDT: unreadable delta"))  # a new window: shown again
    assert len(sub.drain()) == 1 and hub.notice_gate.held_back == 999


def test_notices_of_one_kind_with_different_texts_are_the_same_notice():
    clock = ScriptedClock()
    hub = EventHub(NoticeGate(5.0, clock=clock))
    sub = hub.subscribe([Notice])
    for n in range(100):
        hub.publish(Notice("warning", f"execution e{n} cannot be used", kind="execution-rejected"))
    assert [e.text for e in all_of(Notice, sub.drain())] == ["execution e0 cannot be used"]


def test_a_lagging_subscriber_keeps_a_bounded_notice_backlog_and_is_told_what_went():
    hub = EventHub()
    slow = hub.subscribe()
    for n in range(NOTICES_WAITING * 5):
        hub.publish(Notice("warning", f"rejected order {n}"))
        hub.publish(state(LinkState.READY, n))
    assert slow.pending() <= NOTICES_WAITING * 5 + NOTICES_WAITING + 1
    events = slow.drain()
    notices = [e.text for e in events if isinstance(e, Notice)]
    assert len(notices) == NOTICES_WAITING + 1 and slow.notices_dropped == NOTICES_WAITING * 4
    assert notices[0] == f"{NOTICES_WAITING * 4:,} notices dropped: this view fell behind"
    assert notices[-1] == f"rejected order {NOTICES_WAITING * 5 - 1}"  # the newest are kept
    assert len([e for e in events if isinstance(e, StateChanged)]) == NOTICES_WAITING * 5  # those are never dropped


def test_the_notice_gate_keeps_a_bounded_number_of_keys_and_caps_a_burst():
    clock = ScriptedClock()
    gate = NoticeGate(5.0, burst=3, keys_kept=10, clock=clock)
    shown = [told for n in range(100_000) for told in gate.admit(f"k{n}", "error", f"order {n} rejected")]
    assert [text for _, text in shown] == ["order 0 rejected", "order 1 rejected", "order 2 rejected"]
    assert gate.keys <= 10 and gate.held_back == 100_000 - 3
    clock.now += 5.0
    assert gate.flush() == [("warning", "… and 99,997 more notices in 5 s")]
