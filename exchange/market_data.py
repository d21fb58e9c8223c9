"""Public market data for one desk: book, trade and ticker frames in; the desk's books, tape and tickers and the
hub's events out.

It exists so that what a public frame means (a delta applied, a book that drifted and needs a fresh snapshot, a
ticker merged, a topic heard from or gone stale) is decided in one place that knows nothing of sockets. The
session's public link hands it every parsed frame with its arrival time; when a book must be resynchronised it
asks the session, through the ``resubscribe`` callback, to resubscribe that one topic, and keeps the book
RESYNCING until the fresh snapshot comes (the session reconnects after :data:`MAX_RESYNC_TRIES` tries without one).

A topic's resyncs are rate-limited by a token bucket: ``resync_burst`` go at once, back to back (so faults that
follow each other are each recovered at once), then at most one every ``resync_interval_s``, so a host whose every
snapshot or delta is bad cannot make the desk resubscribe (and the trader be told) dozens of times a second. A
resync that must wait keeps its book RESYNCING, shown not live; the streak of resyncs since the book last stayed
SYNCED for ``resync_healthy_s`` is counted and shown on the connection bar.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Mapping
from typing import Any

from exchange.book import ApplyResult, BookState, OrderBook, cadence_ms
from exchange.bybit.protocol import ProtocolError, book_topic, desk_topics, parse_trades, ticker_topic
from exchange.desk import TRADES_KEPT, Desk, Instrument
from exchange.events import BookChanged, BookStateChanged, Notice, TickerChanged, TopicHealth, TradesReceived
from exchange.hub import EventHub
from exchange.numbers import NumberError, read_decimal, read_whole
from exchange.retry import Timeouts

__all__ = ["MAX_RESYNC_TRIES", "MarketData", "instrument_from", "resync_delay"]

log = logging.getLogger(__name__)

_DELTA = ApplyResult.DELTA  # read once a frame: a module global is cheaper than an enum member lookup

MAX_INSTRUMENTS = 5_000  # of a category (Bybit lists ~600 in the largest): a hostile list stays bounded
MAX_SYMBOL_CHARS = 40
MAX_RESYNC_TRIES = 3  # a topic whose fresh snapshot never comes means the link is not what it seems: reconnect


def resync_delay(tokens: float, timeouts: Timeouts) -> float:
    """How long a resync waits when its topic's bucket holds ``tokens``: none while a whole one is left."""
    if tokens >= 1.0 or timeouts.resync_interval_s <= 0:
        return 0.0
    return (1.0 - tokens) * timeouts.resync_interval_s


class MarketData:
    """The public side of a desk: the topics it wants, what each last said, and which books await a snapshot."""

    def __init__(
        self,
        desk: Desk,
        hub: EventHub,
        counters: Counter[str],
        depth: int,
        timeouts: Timeouts,
        *,
        resubscribe: Callable[[list[str]], bool],
        clock: Callable[[], float],
    ) -> None:
        """``resubscribe`` asks for fresh snapshots of some topics; it returns False when no link can ask."""
        self.desk = desk
        self.hub = hub
        self.counters = counters
        self.category = desk.category
        self.depth = depth
        # desired, in subscribe order; a topic Bybit does not know is removed (:meth:`drop_topic`)
        self.topics: list[str] = desk_topics(depth, desk.symbols)
        self._wanted = set(self.topics)  # a frame of any other topic keeps no state: the server chose its name
        self._leaving: set[str] = set()  # topics of a symbol no longer watched, until their unsubscribe is acked
        self.resyncing: dict[str, float] = {}  # topic -> when its resubscribe was sent
        self._resync_tries: Counter[str] = Counter()  # resubscribes of a topic without a snapshot coming back
        self.deferred: dict[str, tuple[float, list[str]]] = {}  # topic -> when its backed-off resync goes, with what
        self._streak: Counter[str] = Counter()  # resyncs of a topic since its book last proved itself
        self._bucket: dict[str, tuple[float, float]] = {}  # topic -> (resync tokens left, when counted)
        self._synced_at: dict[str, float] = {}  # topic -> when its book last became SYNCED
        self._topic_last_ms: dict[str, int] = {}
        self._book_by_topic = {book.topic: book for book in desk.books.values()}
        self._resubscribe = resubscribe
        self._clock = clock
        self._timeouts = timeouts

    # ------------------------------------------------------------------ frames

    def take(self, topic: str, frame: dict[str, Any], received_ms: int) -> None:
        """Apply one public frame of ``topic``; a malformed one is counted as rejected and changes nothing, and one
        of a topic the desk did not subscribe is counted as unknown and leaves no trace."""
        if topic in self._leaving:  # sent before the unsubscribe reached the exchange: expected, and dropped
            self.counters["frames_after_unsubscribe"] += 1
            return
        if topic not in self._wanted:
            self.counters["unknown_topic_frames"] += 1
            log.debug("frame of a topic not subscribed dropped: %r", topic[:60])
            return
        try:
            if topic.startswith("orderbook."):
                if not self._on_book(topic, frame):
                    return  # only a frame that moved the book shows it alive: garbage must not keep it "fresh"
                moved = True
            elif topic.startswith("publicTrade."):
                moved = self._on_trades(topic[len("publicTrade.") :], frame)
            elif topic.startswith("tickers."):
                self._on_ticker(frame)
                moved = False
            else:
                self.counters["unknown_topic_frames"] += 1
                return
            self._topic_last_ms[topic] = received_ms
        except (ProtocolError, KeyError, TypeError, ValueError, AttributeError) as error:
            self.counters["rejected_frames"] += 1
            log.debug("rejected %s frame: %s", topic[:60], error)
            return
        if moved:
            self.desk.moved()  # outside the frame's checks: whoever it wakes cannot make a good frame rejected

    def _on_trades(self, symbol: str, frame: dict[str, Any]) -> bool:
        """Keep a frame's trades; True when the symbol's trades moved."""
        trades = parse_trades(frame)
        if any(trade.symbol != symbol for trade in trades):
            raise ProtocolError(f"a trade of another symbol on publicTrade.{symbol[:20]}")
        if symbol not in self.desk.trades or not trades:
            return False
        trades = trades[-TRADES_KEPT:]  # the tape shows no more; a batch of thousands must not ride the hub
        self.desk.trades[symbol].extend(trades)
        self.desk.touch(f"trades:{symbol}")
        self.hub.publish(TradesReceived(symbol, trades))
        return True

    def _on_ticker(self, frame: dict[str, Any]) -> None:
        tickers = self.desk.tickers
        ignored = tickers.ignored_fields
        symbol, fields = tickers.apply(frame)
        if tickers.ignored_fields > ignored:  # not a Bybit ticker field of this category, or not a short string
            self.counters["ticker_fields_ignored"] += tickers.ignored_fields - ignored
        self.desk.touch(f"ticker:{symbol}")
        self.hub.publish(TickerChanged(symbol, fields))

    def drop_topic(self, topic: str) -> None:
        """Bybit does not know ``topic``: stop wanting it (its frames, if any came, are unknown from now on)."""
        if topic in self.topics:
            self.topics.remove(topic)
        self._wanted.discard(topic)

    # ------------------------------------------------------------------ the watched symbols

    def add_symbol(self, symbol: str) -> list[str]:
        """Watch ``symbol`` too: its book (awaiting its snapshot, through the same path as every book), tape and
        topics join the desk; returns the topics to subscribe."""
        desk = self.desk
        book = OrderBook(book_topic(self.depth, symbol))
        desk.books[symbol] = book
        desk.symbols.append(symbol)
        desk.trades.setdefault(symbol, deque(maxlen=TRADES_KEPT))
        self._book_by_topic[book.topic] = book
        topics = desk_topics(self.depth, [symbol])
        self.topics.extend(topics)
        self._wanted.update(topics)
        self._leaving.difference_update(topics)
        desk.touch("symbols")
        self.hub.publish(BookStateChanged(symbol, book.state, book.resync_reason))
        return topics

    def awaiting_snapshot(self, topic: str) -> None:
        """A book subscribed while the link runs: asked again, and at last reconnected for, like a resync, if its
        snapshot does not come."""
        self.resyncing[topic] = self._clock()

    def remove_symbol(self, symbol: str) -> list[str]:
        """Stop watching ``symbol``: its book, tape, ticker and every trace of its topics leave the desk at once;
        returns the topics to unsubscribe (their frames still on the way are dropped until :meth:`left`)."""
        desk = self.desk
        topics = [topic for topic in desk_topics(self.depth, [symbol]) if topic in self._wanted]
        for topic in topics:
            if topic in self.topics:
                self.topics.remove(topic)
            self.resyncing.pop(topic, None)
            self.deferred.pop(topic, None)
            self._bucket.pop(topic, None)
            self._synced_at.pop(topic, None)
            self._topic_last_ms.pop(topic, None)
            self._resync_tries.pop(topic, None)
            self._streak.pop(topic, None)
            self._book_by_topic.pop(topic, None)
        self._leaving.update(topics)
        desk.books.pop(symbol, None)
        if symbol in desk.symbols:
            desk.symbols.remove(symbol)
        desk.trades.pop(symbol, None)
        desk.tickers.drop(symbol)
        desk.touch("symbols")
        return topics

    def left(self, topics: list[str]) -> None:
        """The exchange confirmed these topics unsubscribed: a frame of them from now on is unknown."""
        self._wanted.difference_update(topics)
        self._leaving.difference_update(topics)

    def _on_book(self, topic: str, frame: dict[str, Any]) -> bool:
        """Apply one book frame; True when it changed the book (a snapshot or an applied delta)."""
        book = self._book_by_topic.get(topic)
        if book is None:
            self.counters["unknown_topic_frames"] += 1
            return False
        before = book.state
        counted = book.counters
        absent, gaps, rejected, overflows = counted.absent_deletes, counted.gaps, counted.rejected, counted.overflows
        result = book.apply(frame)
        if result is _DELTA and book.state is before and counted.absent_deletes == absent:  # most frames: no news
            self.hub.publish(BookChanged(book.symbol or "", book.version))
            return True
        if result is ApplyResult.REJECTED:
            self.counters["rejected_frames"] += 1
            return False
        if counted.rejected > rejected:  # the next delta was unreadable: a lost update, so resync
            self.counters["rejected_frames"] += 1
            log.warning("%s: %s", topic, book.resync_reason)
        if counted.overflows > overflows:  # deeper than subscribed: not Bybit's book, so resync (never grow)
            self.counters["book_overflows"] += 1
            log.warning("%s: %s", topic, book.resync_reason)
        if result is ApplyResult.DELTA and counted.absent_deletes > absent:
            # Bybit never deletes a level the client does not hold: this copy has drifted from Bybit's.
            self.counters["absent_deletes"] += counted.absent_deletes - absent
            book.invalidate("delete of an absent level")
            result = ApplyResult.RESYNC
        symbol = book.symbol or ""
        if book.state is not before:
            self.hub.publish(BookStateChanged(symbol, book.state, book.resync_reason))
            if book.state is BookState.SYNCED:
                self.resyncing.pop(topic, None)
                self._resync_tries.pop(topic, None)
                self.deferred.pop(topic, None)
                self._synced_at[topic] = self._clock()
        if result is ApplyResult.RESYNC:
            self.counters["resyncs"] += 1
            # A gap means this link lost frames; tickers carry no sequence to show their own losses (a lost
            # delta would leave fields stale), so the symbol's ticker is refreshed with its book.
            lost = counted.gaps > gaps and ticker_topic(symbol) in self.topics
            self._request_resync(topic, [ticker_topic(symbol)] if lost else [])
        elif result is ApplyResult.STALE:
            self.counters["stale_deltas"] += 1
        if result.changed or result is ApplyResult.RESYNC:
            self.hub.publish(BookChanged(symbol, book.version))
        return result.changed

    # ------------------------------------------------------------------ resyncs

    def _request_resync(self, topic: str, also: list[str] | None = None) -> None:
        """Resubscribe ``topic`` (and ``also``) at once, or, past its burst, once its rate allows
        (:meth:`retry_resyncs` sends it)."""
        if topic in self.resyncing:
            return
        waiting = self.deferred.get(topic)
        if waiting is not None:  # already waiting its turn: whatever else it needs goes with it
            due, with_it = waiting
            self.deferred[topic] = (due, [*with_it, *(t for t in also or [] if t not in with_it)])
            return
        self._count_streak(topic)
        delay = resync_delay(self._tokens(topic), self._timeouts)
        if delay > 0:
            self.counters["resyncs_backed_off"] += 1
            self.deferred[topic] = (self._clock() + delay, list(also or []))
            log.warning("%s resyncs again (%d in a row): next resubscribe in %.2f s", topic, self._streak[topic], delay)
            return
        self._send_resync(topic, also)

    def _tokens(self, topic: str) -> float:
        """The resyncs ``topic`` may still send at once, refilled at one per ``resync_interval_s`` up to the burst;
        one is taken when a whole one is left."""
        burst, interval, now = float(self._timeouts.resync_burst), self._timeouts.resync_interval_s, self._clock()
        tokens, counted = self._bucket.get(topic, (burst, now))
        if interval > 0:
            tokens = min(burst, tokens + (now - counted) / interval)
        if tokens >= 1.0:
            self._bucket[topic] = (tokens - 1.0, now)
            return tokens
        self._bucket[topic] = (0.0, now + (1.0 - tokens) * interval)  # its resync takes that token when due
        return tokens

    def _count_streak(self, topic: str) -> int:
        """One more resync of ``topic``: its streak, started over when the book stayed SYNCED long enough."""
        synced_at = self._synced_at.pop(topic, None)
        if synced_at is not None and self._clock() - synced_at >= self._timeouts.resync_healthy_s:
            self._streak.pop(topic, None)
        self._streak[topic] += 1
        return self._streak[topic]

    def _send_resync(self, topic: str, also: list[str] | None = None) -> None:
        if self._resubscribe([topic, *(also or [])]):  # no link: the next connection subscribes afresh anyway
            self.resyncing[topic] = self._clock()

    def retry_resyncs(self, now: float) -> str | None:
        """Send each backed-off resync that is due, and ask again for each fresh snapshot that has not come within
        the retry time; returns why to reconnect when a topic has been asked :data:`MAX_RESYNC_TRIES` times in vain,
        else None."""
        for topic, (due, also) in list(self.deferred.items()):
            if now >= due:
                del self.deferred[topic]
                self._send_resync(topic, also)
        for topic, since in list(self.resyncing.items()):
            if now - since >= self._timeouts.resync_retry_s:
                self.resyncing.pop(topic, None)
                self.counters["resync_retries"] += 1
                self._resync_tries[topic] += 1
                if self._resync_tries[topic] >= MAX_RESYNC_TRIES:
                    return f"{topic} would not resync after {MAX_RESYNC_TRIES} tries"
                self._send_resync(topic)
        return None

    def resync_streak(self, topic: str) -> int:
        """Resyncs of ``topic`` in a row; 0 once its book has stayed SYNCED long enough to be trusted again."""
        synced_at = self._synced_at.get(topic)
        if synced_at is not None and self._clock() - synced_at >= self._timeouts.resync_healthy_s:
            return 0
        return self._streak.get(topic, 0)

    def link_lost(self) -> None:
        """The link is gone: no resync is pending, tickers start over, and every book waits for a new snapshot (a
        topic's resync streak stays: a host that keeps failing a book is not trusted more for reconnecting)."""
        self.resyncing.clear()
        self.deferred.clear()
        self.left(list(self._leaving))  # the next connection subscribes only what is watched
        self.desk.tickers.clear()
        for book in self.desk.books.values():
            before = book.state
            book.invalidate("disconnected")
            if book.state is not before:
                self.hub.publish(BookStateChanged(book.symbol or "", book.state, book.resync_reason))
            self.hub.publish(BookChanged(book.symbol or "", book.version))

    # ------------------------------------------------------------------ instruments

    def take_instruments(self, items: list[Any]) -> None:
        """Tick and lot sizes from the REST instruments read: the desk's symbols, and up to
        :data:`MAX_INSTRUMENTS` others of the category (fills and positions of symbols not on the desk are shown
        to their own tick too). One whose numbers are not sane (a zero or absurd tick, a negative minimum) is
        refused and counted, and told when on the desk: the symbol then shows without a tick, as before the
        first read."""
        instruments = self.desk.instruments
        for item in items:
            symbol = item.get("symbol") if isinstance(item, dict) else None
            if not isinstance(symbol, str) or not symbol or len(symbol) > MAX_SYMBOL_CHARS:
                continue
            on_desk = symbol in self.desk.books
            if not on_desk and symbol not in instruments and len(instruments) >= MAX_INSTRUMENTS:
                continue
            try:
                instruments[symbol] = instrument_from(item)
            except (KeyError, TypeError, AttributeError, NumberError) as error:
                self.counters["instruments_rejected"] += 1
                why = str(error) if isinstance(error, NumberError) else f"no {error} in it"
                if on_desk:
                    log.warning("instrument %s refused: %s", symbol, why)
                    self.hub.publish(Notice("warning", f"Instrument {symbol} refused: {why}"))
        self.desk.touch("instruments")

    # ------------------------------------------------------------------ staleness

    def is_stale(self, topic: str, now_ms: int) -> bool:
        stale_after = self._stale_after_ms(topic)
        last = self._topic_last_ms.get(topic)
        return stale_after is not None and (last is None or now_ms - last > stale_after)

    def topic_health(self, now_ms: int) -> tuple[TopicHealth, ...]:
        last = self._topic_last_ms
        return tuple(
            TopicHealth(topic, last.get(topic), self.is_stale(topic, now_ms), self.resync_streak(topic))
            for topic in self.topics
        )

    def _stale_after_ms(self, topic: str) -> int | None:
        floor = int(self._timeouts.stale_floor_s * 1000)
        if topic.startswith("orderbook."):
            return max(2 * cadence_ms(int(topic.split(".")[1]), self.category), floor)
        if topic.startswith("tickers."):
            return floor
        return None  # trades speak only when something happens


def instrument_from(item: Mapping[str, Any]) -> Instrument:
    """A Bybit ``instruments-info`` record as an :class:`Instrument`; :class:`NumberError` (naming the field) for
    a tick, step, order-size limit or price scale that is not a sane number, ``KeyError`` without a tick."""
    symbol = str(item["symbol"])
    tick = read_decimal(item["priceFilter"]["tickSize"], "tickSize")
    lot = item.get("lotSizeFilter") or {}
    step = read_decimal(lot.get("qtyStep") or lot.get("basePrecision") or "0.001", "qtyStep")
    for name in ("minOrderQty", "maxOrderQty", "minOrderAmt", "maxOrderAmt", "minNotionalValue"):
        value = lot.get(name)
        if value not in (None, "") and read_decimal(value, name) < 0:
            raise NumberError(f"{name} {str(value)[:24]!r} is negative")
    scale = item.get("priceScale")
    if scale not in (None, ""):
        read_whole(scale, "priceScale", 19)
    return Instrument(symbol, tick, step)
