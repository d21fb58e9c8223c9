"""Bybit records and views a test builds by hand: an execution as Bybit sends it, a position view, an order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from exchange.events import OpenOrder, PositionSnapshot


def execution(
    exec_id: str, side: str, qty: str, price: str, time_ms: int, symbol: str = "BTCUSDT", seq: int | None = None
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "execId": exec_id,
        "symbol": symbol,
        "category": "linear",
        "side": side,
        "execQty": qty,
        "execPrice": price,
        "execFee": "0",
        "execType": "Trade",
        "execTime": str(time_ms),
        "orderId": "o",
        "orderLinkId": "",
        "feeCurrency": "USDT",
        "isMaker": False,
    }
    if seq is not None:
        record["seq"] = seq
    return record


def position(symbol: str, size: str, avg: str, updated_ms: int = 1, seq: int | None = None) -> PositionSnapshot:
    value = Decimal(size)
    return PositionSnapshot(
        symbol, value, Decimal(avg), None, Decimal("1"), None, None, Decimal(10), None, updated_ms, seq
    )


def order(order_id: str, status: str, updated_ms: int) -> OpenOrder:
    return OpenOrder(
        order_id,
        "",
        "BTCUSDT",
        "Buy",
        "Limit",
        Decimal("100"),
        Decimal("1"),
        Decimal(0),
        Decimal("1") if status == "New" else Decimal(0),
        status,
        "GTC",
        updated_ms,
    )
