"""The signed private REST endpoints of the local exchange, with Bybit's signing rules and retCodes.

Every handler authenticates first, over the exact bytes received: the raw query string of a GET (never a
re-encoding of the parsed parameters) or the raw body of a POST. Then parameters are validated the way Bybit
does it, and refusals come back as Bybit's envelopes (HTTP 200, ``retCode`` != 0). Rate-limit headers and the
10006/403 faults are the middleware's job (:mod:`exchange.bybit.sim.rest_common`).

Cursors are opaque to clients but anchored on immutable positions (an execution's place in the history, an
order's creation sequence), so paging stays free of gaps and duplicates while new fills arrive.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

import orjson
from aiohttp import web

from exchange.bybit.sim.account import MAKER_FEE_RATE, TAKER_FEE_RATE, Execution, Position, Rejection, plain
from exchange.bybit.sim.auth import PERMISSIONS, ApiKey, AuthFailure, verify_rest
from exchange.bybit.sim.rest_common import RestError, ok_response, query_params
from exchange.numbers import NumberError, read_decimal

log = logging.getLogger(__name__)

SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000
ALL_CATEGORIES = ("spot", "linear", "inverse", "option")


# -------------------------------------------------------------------------------------------- authentication


async def authenticate(request: web.Request, sim: Any) -> tuple[ApiKey, dict[str, Any]]:
    """Verify the request's signature over its raw bytes; returns the key and the parsed parameters.

    Raises :class:`RestError` with 10003 / 10002 / 10004 (auth) or 10001 (a body that is not a JSON object).
    """
    if request.method == "GET":
        payload = request.rel_url.raw_query_string
    else:
        raw = await request.read()
        try:
            payload = raw.decode("utf-8")
        except UnicodeDecodeError:
            sim.counters["rest.bad_body"] += 1
            raise RestError(10001, "params error: request body is not UTF-8") from None
    try:
        key = verify_rest(request.headers, payload, sim.account.api_keys, sim.clock.now_ms())
    except AuthFailure as failure:
        sim.counters[f"rest.auth_fail.{failure.ret_code}"] += 1
        log.info("signed request refused on %s: %s", request.path, failure.ret_code)
        raise RestError(failure.ret_code, failure.ret_msg) from None
    if request.method == "GET":
        params: dict[str, Any] = dict(query_params(request))
    else:
        if not payload.strip():
            params = {}
        else:
            try:
                parsed = orjson.loads(payload)
            except orjson.JSONDecodeError:
                sim.counters["rest.bad_body"] += 1
                raise RestError(10001, "params error: request body is not valid JSON") from None
            if not isinstance(parsed, dict):
                sim.counters["rest.bad_body"] += 1
                raise RestError(10001, "params error: request body must be a JSON object")
            params = parsed
    return key, params


def _rejected(error: Rejection) -> RestError:
    return RestError(error.ret_code, error.ret_msg)


# ---------------------------------------------------------------------------------------------- parameters


def _required(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise RestError(10001, f"params error: {name} is required")
    return str(value)


def _int(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(str(value))
    except ValueError:
        raise RestError(10001, f"params error: {name} invalid") from None
    if not low <= number <= high:
        raise RestError(10001, f"params error: {name} must be between {low} and {high}")
    return number


def _category(params: dict[str, Any]) -> str:
    category = _required(params, "category")
    if category not in ALL_CATEGORIES:
        raise RestError(10001, "Illegal category")
    return category


def make_cursor(anchor: int) -> str:
    """A Bybit-looking opaque cursor (``"132766%3A2%2C132766%3A2"``) anchored on an immutable number."""
    return quote(f"{anchor}:1,{anchor}:1", safe="")


def read_cursor(text: str | None) -> int | None:
    """The anchor inside a cursor, however many times a client URL-encoded it; 10001 if it is not ours."""
    if not text:
        return None
    for _ in range(3):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    try:
        return int(text.split(":", 1)[0])
    except ValueError:
        raise RestError(10001, "params error: cursor invalid") from None


# ------------------------------------------------------------------------------------------------ handlers


def add_routes(app: web.Application, sim: Any) -> None:
    """Register the private ``/v5`` routes on the server's application."""

    async def wallet_balance(request: web.Request) -> web.Response:
        _, params = await authenticate(request, sim)
        account_type = _required(params, "accountType")
        if account_type != "UNIFIED":
            raise RestError(10001, "accountType only support UNIFIED.")
        coin_param = str(params.get("coin") or "")
        coins = {c.strip() for c in coin_param.split(",") if c.strip()} or None
        return ok_response(sim, {"list": [sim.account.wallet_record(coins)]})

    async def position_list(request: web.Request) -> web.Response:
        _, params = await authenticate(request, sim)
        category = _category(params)
        if category == "spot":
            raise RestError(10001, "Illegal category")
        symbol = str(params.get("symbol") or "")
        settle_coin = str(params.get("settleCoin") or "")
        base_coin = str(params.get("baseCoin") or "")
        if category == "linear" and not symbol and not settle_coin:
            raise RestError(10001, "params error: symbol or settleCoin is required")
        limit = _int(params, "limit", 20, 1, 200)
        start = read_cursor(params.get("cursor")) or 0
        account = sim.account
        positions: list[Position] = []
        if category == "linear":
            if symbol:
                try:
                    positions = [account.position(category, account.instrument(category, symbol).symbol)]
                except Rejection as error:
                    raise _rejected(error) from None
            elif settle_coin == "USDT":
                positions = account.open_positions(category)
        if base_coin:
            positions = [p for p in positions if account.instrument(p.category, p.symbol).base_coin == base_coin]
        page = positions[start : start + limit]
        more = start + limit < len(positions)
        return ok_response(
            sim,
            {
                "list": [account.position_record(p, ws=False) for p in page],
                "nextPageCursor": make_cursor(start + limit) if more else "",
                "category": category,
            },
        )

    def order_action(
        act: Callable[[dict[str, Any]], Any], counter: str
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """``/v5/order/create`` and ``/cancel``: the account acts on the signed params, or Bybit's rejection."""

        async def handler(request: web.Request) -> web.Response:
            _, params = await authenticate(request, sim)
            try:
                order = act(params)
            except Rejection as error:
                raise _rejected(error) from None
            sim.counters[counter] += 1
            return ok_response(sim, {"orderId": order.order_id, "orderLinkId": order.order_link_id})

        return handler

    order_create = order_action(sim.account.place_order, "rest.orders_created")
    order_cancel = order_action(sim.account.cancel_order, "rest.orders_cancelled")

    async def order_realtime(request: web.Request) -> web.Response:
        _, params = await authenticate(request, sim)
        category = _category(params)
        symbol = str(params.get("symbol") or "")
        base_coin = str(params.get("baseCoin") or "")
        settle_coin = str(params.get("settleCoin") or "")
        order_id = str(params.get("orderId") or "")
        link_id = str(params.get("orderLinkId") or "")
        if category == "linear" and not (symbol or base_coin or settle_coin or order_id or link_id):
            raise RestError(10001, "Missing some parameters that must be filled in, symbol or settleCoin or baseCoin")
        open_only = _int(params, "openOnly", 0, 0, 2)
        limit = _int(params, "limit", 20, 1, 50)
        before = read_cursor(params.get("cursor"))
        orders = sim.account.engine.query(
            category=category,
            symbol=symbol,
            base_coin=base_coin,
            settle_coin=settle_coin,
            order_id=order_id,
            order_link_id=link_id,
            open_only=open_only,
        )
        if before is not None:
            orders = [o for o in orders if o.seq < before]
        page = orders[:limit]
        more = len(orders) > limit
        return ok_response(
            sim,
            {
                "list": [o.to_bybit() for o in page],
                "nextPageCursor": make_cursor(page[-1].seq) if more else "",
                "category": category,
            },
        )

    async def execution_list(request: web.Request) -> web.Response:
        _, params = await authenticate(request, sim)
        category = _category(params)
        symbol = str(params.get("symbol") or "")
        order_id = str(params.get("orderId") or "")
        link_id = str(params.get("orderLinkId") or "")
        base_coin = str(params.get("baseCoin") or "")
        settle_coin = str(params.get("settleCoin") or "")
        exec_type = str(params.get("execType") or "")
        limit = _int(params, "limit", 50, 1, 100)
        now = sim.clock.now_ms()
        start_ms = _int(params, "startTime", -1, 0, 1 << 62) if params.get("startTime") else None
        end_ms = _int(params, "endTime", -1, 0, 1 << 62) if params.get("endTime") else None
        if start_ms is None and end_ms is None:
            start_ms, end_ms = now - SEVEN_DAYS_MS, now
        elif start_ms is None:
            assert end_ms is not None
            start_ms = end_ms - SEVEN_DAYS_MS
        elif end_ms is None:
            end_ms = start_ms + SEVEN_DAYS_MS
        if end_ms < start_ms:
            raise RestError(10001, "params error: endTime must be greater than startTime")
        if end_ms - start_ms > SEVEN_DAYS_MS:
            raise RestError(10001, "params error: The time range between startTime and endTime cannot exceed 7 days")
        before = read_cursor(params.get("cursor"))
        account = sim.account
        hides_after = sim.faults.execution_list_hides_after()  # the list trailing the stream (a fault)
        page: list[Execution] = []
        more = False
        for execution in account.executions_before(before):
            if not (
                (hides_after is None or execution.seq <= hides_after)
                and execution.category == category
                and (not symbol or execution.symbol == symbol)
                and (not order_id or execution.order_id == order_id)
                and (not link_id or execution.order_link_id == link_id)
                and (not exec_type or execution.exec_type == exec_type)
                and (not base_coin or execution.instrument.base_coin == base_coin)
                and (not settle_coin or execution.instrument.settle_coin == settle_coin)
                and start_ms <= execution.exec_time_ms <= end_ms
            ):
                continue
            if len(page) == limit:
                more = True
                break
            page.append(execution)
        return ok_response(
            sim,
            {
                "nextPageCursor": make_cursor(page[-1].n) if more else "",
                "category": category,
                "list": [e.to_bybit() for e in page],
            },
        )

    async def query_api(request: web.Request) -> web.Response:
        key, _ = await authenticate(request, sim)
        created = datetime.fromtimestamp(key.created_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return ok_response(
            sim,
            {
                "id": str(key.key_id),
                "note": key.note,
                "apiKey": key.api_key,
                "readOnly": 1 if key.read_only else 0,
                "secret": "",
                "permissions": {k: list(v) for k, v in PERMISSIONS.items()},
                "ips": ["*"],
                "type": 1,
                "deadlineDay": -1,
                "expiredAt": "",
                "createdAt": created,
                "unified": 0,
                "uta": 1,
                "userID": sim.account.uid,
                "inviterID": 0,
                "vipLevel": "No VIP",
                "mktMakerLevel": "0",
                "affiliateID": 0,
                "rsaPublicKey": "",
                "isMaster": True,
                "parentUid": "0",
                "kycLevel": "LEVEL_DEFAULT",
                "kycRegion": "",
            },
        )

    async def account_info(request: web.Request) -> web.Response:
        await authenticate(request, sim)
        return ok_response(
            sim,
            {
                "marginMode": "REGULAR_MARGIN",
                "updatedTime": str(sim.account.created_ms),
                "unifiedMarginStatus": 5,  # UTA 2.0
                "dcpStatus": "OFF",
                "timeWindow": 10,
                "smpGroup": 0,
                "isMasterTrader": False,
                "spotHedgingStatus": "OFF",
            },
        )

    async def coin_info(request: web.Request) -> web.Response:
        _, params = await authenticate(request, sim)
        wanted = str(params.get("coin") or "")
        return ok_response(sim, {"rows": [row for row in _coin_rows(sim) if not wanted or row["coin"] == wanted]})

    async def cancel_all(request: web.Request) -> web.Response:
        _, params = await authenticate(request, sim)
        category = _category(params)
        symbol = str(params.get("symbol") or "")
        base_coin = str(params.get("baseCoin") or "")
        settle_coin = str(params.get("settleCoin") or "")
        if category == "linear" and not (symbol or base_coin or settle_coin):
            raise RestError(10001, "Missing some parameters that must be filled in, symbol or settleCoin or baseCoin")
        cancelled = sim.account.engine.cancel_all(category, symbol, settle_coin)
        if base_coin:
            cancelled = [o for o in cancelled if o.instrument.base_coin == base_coin]
        return ok_response(
            sim,
            {
                "list": [{"orderId": o.order_id, "orderLinkId": o.order_link_id} for o in cancelled],
                "success": "1",
            },
        )

    async def set_leverage(request: web.Request) -> web.Response:
        _, params = await authenticate(request, sim)
        category = _category(params)
        if category != "linear":
            raise RestError(10001, "Illegal category")
        symbol = _required(params, "symbol")
        buy = _required(params, "buyLeverage")
        sell = _required(params, "sellLeverage")
        try:  # NaN would raise on the range check
            buy_lev, sell_lev = read_decimal(buy, "buyLeverage"), read_decimal(sell, "sellLeverage")
        except NumberError:
            raise RestError(10001, "params error: leverage invalid") from None
        if buy_lev != sell_lev:
            raise RestError(10001, "buy leverage must be equal to sell leverage in one-way mode")
        try:
            sim.account.set_leverage(category, symbol, buy_lev)
        except Rejection as error:
            raise _rejected(error) from None
        return ok_response(sim, {})

    async def fee_rate(request: web.Request) -> web.Response:
        _, params = await authenticate(request, sim)
        category = _category(params)
        symbol = str(params.get("symbol") or "")
        symbols = [symbol] if symbol else sorted(sim.market.symbols(category))
        maker = MAKER_FEE_RATE.get(category, MAKER_FEE_RATE["linear"])
        taker = TAKER_FEE_RATE.get(category, TAKER_FEE_RATE["linear"])
        rows = [
            {
                "symbol": s,
                "baseCoin": "" if category != "option" else s,
                "takerFeeRate": plain(taker),
                "makerFeeRate": plain(maker),
            }
            for s in symbols
        ]
        return ok_response(sim, {"list": rows})

    app.router.add_post("/v5/order/cancel-all", cancel_all)
    app.router.add_post("/v5/position/set-leverage", set_leverage)
    app.router.add_get("/v5/account/fee-rate", fee_rate)
    app.router.add_get("/v5/account/info", account_info)
    app.router.add_get("/v5/asset/coin/query-info", coin_info)
    app.router.add_get("/v5/account/wallet-balance", wallet_balance)
    app.router.add_get("/v5/position/list", position_list)
    app.router.add_post("/v5/order/create", order_create)
    app.router.add_post("/v5/order/cancel", order_cancel)
    app.router.add_get("/v5/order/realtime", order_realtime)
    app.router.add_get("/v5/execution/list", execution_list)
    app.router.add_get("/v5/user/query-api", query_api)


def _coin_rows(sim: Any) -> list[dict[str, Any]]:
    """``asset/coin/query-info`` rows for the settle coin and every listed base coin (ccxt reads them)."""
    coins = {"USDT"}
    for category in ("linear", "spot"):
        for symbol in sim.market.symbols(category):
            coins.add(sim.market.instrument(category, symbol).base_coin)
    return [
        {
            "name": coin,
            "coin": coin,
            "remainAmount": "1000000",
            "chains": [
                {
                    "chainType": coin,
                    "confirmation": "6",
                    "withdrawFee": "0",
                    "depositMin": "0",
                    "withdrawMin": "0",
                    "chain": coin,
                    "chainDeposit": "1",
                    "chainWithdraw": "1",
                    "minAccuracy": "8",
                    "withdrawPercentageFee": "0",
                    "contractAddress": "",
                    "safeConfirmNumber": "6",
                }
            ],
        }
        for coin in sorted(coins)
    ]
