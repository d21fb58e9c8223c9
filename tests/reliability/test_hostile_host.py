"""A hostile Bybit v5 public host, through a real WebSocket: whatever it sends, the session keeps bounded state.

The host (:class:`bench.hostile_memory.HostileExchange`) turns hostile once subscribed and ends with a marker
ticker delta; once the desk shows the marker it has read every hostile frame, so the checks are on final state
and counters, never on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator

from bench.hostile_memory import DEPTH, MARKER_PRICE, SYMBOL, HostileExchange
from exchange import book as book_module
from exchange.book import MAX_NUMBER_CHARS
from exchange.bybit.protocol import TICKER_FIELDS
from exchange.config import load_settings
from exchange.events import LinkState, StateChanged
from exchange.session import Session
from tests.support.waiting import until


@contextlib.asynccontextmanager
async def hostile_session(mode: str, limit: int) -> AsyncIterator[tuple[Session, HostileExchange]]:
    """A public session against the hostile host, handed over once it has read ``limit`` hostile frames."""
    host = HostileExchange(mode, limit=limit, pause_s=0.0)
    await host.start()
    session = Session(load_settings(environ={}, base_url=host.base_url, symbols=SYMBOL))
    changes = session.hub.subscribe([StateChanged], name="test")
    states: list[LinkState] = []

    def seen(kind: LinkState) -> bool:
        states.extend(event.state.kind for event in changes.drain() if isinstance(event, StateChanged))
        return kind in states

    task = asyncio.create_task(session.run())
    try:
        await until(lambda: seen(LinkState.READY), what="Ready")
        marked = lambda: (session.tickers.get(SYMBOL) or {}).get("markPrice") == MARKER_PRICE  # noqa: E731
        await until(marked, timeout=60, what="every hostile frame read")
        assert host.sent == limit
        yield session, host
    finally:
        await session.stop()
        await asyncio.wait_for(task, 10)
        await host.stop()
    assert not seen(LinkState.FAILED)


def memo_bytes_cap() -> int:
    per_key = sys.getsizeof("9" * MAX_NUMBER_CHARS) + sys.getsizeof(1.0)
    return (book_module._PRICES.limit + book_module._SIZES.limit) * per_key


def memo_bytes() -> int:
    return book_module._PRICES.retained_bytes() + book_module._SIZES.retained_bytes()


async def test_huge_distinct_sizes_are_rejected_and_the_memo_stays_bounded() -> None:
    async with hostile_session("memo", limit=20) as (session, _):
        assert session.counters["rejected_frames"] >= 1 and session.counters["resyncs"] >= 1
        for memo in (book_module._PRICES, book_module._SIZES):
            assert all(len(text) <= MAX_NUMBER_CHARS for text in memo)
        assert memo_bytes() <= memo_bytes_cap()


async def test_deltas_adding_2000_levels_resync_and_the_book_never_passes_its_depth() -> None:
    async with hostile_session("deep-book", limit=60) as (session, _):
        book = session.books[SYMBOL]
        assert max(book.level_count()) <= DEPTH
        assert session.counters["book_overflows"] >= 1 and book.counters.overflows >= 1
        assert session.counters["resubscribes"] >= 1


async def test_frames_of_unknown_topics_with_20kb_names_leave_no_state() -> None:
    async with hostile_session("unknown-topics", limit=300) as (session, _):
        assert session.counters["unknown_topic_frames"] == 300
        assert list(session.tickers._tickers) == [SYMBOL]
        assert set(session.market._topic_last_ms) <= set(session.market.topics)
        assert all(len(part) < 40 for part in session.desk.versions)


async def test_ticker_deltas_with_100k_invented_fields_keep_only_bybit_s_fields() -> None:
    async with hostile_session("ticker-fields", limit=100) as (session, _):
        fields = session.tickers.get(SYMBOL) or {}
        assert set(fields) <= TICKER_FIELDS["linear"] and fields["markPrice"] == MARKER_PRICE
        assert session.counters["ticker_fields_ignored"] == 100 * 1_000
