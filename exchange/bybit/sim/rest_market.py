"""Bybit's public market REST endpoints on the local exchange (no signature needed).

``/v5/market/time``, ``instruments-info``, ``orderbook``, ``recent-trade``, ``tickers`` and ``kline`` in the shapes of
the fixtures (key order included). Parameters are checked the way Bybit checks them and refused with retCode
10001: ``Illegal category`` for a missing or unknown category, ``params error: symbol invalid`` for an unknown
symbol, ``params error: <name> invalid`` for a limit out of range. The orderbook's ``u`` is the 1000-level
stream's ``u`` as on Bybit (it only advances while someone watches that stream).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from exchange.bybit.sim.klines import KLINE_INTERVALS
from exchange.bybit.sim.market import Market, SymbolBook
from exchange.bybit.sim.public_ws import BookStream, PublicFeed
from exchange.bybit.sim.rest_common import RestError, RestSite, ok_response, query_params
from exchange.bybit.sim.wire import ticker_fields

KNOWN_CATEGORIES = ("spot", "linear", "inverse", "option")
ORDERBOOK_LIMITS = {
    "spot": (1, 1000, 1),
    "linear": (1, 1000, 25),
    "inverse": (1, 1000, 25),
}  # min, max, default
KLINE_LIMITS = (1, 1000, 200)
RECENT_TRADE_LIMITS = {"spot": (1, 60, 60), "linear": (1, 1000, 500), "inverse": (1, 1000, 500)}
INSTRUMENT_LIMITS = (1, 1000, 500)


def add_routes(app: web.Application, routes: MarketRoutes) -> None:
    app.router.add_get("/v5/market/time", routes.market_time)
    app.router.add_get("/v5/market/instruments-info", routes.instruments_info)
    app.router.add_get("/v5/market/orderbook", routes.orderbook)
    app.router.add_get("/v5/market/recent-trade", routes.recent_trade)
    app.router.add_get("/v5/market/tickers", routes.tickers)
    app.router.add_get("/v5/market/kline", routes.kline)


# ------------------------------------------------------------------------------------------------ params


def _category(params: dict[str, str], served: tuple[str, ...] = KNOWN_CATEGORIES) -> str:
    category = params.get("category", "")
    if category not in served:
        raise RestError(10001, "Illegal category")
    return category


def _limit(params: dict[str, str], bounds: tuple[int, int, int]) -> int:
    low, high, default = bounds
    text = params.get("limit", "")
    if text == "":
        return default
    try:
        limit = int(text)
    except ValueError:
        raise RestError(10001, "params error: limit invalid") from None
    if not low <= limit <= high:
        raise RestError(10001, "params error: limit invalid")
    return limit


def _book(market: Market, category: str, params: dict[str, str]) -> SymbolBook:
    symbol = params.get("symbol", "")
    if not symbol:
        raise RestError(10001, "params error: symbol invalid")
    try:
        return market.book(category, symbol)
    except KeyError:
        raise RestError(10001, "params error: symbol invalid") from None


# ------------------------------------------------------------------------------------------------ handlers


class MarketRoutes:
    """The public market endpoints over the market, the public feed (for the book's ``u``) and the site."""

    def __init__(self, market: Market, feed: PublicFeed, site: RestSite) -> None:
        self.market = market
        self.feed = feed
        self.site = site

    async def market_time(self, request: web.Request) -> web.Response:
        now_ns = self.site.clock.now_ns()
        return ok_response(self.site, {"timeSecond": str(now_ns // 1_000_000_000), "timeNano": str(now_ns)})

    async def instruments_info(self, request: web.Request) -> web.Response:
        params = query_params(request)
        category = _category(params)
        limit = _limit(params, INSTRUMENT_LIMITS)
        symbol = params.get("symbol", "")
        status = params.get("status", "")
        base_coin = params.get("baseCoin", "")
        items: list[dict[str, Any]] = []
        if category in self.market.categories():
            for name in self.market.symbols(category):
                inst = self.market.instrument(category, name)
                if symbol and symbol != name:
                    continue
                if base_coin and base_coin != inst.base_coin:
                    continue
                if status and status != "Trading":
                    continue
                items.append(inst.to_bybit())
        try:
            offset = int(params.get("cursor") or 0)
        except ValueError:
            raise RestError(10001, "params error: cursor invalid") from None
        page = items[offset : offset + limit]
        next_cursor = str(offset + limit) if offset + limit < len(items) else ""
        if category == "spot":
            return ok_response(self.site, {"category": category, "list": page})
        return ok_response(self.site, {"category": category, "list": page, "nextPageCursor": next_cursor})

    async def orderbook(self, request: web.Request) -> web.Response:
        params = query_params(request)
        category = _category(params, tuple(ORDERBOOK_LIMITS))
        limit = _limit(params, ORDERBOOK_LIMITS[category])
        book = _book(self.market, category, params)
        full = self.feed.stream(category, f"orderbook.1000.{book.symbol}")
        u = full.u if isinstance(full, BookStream) else 1
        price = book.price_text
        qty = book.qty_text
        now = self.site.clock.now_ms()
        return ok_response(
            self.site,
            {
                "s": book.symbol,
                "a": [[price(tick), qty(lots)] for tick, lots in book.top_asks(limit)],
                "b": [[price(tick), qty(lots)] for tick, lots in book.top_bids(limit)],
                "ts": max(now, book.cts),
                "u": u,
                "seq": book.seq,
                "cts": book.cts,
            },
        )

    async def recent_trade(self, request: web.Request) -> web.Response:
        params = query_params(request)
        category = _category(params, tuple(RECENT_TRADE_LIMITS))
        limit = _limit(params, RECENT_TRADE_LIMITS[category])
        book = _book(self.market, category, params)
        trades = list(book.trades)[-limit:]
        trades.reverse()
        items = [
            {
                "execId": t.trade_id,
                "symbol": t.symbol,
                "price": t.price_text,
                "size": t.qty_text,
                "side": t.side,
                "time": str(t.ts_ms),
                "isBlockTrade": False,
                "isRPITrade": False,
                "seq": str(t.seq),
            }
            for t in trades
        ]
        return ok_response(self.site, {"category": category, "list": items})

    async def tickers(self, request: web.Request) -> web.Response:
        params = query_params(request)
        category = _category(params, ("spot", "linear", "inverse"))
        if params.get("symbol"):
            books = [_book(self.market, category, params)]
        else:
            books = [self.market.book(category, s) for s in self.market.symbols(category)]
        return ok_response(self.site, {"category": category, "list": [ticker_fields(b, "rest") for b in books]})

    async def kline(self, request: web.Request) -> web.Response:
        """Candles newest first, as strings; ``start``/``end`` (ms) bound the starts listed."""
        params = query_params(request)
        category = params.get("category") or "linear"  # Bybit's default for kline
        if category not in ("spot", "linear", "inverse"):
            raise RestError(10001, "Illegal category")
        limit = _limit(params, KLINE_LIMITS)
        book = _book(self.market, category, params)
        interval = params.get("interval", "")
        if interval not in KLINE_INTERVALS:
            raise RestError(10001, "params error: interval invalid")
        bounds = []
        for name, default in (("start", 0), ("end", 1 << 62)):
            text = params.get(name, "")
            if text and not text.isdigit():
                raise RestError(10001, f"params error: {name} invalid")
            bounds.append(int(text) if text else default)
        series = self.feed.klines.series(category, book.symbol, interval, self.site.clock.now_ms())
        rows = [series.rest_row(c) for c in reversed(series.candles) if bounds[0] <= c.start <= bounds[1]]
        return ok_response(self.site, {"symbol": book.symbol, "category": category, "list": rows[:limit]})
