"""``fluxum bybit place-order``, ``cancel-order`` and ``order-status``: one order at a time, checked first.

Mistakes are caught before anything is sent: the symbol must be listed, the quantity and price must fit the
instrument's step, tick and minimum, and on production an order action needs the symbol typed at the prompt
(or ``--yes``, for scripts). Every order carries an
``orderLinkId`` (generated when ``--link-id`` is not given), so a lost reply is resolved by looking it up,
never by sending the order again. The three commands live here; ``place_order``, ``cancel_order`` and
``order_status`` are the thin modules the CLI registers.
"""

from __future__ import annotations

import argparse
import re
from decimal import Decimal
from typing import Any

SIDES = {"buy": "Buy", "sell": "Sell"}
ORDER_TYPES = {"market": "Market", "limit": "Limit", "postonly": "PostOnly"}
LINK_ID = re.compile(r"^[A-Za-z0-9_-]{1,36}$")


def _choice(table: dict[str, str], what: str) -> Any:
    def parse(text: str) -> str:
        try:
            return table[text.strip().lower().replace("-", "").replace("_", "")]
        except KeyError:
            raise argparse.ArgumentTypeError(f"{what} must be one of {', '.join(table.values())}") from None

    return parse


def _link_id(text: str) -> str:
    if not LINK_ID.match(text):
        raise argparse.ArgumentTypeError("a link id is 1-36 letters, digits, '-' or '_'")
    return text


def _add_order_selector(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--symbol", required=True, help="e.g. BTCUSDT")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--order-id", default=None, help="Bybit's order id")
    which.add_argument("--link-id", type=_link_id, default=None, help="your orderLinkId")


# ========================================================================================= place-order


def add_place_arguments(parser: argparse.ArgumentParser) -> None:
    from app.commands.common import add_connection_arguments, add_yes_argument

    add_connection_arguments(parser)
    parser.add_argument("--symbol", required=True, help="e.g. BTCUSDT")
    parser.add_argument("--side", required=True, type=_choice(SIDES, "--side"), help="Buy or Sell")
    parser.add_argument(
        "--type",
        dest="order_type",
        required=True,
        type=_choice(ORDER_TYPES, "--type"),
        help="Market, Limit or PostOnly (a limit order that is cancelled rather than take)",
    )
    parser.add_argument("--qty", required=True, help="quantity in the base coin, e.g. 0.01")
    parser.add_argument("--price", default=None, help="limit price (Limit and PostOnly only)")
    parser.add_argument(
        "--link-id",
        type=_link_id,
        default=None,
        help="your orderLinkId (default: a fresh one); Bybit refuses a duplicate",
    )
    parser.add_argument("--reduce-only", action="store_true", help="only reduce an open position")
    add_yes_argument(parser)


def run_place(args: argparse.Namespace) -> int:
    from app.commands.common import load_settings_from_args, require_confirmation, run_async

    order = _checked_order(args)
    settings = load_settings_from_args(args)
    require_confirmation(settings, args, "place an order", order["symbol"])
    return run_async(lambda: _place(args, settings, order), rejected="order")


def _checked_order(args: argparse.Namespace) -> dict[str, Any]:
    """The order from the flags, refused locally when it cannot be right."""
    from app.cli import UserError
    from app.commands.common import parse_positive_decimal, parse_symbol

    symbol = parse_symbol(args.symbol)
    qty = parse_positive_decimal(args.qty, "--qty", "0.01")
    price = None
    if args.order_type == "Market":
        if args.price is not None:
            raise UserError("--price is only for Limit and PostOnly orders (a Market order takes the book)")
    else:
        if args.price is None:
            raise UserError(f"a {args.order_type} order needs --price")
        price = parse_positive_decimal(args.price, "--price", "65000.5")
    return {"symbol": symbol, "side": args.side, "order_type": args.order_type, "qty": qty, "price": price}


def _check_against_instrument(order: dict[str, Any], instrument: dict[str, Any], category: str) -> None:
    from app.cli import UserError

    symbol, qty, price = order["symbol"], order["qty"], order["price"]
    lot = instrument.get("lotSizeFilter") or {}
    step = _decimal(lot.get("qtyStep") or lot.get("basePrecision"))
    minimum = _decimal(lot.get("minOrderQty"))
    spot_market_buy = category == "spot" and order["order_type"] == "Market" and order["side"] == "Buy"
    if not spot_market_buy:  # a spot market buy is sized in the quote coin
        if minimum is not None and qty < minimum:
            raise UserError(f"--qty {qty} is below {symbol}'s minimum order quantity {minimum}")
        if step is not None and step > 0 and _off_step(qty, step):
            raise UserError(f"--qty {qty} is not a multiple of {symbol}'s quantity step {step}")
    tick = _decimal((instrument.get("priceFilter") or {}).get("tickSize"))
    if price is not None and tick is not None and tick > 0 and _off_step(price, tick):
        raise UserError(f"--price {price} is not a multiple of {symbol}'s tick size {tick}")


def _decimal(text: object) -> Decimal | None:
    """An instrument's limit, or None when absent or not a sane number (then it is not checked here)."""
    from exchange.numbers import NumberError, read_decimal

    if text in (None, ""):
        return None
    try:
        return read_decimal(text, "limit")
    except NumberError:
        return None


def _off_step(value: Decimal, step: Decimal) -> bool:
    """``value`` is not a whole multiple of ``step`` (computed with the ledger's 60 digits: 1e17 / 1e-18 fits)."""
    from exchange.ledger import MONEY_CONTEXT

    return MONEY_CONTEXT.remainder(value, step) != 0


async def _place(args: argparse.Namespace, settings: Any, order: dict[str, Any]) -> int:
    from app.commands.common import connect, format_fields, instrument_or_fail
    from exchange.bybit.errors import BybitError

    async with connect(args, command="place-order", settings=settings) as (settings, client):
        category = settings.category
        instrument = await instrument_or_fail(client, category, order["symbol"])
        _check_against_instrument(order, instrument, category)
        order_type = order["order_type"]
        ack = await client.place_order(
            category,
            order["symbol"],
            order["side"],
            "Limit" if order_type == "PostOnly" else order_type,
            order["qty"],
            order["price"],
            time_in_force="PostOnly" if order_type == "PostOnly" else None,
            order_link_id=args.link_id,
            reduce_only=args.reduce_only,
        )
        try:
            placed = await client.order(category, order["symbol"], order_link_id=ack.order_link_id)
        except BybitError:
            placed = None  # the order was accepted; only the follow-up look failed
    fields: list[tuple[str, object]] = [
        ("symbol", order["symbol"]),
        ("side", order["side"]),
        ("type", order_type),
        ("qty", order["qty"]),
    ]
    if order["price"] is not None:
        fields.append(("price", order["price"]))
    fields += [("order id", ack.order_id), ("order link id", ack.order_link_id)]
    if placed is not None:
        fields.append(("status", f"{placed.status} (filled {placed.cum_exec_qty} of {placed.qty})"))
    else:
        fields.append(("status", "not visible yet (Bybit processes orders asynchronously)"))
    note = " (the reply was lost; found by its link id)" if ack.resolved else ""
    print(f"order accepted by Bybit{note}")
    print(format_fields(fields))
    return 0


# ======================================================================================== cancel-order


def add_cancel_arguments(parser: argparse.ArgumentParser) -> None:
    from app.commands.common import add_connection_arguments, add_yes_argument

    add_connection_arguments(parser)
    _add_order_selector(parser)
    add_yes_argument(parser)


def run_cancel(args: argparse.Namespace) -> int:
    from app.commands.common import load_settings_from_args, parse_symbol, require_confirmation, run_async

    symbol = parse_symbol(args.symbol)
    settings = load_settings_from_args(args)
    require_confirmation(settings, args, "cancel an order", symbol)
    return run_async(lambda: _cancel(args, settings, symbol), rejected="cancel")


async def _cancel(args: argparse.Namespace, settings: Any, symbol: str) -> int:
    from app.commands.common import connect, format_fields

    async with connect(args, command="cancel-order", settings=settings) as (settings, client):
        ack = await client.cancel_order(settings.category, symbol, order_id=args.order_id, order_link_id=args.link_id)
    print("cancel accepted by Bybit (the order stream confirms it)")
    print(format_fields([("symbol", symbol), ("order id", ack.order_id), ("order link id", ack.order_link_id)]))
    return 0


# ======================================================================================== order-status


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    from app.commands.common import add_connection_arguments

    add_connection_arguments(parser)
    _add_order_selector(parser)


def run_status(args: argparse.Namespace) -> int:
    from app.commands.common import parse_symbol, run_async

    symbol = parse_symbol(args.symbol)
    return run_async(lambda: _status(args, symbol))


async def _status(args: argparse.Namespace, symbol: str) -> int:
    from app.cli import UserError
    from app.commands.common import connect, format_fields

    async with connect(args, command="order-status") as (settings, client):
        order = await client.order(settings.category, symbol, order_id=args.order_id, order_link_id=args.link_id)
    if order is None:
        which = f"order id {args.order_id}" if args.order_id else f"link id {args.link_id}"
        raise UserError(f"no {settings.category} order with {which} on {symbol}")
    print(
        format_fields(
            [
                ("symbol", order.symbol),
                ("side", order.side),
                ("type", order.order_type),
                ("time in force", order.time_in_force),
                ("price", order.price),
                ("qty", order.qty),
                ("filled", order.cum_exec_qty),
                ("remaining", order.leaves_qty),
                ("status", order.status),
                ("order id", order.order_id),
                ("order link id", order.order_link_id),
                ("updated", _time_text(order.updated_ms)),
            ]
        )
    )
    return 0


def _time_text(epoch_ms: int) -> str:
    from datetime import UTC, datetime

    if not epoch_ms:
        return ""
    return datetime.fromtimestamp(epoch_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
