"""Every position of the account, of every category, read from Bybit: the positions overview's source.

The session keeps the positions of its own category; the overview shows the whole account, so it reads
``/v5/position/list`` once per linear settle coin (Bybit lists linear positions one coin at a time) and once for
inverse, and the wallet for the margin rates and the coins held. A record that cannot be read is left out and
counted, never taken for flat nor for a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from exchange.bybit.executions import settle_coin_of
from exchange.bybit.protocol import ProtocolError, optional_decimal, parse_position
from exchange.ledger import ContractKind
from exchange.positions_overview import DOLLAR_COINS, AccountMargins, AccountPosition, AccountView, CoinMargin

__all__ = ["AccountReader", "RestAccountReader", "parse_account_margins", "parse_account_position"]

log = logging.getLogger(__name__)

ZERO = Decimal(0)
WALLET_COINS_READ = 64
"""Coins of the wallet taken at most (Bybit lists a few dozen at most)."""
POSITIONS_READ = 1000
"""Open positions taken at most from one listing; more are counted as left out (bounded memory on any host)."""


class PositionLister(Protocol):
    """The REST reads the overview needs (:class:`~exchange.bybit.rest.RestClient`)."""

    async def position_records(self, category: str, settle_coin: str | None = None) -> list[dict[str, Any]]: ...

    async def wallet_balance_raw(self, account_type: str = "UNIFIED") -> dict[str, Any]: ...

    def server_now_ms(self) -> int: ...


class AccountReader(Protocol):
    """Reads the whole account (a REST client on a live desk; a fixed view on a scripted one)."""

    async def read(self) -> AccountView: ...


def parse_account_position(record: Mapping[str, Any], category: str, settle_coin: str = "") -> AccountPosition:
    """A ``/v5/position/list`` record of ``category``; ``settle_coin`` is the coin the listing asked for (linear),
    else the symbol's own (inverse: its base coin). Raises :class:`ProtocolError` for a record Bybit would not
    send."""
    snapshot = parse_position(record)
    contract = ContractKind.INVERSE if category == "inverse" else ContractKind.LINEAR
    coin = settle_coin or settle_coin_of(snapshot.symbol, contract)
    if not coin:
        raise ProtocolError(f"no settle coin for {snapshot.symbol[:40]!r}")
    return AccountPosition(
        category=category,
        symbol=snapshot.symbol,
        settle_coin=coin,
        size=snapshot.size,
        value=optional_decimal(record, "positionValue") or ZERO,
        avg_price=snapshot.avg_price,
        mark_price=snapshot.mark_price,
        liq_price=snapshot.liq_price,
        unrealised=snapshot.unrealised_pnl or ZERO,
        realised=optional_decimal(record, "curRealisedPnl") or ZERO,
        position_im=snapshot.position_im or ZERO,
        position_mm=optional_decimal(record, "positionMM") or ZERO,
        leverage=snapshot.leverage,
        updated_ms=snapshot.updated_ms,
    )


def parse_account_margins(record: Mapping[str, Any]) -> AccountMargins:
    """The UNIFIED wallet record of ``/v5/account/wallet-balance``: the account's rates and each coin's row
    (a coin row that cannot be read is left out)."""
    coins: dict[str, CoinMargin] = {}
    rows = record.get("coin")
    for row in (rows if isinstance(rows, list) else [])[:WALLET_COINS_READ]:
        try:
            margin = _coin_margin(row)
        except ProtocolError as error:
            log.warning("a wallet coin row left out: %s", error)
            continue
        coins[margin.coin] = margin
    return AccountMargins(
        im_rate=optional_decimal(record, "accountIMRate"),
        mm_rate=optional_decimal(record, "accountMMRate"),
        coins=coins,
    )


def _coin_margin(row: object) -> CoinMargin:
    if not isinstance(row, dict):
        raise ProtocolError("a coin row is not an object")
    coin = row.get("coin")
    if not isinstance(coin, str) or not coin.isalnum() or len(coin) > 20:
        raise ProtocolError("a coin row has no coin name")
    return CoinMargin(
        coin=coin,
        equity=optional_decimal(row, "equity") or ZERO,
        wallet_balance=optional_decimal(row, "walletBalance") or ZERO,
        position_im=optional_decimal(row, "totalPositionIM") or ZERO,
        order_im=optional_decimal(row, "totalOrderIM") or ZERO,
        position_mm=optional_decimal(row, "totalPositionMM") or ZERO,
        usd_value=optional_decimal(row, "usdValue"),
    )


class RestAccountReader:
    """The whole account over REST: linear per settle coin, inverse, the wallet."""

    def __init__(self, rest: PositionLister) -> None:
        self.rest = rest

    async def read(self) -> AccountView:
        positions: list[AccountPosition] = []
        rejected = 0
        listings = [("linear", coin) for coin in DOLLAR_COINS] + [("inverse", "")]
        for category, coin in listings:
            records = await self.rest.position_records(category, coin or None)
            rejected += max(0, len(records) - POSITIONS_READ)
            for record in records[:POSITIONS_READ]:
                try:
                    position = parse_account_position(record, category, coin)
                except ProtocolError as error:
                    rejected += 1
                    log.warning("a %s position record left out: %s", category, error)
                    continue
                if position.size != 0:
                    positions.append(position)
        wallet = await self.rest.wallet_balance_raw()
        try:
            margins = parse_account_margins(wallet)
        except ProtocolError as error:
            rejected += 1
            log.warning("the wallet record left out: %s", error)
            margins = AccountMargins(None, None)
        return AccountView(tuple(positions), margins, self.rest.server_now_ms(), rejected)
