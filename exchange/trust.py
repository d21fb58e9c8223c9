"""The desk's trust rules: whether a book is live, whether a ticker went silent, whether the price a position is
marked at is current.

They belong to the desk, not to a panel: the ladder, the symbol strip and the P&L panel read them here and so can
never disagree about what is live. Widgets never need Bybit's topic names for it.
"""

from __future__ import annotations

from exchange.book import BookState, OrderBook, cadence_ms
from exchange.bybit.protocol import ticker_topic
from exchange.desk import Desk
from exchange.durations import duration_text
from exchange.ledger import LedgerEntry, MarkSource

STALE_FLOOR_MS = 5000
"""A book is STALE after max(2 x its cadence, this) without an update (quiet markets get the floor)."""

BOOK_MARKS = frozenset({MarkSource.BEST_BID, MarkSource.BEST_ASK, MarkSource.MID})


def book_trust(desk: Desk | None, book: OrderBook, now_ms: int) -> tuple[str, str | None]:
    """``("SYNCED", None)`` for a live book, else its state and why: RESYNCING / AWAITING_SNAPSHOT / STALE.

    STALE comes from the session's topic health when it has it, else from the age of the book's own ``ts``.
    """
    if book.state is not BookState.SYNCED:
        return book.state.value, book.resync_reason
    stale_after = max(2 * cadence_ms(book.depth or 50), STALE_FLOOR_MS)
    age_ms = now_ms - book.ts if book.ts is not None else None
    stats = desk.stats if desk is not None else None
    if stats is not None:
        # The session times topics by when frames arrived here, so a local clock that disagrees with Bybit's
        # cannot make a live book look stale; the book's own ts is only a fallback for a desk without figures.
        for health in stats.topics:
            if health.topic == book.topic and health.stale:
                last = health.last_message_ms
                since = f"no update for {duration_text((now_ms - last) / 1000)}" if last else "no update yet"
                return "STALE", since
        return BookState.SYNCED.value, None
    if age_ms is not None and age_ms > stale_after:
        return "STALE", f"no update for {duration_text(age_ms / 1000)}"
    return BookState.SYNCED.value, None


def stream_is_stale(desk: Desk, topic: str) -> bool:
    """The session's topic health says ``topic`` went silent (False when the desk has no figures)."""
    stats = desk.stats
    return stats is not None and any(health.topic == topic and health.stale for health in stats.topics)


def ticker_is_stale(desk: Desk, symbol: str) -> bool:
    """The symbol's ticker stream went silent: a price read from it has frozen."""
    return stream_is_stale(desk, ticker_topic(symbol))


def mark_is_live(desk: Desk, entry: LedgerEntry, now_ms: int) -> bool:
    """Is the price the entry was last marked at still current? A mark price from a silent ticker stream or a
    book price from a book that is not live has frozen: the P&L on it is stale, whatever the link says. A fill
    price or an external mark is shown for what it is (its source is printed) and counts as live."""
    source = entry.mark_source
    if source is MarkSource.MARK_PRICE:
        return not ticker_is_stale(desk, entry.symbol)
    if source in BOOK_MARKS:
        book = desk.books.get(entry.symbol)
        return book is not None and book_trust(desk, book, now_ms)[0] == BookState.SYNCED.value
    return True
