"""The private WebSocket (``/v5/private``): Bybit's auth op, private topics and the account's pushes.

One :class:`PrivateHub` per server listens to the account and fans every push out to the authenticated
connections subscribed to its topic (``order`` or ``order.linear`` ...), encoding each message once. Pushes
use Bybit's private envelope ``{"id", "topic", "creationTime", "data": [...]}`` with no ``ts``/``type``, and
there is no snapshot on subscribe (a client bootstraps over REST). The execution faults live here because
they are about delivery, not about the account: an execution can be pushed twice (same ``execId``) or late,
while its order and position pushes stay on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from aiohttp import WSMsgType, web

from exchange.bybit.sim import wire
from exchange.bybit.sim.account import Account
from exchange.bybit.sim.auth import AuthFailure, verify_ws_auth
from exchange.bybit.sim.clock import SimClock
from exchange.bybit.sim.connection import ConnectionRegistry, SimConnection
from exchange.bybit.sim.venue import SimExchange

log = logging.getLogger(__name__)

KIND = "private"
MAX_FRAME_BYTES = 64 * 1024
DEFAULT_MAX_ACTIVE_S = 600.0
"""Bybit cuts a private connection that sent nothing (not even a ping) for 10 minutes."""
MIN_MAX_ACTIVE_S, MAX_MAX_ACTIVE_S = 30.0, 600.0
CATEGORIES = {
    "order": ("spot", "linear", "inverse", "option"),
    "execution": ("spot", "linear", "inverse", "option"),
    "execution.fast": ("spot", "linear", "inverse", "option"),
    "position": ("linear", "inverse", "option"),
    "wallet": (),
    "greeks": (),
}
NOT_AUTHORIZED = "Request not authorized"
"""Bybit's reply to a private subscribe before auth is undocumented; this is its v3 wording."""

_ACTIVE_TIME = re.compile(r"^(\d+)([sm]?)$")


def _topic_forms() -> dict[str, tuple[str, str | None]]:
    """Every subscribable topic -> (base topic, category or None for the all-in-one form)."""
    forms: dict[str, tuple[str, str | None]] = {}
    for base, categories in CATEGORIES.items():
        forms[base] = (base, None)
        for category in categories:
            forms[f"{base}.{category}"] = (base, category)
    return forms


TOPICS = _topic_forms()


def parse_max_active_time(text: str | None) -> float:
    """``?max_active_time=`` as Bybit takes it (``30s`` .. ``10m``); anything else keeps 10 minutes."""
    if not text:
        return DEFAULT_MAX_ACTIVE_S
    match = _ACTIVE_TIME.match(text.strip())
    if not match:
        return DEFAULT_MAX_ACTIVE_S
    seconds = float(match.group(1)) * (60 if match.group(2) == "m" else 1)
    return min(MAX_MAX_ACTIVE_S, max(MIN_MAX_ACTIVE_S, seconds))


class DeliveryFaults(Protocol):
    """The private stream's faults (see :class:`~.faults.Faults`): duplicated or late executions, auth faults."""

    duplicate_executions: int
    auth_reject_message: str

    @property
    def execution_delay_s(self) -> float: ...

    @property
    def auth_delay_s(self) -> float: ...

    @property
    def auth_reject(self) -> bool: ...


@dataclass
class PrivateSession:
    """One private connection's state: who authenticated and what it subscribed to."""

    conn: SimConnection
    api_key: str | None = None

    @property
    def topics(self) -> set[str]:
        """The subscribed topic forms, kept on the connection so connection-wide faults see them."""
        return self.conn.subscriptions

    @property
    def authed(self) -> bool:
        return self.api_key is not None


class PrivateHub:
    """The account's pushes fanned out to subscribed private sessions, with the execution faults applied."""

    def __init__(
        self,
        exchange: SimExchange,
        faults: DeliveryFaults,
        connections: ConnectionRegistry,
        clock: SimClock,
        counters: Counter[str],
    ) -> None:
        self.exchange = exchange
        self.faults = faults
        self.connections = connections
        self.clock = clock
        self.counters = counters
        self.sessions: dict[str, PrivateSession] = {}
        self._timers: set[asyncio.TimerHandle] = set()
        exchange.add_listener(self.on_push)

    def close(self) -> None:
        """Detach from the account and forget scheduled (delayed) pushes."""
        self.exchange.remove_listener(self.on_push)
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    # ------------------------------------------------------------------------------------------ fan-out

    def on_push(self, topic: str, records: list[dict[str, Any]]) -> None:
        """One account event: encode per subscribed topic form, then deliver (maybe duplicated or late)."""
        if not self.sessions:
            return
        subscribers = [s for s in self.sessions.values() if s.authed and s.topics and not s.conn.closed]
        if not subscribers:
            return
        frames: dict[str, bytes] = {}
        if topic == "execution":  # the fast stream is the low-latency one: it goes first
            frames.update(self._frames("execution.fast", records, subscribers))
        frames.update(self._frames(topic, records, subscribers))
        if not frames:
            return
        duplicates = self._duplicates(topic, records, subscribers)
        delay = self.faults.execution_delay_s
        if topic == "execution" and delay > 0:
            self.counters["ws.private.delayed_executions"] += len(records)
            loop = asyncio.get_running_loop()
            timer: asyncio.TimerHandle | None = None

            def later() -> None:
                if timer is not None:
                    self._timers.discard(timer)
                self._deliver(frames, duplicates)

            timer = loop.call_later(delay, later)
            self._timers.add(timer)
            return
        self._deliver(frames, duplicates)

    def _duplicates(
        self, topic: str, records: list[dict[str, Any]], subscribers: list[PrivateSession]
    ) -> dict[str, bytes]:
        """The executions the duplicate fault sends twice (it counts its budget down), as frames."""
        budget = self.faults.duplicate_executions
        if topic != "execution" or budget <= 0:
            return {}
        dup_records = records[:budget]
        self.faults.duplicate_executions = budget - len(dup_records)
        self.counters["ws.private.duplicated_executions"] += len(dup_records)
        return self._frames(topic, dup_records, subscribers)

    def _frames(
        self,
        topic: str,
        records: list[dict[str, Any]],
        subscribers: list[PrivateSession],
    ) -> dict[str, bytes]:
        """``{topic form: encoded message}`` for the forms someone subscribed to."""
        wanted = {t for s in subscribers for t in s.topics if TOPICS[t][0] == topic}
        if not wanted:
            return {}
        account = self.exchange.account
        now = self.clock.now_ms()
        frames: dict[str, bytes] = {}
        for form in sorted(wanted):
            category = TOPICS[form][1]
            data = records if category is None else [r for r in records if r.get("category") == category]
            if topic == "execution.fast":
                data = [wire.fast_execution_record(r) for r in data if r.get("execType") == "Trade"]
            if not data:
                continue
            if topic == "execution.fast":
                message: dict[str, Any] = {"topic": form, "creationTime": now, "data": data}
            else:
                message = {
                    "id": self._message_id(account, topic, data),
                    "topic": form,
                    "creationTime": now,
                    "data": data,
                }
            frames[form] = orjson.dumps(message)
        return frames

    @staticmethod
    def _message_id(account: Account, topic: str, data: list[dict[str, Any]]) -> str:
        """Execution and position pushes carry ``<uid>_<symbol>_<seq>`` like Bybit's; others an opaque id."""
        first = data[0]
        if topic in ("execution", "position") and "seq" in first:
            return f"{account.uid}_{first.get('symbol', '')}_{first['seq']}"
        return str(account.push_id(topic))

    def _deliver(self, frames: dict[str, bytes], duplicates: dict[str, bytes]) -> None:
        for session in list(self.sessions.values()):
            if not session.authed or session.conn.closed:
                continue
            topics = session.topics
            for form, frame in frames.items():
                if form not in topics:
                    continue
                session.conn.send_bytes_text(frame)
                self.counters["ws.private.pushes"] += 1
                again = duplicates.get(form)
                if again is not None:
                    session.conn.send_bytes_text(again)

    # ----------------------------------------------------------------------------------------- socket

    async def serve(self, request: web.Request) -> web.StreamResponse:
        """One private connection, from upgrade to close (Bybit cuts it after ``max_active_time`` idle)."""
        idle_s = parse_max_active_time(request.query.get("max_active_time"))
        ws = web.WebSocketResponse(autoping=False, max_msg_size=MAX_FRAME_BYTES)
        await ws.prepare(request)
        conn = self.connections.open(ws, request, KIND)
        session = PrivateSession(conn)
        self.sessions[conn.conn_id] = session
        try:
            while not conn.closed:
                try:
                    msg = await ws.receive(timeout=idle_s)
                except TimeoutError:
                    self.counters["ws.private.idle_cut"] += 1
                    await conn.close(code=1000, message=b"max_active_time")
                    break
                if msg.type == WSMsgType.TEXT:
                    await self.handle(session, msg.data)
                elif msg.type == WSMsgType.PING:
                    await conn.answer_ping(msg.data)
                elif msg.type == WSMsgType.PONG:
                    continue
                elif msg.type == WSMsgType.BINARY:
                    self.counters["ws.private.bad_frame"] += 1
                elif msg.type == WSMsgType.ERROR:
                    self.counters["ws.private.bad_frame"] += 1
                    break
                else:  # CLOSE / CLOSING / CLOSED
                    break
        except Exception:  # a client must never take the server down
            self.counters["ws.private.handler_error"] += 1
            log.exception("private connection %s failed", conn.conn_id)
        finally:
            self.sessions.pop(conn.conn_id, None)
            await self.connections.close(conn)
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()
        return ws

    # ----------------------------------------------------------------------------------------- requests

    async def handle(self, session: PrivateSession, text: str) -> None:
        """One text frame from a client; bad input is answered or counted, never raised."""
        conn = session.conn
        try:
            message = orjson.loads(text)
        except orjson.JSONDecodeError:
            self.counters["ws.private.bad_frame"] += 1
            conn.send_text(f"Failed to decode incoming data:{text[:64]!r}")
            return
        if not isinstance(message, dict):
            self.counters["ws.private.bad_frame"] += 1
            conn.send_json({"success": False, "ret_msg": "error:invalid op", "conn_id": conn.conn_id})
            return
        op = message.get("op")
        req_id = message.get("req_id")
        if op == "ping":
            self._pong(session, req_id)
        elif op == "auth":
            await self._auth(session, message.get("args"), req_id)
        elif op in ("subscribe", "unsubscribe"):
            self._subscribe(session, op, message.get("args"), req_id)
        else:
            self.counters["ws.private.bad_op"] += 1
            self._reply(session, op if isinstance(op, str) else "", False, "error:invalid op", req_id)

    def _reply(self, session: PrivateSession, op: str, success: bool, ret_msg: str, req_id: Any) -> None:
        session.conn.send_json(control_reply(session.conn.conn_id, op, success, ret_msg, req_id))

    def _pong(self, session: PrivateSession, req_id: Any) -> None:
        session.conn.send_pong(pong(session.conn.conn_id, req_id, self.clock.now_ms()))

    async def _auth(self, session: PrivateSession, args: Any, req_id: Any) -> None:
        faults = self.faults
        delay = faults.auth_delay_s
        if delay > 0:
            # the reader waits too: what the client sent after auth queues behind it, as on a busy gateway
            self.counters["ws.private.auth_delayed"] += 1
            await asyncio.sleep(delay)
            if session.conn.closed:
                return
        if faults.auth_reject:
            self.counters["ws.private.auth_rejected_by_fault"] += 1
            self.counters["ws.private.auth_fail"] += 1
            self._reply(session, "auth", False, faults.auth_reject_message, req_id)
            return
        try:
            key = verify_ws_auth(args, self.exchange.api_keys, self.clock.now_ms())
        except AuthFailure as failure:
            self.counters["ws.private.auth_fail"] += 1
            log.info("private auth refused on %s: %s", session.conn.conn_id, failure.ret_msg)
            self._reply(session, "auth", False, failure.ret_msg, req_id)
            return
        session.api_key = key.api_key
        self.counters["ws.private.auth_ok"] += 1
        self._reply(session, "auth", True, "", req_id)

    def _subscribe(self, session: PrivateSession, op: str, args: Any, req_id: Any) -> None:
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            self.counters["ws.private.bad_subscribe"] += 1
            self._reply(session, op, False, "Params Error", req_id)
            return
        if not session.authed:
            self.counters["ws.private.unauthorized_subscribe"] += 1
            self._reply(session, op, False, NOT_AUTHORIZED, req_id)
            return
        for topic in args:
            if topic not in TOPICS:
                self.counters["ws.private.bad_subscribe"] += 1
                self._reply(session, op, False, f"error:handler not found,topic:{topic}", req_id)
                return
        if len({TOPICS[t][1] is None for t in args}) > 1:
            self.counters["ws.private.bad_subscribe"] += 1
            self._reply(session, op, False, "Params Error", req_id)
            return
        if op == "subscribe":
            for topic in args:
                if topic in session.topics:
                    self._reply(session, op, False, f"error:already subscribed,topic:{topic}", req_id)
                    return
            session.topics.update(args)
        else:
            session.topics.difference_update(args)
        self._reply(session, op, True, "", req_id)


def control_reply(conn_id: str, op: str, success: bool, ret_msg: str, req_id: Any) -> dict[str, Any]:
    """A reply to an auth, subscribe or unsubscribe in the private stream's shape (``req_id`` when sent)."""
    reply: dict[str, Any] = {"success": success, "ret_msg": ret_msg, "op": op, "conn_id": conn_id}
    if req_id is not None:
        reply["req_id"] = req_id
    return reply


def pong(conn_id: str, req_id: Any, now_ms: int) -> dict[str, Any]:
    """The private stream's pong: the server time in ``args``."""
    reply: dict[str, Any] = {} if req_id is None else {"req_id": req_id}
    reply.update({"op": "pong", "args": [str(now_ms)], "conn_id": conn_id})
    return reply


# ------------------------------------------------------------------------------------------------- routes

HUB_KEY = web.AppKey("fluxum_private_hub", PrivateHub)


def hub_of(app: web.Application) -> PrivateHub:
    """The server's private hub (tests inspect sessions through it)."""
    return app[HUB_KEY]


def add_routes(app: web.Application, hub: PrivateHub) -> None:
    """Serve ``/v5/private`` from the hub; the hub lets go of the account when the app is cleaned up."""
    app[HUB_KEY] = hub

    async def on_cleanup(_: web.Application) -> None:
        hub.close()

    app.on_cleanup.append(on_cleanup)
    app.router.add_get("/v5/private", hub.serve)
