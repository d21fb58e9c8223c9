"""Control endpoints of the local exchange, outside ``/v5``: faults on demand over HTTP.

Registered only when the server runs with ``faults_enabled`` (``fluxum sim --faults``); otherwise every
``/_sim/...`` path is a plain 404, counters included. Every request carries the run's token
(``X-Fluxum-Sim-Token: <sim.control_token>``) and every POST ``Content-Type: application/json``; who may call is
decided in :mod:`exchange.bybit.sim.control_access` (a refusal is HTTP 403 and applies nothing). Bodies are JSON
objects (an empty body is ``{}``); answers are JSON (``{"ok": true, ...}``, or HTTP 400
``{"ok": false, "error": "..."}`` for a bad body). Each call is counted in ``sim.counters`` under
``faults.<name>``, exactly like the Python API (:class:`~.faults.Faults`) it wraps.

==========================  ==========================================================  =================
endpoint                    body                                                        effect
==========================  ==========================================================  =================
``GET /_sim/counters``      --                                                          every counter
``POST /_sim/drop``         ``{"kind": "public:linear", "code": 4000}``; kind "" = all,  drop sockets
                            code null or 1006 = abrupt (no close frame)
``POST /_sim/stall``        ``{"seconds": 5, "kind": ""}`` (0 ends a stall)             half-open link
``POST /_sim/lose_pongs``   ``{"count": 1, "kind": "public"}``                          pongs not sent
``POST /_sim/skip_u``       ``{"topic": "orderbook.50.BTCUSDT", "category": "linear"}``  next delta u + 2
``POST /_sim/unreadable``   ``{"topic": "orderbook.50.BTCUSDT", "category": null}``      next delta has a
                                                                                        non-numeric size
``POST /_sim/restart``      ``{"topic": "orderbook.50.BTCUSDT", "category": null}``      u == 1 snapshot
``POST /_sim/malformed``    ``{"kind": "bad_json", "count": 1, "conn_kind": "public"}``  broken frames
                            kinds: bad_json, wrong_types, missing_keys, oversized
``POST /_sim/flood``        ``{"topic": "orderbook.50.BTCUSDT", "count": 10000}``       burst of deltas
                            (``"category"`` defaults to "linear"; answers when all sent)
``POST /_sim/executions``   ``{"duplicate": 2, "delay_s": 1.5, "list_lag_reads": 1}``   dup / late fills,
                            (the next N execution/list reads omit fills made from now)  a trailing list,
                            ``{"corrupt": {"execPrice": "1E+999999999"}, "count": 1}``  absurd fields
``POST /_sim/auth``         ``{"delay_s": 2.0, "reject": true, "message": "..."}``      auth faults
``POST /_sim/rate_limit``   ``{"seconds": 3}``                                          REST 10006
``POST /_sim/forbid``       ``{"seconds": 3}``                                          REST HTTP 403
``POST /_sim/clock``        ``{"offset_ms": -7000}``                                    clock offset
``POST /_sim/pause``        --                                                          market stops
``POST /_sim/resume``       --                                                          market moves
``POST /_sim/clear``        --                                                          lasting faults off
==========================  ==========================================================  =================
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from exchange.bybit.sim.connection import ConnectionRegistry
from exchange.bybit.sim.control_access import refusal
from exchange.bybit.sim.faults import Faults
from exchange.bybit.sim.site_access import CONTROL_PREFIX, SiteAddress

log = logging.getLogger(__name__)


class BadBody(Exception):
    """A control request the server cannot act on (answered 400)."""


Handler = Callable[[web.Request], Awaitable[web.Response]]


@dataclass(frozen=True)
class Control:
    """What the control endpoints act on and check: the faults, what they report, who may call."""

    faults: Faults
    counters: Counter[str]
    connections: ConnectionRegistry
    token: str
    address: SiteAddress


def add_routes(app: web.Application, control: Control) -> None:
    router = app.router
    router.add_get(f"{CONTROL_PREFIX}counters", _guarded(control, _counters(control)))
    for name, action in ACTIONS.items():
        router.add_post(f"{CONTROL_PREFIX}{name}", _guarded(control, _endpoint(control, action)))


def _guarded(control: Control, handler: Handler) -> Handler:
    """``handler`` behind the access checks: a refused request is answered 403 before its body is read."""

    async def guarded(request: web.Request) -> web.Response:
        refused = refusal(request, control.token, control.address.host, control.address.port)
        if refused is not None:
            check, reason = refused
            counters = control.counters
            counters["control.refused"] += 1
            counters[f"control.refused.{check}"] += 1
            if counters[f"control.refused.{check}"] == 1:  # the first of a kind; the rest are counted
                log.warning("control request refused (%s): %s", check, reason)
            return _answer({"ok": False, "error": reason}, status=403)
        return await handler(request)

    return guarded


def _answer(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _counters(control: Control) -> Handler:
    async def counters(request: web.Request) -> web.Response:
        every = dict(sorted(control.counters.items()))
        return _answer({"ok": True, "counters": every, "connections": len(control.connections)})

    return counters


Action = Callable[[Faults, dict[str, Any]], Awaitable[dict[str, Any]]]


def _endpoint(control: Control, action: Action) -> Handler:
    async def handler(request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = orjson.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise BadBody("the body must be a JSON object")
            result = await action(control.faults, body)
        except (BadBody, ValueError, TypeError) as error:
            control.counters["control.rejected"] += 1
            return _answer({"ok": False, "error": str(error)}, status=400)
        return _answer({"ok": True, **result})

    return handler


def _number(body: dict[str, Any], key: str, default: float | None = None) -> float:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadBody(f"{key} must be a number")
    if value < 0:
        raise BadBody(f"{key} must be >= 0")
    return float(value)


def _text(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str):
        raise BadBody(f"{key} must be a string")
    return value


def _optional_text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise BadBody(f"{key} must be a string or null")
    return value


async def _drop(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    code = body.get("code")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int) or not 1000 <= code <= 4999):
        raise BadBody("code must be a close code (1000-4999) or null")
    dropped = await faults.drop_connections(_text(body, "kind", ""), code)
    return {"dropped": dropped}


async def _stall(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    faults.stall(_number(body, "seconds"), _text(body, "kind", ""))
    return {}


async def _lose_pongs(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= 1000:
        raise BadBody("count must be an integer from 0 to 1000")
    faults.lose_pongs(count, _text(body, "kind", ""))
    return {}


async def _skip_u(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    faults.skip_u(_text(body, "topic"), _optional_text(body, "category"))
    return {}


async def _unreadable(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    faults.unreadable_delta(_text(body, "topic"), _optional_text(body, "category"))
    return {}


async def _restart(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    faults.restart_snapshot(_text(body, "topic"), _optional_text(body, "category"))
    return {}


async def _malformed(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
        raise BadBody("count must be an integer from 1 to 1000")
    sent = faults.malformed(_text(body, "kind"), count, _text(body, "conn_kind", ""))
    return {"sent": sent}


async def _flood(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    count = body.get("count", 10_000)
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000_000:
        raise BadBody("count must be an integer from 1 to 10000000")
    sent = await faults.flood(_text(body, "topic"), count, _text(body, "category", "linear"))
    return {"sent": sent}


async def _executions(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    if "duplicate" in body:
        faults.duplicate_executions = int(_number(body, "duplicate"))
    if "delay_s" in body:
        faults.execution_delay_s = _number(body, "delay_s")
    if "list_lag_reads" in body:
        reads = body["list_lag_reads"]
        if isinstance(reads, bool) or not isinstance(reads, int) or not 0 <= reads <= 1000:
            raise BadBody("list_lag_reads must be an integer from 0 to 1000")
        faults.lag_execution_list(reads)
    if "corrupt" in body:  # {"corrupt": {"execPrice": "1E+999999999"}, "count": 1}
        fields = body["corrupt"]
        if not isinstance(fields, dict) or not fields or len(fields) > 50:
            raise BadBody("corrupt must be an object of execution fields to show wrong")
        count = body.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 1000:
            raise BadBody("count must be an integer from 1 to 1000")
        faults.corrupt_executions(fields, count)
    return {"duplicate": faults.duplicate_executions, "delay_s": faults.execution_delay_s}


async def _auth(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    if "delay_s" in body:
        faults.auth_delay_s = _number(body, "delay_s")
    if "reject" in body:
        if not isinstance(body["reject"], bool):
            raise BadBody("reject must be true or false")
        faults.auth_reject = body["reject"]
    if "message" in body:
        if not isinstance(body["message"], str) or not body["message"]:
            raise BadBody("message must be a non-empty string")
        faults.auth_reject_message = body["message"]
    return {
        "delay_s": faults.auth_delay_s,
        "reject": faults.auth_reject,
        "message": faults.auth_reject_message,
    }


async def _rate_limit(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    faults.rate_limit_for(_number(body, "seconds"))
    return {"reset_ms": faults.rate_limit_reset_ms}


async def _forbid(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    faults.forbid_for(_number(body, "seconds"))
    return {}


async def _clock(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    offset = body.get("offset_ms")
    if isinstance(offset, bool) or not isinstance(offset, int):
        raise BadBody("offset_ms must be an integer")
    faults.set_clock_offset(offset)
    return {"offset_ms": offset}


async def _pause(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    faults.pause_market()
    return {}


async def _resume(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    faults.resume_market()
    return {}


async def _clear(faults: Faults, body: dict[str, Any]) -> dict[str, Any]:
    faults.clear()
    return {}


ACTIONS: dict[str, Action] = {
    "drop": _drop,
    "stall": _stall,
    "lose_pongs": _lose_pongs,
    "skip_u": _skip_u,
    "unreadable": _unreadable,
    "restart": _restart,
    "malformed": _malformed,
    "flood": _flood,
    "executions": _executions,
    "auth": _auth,
    "rate_limit": _rate_limit,
    "forbid": _forbid,
    "clock": _clock,
    "pause": _pause,
    "resume": _resume,
    "clear": _clear,
}
