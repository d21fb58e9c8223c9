"""The watchlist's figures: every watched symbol's ticker read as numbers, its funding countdown, its book's state,
and the rules for adding a symbol.

A pure function of the desk and a clock, tested without a screen; the watchlist table only lays these out. Every
figure is a :class:`~decimal.Decimal` read from Bybit's strings (a ticker delta has already been merged into its
snapshot by :class:`~exchange.bybit.protocol.TickerCache`); a field that is absent, ``""`` (Bybit's "does not
apply") or not a sane number shows as None, never as a crash. After a disconnect the last figures heard are kept
for display only, with ``live`` False, so the view can say they are not live instead of going blank.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from exchange.book import BookState
from exchange.desk import Desk
from exchange.events import LinkState
from exchange.numbers import MAX_EPOCH_MS, NumberError, read_decimal
from exchange.printable import printable
from exchange.trust import book_trust, ticker_is_stale

__all__ = [
    "MAX_SYMBOL_CHARS",
    "MAX_WATCHED",
    "WatchRefused",
    "WatchRow",
    "WatchSort",
    "addition_refused",
    "funding_countdown",
    "read_symbol",
    "sorted_watch_rows",
    "ticker_figure",
    "watch_row",
    "watch_rows",
]

MAX_WATCHED = 50
"""The most symbols watched at once: each costs three topics on the one public connection, and a row on screen."""
MAX_SYMBOL_CHARS = 30
BOOK_WORDS = {BookState.SYNCED.value: "LIVE", BookState.AWAITING_SNAPSHOT.value: "AWAITING"}
"""How a book's trust reads in a watchlist row (the others as they are: STALE, RESYNCING)."""


class WatchRefused(ValueError):
    """A symbol that cannot be added to (or removed from) the watchlist; its message is one sentence."""


def read_symbol(text: str) -> str:
    """A symbol as typed (``btcusdt ``) in Bybit's form (``BTCUSDT``); :class:`WatchRefused` when it cannot be one."""
    symbol = text.strip().upper()
    if not symbol:
        raise WatchRefused("Name a symbol, like XRPUSDT.")
    if not symbol.isascii() or not symbol.isalnum() or len(symbol) > MAX_SYMBOL_CHARS:
        raise WatchRefused(f"{printable(symbol, 40)!r} is not a Bybit symbol (letters and digits, like XRPUSDT).")
    return symbol


def addition_refused(
    symbol: str, watched: Collection[str], listed: Collection[str], category: str, cap: int = MAX_WATCHED
) -> str | None:
    """Why ``symbol`` cannot join the ``watched`` ones, or None: already there, the cap reached, or a symbol the
    exchange does not list in ``category`` (``listed``: its instruments; empty when not read yet)."""
    if symbol in watched:
        return f"{symbol} is already watched."
    if len(watched) >= cap:
        return f"The watchlist holds at most {cap} symbols: remove one before adding {symbol}."
    if not listed:
        return f"{symbol} not added: the exchange's instruments are not read yet (try again once connected)."
    if symbol not in listed:
        return f"{symbol} is not listed by the exchange in {category}: not added."
    return None


def ticker_figure(fields: Mapping[str, str], name: str) -> Decimal | None:
    """A ticker field as a number; None when absent, ``""`` or not a sane number (a hostile value shows nothing)."""
    text = fields.get(name)
    if not text:
        return None
    try:
        return read_decimal(text, name)
    except NumberError:
        return None


def _epoch_ms(fields: Mapping[str, str], name: str) -> int | None:
    value = ticker_figure(fields, name)
    if value is None or value != value.to_integral_value() or not 0 < value <= MAX_EPOCH_MS:
        return None
    return int(value)


def funding_countdown(next_funding_ms: int | None, now_ms: int) -> str:
    """Time to the next funding as ``H:MM:SS`` (``0:00:00`` once due, until the ticker moves it on); "" unknown."""
    if next_funding_ms is None:
        return ""
    seconds = max(0, (next_funding_ms - now_ms) // 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


@dataclass(frozen=True)
class WatchRow:
    """One watched symbol as the watchlist shows it."""

    symbol: str
    last: Decimal | None
    change_pct: Decimal | None
    """The 24 h change in percent (Bybit's ``price24hPcnt`` is a ratio: ``-0.0158`` is -1.58 %)."""
    turnover: Decimal | None
    funding_rate: Decimal | None
    next_funding_ms: int | None
    open_interest: Decimal | None
    book: str
    """LIVE, STALE, RESYNCING, AWAITING: the symbol's book as the ladder would judge it."""
    book_reason: str | None
    live: bool
    """The figures are current: Ready, the ticker heard on this connection and not silent."""


def watch_row(desk: Desk, symbol: str, now_ms: int) -> WatchRow:
    """The row of ``symbol`` from the desk's merged ticker (or its last word before a disconnect) and book."""
    current = desk.tickers.get(symbol)
    fields = current if current is not None else desk.tickers.last_known(symbol)
    book = desk.books.get(symbol)
    state, reason = book_trust(desk, book, now_ms) if book is not None else (BookState.AWAITING_SNAPSHOT.value, None)
    ratio = ticker_figure(fields, "price24hPcnt")
    live = current is not None and desk.state.kind is LinkState.READY and not ticker_is_stale(desk, symbol)
    return WatchRow(
        symbol=symbol,
        last=ticker_figure(fields, "lastPrice"),
        change_pct=None if ratio is None else ratio * 100,
        turnover=ticker_figure(fields, "turnover24h"),
        funding_rate=ticker_figure(fields, "fundingRate"),
        next_funding_ms=_epoch_ms(fields, "nextFundingTime"),
        open_interest=ticker_figure(fields, "openInterest"),
        book=BOOK_WORDS.get(state, state),
        book_reason=reason,
        live=live,
    )


def watch_rows(desk: Desk, now_ms: int) -> list[WatchRow]:
    """Every watched symbol's row, in the desk's order (the symbol keys' order)."""
    return [watch_row(desk, symbol, now_ms) for symbol in desk.symbols]


class WatchSort(StrEnum):
    """What the watchlist's rows can be ordered by: the order they were watched in (the symbol keys' order), or a
    figure."""

    WATCHED = "watched"
    SYMBOL = "symbol"
    CHANGE = "change"
    TURNOVER = "turnover"
    FUNDING = "funding"
    OPEN_INTEREST = "open_interest"


def _sort_figure(row: WatchRow, sort: WatchSort) -> Decimal | None:
    figures = {
        WatchSort.CHANGE: row.change_pct,
        WatchSort.TURNOVER: row.turnover,
        WatchSort.FUNDING: row.funding_rate,
        WatchSort.OPEN_INTEREST: row.open_interest,
    }
    return figures.get(sort)


def sorted_watch_rows(rows: list[WatchRow], sort: WatchSort, descending: bool = False) -> list[WatchRow]:
    """``rows`` ordered by ``sort``; a row without the figure goes last either way, ties keep the watched order."""
    if sort is WatchSort.WATCHED:
        return rows[::-1] if descending else list(rows)
    if sort is WatchSort.SYMBOL:
        return sorted(rows, key=lambda row: row.symbol, reverse=descending)
    known = [row for row in rows if _sort_figure(row, sort) is not None]
    unknown = [row for row in rows if _sort_figure(row, sort) is None]
    known.sort(key=lambda row: _sort_figure(row, sort) or Decimal(0), reverse=descending)
    return known + unknown
