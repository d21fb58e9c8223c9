"""Bybit v5 WebSocket protocol: topic names, control frames, and parsers for what the desk shows.

Parsers are strict about what they use and lenient about what they ignore (Bybit adds fields over time): a
missing or mistyped field raises :class:`ProtocolError` with one sentence, which the session counts as a
rejected frame. Numbers stay exact (``Decimal`` from Bybit's strings).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from enum import Enum
from typing import Any

from exchange.events import CoinBalance, OpenOrder, PositionSnapshot, PublicTrade, WalletSnapshot
from exchange.numbers import NumberError, read_decimal, read_epoch_ms, read_whole

__all__ = [
    "FrameKind",
    "ProtocolError",
    "MAX_NAME_CHARS",
    "TICKER_FIELDS",
    "TickerCache",
    "book_topic",
    "classify",
    "optional_decimal",
    "parse_order",
    "parse_position",
    "parse_trades",
    "parse_wallet",
    "subscribe_batches",
    "ticker_topic",
    "trade_topic",
    "PRIVATE_TOPICS",
]

PRIVATE_TOPICS = ("order", "execution", "position", "wallet")
SPOT_ARGS_PER_REQUEST = 10
ARGS_PER_REQUEST = 100  # futures have no per-request limit, but a connection's args text must stay < 21,000 chars
MAX_ARGS_CHARS = 21_000  # Bybit: the args of one public connection total at most 21,000 characters


class ProtocolError(ValueError):
    """A frame that does not say what Bybit's protocol says it must."""


class FrameKind(Enum):
    DATA = "data"  # has a topic
    PONG = "pong"
    SUBSCRIBE = "subscribe"  # subscribe / unsubscribe acknowledgement (success or failure)
    AUTH = "auth"
    OTHER = "other"


def book_topic(depth: int, symbol: str) -> str:
    return f"orderbook.{depth}.{symbol}"


def trade_topic(symbol: str) -> str:
    return f"publicTrade.{symbol}"


def ticker_topic(symbol: str) -> str:
    return f"tickers.{symbol}"


def classify(frame: Mapping[str, Any]) -> FrameKind:
    """What kind of frame this is; pongs come as ``ret_msg == "pong"`` (public) or ``op == "pong"`` (private)."""
    if "topic" in frame:
        return FrameKind.DATA
    op = frame.get("op")
    if op == "pong" or frame.get("ret_msg") == "pong":
        return FrameKind.PONG
    if op in ("subscribe", "unsubscribe") or frame.get("type") == "COMMAND_RESP":
        return FrameKind.SUBSCRIBE
    if op == "auth":
        return FrameKind.AUTH
    return FrameKind.OTHER


def desk_topics(depth: int, symbols: Iterable[str]) -> list[str]:
    """The public topics a desk subscribes for its symbols: book, trades and ticker of each."""
    return [topic for s in symbols for topic in (book_topic(depth, s), trade_topic(s), ticker_topic(s))]


def args_chars(topics: Iterable[str]) -> int:
    """The length of a connection's subscription args as Bybit counts it against :data:`MAX_ARGS_CHARS`."""
    return sum(len(topic) for topic in topics)


def subscribe_batches(category: str, topics: Iterable[str]) -> Iterator[list[str]]:
    """Topics split into requests Bybit accepts (spot: at most 10 args per request)."""
    size = SPOT_ARGS_PER_REQUEST if category == "spot" else ARGS_PER_REQUEST
    batch: list[str] = []
    for topic in topics:
        batch.append(topic)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# ---------------------------------------------------------------------------------------------- fields


def _field(record: Mapping[str, Any], name: str) -> Any:
    try:
        return record[name]
    except KeyError:
        raise ProtocolError(f"missing field {name!r}") from None
    except TypeError:
        raise ProtocolError("record is not an object") from None


def _decimal(record: Mapping[str, Any], name: str) -> Decimal:
    """A decimal string in the desk's range (:mod:`exchange.numbers`)."""
    value = _field(record, name)
    if not isinstance(value, str):
        raise ProtocolError(f"{name} must be a decimal string, not {type(value).__name__}")
    try:
        return read_decimal(value, name)
    except NumberError as error:
        raise ProtocolError(str(error)) from None


def optional_decimal(record: Mapping[str, Any], name: str) -> Decimal | None:
    """Bybit writes ``""`` for "not applicable"; absent is unknown too."""
    value = record.get(name)
    if value is None or value == "":
        return None
    return _decimal(record, name)


def _string(record: Mapping[str, Any], name: str) -> str:
    value = _field(record, name)
    if not isinstance(value, str):
        raise ProtocolError(f"{name} must be a string")
    return value


MAX_NAME_CHARS = 64
"""The longest symbol or id taken: Bybit's symbols are under 30 characters and its ids UUIDs (36); a longer one is
rejected, so names a host invents cannot make keys of any size."""


def _name(record: Mapping[str, Any], name: str) -> str:
    """A symbol or an id: a non-empty string of at most :data:`MAX_NAME_CHARS` characters."""
    value = _string(record, name)
    if not 0 < len(value) <= MAX_NAME_CHARS:
        raise ProtocolError(f"{name} must be 1 to {MAX_NAME_CHARS} characters, not {len(value)}")
    return value


def _id_text(record: Mapping[str, Any], name: str) -> str:
    """An id Bybit writes as a string or a number, as text of at most :data:`MAX_NAME_CHARS` characters."""
    value = _field(record, name)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ProtocolError(f"{name} must be a string or a number")
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_NAME_CHARS:
        raise ProtocolError(f"{name} must be at most {MAX_NAME_CHARS} characters, not {len(text)}")
    return text


def _millis(record: Mapping[str, Any], name: str) -> int:
    try:
        return read_epoch_ms(_field(record, name), name)
    except NumberError as error:
        raise ProtocolError(str(error)) from None


SEQ_LIMIT = 1 << 63
"""Bybit's cross sequence fits a signed 64-bit integer."""


def cross_seq(record: Mapping[str, Any]) -> int | None:
    """Bybit's cross sequence ``seq`` of an execution or position: it orders the fills of a symbol against its
    position updates (a position holds every fill whose ``seq`` is not above its own). None when absent, not a
    whole number in range, or -1 (a position never traded): the caller falls back to times."""
    value = record.get("seq")
    if isinstance(value, str):
        value = value.strip()
    try:
        return read_whole(value, "seq", SEQ_LIMIT)
    except NumberError:
        return None


def _records(frame: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    data = _field(frame, "data")
    if not isinstance(data, list):
        raise ProtocolError("data must be a list")
    return data


# ---------------------------------------------------------------------------------------------- public


def parse_trades(frame: Mapping[str, Any]) -> tuple[PublicTrade, ...]:
    """The trades of one ``publicTrade.{symbol}`` frame (an array, oldest first)."""
    trades = []
    for item in _records(frame):
        side = _string(item, "S")
        if side not in ("Buy", "Sell"):
            raise ProtocolError(f"S must be Buy or Sell, not {side[:10]!r}")
        trades.append(
            PublicTrade(
                symbol=_name(item, "s"),
                time_ms=_millis(item, "T"),
                side=side,
                price=_decimal(item, "p"),
                qty=_decimal(item, "v"),
                trade_id=_id_text(item, "i"),
                block=bool(item.get("BT", False)),
            )
        )
    return tuple(trades)


def _names(*groups: str) -> frozenset[str]:
    return frozenset(name for group in groups for name in group.split())


_DERIVATIVE_TICKER_FIELDS = _names(
    "symbol tickDirection price24hPcnt lastPrice prevPrice24h highPrice24h lowPrice24h prevPrice1h markPrice",
    "indexPrice openInterest openInterestValue singleOpenInterest singleOpenInterestValue turnover24h volume24h",
    "nextFundingTime fundingRate bid1Price bid1Size ask1Price ask1Size fundingIntervalHour fundingCap",
    "deliveryTime basisRate deliveryFeeRate predictedDeliveryPrice basis basisRateYear",  # dated futures
    "preOpenPrice preQty curPreListingPhase",  # pre-market
)
_SPOT_TICKER_FIELDS = _names(
    "symbol lastPrice highPrice24h lowPrice24h prevPrice24h volume24h turnover24h price24hPcnt usdIndexPrice"
)
_OPTION_TICKER_FIELDS = _names(
    "symbol bidPrice bidSize bidIv askPrice askSize askIv lastPrice highPrice24h lowPrice24h markPrice indexPrice",
    "markPriceIv underlyingPrice openInterest turnover24h volume24h totalVolume totalTurnover delta gamma vega theta",
    "predictedDeliveryPrice change24h",
)
TICKER_FIELDS: dict[str, frozenset[str]] = {
    "linear": _DERIVATIVE_TICKER_FIELDS,
    "inverse": _DERIVATIVE_TICKER_FIELDS,
    "spot": _SPOT_TICKER_FIELDS,
    "option": _OPTION_TICKER_FIELDS,
}
"""The fields Bybit's ``tickers.{symbol}`` pushes carry per category (Bybit's v5 docs, "Ticker"): the only ones kept."""
MAX_TICKER_VALUE_CHARS = 40  # Bybit's longest ticker value is a date ("2025-12-26T08:00:00Z")


class TickerCache:
    """Merged tickers: linear/inverse send a snapshot then deltas with only the changed fields.

    Only Bybit's own ticker fields of the category (:data:`TICKER_FIELDS`) with string values of at most
    :data:`MAX_TICKER_VALUE_CHARS` are kept, so a ticker holds a fixed set of short strings however many names a
    server invents; anything else is skipped and counted in ``ignored_fields``.
    """

    def __init__(self, category: str | None = None) -> None:
        """``category`` picks the field set; None keeps the fields of every category."""
        self._tickers: dict[str, dict[str, str]] = {}
        self._before: dict[str, dict[str, str]] = {}  # the last word of each ticker before a disconnect
        self.category = category
        self.known_fields = TICKER_FIELDS.get(category or "", frozenset().union(*TICKER_FIELDS.values()))
        self.ignored_fields = 0

    def apply(self, frame: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
        """Merge one ``tickers.{symbol}`` frame; returns the symbol and a copy of its merged fields."""
        data = _field(frame, "data")
        if not isinstance(data, dict):
            raise ProtocolError("ticker data must be an object")
        symbol = _name(data, "symbol")
        topic = frame.get("topic")
        if isinstance(topic, str) and topic.startswith("tickers.") and topic[len("tickers.") :] != symbol:
            raise ProtocolError(f"ticker for {symbol[:20]!r} on topic {topic[:40]!r}")
        known = self.known_fields
        fields = {
            key: value
            for key, value in data.items()
            if key in known and value.__class__ is str and len(value) <= MAX_TICKER_VALUE_CHARS
        }
        self.ignored_fields += len(data) - len(fields)
        if frame.get("type") == "delta" and symbol in self._tickers:
            self._tickers[symbol].update(fields)
        else:
            self._tickers[symbol] = fields
        return symbol, dict(self._tickers[symbol])

    def get(self, symbol: str) -> dict[str, str] | None:
        return self._tickers.get(symbol)

    def last_known(self, symbol: str) -> dict[str, str]:
        """The symbol's fields now, else the last heard before a disconnect (for display as not live), else none."""
        return self._tickers.get(symbol) or self._before.get(symbol) or {}

    def clear(self) -> None:
        """Forget everything (after a disconnect: a delta must not merge into a pre-disconnect snapshot); the last
        fields stay readable through :meth:`last_known` only."""
        self._before.update(self._tickers)
        self._tickers.clear()

    def drop(self, symbol: str) -> None:
        """Forget one symbol entirely (it is no longer watched)."""
        self._tickers.pop(symbol, None)
        self._before.pop(symbol, None)


# ---------------------------------------------------------------------------------------------- private


def parse_order(record: Mapping[str, Any]) -> OpenOrder:
    """An order record from the ``order`` topic or ``/v5/order/realtime``."""
    return OpenOrder(
        order_id=_name(record, "orderId"),
        order_link_id=_id_text(record, "orderLinkId") if record.get("orderLinkId") else "",
        symbol=_name(record, "symbol"),
        side=_name(record, "side"),
        order_type=_name(record, "orderType"),
        price=optional_decimal(record, "price"),
        qty=_decimal(record, "qty"),
        cum_exec_qty=optional_decimal(record, "cumExecQty") or Decimal(0),
        leaves_qty=optional_decimal(record, "leavesQty") or Decimal(0),
        status=_name(record, "orderStatus"),
        time_in_force=_name(record, "timeInForce") if record.get("timeInForce") else "",
        updated_ms=_millis(record, "updatedTime") if record.get("updatedTime") else 0,
        reject_reason=_reason(record.get("rejectReason")),
    )


def _reason(value: object) -> str:
    """Bybit's ``rejectReason``, or empty when absent or not text: a reason is told, never worth the record."""
    return value[:MAX_NAME_CHARS] if isinstance(value, str) else ""


def parse_position(record: Mapping[str, Any]) -> PositionSnapshot:
    """A position from the ``position`` topic (``entryPrice``) or ``/v5/position/list`` (``avgPrice``)."""
    size = _decimal(record, "size")
    side = record.get("side", "")
    if side == "Sell":
        size = -size
    elif side not in ("Buy", "", "None"):
        raise ProtocolError(f"position side must be Buy, Sell or empty, not {str(side)[:10]!r}")
    avg = optional_decimal(record, "avgPrice") if "avgPrice" in record else optional_decimal(record, "entryPrice")
    liq = optional_decimal(record, "liqPrice")
    return PositionSnapshot(
        symbol=_name(record, "symbol"),
        size=size,
        avg_price=avg or Decimal(0),
        mark_price=optional_decimal(record, "markPrice"),
        liq_price=liq if liq else None,  # Bybit writes "0" or "" when there is none
        unrealised_pnl=optional_decimal(record, "unrealisedPnl"),
        cum_realised_pnl=optional_decimal(record, "cumRealisedPnl"),
        leverage=optional_decimal(record, "leverage"),
        position_im=optional_decimal(record, "positionIM"),
        updated_ms=_millis(record, "updatedTime") if record.get("updatedTime") else 0,
        seq=cross_seq(record),
    )


def parse_wallet(record: Mapping[str, Any]) -> WalletSnapshot:
    """A UNIFIED account from the ``wallet`` topic or ``/v5/account/wallet-balance``."""
    coins = []
    for coin in record.get("coin") or []:
        coins.append(
            CoinBalance(
                coin=_string(coin, "coin"),
                equity=optional_decimal(coin, "equity") or Decimal(0),
                wallet_balance=optional_decimal(coin, "walletBalance") or Decimal(0),
                unrealised_pnl=optional_decimal(coin, "unrealisedPnl") or Decimal(0),
                usd_value=optional_decimal(coin, "usdValue"),
            )
        )
    return WalletSnapshot(
        total_equity=optional_decimal(record, "totalEquity") or Decimal(0),
        total_available=optional_decimal(record, "totalAvailableBalance") or Decimal(0),
        total_wallet_balance=optional_decimal(record, "totalWalletBalance") or Decimal(0),
        coins=tuple(coins),
    )
