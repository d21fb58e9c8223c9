"""A recording served as a Bybit v5 host (``fluxum sim --replay PATH``): any Bybit client can consume a replay.

One timeline for every client, as an exchange has: it starts when the first client arrives (a WebSocket or a REST
request, so a client started after the host misses nothing) and runs at ``speed`` times the recorded pace. The
host then plays the recording's records in the file's order at their recorded times:

* a frame the recording received on a link is pushed, as its raw text, to each client of that link's path
  (``/v5/public/linear``, ``/v5/private``) subscribed to its topic; a frame with no topic that is no control reply
  (a malformed frame) goes to every client of the link; the recorded replies to the recorded session's own
  subscribes, auths and pings are never pushed: the host answers its clients' requests itself, in Bybit's shapes,
  with their own ``req_id``;
* a recorded disconnect happens: when the exchange closed a recorded connection, the host closes its clients of
  that link with the same code; when the transport failed or the session found the link dead, it drops their TCP
  connections, after answering no ping from that connection's last frame on (a half-open link). A close the
  recorded session made on its own (a stop, the other link's loss) closes nobody;
* REST reads are answered with the recorded reply (status, rate-limit headers, body) to the same method, path
  and query (or body), the latest given by now on the timeline; a request the recording never saw gets Bybit's
  error (``10001`` for a recorded path, ``404``/``10017`` for any other), never a crash.

A client subscribing late gets the state of the topic now first (:mod:`~.replay_topics`), then the recorded
frames; a topic the recording does not hold is refused as Bybit refuses an unknown one. The private stream takes
any auth (the host holds no account and checks no key) and refuses a private subscribe before it. After the last
record the host keeps serving (connections stay open, REST answers as at the end) until it is stopped.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from exchange.bybit.protocol import FrameKind, classify
from exchange.bybit.sim import private_ws, public_ws
from exchange.bybit.sim.clock import SimClock
from exchange.bybit.sim.connection import ConnectionRegistry, SimConnection
from exchange.bybit.sim.replay_topics import TopicMemory
from exchange.bybit.sim.rest_common import RateLimiter, RestSite, envelope, json_response
from exchange.bybit.sim.site_access import SiteAddress, site_middleware
from exchange.printable import printable
from exchange.recording.served import RecordedSocket, ServedRecording, topic_of

__all__ = ["Playback", "ReplayHost"]

log = logging.getLogger(__name__)

MAX_CLIENT_FRAME = 64 * 1024
YIELD_EVERY = 256  # records played between two turns of the loop when many are due at once (a slow start)
UNRECORDED = 10001  # Bybit's "request parameter error": the nearest of its codes to "not in the recording"


class Playback:
    """The host's timeline: the recording's milliseconds, running at ``speed`` from :meth:`begin`."""

    def __init__(self, start_ms: int, speed: float) -> None:
        if not speed > 0:
            raise ValueError("the speed must be above 0")
        self.start_ms = start_ms
        self.speed = speed
        self._began: float | None = None

    @property
    def began(self) -> bool:
        return self._began is not None

    def begin(self) -> None:
        if self._began is None:
            self._began = asyncio.get_running_loop().time()

    def now_ms(self) -> float:
        """Where the timeline is, in the recording's epoch milliseconds (its start until it begins)."""
        if self._began is None:
            return float(self.start_ms)
        return self.start_ms + (asyncio.get_running_loop().time() - self._began) * 1000.0 * self.speed

    async def reach(self, at_ms: float) -> None:
        """Wait until the timeline reaches ``at_ms``."""
        ahead = at_ms - self.now_ms()
        if ahead > 0:
            await asyncio.sleep(ahead / 1000.0 / self.speed)


class PlaybackClock(SimClock):
    """The server time the host's own answers carry (its errors, pongs): the recording's, as played."""

    __slots__ = ("_playback",)

    def __init__(self, playback: Playback) -> None:
        super().__init__()
        self._playback = playback

    def now_ms(self) -> int:
        return int(self._playback.now_ms())

    def now_ns(self) -> int:
        return int(self._playback.now_ms() * 1_000_000)


@dataclass
class _NoRestFaults:
    """The host injects no faults of its own: the recording's are in its replies."""

    forbidden: bool = False
    rate_limited: bool = False
    rate_limit_reset_ms: int = 0


@dataclass(eq=False)
class _Client:
    """One WebSocket client of the host: its link (``public``, ``private``), category, and whether it authed."""

    conn: SimConnection
    link: str
    category: str
    authed: bool = False


class ReplayHost:
    """The server: ``start()``, ``stop()``, ``base_url``, ``ws_url``; ``finished`` is set after the last record,
    ``counters`` counts what was pushed, dropped and refused."""

    def __init__(
        self, recording: ServedRecording, *, host: str = "127.0.0.1", port: int = 0, speed: float = 1.0
    ) -> None:
        self.recording = recording
        self.host = host
        self.speed = speed
        self.counters: Counter[str] = Counter()
        self.playback = Playback(recording.first_ms, speed)
        self.clock = PlaybackClock(self.playback)
        self.address = SiteAddress(host, port)
        self.connections = ConnectionRegistry(self.counters)
        self.memory = TopicMemory()
        self.finished = asyncio.Event()
        self._clients: dict[str, set[_Client]] = {}
        self._current: dict[str, RecordedSocket] = {}  # link -> its recorded connection open now
        self._player: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self.app = self._build_app()

    def _build_app(self) -> web.Application:
        site = RestSite(self.clock, self.counters, _NoRestFaults(), RateLimiter())
        app = web.Application(middlewares=[site_middleware(self.address, site)], client_max_size=1024 * 1024)
        app.router.add_get("/v5/public/{category}", self._serve_socket)
        app.router.add_get("/v5/private", self._serve_socket)
        app.router.add_route("*", "/{path:.*}", self._serve_rest)
        return app

    # ----------------------------------------------------------------------------------------- addresses

    @property
    def base_url(self) -> str:
        return self.address.base_url

    @property
    def ws_url(self) -> str:
        return self.address.ws_url

    # ----------------------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Listen; the recording plays from the first client's arrival."""
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.address.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        sockets = getattr(site._server, "sockets", None) or []
        if sockets:
            self.address.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop playing and close every socket (1001 going away); safe to call twice."""
        tasks = [t for t in (self._player, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(c.close(code=1001) for c in self.connections.all()), return_exceptions=True)
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> ReplayHost:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _arrived(self) -> None:
        """A client arrived: the first one starts the timeline."""
        if self._player is None:
            self.playback.begin()
            self._player = asyncio.get_running_loop().create_task(self._play(), name="replay-host-player")

    # ----------------------------------------------------------------------------------------- playing

    async def _play(self) -> None:
        played = 0
        try:
            for record in self.recording.records():
                at = record.get("wall_ms")
                if isinstance(at, int) and at > self.playback.now_ms():
                    await self.playback.reach(at)
                elif (played := played + 1) % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                self._play_record(record)
        except OSError as error:  # the file went away or broke while playing: what was played stays played
            log.warning("the recording could not be read further: %s", error.strerror or error)
        except Exception:  # a bug must not end the host silently: the clients keep what they have
            log.exception("the replay stopped")
        self.finished.set()
        log.info("the recording ended: %d frames pushed", self.counters["replay.pushed"])

    def _play_record(self, record: dict[str, Any]) -> None:
        kind, conn = record.get("type"), record.get("conn")
        socket = self.recording.sockets.get(conn) if isinstance(conn, int) else None
        if socket is None:
            return
        if kind == "open":
            self._current[socket.link] = socket
        elif kind == "frame":
            self._push(socket.link, record)
        elif kind == "close":
            self._end(socket)

    def _push(self, link: str, record: dict[str, Any]) -> None:
        text = record.get("text")
        if not isinstance(text, str):
            self.counters["replay.binary_skipped"] += 1  # Bybit sends text; a binary frame is not replayed
            return
        topic = topic_of(text)
        if topic is None and _is_control_reply(text):
            return
        if topic is not None and link == "public":
            self.memory.take(topic, text)
        for client in self._clients.get(link, ()):
            if topic is None or topic in client.conn.subscriptions:
                client.conn.send_text(text)
                self.counters["replay.pushed"] += 1

    def _end(self, socket: RecordedSocket) -> None:
        """A recorded connection ended: its disconnect happens to this link's clients (see the module doc)."""
        ending = socket.ending()
        if ending is None:
            return
        for client in list(self._clients.get(socket.link, ())):
            self.counters["replay.disconnects"] += 1
            if ending.code is None:
                client.conn.abort()
            else:
                reason = printable(ending.reason, 100).encode("ascii", "replace")
                self._spawn(client.conn.close(code=ending.code, message=reason))

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _silent(self, link: str) -> bool:
        socket = self._current.get(link)
        return socket is not None and socket.silent_at(self.playback.now_ms())

    # ----------------------------------------------------------------------------------------- sockets

    async def _serve_socket(self, request: web.Request) -> web.StreamResponse:
        link = self.recording.link_of(request.path)
        if link is None:
            raise web.HTTPNotFound(text=f"{request.path[:100]} is not in the recording")
        self._arrived()
        ws = web.WebSocketResponse(autoping=False, max_msg_size=MAX_CLIENT_FRAME, timeout=2.0, compress=False)
        await ws.prepare(request)
        category = request.match_info.get("category", "")
        client = _Client(self.connections.open(ws, request, f"{link}:{category}" if category else link), link, category)
        self._clients.setdefault(link, set()).add(client)
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    self._on_text_guarded(client, message.data)
                elif message.type is WSMsgType.PING and not self._silent(link):
                    await client.conn.answer_ping(message.data)
                elif message.type is WSMsgType.ERROR:
                    break
        except Exception as error:  # a reset mid-read ends the connection, never the host
            log.debug("replay client %s ended: %r", client.conn.conn_id, error)
        finally:
            self._clients[link].discard(client)
            await self.connections.close(client.conn)
        return ws

    def _on_text_guarded(self, client: _Client, text: str) -> None:
        try:
            self._on_text(client, text)
        except Exception:  # a request the host fails on is counted and logged; the connection and host go on
            self.counters["replay.handler_errors"] += 1
            log.exception("replay client %s: request failed", client.conn.conn_id)

    def _on_text(self, client: _Client, text: str) -> None:
        """One client request: ping, auth, subscribe, unsubscribe; anything else is answered and counted."""
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            self.counters["replay.rejected"] += 1
            client.conn.send_text(public_ws.decode_error(text))
            return
        op, req_id = request.get("op"), request.get("req_id")
        if op == "ping":
            if not self._silent(client.link):
                client.conn.send_pong(self._pong(client, req_id))
        elif op == "auth" and client.link == "private":
            client.authed = isinstance(request.get("args"), list)
            self._reply(client, "auth", client.authed, "" if client.authed else "Params Error", req_id)
        elif op in ("subscribe", "unsubscribe"):
            self._subscribe(client, str(op), request.get("args"), req_id)
        else:
            self.counters["replay.rejected"] += 1
            self._reply(client, str(op) if op is not None else "", False, "error:invalid op", req_id)

    def _subscribe(self, client: _Client, op: str, args: Any, req_id: Any) -> None:
        if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
            self._reply(client, op, False, "Params Error", req_id)
            return
        if client.link == "private" and not client.authed:
            self._reply(client, op, False, private_ws.NOT_AUTHORIZED, req_id)
            return
        subscribed = client.conn.subscriptions
        if op == "unsubscribe":
            subscribed.difference_update(args)
            self._reply(client, op, True, "", req_id)
            return
        known = self.recording.topics.get(client.link, set())
        failures = [f"error:handler not found,topic:{t}" for t in args if t not in known]
        failures += [f"error:already subscribed,topic:{t}" for t in args if t in known and t in subscribed]
        accepted = [t for t in dict.fromkeys(args) if t in known and t not in subscribed]
        subscribed.update(accepted)
        success_text = "subscribe" if client.category == "spot" else ""
        self._reply(client, op, not failures, failures[0] if failures else success_text, req_id)
        for topic in accepted:
            snapshot = self.memory.snapshot(topic)
            if snapshot is not None:
                client.conn.send_text(snapshot)

    def _reply(self, client: _Client, op: str, success: bool, ret_msg: str, req_id: Any) -> None:
        conn = client.conn
        if client.link == "private":
            conn.send_json(private_ws.control_reply(conn.conn_id, op, success, ret_msg, req_id))
        else:
            conn.send_json(public_ws.control_reply(client.category, conn, success, ret_msg, op, req_id))

    def _pong(self, client: _Client, req_id: Any) -> dict[str, Any]:
        if client.link == "private":
            return private_ws.pong(client.conn.conn_id, req_id, self.clock.now_ms())
        return public_ws.control_reply(client.category, client.conn, True, "pong", "ping", req_id)

    # ----------------------------------------------------------------------------------------- REST

    async def _serve_rest(self, request: web.Request) -> web.StreamResponse:
        self._arrived()
        try:
            body = await request.read() if request.can_read_body else None
            recorded = self.recording.replies.answer(
                request.method, request.path, request.rel_url.raw_query_string, body, self.playback.now_ms()
            )
        except Exception:  # a request the host cannot read is Bybit's system error, never a crash
            log.exception("REST request %s %s failed", request.method, request.path[:100])
            return self._error(10016, "System error. Please try again later.")
        if recorded is not None:
            self.counters["replay.rest_answered"] += 1
            return _recorded_response(recorded)
        self.counters["replay.rest_unrecorded"] += 1
        path = request.path
        if self.recording.replies.knows(path):
            return self._error(UNRECORDED, f"{request.method} {path[:100]} with this query is not in the recording")
        if path.startswith("/v5/"):
            return self._error(10017, "route not found", status=404)
        return web.Response(status=404, text="404: Not Found")

    def _error(self, code: int, message: str, status: int = 200) -> web.Response:
        return json_response(envelope(None, code, message, self.clock.now_ms()), status=status)


def _recorded_response(record: dict[str, Any]) -> web.Response:
    """The recorded reply as it came: status, the rate-limit headers kept, the body's text."""
    text = str(record.get("reply") or "")
    kept = record.get("headers")
    headers = {str(k): str(v) for k, v in kept.items()} if isinstance(kept, dict) else {}
    kind = "application/json" if text.lstrip().startswith("{") else "text/plain"
    return web.Response(status=int(record["status"]), text=text, headers=headers, content_type=kind)


def _is_control_reply(text: str) -> bool:
    """Whether a recorded frame answered the recorded session's own request (subscribe, auth, ping)."""
    try:
        frame = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return isinstance(frame, dict) and classify(frame) in (FrameKind.SUBSCRIBE, FrameKind.AUTH, FrameKind.PONG)
