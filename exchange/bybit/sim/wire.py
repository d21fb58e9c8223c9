"""Bybit's wire shapes for what the local exchange holds: numbers as text, records as Bybit's dicts, tickers.

One module owns the text the clients see, so a change of shape (a key, its order, a number's places) is made
in one place and checked by the tests that compare against the real fixtures. Inputs are the plain records
of :mod:`exchange.bybit.sim.records` and the market's books; nothing here changes state.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from exchange.bybit.sim.instruments import Instrument, places_of
from exchange.bybit.sim.market import SymbolBook, format_units, trim
from exchange.bybit.sim.records import (
    INVERSE_RISK_LIMIT_VALUE,
    MAINTENANCE_MARGIN_RATE,
    RISK_LIMIT_VALUE,
    SETTLE_COIN,
    TAKER_FEE_RATE,
    ZERO,
    CoinFigures,
    Execution,
    Order,
    Position,
    WalletFigures,
    contract_value,
    money,
)

# --------------------------------------------------------------------------------------------------- numbers


def plain(value: Decimal) -> str:
    """A decimal as Bybit writes free-precision numbers: no exponent, no trailing zeros, ``"0"`` for zero."""
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def fixed(value: Decimal, places: int) -> str:
    """A decimal at a fixed number of places (prices at the tick, quantities at the step)."""
    return format(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP), "f")


def money_str(value: Decimal) -> str:
    """An amount of coin as the wallet keeps it (8 places), written plain."""
    return plain(money(value))


def value_str(category: str, value: Decimal) -> str:
    """A traded value: exact for linear and spot (price x qty), at the wallet's 8 places for inverse, whose
    ``qty / price`` rarely ends."""
    return money_str(value) if category == "inverse" else plain(value)


def price_str(instrument: Instrument, price: Decimal) -> str:
    """A price at the instrument's price scale."""
    return fixed(price, instrument.price_scale)


def qty_str(instrument: Instrument, qty: Decimal) -> str:
    """A quantity at the instrument's step."""
    return fixed(qty, places_of(instrument.qty_step))


# --------------------------------------------------------------------------------------------------- records


def execution_record(execution: Execution) -> dict[str, Any]:
    """An execution as ``execution/list`` and the ``execution`` topic show it (a corruption fault included)."""
    return {**_execution_fields(execution), **dict(execution.corrupt)}


def _execution_fields(execution: Execution) -> dict[str, Any]:
    """The execution's own fields, in Bybit's key order."""
    inst = execution.instrument
    return {
        "category": execution.category,
        "symbol": execution.symbol,
        "closedSize": qty_str(inst, execution.closed_size),
        "execFee": plain(execution.exec_fee),
        "execId": execution.exec_id,
        "execPrice": price_str(inst, execution.exec_price),
        "execQty": qty_str(inst, execution.exec_qty),
        "execType": execution.exec_type,
        "execValue": value_str(execution.category, execution.exec_value),
        "feeRate": plain(execution.fee_rate),
        "tradeIv": "",
        "markIv": "",
        "blockTradeId": "",
        "markPrice": price_str(inst, execution.mark_price),
        "indexPrice": price_str(inst, execution.index_price),
        "underlyingPrice": "",
        "leavesQty": execution.leaves_qty,
        "orderId": execution.order_id,
        "orderLinkId": execution.order_link_id,
        "orderPrice": execution.order_price,
        "orderQty": execution.order_qty,
        "orderType": execution.order_type,
        "stopOrderType": "UNKNOWN",
        "side": execution.side,
        "execTime": str(execution.exec_time_ms),
        "isLeverage": "0",
        "isMaker": execution.is_maker,
        "seq": execution.seq,
        "marketUnit": "",
        "execPnl": plain(execution.exec_pnl),
        "createType": execution.create_type,
        "extraFees": "",
        "feeCurrency": _fee_currency(execution.category, inst),
    }


def _fee_currency(category: str, inst: Instrument) -> str:
    """The coin a contract's fees are paid in (its settle coin); spot leaves it to the order record."""
    return inst.settle_coin if category in ("linear", "inverse") else ""


def fast_execution_record(record: dict[str, Any]) -> dict[str, Any]:
    """The ``execution.fast`` record of a pushed execution: no fees; a maker's ``orderLinkId`` is empty there.

    Made from the pushed record, not the execution, so a corruption fault shows on both streams alike.
    """
    return {
        "category": record["category"],
        "symbol": record["symbol"],
        "execId": record["execId"],
        "execPrice": record["execPrice"],
        "execQty": record["execQty"],
        "orderId": record["orderId"],
        "isMaker": record["isMaker"],
        "orderLinkId": "" if record["isMaker"] else record["orderLinkId"],
        "side": record["side"],
        "execTime": record["execTime"],
        "seq": record["seq"],
    }


_ORDER_UNSET_FIELDS: dict[str, Any] = {
    "stopOrderType": "UNKNOWN",
    "ocoTriggerBy": "UNKNOWN",
    "orderIv": "",
    "marketUnit": "",
    "slippageToleranceType": "UNKNOWN",
    "slippageTolerance": "0",
    "triggerPrice": "0.00",
    "takeProfit": "0.00",
    "stopLoss": "0.00",
    "tpslMode": "UNKNOWN",
    "tpLimitPrice": "0",
    "slLimitPrice": "0",
    "tpTriggerBy": "UNKNOWN",
    "slTriggerBy": "UNKNOWN",
    "triggerDirection": 0,
    "triggerBy": "UNKNOWN",
}
"""The order fields the demo account never sets (conditional, TP/SL, options), in Bybit's key order."""


def order_record(order: Order) -> dict[str, Any]:
    """An order as ``order/realtime`` and the ``order`` topic show it (the union of both key sets)."""
    inst = order.instrument
    leaves = order.leaves_qty
    avg = order.avg_price
    fee_coin = inst.settle_coin if order.category in ("linear", "inverse") else SETTLE_COIN
    return {
        "category": order.category,
        "orderId": order.order_id,
        "orderLinkId": order.order_link_id,
        "parentOrderLinkId": "",
        "blockTradeId": "",
        "symbol": order.symbol,
        "price": price_str(inst, order.price),
        "brokerOrderPrice": "",
        "qty": qty_str(inst, order.qty),
        "side": order.side,
        "isLeverage": "",
        "positionIdx": 0,
        "orderStatus": order.status,
        "createType": "CreateByUser",
        "cancelType": order.cancel_type,
        "rejectReason": order.reject_reason,
        "avgPrice": price_str(inst, avg) if order.cum_exec_qty else "0",
        "leavesQty": qty_str(inst, leaves),
        "leavesValue": value_str(order.category, contract_value(order.category, leaves, order.price)),
        "cumExecQty": qty_str(inst, order.cum_exec_qty),
        "cumExecValue": value_str(order.category, order.cum_exec_value),
        "cumExecFee": plain(order.cum_exec_fee),
        "closedPnl": plain(order.closed_pnl),
        "feeCurrency": fee_coin if order.cum_exec_qty else "",
        "timeInForce": order.time_in_force,
        "orderType": order.order_type,
        **_ORDER_UNSET_FIELDS,
        "lastPriceOnCreated": price_str(inst, order.last_price_on_created),
        "reduceOnly": order.reduce_only,
        "closeOnTrigger": False,
        "placeType": "",
        "smpType": "None",
        "smpGroup": 0,
        "smpOrderId": "",
        "createdTime": str(order.created_ms),
        "updatedTime": str(order.updated_ms),
        "cumFeeDetail": {fee_coin: plain(order.cum_exec_fee)} if order.cum_exec_qty else {},
        "rpiTakerAccess": False,
        "rpiMatchedQty": "0",
    }


def wallet_record(figures: WalletFigures, coins: set[str] | None = None) -> dict[str, Any]:
    """The UNIFIED account as ``account/wallet-balance`` and the ``wallet`` topic show it (USD = USDT).

    Inverse settle coins (``figures.coins``) have rows in their coin; the account totals count them at their
    USD value, as Bybit's unified account does.
    """
    withdrawable = max(ZERO, min(figures.wallet_balance, figures.available))
    upl = figures.unrealised + _usd(figures.coins, lambda c: c.unrealised)
    pos_mm = figures.position_mm + _usd(figures.coins, lambda c: c.position_mm)
    wallet = figures.wallet_balance + _usd(figures.coins, lambda c: c.wallet_balance)
    equity = figures.equity + _usd(figures.coins, lambda c: c.equity)
    total_im = figures.initial_margin + _usd(figures.coins, lambda c: c.initial_margin)
    available = figures.available + _usd(figures.coins, lambda c: c.available)
    im_rate = money(total_im / equity) if equity > 0 else ZERO
    mm_rate = money(pos_mm / equity) if equity > 0 else ZERO
    coin_rows = [_coin_row(figures, withdrawable)] if coins is None or SETTLE_COIN in coins else []
    coin_rows += [_inverse_coin_row(c) for c in figures.coins if coins is None or c.coin in coins]
    return {
        "totalEquity": money_str(equity),
        "accountIMRate": plain(im_rate),
        "accountIMRateByMp": plain(im_rate),
        "totalMarginBalance": money_str(equity),
        "totalInitialMargin": money_str(total_im),
        "totalInitialMarginByMp": money_str(total_im),
        "accountType": "UNIFIED",
        "totalAvailableBalance": money_str(max(ZERO, available)),
        "accountMMRate": plain(mm_rate),
        "accountMMRateByMp": plain(mm_rate),
        "totalPerpUPL": money_str(upl),
        "totalWalletBalance": money_str(wallet),
        "accountLTV": "0",
        "totalMaintenanceMargin": money_str(pos_mm),
        "totalMaintenanceMarginByMp": money_str(pos_mm),
        "coin": coin_rows,
    }


def _usd(coins: tuple[CoinFigures, ...], figure: Callable[[CoinFigures], Decimal]) -> Decimal:
    """The USD value of one figure summed over the coin wallets."""
    return sum((figure(c) * c.usd_price for c in coins), ZERO)


def _inverse_coin_row(figures: CoinFigures) -> dict[str, Any]:
    """A coin wallet's row (an inverse settle coin, USDC), in that coin (``usdValue`` at its USD price)."""
    withdrawable = max(ZERO, min(figures.wallet_balance, figures.available))
    row = _coin_row(figures, withdrawable)
    row["coin"] = figures.coin
    row["usdValue"] = money_str(figures.equity * figures.usd_price)
    return row


def _coin_row(figures: WalletFigures | CoinFigures, withdrawable: Decimal) -> dict[str, Any]:
    """The settle coin's row of the wallet."""
    equity = figures.equity
    return {
        "coin": SETTLE_COIN,
        "equity": money_str(equity),
        "usdValue": money_str(equity),
        "walletBalance": money_str(figures.wallet_balance),
        "availableToWithdraw": money_str(withdrawable),
        "availableToBorrow": "",
        "borrowAmount": "0",
        "accruedInterest": "0",
        "totalOrderIM": money_str(figures.order_im),
        "totalPositionIM": money_str(figures.position_im),
        "totalPositionMM": money_str(figures.position_mm),
        "unrealisedPnl": money_str(figures.unrealised),
        "cumRealisedPnl": money_str(figures.cum_realised),
        "bonus": "0",
        "collateralSwitch": True,
        "marginCollateral": True,
        "locked": "0",
        "spotHedgingQty": "0",
        "spotBorrow": "0",
    }


def position_record(pos: Position, instrument: Instrument, mark: Decimal, *, ws: bool) -> dict[str, Any]:
    """A position as ``position/list`` (``avgPrice``) or the ``position`` topic (``entryPrice``) shows it."""
    inst = instrument
    flat = pos.size == 0
    record: dict[str, Any] = {
        "positionIdx": 0,
        "tradeMode": 0,
        "riskId": 1,
        "riskLimitValue": INVERSE_RISK_LIMIT_VALUE if pos.category == "inverse" else RISK_LIMIT_VALUE,
        "symbol": pos.symbol,
        "side": pos.side,
        "size": qty_str(inst, abs(pos.size)),
    }
    record["entryPrice" if ws else "avgPrice"] = "0" if flat else plain(pos.avg_price)
    record.update(_position_figures(pos, inst, mark))
    if ws:
        record["category"] = pos.category
        record["mmrSysUpdatedTime"] = ""
    else:
        record["mmrSysUpdateTime"] = ""
    return record


def _break_even(pos: Position) -> Decimal:
    """The price at which closing with a taker fee breaks even (zero when flat)."""
    taker = TAKER_FEE_RATE["linear"]
    if pos.size == 0:
        return ZERO
    if pos.size > 0:
        return pos.avg_price * (1 + taker) / (1 - taker)
    return pos.avg_price * (1 - taker) / (1 + taker)


INVERSE_MAX_BUST_PRICE = Decimal(999999)
"""What Bybit shows as an inverse short's bankruptcy price when its margin covers any rise (1x)."""


def _bust_price(pos: Position) -> Decimal:
    """Where the position's initial margin is gone: ``entry x (1 -+ 1/leverage)`` linear; for inverse
    ``entry / (1 +- 1/leverage)``."""
    fraction = 1 / pos.leverage
    if pos.category != "inverse":
        return pos.avg_price * (1 - fraction if pos.size > 0 else 1 + fraction)
    if pos.size > 0:
        return pos.avg_price / (1 + fraction)
    return INVERSE_MAX_BUST_PRICE if fraction >= 1 else min(INVERSE_MAX_BUST_PRICE, pos.avg_price / (1 - fraction))


def _position_figures(pos: Position, inst: Instrument, mark: Decimal) -> dict[str, Any]:
    """The margin and P&L part of a position record, in Bybit's key order."""
    flat = pos.size == 0
    liq = pos.liquidation_price(inst)
    bust = ""
    if not flat:
        bust = price_str(inst, _bust_price(pos))
    im = pos.initial_margin()
    mm = pos.maintenance_margin()
    value_mp = contract_value(pos.category, abs(pos.size), mark)
    im_mp = value_mp / pos.leverage
    mm_mp = value_mp * MAINTENANCE_MARGIN_RATE
    return {
        "leverage": plain(pos.leverage),
        "breakEvenPrice": "0" if flat else money_str(_break_even(pos)),
        "positionValue": money_str(pos.value),
        "positionBalance": money_str(im),
        "markPrice": price_str(inst, mark),
        "positionIM": money_str(im),
        "positionIMByMp": money_str(im_mp),
        "positionMM": money_str(mm),
        "positionMMByMp": money_str(mm_mp),
        "takeProfit": "0",
        "stopLoss": "0",
        "trailingStop": "0",
        "unrealisedPnl": money_str(pos.unrealised(mark)),
        "curRealisedPnl": money_str(pos.cur_realised),
        "cumRealisedPnl": money_str(pos.cum_realised),
        "sessionAvgPrice": "",
        "createdTime": str(pos.created_ms),
        "updatedTime": str(pos.updated_ms),
        "tpslMode": "Full",
        "liqPrice": "" if liq is None else price_str(inst, liq),
        "bustPrice": bust,
        "positionStatus": "Normal",
        "adlRankIndicator": 0 if flat else 2,
        "autoAddMargin": 0,
        "leverageSysUpdatedTime": "",
        "seq": pos.seq,
        "isReduceOnly": False,
    }


# --------------------------------------------------------------------------------------------------- tickers

LINEAR_WS_TICKER_KEYS = [
    "symbol",
    "tickDirection",
    "price24hPcnt",
    "lastPrice",
    "prevPrice24h",
    "highPrice24h",
    "lowPrice24h",
    "prevPrice1h",
    "markPrice",
    "indexPrice",
    "openInterest",
    "openInterestValue",
    "turnover24h",
    "volume24h",
    "fundingIntervalHour",
    "fundingCap",
    "nextFundingTime",
    "fundingRate",
    "bid1Price",
    "bid1Size",
    "ask1Price",
    "ask1Size",
    "preOpenPrice",
    "preQty",
    "curPreListingPhase",
]
SPOT_WS_TICKER_KEYS = [
    "symbol",
    "lastPrice",
    "highPrice24h",
    "lowPrice24h",
    "prevPrice24h",
    "volume24h",
    "turnover24h",
    "price24hPcnt",
    "usdIndexPrice",
]
LINEAR_REST_TICKER_KEYS = [
    "symbol",
    "lastPrice",
    "indexPrice",
    "markPrice",
    "prevPrice24h",
    "price24hPcnt",
    "highPrice24h",
    "lowPrice24h",
    "prevPrice1h",
    "openInterest",
    "openInterestValue",
    "turnover24h",
    "volume24h",
    "fundingRate",
    "nextFundingTime",
    "predictedDeliveryPrice",
    "basisRate",
    "deliveryFeeRate",
    "deliveryTime",
    "ask1Size",
    "bid1Price",
    "ask1Price",
    "bid1Size",
    "basis",
    "preOpenPrice",
    "preQty",
    "curPreListingPhase",
    "fundingIntervalHour",
    "basisRateYear",
    "fundingCap",
]
SPOT_REST_TICKER_KEYS = [
    "symbol",
    "bid1Price",
    "bid1Size",
    "ask1Price",
    "ask1Size",
    "lastPrice",
    "prevPrice24h",
    "price24hPcnt",
    "highPrice24h",
    "lowPrice24h",
    "turnover24h",
    "volume24h",
    "usdIndexPrice",
]


def _ratio_text(num: int, den: int, places: int) -> str:
    """``num / den - 1`` rounded half-up to ``places`` decimals, exact (integer arithmetic)."""
    if den == 0:
        return "0"
    scale = 10**places
    value = (num - den) * scale * 2 // den
    value = (value + 1) // 2  # round half up (floor division keeps negatives consistent)
    return format_units(value, places)


def ticker_fields(book: SymbolBook, style: str) -> dict[str, str]:
    """A ticker in one of Bybit's shapes: ``style`` is "ws" or "rest"; the category picks the field set.

    Every value is a string, as Bybit sends them; ``""`` marks what does not apply (dated-futures fields).
    """
    spot = book.spot
    bid = book.top_bids(1)
    ask = book.top_asks(1)
    last = book.last_tick
    pct_places = 4 if spot else 6
    volume_units = book.volume_lots * book.lot_units
    turnover = book.turnover_units  # 10**-(price_places + qty_places)
    turnover_places = book.price_places + book.qty_places
    turnover_text = format_units(turnover // 10 ** max(0, turnover_places - 4), min(4, turnover_places))
    values: dict[str, str] = {
        "symbol": book.symbol,
        "tickDirection": book.tick_direction,
        "price24hPcnt": _ratio_text(last, book.prev_24h_tick, pct_places),
        "lastPrice": book.price_text(last),
        "prevPrice24h": book.price_text(book.prev_24h_tick),
        "highPrice24h": book.price_text(book.high_tick),
        "lowPrice24h": book.price_text(book.low_tick),
        "prevPrice1h": book.price_text(book.prev_1h_tick),
        "volume24h": format_units(volume_units, book.qty_places),
        "turnover24h": turnover_text,
        "bid1Price": book.price_text(bid[0][0]) if bid else "",
        "bid1Size": book.qty_text(bid[0][1]) if bid else "",
        "ask1Price": book.price_text(ask[0][0]) if ask else "",
        "ask1Size": book.qty_text(ask[0][1]) if ask else "",
    }
    if spot:
        values["usdIndexPrice"] = book.units_text(book.index_units())
        values["volume24h"] = trim(values["volume24h"])
        values["turnover24h"] = trim(values["turnover24h"])
        keys = SPOT_WS_TICKER_KEYS if style == "ws" else SPOT_REST_TICKER_KEYS
        return {key: values[key] for key in keys}
    values.update(_contract_ticker_fields(book))
    if book.inverse:
        values.update(_inverse_ticker_fields(book, volume_units))
    keys = LINEAR_WS_TICKER_KEYS if style == "ws" else LINEAR_REST_TICKER_KEYS
    return {key: values[key] for key in keys}


def _inverse_ticker_fields(book: SymbolBook, volume_units: int) -> dict[str, str]:
    """An inverse ticker's coin-valued fields: turnover and open-interest value in the settle coin (contracts
    are USD), volume in contracts at 4 places, as Bybit writes them."""
    mark = Decimal(book.mark_units()).scaleb(-book.price_places)
    oi = Decimal(book.open_interest_lots * book.lot_units).scaleb(-book.qty_places)
    return {
        "volume24h": fixed(Decimal(volume_units).scaleb(-book.qty_places), 4),
        "turnover24h": fixed(book.turnover_coin, 4),
        "openInterestValue": fixed(oi / mark, 2) if mark else "0.00",
    }


def _contract_ticker_fields(book: SymbolBook) -> dict[str, str]:
    """What a linear or inverse ticker adds: mark, index, open interest, funding, dated-futures blanks."""
    mark_units = book.mark_units()
    oi_units = book.open_interest_lots * book.lot_units
    oi_value = oi_units * mark_units // 10**book.qty_places  # 10**-price_places
    return {
        "markPrice": book.units_text(mark_units),
        "indexPrice": book.units_text(book.index_units()),
        "openInterest": format_units(oi_units, book.qty_places),
        "openInterestValue": format_units(oi_value // 10 ** max(0, book.price_places - 2), min(2, book.price_places)),
        "fundingIntervalHour": "8",
        "fundingCap": "0.005",
        "nextFundingTime": str(book.next_funding_ms),
        "fundingRate": plain(book.funding_rate()),
        "preOpenPrice": "",
        "preQty": "",
        "curPreListingPhase": "",
        "predictedDeliveryPrice": "",
        "basisRate": "",
        "deliveryFeeRate": "",
        "deliveryTime": "0",
        "basis": "",
        "basisRateYear": "",
    }
