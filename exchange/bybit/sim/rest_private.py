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
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import quote, unquote

import orjson
from aiohttp import web

from exchange.bybit.sim import wire
from exchange.bybit.sim.auth import PERMISSIONS, ApiKey, ApiKeyring, AuthFailure, verify_rest
from exchange.bybit.sim.records import MAKER_FEE_RATE, TAKER_FEE_RATE, Execution, Order, Position, Rejection
from exchange.bybit.sim.rest_common import RestError, RestSite, ok_response, query_params
from exchange.bybit.sim.venue import ExchangeMarket, SimExchange
from exchange.numbers import NumberError, read_decimal

log = logging.getLogger(__name__)

SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000
ALL_CATEGORIES = ("spot", "linear", "inverse", "option")


class ListFaults(Protocol):
    """The fault that makes ``execution/list`` trail the private stream."""

    def execution_list_hides_after(self) -> int | None: ...


# -------------------------------------------------------------------------------------------- authentication


async def authenticate(request: web.Request, keys: ApiKeyring, site: RestSite) -> tuple[ApiKey, dict[str, Any]]:
    """Verify the request's signature over its raw bytes; returns the key and the parsed parameters.

    Raises :class:`RestError` with 10003 / 10002 / 10004 (auth) or 10001 (a body that is not a JSON object).
    """
    if request.method == "GET":
        payload = request.rel_url.raw_query_string
    else:
        try:
            payload = (await request.read()).decode("utf-8")
        except UnicodeDecodeError:
            site.counters["rest.bad_body"] += 1
            raise RestError(10001, "params error: request body is not UTF-8") from None
    try:
        key = verify_rest(request.headers, payload, keys, site.clock.now_ms())
    except AuthFailure as failure:
        site.counters[f"rest.auth_fail.{failure.ret_code}"] += 1
        log.info("signed request refused on %s: %s", request.path, failure.ret_code)
        raise RestError(failure.ret_code, failure.ret_msg) from None
    if request.method == "GET":
        return key, dict(query_params(request))
    return key, _body_params(payload, site)


def _body_params(payload: str, site: RestSite) -> dict[str, Any]:
    """A POST body as Bybit reads it: empty is ``{}``, anything but a JSON object is 10001."""
    if not payload.strip():
        return {}
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        site.counters["rest.bad_body"] += 1
        raise RestError(10001, "params error: request body is not valid JSON") from None
    if not isinstance(parsed, dict):
        site.counters["rest.bad_body"] += 1
        raise RestError(10001, "params error: request body must be a JSON object")
    return parsed


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


def _text(params: dict[str, Any], name: str) -> str:
    return str(params.get(name) or "")


@dataclass(frozen=True)
class ExecutionFilter:
    """What one ``execution/list`` request asks for (every field but the category may be empty)."""

    category: str
    symbol: str
    order_id: str
    order_link_id: str
    exec_type: str
    base_coin: str
    settle_coin: str
    start_ms: int
    end_ms: int

    def wants(self, execution: Execution) -> bool:
        return (
            execution.category == self.category
            and (not self.symbol or execution.symbol == self.symbol)
            and (not self.order_id or execution.order_id == self.order_id)
            and (not self.order_link_id or execution.order_link_id == self.order_link_id)
            and (not self.exec_type or execution.exec_type == self.exec_type)
            and (not self.base_coin or execution.instrument.base_coin == self.base_coin)
            and (not self.settle_coin or execution.instrument.settle_coin == self.settle_coin)
            and self.start_ms <= execution.exec_time_ms <= self.end_ms
        )


def _time_window(params: dict[str, Any], now: int) -> tuple[int, int]:
    """``startTime``/``endTime`` as Bybit fills them in: seven days back from now, or from the one given."""
    start_ms = _int(params, "startTime", -1, 0, 1 << 62) if params.get("startTime") else None
    end_ms = _int(params, "endTime", -1, 0, 1 << 62) if params.get("endTime") else None
    if start_ms is None:
        end_ms = now if end_ms is None else end_ms
        start_ms = end_ms - SEVEN_DAYS_MS
    elif end_ms is None:
        end_ms = start_ms + SEVEN_DAYS_MS
    if end_ms < start_ms:
        raise RestError(10001, "params error: endTime must be greater than startTime")
    if end_ms - start_ms > SEVEN_DAYS_MS:
        raise RestError(10001, "params error: The time range between startTime and endTime cannot exceed 7 days")
    return start_ms, end_ms


def _page(
    executions: Iterable[Execution], wanted: ExecutionFilter, hides_after: int | None, limit: int
) -> tuple[list[Execution], bool]:
    """Up to ``limit`` wanted executions, newest first, and whether more follow."""
    page: list[Execution] = []
    for execution in executions:
        if (hides_after is not None and execution.seq > hides_after) or not wanted.wants(execution):
            continue
        if len(page) == limit:
            return page, True
        page.append(execution)
    return page, False


def _key_record(key: ApiKey, uid: int) -> dict[str, Any]:
    """``user/query-api`` for the key that signed the request."""
    created = datetime.fromtimestamp(key.created_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
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
        "userID": uid,
        "inviterID": 0,
        "vipLevel": "No VIP",
        "mktMakerLevel": "0",
        "affiliateID": 0,
        "rsaPublicKey": "",
        "isMaster": True,
        "parentUid": "0",
        "kycLevel": "LEVEL_DEFAULT",
        "kycRegion": "",
    }


# ------------------------------------------------------------------------------------------------ handlers

Handler = Callable[[web.Request], Awaitable[web.Response]]


def add_routes(app: web.Application, routes: PrivateRoutes) -> None:
    """Register the private ``/v5`` routes on the server's application."""
    router = app.router
    router.add_post("/v5/order/cancel-all", routes.cancel_all)
    router.add_post("/v5/position/set-leverage", routes.set_leverage)
    router.add_get("/v5/account/fee-rate", routes.fee_rate)
    router.add_get("/v5/account/info", routes.account_info)
    router.add_get("/v5/asset/coin/query-info", routes.coin_info)
    router.add_get("/v5/account/wallet-balance", routes.wallet_balance)
    router.add_get("/v5/position/list", routes.position_list)
    router.add_post("/v5/order/create", routes.order_create)
    router.add_post("/v5/order/cancel", routes.order_cancel)
    router.add_post("/v5/order/amend", routes.order_amend)
    router.add_get("/v5/order/realtime", routes.order_realtime)
    router.add_get("/v5/execution/list", routes.execution_list)
    router.add_get("/v5/user/query-api", routes.query_api)


class PrivateRoutes:
    """The signed endpoints over the exchange, the ``execution/list`` fault and the REST site."""

    def __init__(self, exchange: SimExchange, faults: ListFaults, site: RestSite) -> None:
        self.exchange = exchange
        self.faults = faults
        self.site = site
        self.order_create = self._order_action(exchange.place_order, "rest.orders_created")
        self.order_cancel = self._order_action(exchange.cancel_order, "rest.orders_cancelled")
        self.order_amend = self._order_action(exchange.amend_order, "rest.orders_amended")

    async def _params(self, request: web.Request) -> dict[str, Any]:
        return (await authenticate(request, self.exchange.api_keys, self.site))[1]

    def _ok(self, result: dict[str, Any]) -> web.Response:
        return ok_response(self.site, result)

    async def wallet_balance(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        if _required(params, "accountType") != "UNIFIED":
            raise RestError(10001, "accountType only support UNIFIED.")
        coins = {c.strip() for c in _text(params, "coin").split(",") if c.strip()} or None
        return self._ok({"list": [self.exchange.wallet_record(coins)]})

    async def position_list(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        category = _category(params)
        if category == "spot":
            raise RestError(10001, "Illegal category")
        symbol, settle_coin, base_coin = _text(params, "symbol"), _text(params, "settleCoin"), _text(params, "baseCoin")
        if category == "linear" and not symbol and not settle_coin:
            raise RestError(10001, "params error: symbol or settleCoin is required")
        limit = _int(params, "limit", 20, 1, 200)
        start = read_cursor(params.get("cursor")) or 0
        positions = self._positions(category, symbol, settle_coin)
        account = self.exchange.account
        if base_coin:
            positions = [p for p in positions if account.instrument(p.category, p.symbol).base_coin == base_coin]
        page = positions[start : start + limit]
        more = start + limit < len(positions)
        return self._ok(
            {
                "list": [self.exchange.position_record(p, ws=False) for p in page],
                "nextPageCursor": make_cursor(start + limit) if more else "",
                "category": category,
            }
        )

    def _positions(self, category: str, symbol: str, settle_coin: str) -> list[Position]:
        account = self.exchange.account
        if category not in ("linear", "inverse"):
            return []
        if symbol:
            try:
                return [account.position(category, account.instrument(category, symbol).symbol)]
            except Rejection as error:
                raise _rejected(error) from None
        # inverse: every coin's positions, or one coin's; linear: one coin's (USDT or USDC), asked for by name
        positions = account.open_positions(category)
        everyone = category == "inverse" and not settle_coin
        return [p for p in positions if everyone or account.instrument(category, p.symbol).settle_coin == settle_coin]

    def _order_action(self, act: Callable[[dict[str, Any]], Order], counter: str) -> Handler:
        """``/v5/order/create``, ``/cancel`` and ``/amend``: the exchange acts on the signed params, or Bybit's
        rejection."""

        async def handler(request: web.Request) -> web.Response:
            params = await self._params(request)
            try:
                order = act(params)
            except Rejection as error:
                raise _rejected(error) from None
            self.site.counters[counter] += 1
            return self._ok({"orderId": order.order_id, "orderLinkId": order.order_link_id})

        return handler

    async def order_realtime(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        category = _category(params)
        symbol, base_coin, settle_coin = _text(params, "symbol"), _text(params, "baseCoin"), _text(params, "settleCoin")
        order_id, link_id = _text(params, "orderId"), _text(params, "orderLinkId")
        if category == "linear" and not (symbol or base_coin or settle_coin or order_id or link_id):
            raise RestError(10001, "Missing some parameters that must be filled in, symbol or settleCoin or baseCoin")
        open_only = _int(params, "openOnly", 0, 0, 2)
        limit = _int(params, "limit", 20, 1, 50)
        before = read_cursor(params.get("cursor"))
        orders = self.exchange.orders.query(
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
        return self._ok(
            {
                "list": [wire.order_record(o) for o in page],
                "nextPageCursor": make_cursor(page[-1].seq) if more else "",
                "category": category,
            }
        )

    async def execution_list(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        category = _category(params)
        limit = _int(params, "limit", 50, 1, 100)
        start_ms, end_ms = _time_window(params, self.site.clock.now_ms())
        before = read_cursor(params.get("cursor"))
        wanted = ExecutionFilter(
            category=category,
            symbol=_text(params, "symbol"),
            order_id=_text(params, "orderId"),
            order_link_id=_text(params, "orderLinkId"),
            exec_type=_text(params, "execType"),
            base_coin=_text(params, "baseCoin"),
            settle_coin=_text(params, "settleCoin"),
            start_ms=start_ms,
            end_ms=end_ms,
        )
        hides_after = self.faults.execution_list_hides_after()  # the list trailing the stream (a fault)
        page, more = _page(self.exchange.account.executions_before(before), wanted, hides_after, limit)
        return self._ok(
            {
                "nextPageCursor": make_cursor(page[-1].n) if more else "",
                "category": category,
                "list": [wire.execution_record(e) for e in page],
            }
        )

    async def query_api(self, request: web.Request) -> web.Response:
        key, _ = await authenticate(request, self.exchange.api_keys, self.site)
        return self._ok(_key_record(key, self.exchange.account.uid))

    async def account_info(self, request: web.Request) -> web.Response:
        await self._params(request)
        return self._ok(
            {
                "marginMode": "REGULAR_MARGIN",
                "updatedTime": str(self.exchange.account.created_ms),
                "unifiedMarginStatus": 5,  # UTA 2.0
                "dcpStatus": "OFF",
                "timeWindow": 10,
                "smpGroup": 0,
                "isMasterTrader": False,
                "spotHedgingStatus": "OFF",
            }
        )

    async def coin_info(self, request: web.Request) -> web.Response:
        wanted = _text(await self._params(request), "coin")
        rows = _coin_rows(self.exchange.market)
        return self._ok({"rows": [row for row in rows if not wanted or row["coin"] == wanted]})

    async def cancel_all(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        category = _category(params)
        symbol, base_coin, settle_coin = _text(params, "symbol"), _text(params, "baseCoin"), _text(params, "settleCoin")
        if category == "linear" and not (symbol or base_coin or settle_coin):
            raise RestError(10001, "Missing some parameters that must be filled in, symbol or settleCoin or baseCoin")
        cancelled = self.exchange.engine.cancel_all(category, symbol, settle_coin)
        if base_coin:
            cancelled = [o for o in cancelled if o.instrument.base_coin == base_coin]
        listed = [{"orderId": o.order_id, "orderLinkId": o.order_link_id} for o in cancelled]
        return self._ok({"list": listed, "success": "1"})

    async def set_leverage(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        category = _category(params)
        if category not in ("linear", "inverse"):
            raise RestError(10001, "Illegal category")
        symbol = _required(params, "symbol")
        leverage = _leverage(_required(params, "buyLeverage"), _required(params, "sellLeverage"))
        try:
            self.exchange.set_leverage(category, symbol, leverage)
        except Rejection as error:
            raise _rejected(error) from None
        return self._ok({})

    async def fee_rate(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        category = _category(params)
        symbol = _text(params, "symbol")
        symbols = [symbol] if symbol else sorted(self.exchange.market.symbols(category))
        maker = wire.plain(MAKER_FEE_RATE.get(category, MAKER_FEE_RATE["linear"]))
        taker = wire.plain(TAKER_FEE_RATE.get(category, TAKER_FEE_RATE["linear"]))
        rows = [
            {"symbol": s, "baseCoin": "" if category != "option" else s, "takerFeeRate": taker, "makerFeeRate": maker}
            for s in symbols
        ]
        return self._ok({"list": rows})


def _leverage(buy: str, sell: str) -> Decimal:
    """One-way mode's single leverage from ``buyLeverage``/``sellLeverage`` (10001 unless equal numbers)."""
    try:  # NaN would raise on the range check
        buy_lev, sell_lev = read_decimal(buy, "buyLeverage"), read_decimal(sell, "sellLeverage")
    except NumberError:
        raise RestError(10001, "params error: leverage invalid") from None
    if buy_lev != sell_lev:
        raise RestError(10001, "buy leverage must be equal to sell leverage in one-way mode")
    return buy_lev


def _coin_rows(market: ExchangeMarket) -> list[dict[str, Any]]:
    """``asset/coin/query-info`` rows for the settle coin and every listed base coin (ccxt reads them)."""
    coins = {"USDT"}
    for category in ("linear", "spot"):
        for symbol in market.symbols(category):
            coins.add(market.instrument(category, symbol).base_coin)
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
