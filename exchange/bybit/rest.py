"""The Bybit v5 REST API the desk uses: bootstrap reads, backfill and order entry for the session and the CLI.

The endpoints live here; signing, the clock, cool-downs, rate limits and the retry policy are the transport's
(:mod:`exchange.bybit.rest_transport`), so an endpoint says only what it asks and how it reads the answer.

* **Orders are never sent twice.** :meth:`RestClient.place_order` always carries an ``orderLinkId``; when
  the outcome is ambiguous (timeout, connection lost after sending, 5xx, a success reply that cannot be read)
  it looks the order up by that id
  instead of resending, and raises :class:`OrderOutcomeUnknown` if it cannot find it. Rejections Bybit makes
  *before* processing (10002 timestamp, 10006 rate limit) are definite "not placed" answers, so the transport
  resends those.
* **One bad record is one record.** A position or an order that cannot be read is left out of its listing,
  counted and kept in :attr:`RestClient.rejected_records`, so one absurd number cannot fail every backfill.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar, Unpack

from exchange.bybit.errors import (
    ROUTE_NOT_FOUND_CODE,
    BadResponse,
    BybitError,
    OrderOutcomeUnknown,
    RateLimited,
    ServerUnavailable,
    TimestampRejected,
)
from exchange.bybit.protocol import ProtocolError, parse_order, parse_position, parse_wallet
from exchange.bybit.rest_replies import whole_or_none
from exchange.bybit.rest_transport import PreEncoded, RateLimitStatus, RestStats, RestTransport, TransportOptions
from exchange.config import Endpoints
from exchange.events import OpenOrder, PositionSnapshot, PublicTrade, WalletSnapshot
from exchange.numbers import NumberError, read_decimal, read_epoch_ms
from exchange.secrets import Credentials
from exchange.sources import RejectedRecord

T = TypeVar("T")

__all__ = [
    "BookSnapshot",
    "OrderAck",
    "RejectedRecord",
    "RestClient",
    "UnreadableRecord",
    "new_order_link_id",
]

log = logging.getLogger(__name__)

EXECUTION_WINDOW_MS = 7 * 24 * 3600 * 1000
"""``/v5/execution/list`` answers at most seven days per query."""

EXECUTION_HISTORY_MS = 2 * 365 * 24 * 3600 * 1000
"""Bybit keeps two years of executions: a start further back reads nothing more, only more windows."""

MAX_PAGES = 1000
"""A cursor loop that has not ended after this many pages is a server bug, not more data."""

ORDER_LINK_ID_MAX = 36

LINEAR_SETTLE_COINS = ("USDT", "USDC")
"""Bybit lists linear positions and open orders one settle coin at a time; these are all of them."""


# ------------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class OrderAck:
    """Bybit's acknowledgement of an order request (the order itself is processed asynchronously).

    ``resolved`` is True when the reply was lost and the ack was recovered by looking the order up by its
    ``orderLinkId``; ``status`` is the order status seen by that lookup (empty for a direct ack).
    """

    order_id: str
    order_link_id: str
    resolved: bool = False
    status: str = ""


@dataclass(frozen=True)
class BookSnapshot:
    """``/v5/market/orderbook``: best first on both sides, exact decimals."""

    symbol: str
    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]
    ts_ms: int
    u: int
    seq: int | None
    cts: int | None


REJECTED_RECORDS_KEPT = 100


class UnreadableRecord(BadResponse):
    """A reply in Bybit's envelope whose one record cannot be read (a number out of range): the exchange is
    answering, so a caller may go on without that record."""


def new_order_link_id(rng: random.Random | None = None) -> str:
    """A fresh client order id: ``fx-`` and 32 hex digits (35 characters, Bybit allows 36)."""
    bits = (rng or random.SystemRandom()).getrandbits(128)
    return "fx-" + uuid.UUID(int=bits, version=4).hex


def _levels(raw: object, path: str) -> tuple[tuple[Decimal, Decimal], ...]:
    if not isinstance(raw, list):
        raise BadResponse(None, "book side is not a list", path=path)
    try:
        return tuple((read_decimal(level[0], "price"), read_decimal(level[1], "size")) for level in raw)
    except (NumberError, IndexError, TypeError, KeyError):
        raise BadResponse(None, "book level is not [price, size] as decimal strings", path=path) from None


# ------------------------------------------------------------------------------------------------ client


class RestClient:
    """Bybit v5 REST endpoints over one :class:`RestTransport`; safe to share between the session's tasks."""

    def __init__(
        self,
        endpoints_or_base_url: Endpoints | str,
        credentials: Credentials | None,
        *,
        resolve_tries: int = 4,
        **transport: Unpack[TransportOptions],
    ) -> None:
        """``resolve_tries`` bounds the reads that settle an ambiguous order answer; the rest is the transport's."""
        base = endpoints_or_base_url.rest if isinstance(endpoints_or_base_url, Endpoints) else endpoints_or_base_url
        self.transport = RestTransport(base, credentials, **transport)
        self._resolve_tries = max(1, resolve_tries)
        self.rejected_records: deque[RejectedRecord] = deque(maxlen=REJECTED_RECORDS_KEPT)  # drained by the session

    def __repr__(self) -> str:
        return f"RestClient({self.transport.base_url!r}, key={self.transport.key_hint})"

    async def __aenter__(self) -> RestClient:
        self.transport.ensure_session()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session if this client created it."""
        await self.transport.close()

    # What the session and the connection bar read of the transport.

    @property
    def has_credentials(self) -> bool:
        return self.transport.has_credentials

    @property
    def stats(self) -> RestStats:
        return self.transport.stats

    @property
    def clock_offset_ms(self) -> float:
        return self.transport.clock_offset_ms

    @property
    def clock_error_ms(self) -> float:
        return self.transport.clock_error_ms

    @property
    def clock_synced(self) -> bool:
        return self.transport.clock_synced

    @property
    def last_rate_limit(self) -> RateLimitStatus | None:
        return self.transport.last_rate_limit

    def server_now_ms(self) -> int:
        """Bybit's time as this client believes it to be."""
        return self.transport.server_now_ms()

    async def sync_clock(self) -> float:
        """Measure the offset to Bybit's clock (server time minus the local midpoint of the request)."""
        return await self.transport.sync_clock()

    def lift_cooldown(self) -> None:
        """Let the next request go despite a 403 cool-down: the trader asked to try now."""
        self.transport.lift_cooldown()

    # ---------------------------------------------------------------------------------------- core

    async def get(
        self, path: str, params: Mapping[str, object] | None = None, *, signed: bool = False
    ) -> dict[str, Any]:
        """A GET's ``result``; reads are retried on outages."""
        answer = await self.transport.request("GET", path, params or {}, signed=signed, retry=True)
        return answer.result

    async def post(self, path: str, params: Mapping[str, object]) -> dict[str, Any]:
        """A signed POST's ``result``; never resent after it may have reached the server."""
        answer = await self.transport.request("POST", path, params, signed=True, retry=False)
        return answer.result

    async def _pages(self, path: str, params: Mapping[str, object]) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page of a cursor-paged signed read."""
        cursor: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page_params = dict(params)
            if cursor:
                page_params["cursor"] = PreEncoded(cursor)
            result = await self.get(path, page_params, signed=True)
            if not result.get("list"):
                self._records(result, path, required=True)  # an empty list ends the listing; anything else is wrong
                return
            yield self._records(result, path)
            cursor = _cursor(result)
            if not cursor or cursor in seen:
                return
            seen.add(cursor)
        log.warning("%s: still paging after %d pages; stopped", path, MAX_PAGES)

    # ---------------------------------------------------------------------------------------- public reads

    async def server_time_ms(self) -> int:
        """Bybit's clock as ``/v5/market/time`` states it."""
        return int(await self.transport.server_time_ms())

    async def instruments(self, category: str, symbol: str | None = None) -> list[dict[str, Any]]:
        """Instrument records (tick size, qty step...) as Bybit sends them, every page."""
        records: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            params: dict[str, object] = {
                "category": category,
                "symbol": symbol,
                "limit": 1000 if not symbol else None,
            }
            if cursor:
                params["cursor"] = PreEncoded(cursor)
            result = await self.get("/v5/market/instruments-info", params)
            page = self._records(result, "/v5/market/instruments-info")
            records.extend(page)
            cursor = _cursor(result) or None
            if not page or not cursor:
                break
        return records

    async def orderbook(self, category: str, symbol: str, limit: int = 25) -> BookSnapshot:
        path = "/v5/market/orderbook"
        result = await self.get(path, {"category": category, "symbol": symbol, "limit": limit})
        try:
            return BookSnapshot(
                symbol=str(result["s"]),
                bids=_levels(result["b"], path),
                asks=_levels(result["a"], path),
                ts_ms=int(result["ts"]),
                u=int(result["u"]),
                seq=whole_or_none(result.get("seq")),
                cts=whole_or_none(result.get("cts")),
            )
        except (KeyError, TypeError, ValueError):
            raise BadResponse(None, "order book lacks s, b, a, ts or u", path=path) from None

    async def tickers(self, category: str, symbol: str | None = None) -> list[dict[str, Any]]:
        result = await self.get("/v5/market/tickers", {"category": category, "symbol": symbol})
        return self._records(result, "/v5/market/tickers")

    async def recent_trades(self, category: str, symbol: str, limit: int = 60) -> list[PublicTrade]:
        """Recent public trades, oldest first (Bybit lists newest first)."""
        path = "/v5/market/recent-trade"
        result = await self.get(path, {"category": category, "symbol": symbol, "limit": limit})
        trades = []
        try:
            for item in self._records(result, path):
                trades.append(
                    PublicTrade(
                        symbol=str(item["symbol"]),
                        time_ms=read_epoch_ms(item["time"], "time"),
                        side=str(item["side"]),
                        price=read_decimal(item["price"], "price"),
                        qty=read_decimal(item["size"], "size"),
                        trade_id=str(item["execId"]),
                        block=bool(item.get("isBlockTrade", False)),
                    )
                )
        except (KeyError, TypeError, ValueError):
            raise BadResponse(None, "a trade lacks symbol, time, side, price, size or execId", path=path) from None
        trades.sort(key=lambda trade: trade.time_ms)
        return trades

    # ---------------------------------------------------------------------------------------- private reads

    async def wallet_balance_raw(self, account_type: str = "UNIFIED") -> dict[str, Any]:
        """The account record of ``/v5/account/wallet-balance`` as Bybit sends it (``{}`` when absent)."""
        result = await self.get("/v5/account/wallet-balance", {"accountType": account_type}, signed=True)
        accounts = self._records(result, "/v5/account/wallet-balance")
        return dict(accounts[0]) if accounts else {}

    async def wallet_balance(self, account_type: str = "UNIFIED") -> WalletSnapshot:
        raw = await self.wallet_balance_raw(account_type)
        return self._parse(parse_wallet, raw, "/v5/account/wallet-balance")

    async def positions(
        self, category: str, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[PositionSnapshot]:
        """Every position of the category, every page. Bybit lists linear positions one settle coin at a time:
        without a symbol or a coin, USDT's then USDC's (a position left out would read as flat)."""
        if category == "linear" and not symbol and not settle_coin:
            return [p for coin in LINEAR_SETTLE_COINS for p in await self.positions(category, settle_coin=coin)]
        params: dict[str, object] = {"category": category, "limit": 200}
        if symbol:
            params["symbol"] = symbol
        elif category in ("linear", "inverse") and settle_coin:
            params["settleCoin"] = settle_coin if category == "linear" else None
        positions: list[PositionSnapshot] = []
        async for page in self._pages("/v5/position/list", params):
            positions.extend(self._parse_page(parse_position, page, "/v5/position/list"))
        return positions

    async def position_records(self, category: str, settle_coin: str | None = None) -> list[dict[str, Any]]:
        """Every open position of the category as Bybit sends it, every page (linear: of one ``settle_coin``);
        for readers that need more of a record than :meth:`positions` keeps."""
        params: dict[str, object] = {"category": category, "limit": 200}
        if settle_coin:
            params["settleCoin"] = settle_coin
        return [record async for page in self._pages("/v5/position/list", params) for record in page]

    async def open_orders(
        self, category: str, symbol: str | None = None, settle_coin: str | None = None
    ) -> list[OpenOrder]:
        """Open (New, PartiallyFilled, Untriggered) orders, every page; linear ones per settle coin, as for
        :meth:`positions` (an order left out would read as closed)."""
        if category == "linear" and not symbol and not settle_coin:
            return [o for coin in LINEAR_SETTLE_COINS for o in await self.open_orders(category, settle_coin=coin)]
        params: dict[str, object] = {"category": category, "openOnly": 0, "limit": 50}
        if symbol:
            params["symbol"] = symbol
        elif category == "linear" and settle_coin:
            params["settleCoin"] = settle_coin
        orders: list[OpenOrder] = []
        async for page in self._pages("/v5/order/realtime", params):
            orders.extend(self._parse_page(parse_order, page, "/v5/order/realtime"))
        return orders

    async def order_by_link_id(self, category: str, symbol: str, order_link_id: str) -> OpenOrder | None:
        """The order with this client id among open and recently closed orders, or None."""
        return await self._realtime_order(category, symbol, {"orderLinkId": order_link_id})

    async def order(
        self, category: str, symbol: str, *, order_id: str | None = None, order_link_id: str | None = None
    ) -> OpenOrder | None:
        """One order by id: open or recent orders first, then the order history; None when unknown."""
        if not order_id and not order_link_id:
            raise ValueError("order() needs an order_id or an order_link_id")
        ids: dict[str, object] = {"orderId": order_id, "orderLinkId": order_link_id}
        found = await self._realtime_order(category, symbol, ids)
        if found is not None:
            return found
        try:
            result = await self.get("/v5/order/history", {"category": category, "symbol": symbol, **ids}, signed=True)
        except BybitError as error:
            if error.http_status == 404 or error.ret_code == ROUTE_NOT_FOUND_CODE:  # a host without order history
                return None
            raise
        for record in self._records(result, "/v5/order/history"):
            order = self._parse(parse_order, record, "/v5/order/history")
            if (order_id and order.order_id == order_id) or (order_link_id and order.order_link_id == order_link_id):
                return order
        return None

    async def _realtime_order(self, category: str, symbol: str, ids: Mapping[str, object]) -> OpenOrder | None:
        result = await self.get("/v5/order/realtime", {"category": category, "symbol": symbol, **ids}, signed=True)
        for record in self._records(result, "/v5/order/realtime"):
            order = self._parse(parse_order, record, "/v5/order/realtime")
            if all(value is None or getattr(order, _ORDER_FIELDS[key]) == value for key, value in ids.items()):
                return order
        return None

    async def executions(
        self,
        category: str,
        *,
        start_time_ms: int | None = None,
        symbol: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The account's executions as Bybit's raw records: all pages, unique by ``execId``, oldest first.

        Bybit answers at most seven days per query, so a start further back is read window by window.
        """
        windows: list[tuple[int | None, int | None]] = [(start_time_ms, None)]
        if start_time_ms is not None:
            await self.transport.ensure_clock()
            windows = list(_execution_windows(start_time_ms, self.transport.server_now_ms()))
        listed: list[dict[str, Any]] = []
        for begin, end in windows:
            params: dict[str, object] = {
                "category": category,
                "symbol": symbol,
                "startTime": begin,
                "endTime": end,
                "limit": max(1, min(limit, 100)),
            }
            async for page in self._pages("/v5/execution/list", params):
                listed.extend(page)
        return _oldest_first_unique(listed)

    async def query_api(self) -> dict[str, Any]:
        """What Bybit knows about the key in use (permissions, read-only, expiry)."""
        return dict(await self.get("/v5/user/query-api", {}, signed=True))

    # ---------------------------------------------------------------------------------------- orders

    async def place_order(
        self,
        category: str,
        symbol: str,
        side: str,
        order_type: str,
        qty: Decimal,
        price: Decimal | None = None,
        time_in_force: str | None = None,
        order_link_id: str | None = None,
        reduce_only: bool = False,
    ) -> OrderAck:
        """Submit an order once; an ambiguous outcome is resolved by its ``orderLinkId``, never resent."""
        link_id = order_link_id or new_order_link_id(self.transport.rng)
        if len(link_id) > ORDER_LINK_ID_MAX:
            raise ValueError(f"orderLinkId is longer than {ORDER_LINK_ID_MAX} characters")
        params: dict[str, object] = {
            "category": category,
            "symbol": symbol,
            "side": side,
            "orderType": order_type,
            "qty": qty,
            "price": price,
            "timeInForce": time_in_force,
            "orderLinkId": link_id,
        }
        if reduce_only:
            params["reduceOnly"] = True
        try:
            return self._ack(await self.post("/v5/order/create", params), link_id, "/v5/order/create")
        except (ServerUnavailable, BadResponse) as error:
            if not _maybe_placed(error):
                raise
            log.warning("order %s: outcome unknown (%s); looking it up", link_id, error.ret_msg)
            return await self._resolve(category, symbol, link_id, error.ret_msg)

    async def _resolve(self, category: str, symbol: str, link_id: str, reason: str) -> OrderAck:
        for attempt in range(1, self._resolve_tries + 1):
            try:
                order = await self.order_by_link_id(category, symbol, link_id)
            except (ServerUnavailable, RateLimited, TimestampRejected) as error:
                log.info("order %s lookup %d failed: %s", link_id, attempt, error)
                order = None
            if order is not None:
                self.stats.resolved_orders += 1
                log.info("order %s found after a lost reply: %s %s", link_id, order.order_id, order.status)
                return OrderAck(order.order_id, order.order_link_id or link_id, resolved=True, status=order.status)
            if attempt < self._resolve_tries:
                await self.transport.pause(attempt, "/v5/order/realtime", f"order {link_id} not found yet")
        raise OrderOutcomeUnknown(link_id, f"{reason}; no order with this orderLinkId was found afterwards")

    async def cancel_order(
        self, category: str, symbol: str, order_id: str | None = None, order_link_id: str | None = None
    ) -> OrderAck:
        """Ask Bybit to cancel one order (an acknowledgement: the ``order`` stream confirms it)."""
        if not order_id and not order_link_id:
            raise ValueError("cancel_order() needs an order_id or an order_link_id")
        params = {"category": category, "symbol": symbol, "orderId": order_id, "orderLinkId": order_link_id}
        result = await self.post("/v5/order/cancel", params)
        return self._ack(result, order_link_id or "", "/v5/order/cancel")

    async def amend_order(
        self,
        category: str,
        symbol: str,
        order_id: str,
        *,
        qty: Decimal | None = None,
        price: Decimal | None = None,
    ) -> OrderAck:
        """Change a resting order's price or quantity (what is None is not sent, so it stays). Sent once: a lost
        reply raises, and the ``order`` stream says what became of it."""
        if qty is None and price is None:
            raise ValueError("amend_order() needs a qty or a price")
        params = {"category": category, "symbol": symbol, "orderId": order_id, "qty": qty, "price": price}
        return self._ack(await self.post("/v5/order/amend", params), "", "/v5/order/amend")

    async def cancel_all_orders(self, category: str, symbol: str) -> list[str]:
        """Cancel every open order of ``symbol``; the ids Bybit says it cancelled (the ``order`` stream confirms)."""
        result = await self.post("/v5/order/cancel-all", {"category": category, "symbol": symbol})
        return [str(record.get("orderId", "")) for record in self._records(result, "/v5/order/cancel-all")]

    @staticmethod
    def _ack(result: object, link_id: str, path: str) -> OrderAck:
        if not isinstance(result, dict) or not result.get("orderId"):
            raise BadResponse(None, "the acknowledgement has no orderId", path=path)
        return OrderAck(str(result["orderId"]), str(result.get("orderLinkId") or link_id))

    def _records(self, result: Mapping[str, Any], path: str, *, required: bool = False) -> list[dict[str, Any]]:
        """The objects of a listing's ``list``: an absent list is empty (a bad reply when ``required``), one that is
        not a list is a bad reply, and each record that is not an object is left out, counted and kept."""
        listed = result.get("list")
        if listed is None and not required:
            return []
        if not isinstance(listed, list):
            raise BadResponse(None, "result has no 'list' list", path=path)
        records = [record for record in listed if isinstance(record, dict)]
        for _ in range(len(listed) - len(records)):
            self._reject(RejectedRecord(path, "", "record is not an object"))
        return records

    def _parse_page(self, parser: Callable[[Any], Any], page: list[Any], path: str) -> list[Any]:
        """The records of one listing page that parse; each other one is counted and kept in
        :attr:`rejected_records` (one absurd number must not fail every backfill, and so every reconnect)."""
        parsed = []
        for record in page:
            try:
                parsed.append(parser(record))
            except ProtocolError as error:
                symbol = record.get("symbol") if isinstance(record, dict) else None
                self._reject(RejectedRecord(path, symbol[:40] if isinstance(symbol, str) else "", str(error)))
        return parsed

    def _reject(self, rejected: RejectedRecord) -> None:
        self.stats.rejected_records += 1
        self.rejected_records.append(rejected)
        log.warning("%s: a record of %r left out: %s", rejected.path, rejected.symbol, rejected.why)

    @staticmethod
    def _parse(parser: Callable[[Any], T], record: Any, path: str) -> T:
        try:
            return parser(record)
        except ProtocolError as error:
            raise UnreadableRecord(None, str(error), path=path) from None


_ORDER_FIELDS = {"orderId": "order_id", "orderLinkId": "order_link_id"}


def _maybe_placed(error: ServerUnavailable | BadResponse) -> bool:
    """Whether an order/create that ended in ``error`` may have been processed: an outage after the request may
    have arrived, or a success reply (2xx, or ``retCode`` 0 without an ``orderId``) that cannot be read. A 3xx or
    4xx page comes from something in front of Bybit: the order never reached it."""
    if isinstance(error, ServerUnavailable):
        return error.maybe_sent
    return error.http_status is None or 200 <= error.http_status < 300


def _execution_windows(start_ms: int, now_ms: int) -> list[tuple[int, int | None]]:
    """Seven-day windows from ``start_ms`` (or from two years before ``now_ms``, as far back as Bybit keeps
    executions) to now; the newest is open-ended, as Bybit ends it seven days on, after now."""
    first = max(start_ms, now_ms - EXECUTION_HISTORY_MS)
    windows: list[tuple[int, int | None]] = []
    while now_ms - first > EXECUTION_WINDOW_MS:
        windows.append((first, first + EXECUTION_WINDOW_MS - 1))
        first += EXECUTION_WINDOW_MS
    windows.append((first, None))
    return windows


def _cursor(result: Mapping[str, Any]) -> str:
    """The next page's cursor; anything but a string ends the listing."""
    cursor = result.get("nextPageCursor")
    return cursor if isinstance(cursor, str) else ""


def _oldest_first_unique(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bybit lists newest first; keep the first copy of each ``execId`` and return them oldest first."""
    unique: dict[str, dict[str, Any]] = {}
    for record in records:
        exec_id = record.get("execId")
        if exec_id is None or str(exec_id) in unique:
            continue
        unique[str(exec_id)] = record
    ordered = list(reversed(list(unique.values())))
    # A stable sort: fills of the same millisecond keep Bybit's order.
    ordered.sort(key=lambda record: whole_or_none(record.get("execTime")) or 0)
    return ordered
