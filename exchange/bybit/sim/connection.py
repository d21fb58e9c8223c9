"""One WebSocket client of the local exchange: a bounded outbound queue drained by one writer task.

Why a queue: the market and the feeds must never wait for a client. Producers enqueue without blocking (one
``orjson`` encoding shared by every subscriber), a single writer per connection drains it, and a client that
cannot keep up (queue full by frames or by bytes) is dropped with close code 1008 and counted as
``ws.slow_client_dropped`` instead of growing memory without limit, as Bybit cuts slow consumers.

Stalls (the half-open fault): while a connection is stalled nothing reaches the socket. Frames produced during
the stall, and frames already queued when it began, are *discarded* (counted as ``ws.stall_dropped``), exactly
what a client behind a dead path loses; after the stall the stream simply continues, so a book client sees a
``u`` gap. WebSocket-protocol pings are answered by :meth:`SimConnection.answer_ping`, which stays silent
while stalled, and the handlers answer JSON pings through the (discarding) queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import Counter, deque
from typing import Any

import orjson
from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

MAX_QUEUE_FRAMES = 2_000
MAX_QUEUE_BYTES = 32 * 1024 * 1024
CLOSE_TIMEOUT_S = 2.0
SLOW_CLIENT_CLOSE = 1008


class SimConnection:
    """A registered WebSocket client: ``conn_id``, ``kind`` ("public:linear", "private" ...), its queue."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        kind: str,
        conn_id: str,
        counters: Counter[str],
        *,
        request: web.Request | None = None,
        max_frames: int = MAX_QUEUE_FRAMES,
        max_bytes: int = MAX_QUEUE_BYTES,
    ) -> None:
        self.ws = ws
        self.kind = kind
        self.conn_id = conn_id
        self.counters = counters
        self.request = request
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.subscriptions: set[str] = set()
        self.closed = False
        self.sent_frames = 0
        self._queue: deque[bytes | str] = deque()
        self._queued_bytes = 0
        self._loop = asyncio.get_running_loop()
        self._stalled_until = 0.0
        self.pongs_to_lose = 0  # the lose_pongs fault: JSON pongs swallowed while everything else flows
        self._wakeup = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._writer: asyncio.Task[None] | None = None
        self._closer: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        queued = len(self._queue)
        return f"SimConnection({self.conn_id!r}, kind={self.kind!r}, queued={queued}, closed={self.closed})"

    # ----------------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the writer; the handler calls this once the WebSocket is prepared."""
        if self._writer is None:
            self._writer = self._loop.create_task(self._write_loop(), name=f"sim-ws-writer-{self.conn_id}")

    async def close(self, code: int = 1000, message: bytes = b"") -> None:
        """Close with a close frame; falls back to an abrupt close when the client does not answer in time."""
        if self.closed and self._writer is None:
            return
        self._shutdown()
        try:
            await asyncio.wait_for(self.ws.close(code=code, message=message), CLOSE_TIMEOUT_S)
        except (TimeoutError, ConnectionError, RuntimeError):
            self.abort()
        except Exception:  # aiohttp raises client-side connection errors from a dead transport
            self.abort()

    def abort(self) -> None:
        """Abrupt close: the TCP connection goes away without a close frame (the client sees 1006)."""
        self._shutdown()
        transport = self.request.transport if self.request is not None else None
        if transport is not None:
            transport.abort()

    def _shutdown(self) -> None:
        self.closed = True
        self._queue.clear()
        self._queued_bytes = 0
        self._room.set()
        writer, self._writer = self._writer, None
        if writer is not None and writer is not asyncio.current_task():
            writer.cancel()

    async def finish(self) -> None:
        """Called by the handler when the socket is gone: stop the writer and any pending close."""
        self._shutdown()
        if self._closer is not None and not self._closer.done():
            await asyncio.gather(self._closer, return_exceptions=True)

    # ----------------------------------------------------------------------------------------- sending

    @property
    def stalled(self) -> bool:
        """True during a stall fault: nothing is sent, pings are not answered."""
        return self._loop.time() < self._stalled_until

    def stall(self, seconds: float) -> None:
        """Stall for ``seconds`` from now (replacing any running stall; 0 ends it)."""
        self._stalled_until = self._loop.time() + seconds

    def send_pong(self, pong: dict[str, Any]) -> None:
        """Send a JSON pong unless the lose_pongs fault swallows it (counted)."""
        if self.pongs_to_lose > 0:
            self.pongs_to_lose -= 1
            self.counters["ws.pongs_lost"] += 1
            return
        self.send_json(pong)

    @property
    def queued(self) -> int:
        return len(self._queue)

    def send_json(self, obj: object) -> None:
        """Encode once and enqueue as a text frame (non-blocking)."""
        self.send_bytes_text(orjson.dumps(obj))

    def send_text(self, text: str) -> None:
        """Enqueue a text frame that is not JSON (Bybit's plain error strings, deliberately broken frames)."""
        self._enqueue(text, len(text))

    def send_bytes_text(self, data: bytes) -> None:
        """Enqueue pre-serialized UTF-8 JSON as a text frame: the fan-out path, no re-encoding per client."""
        self._enqueue(data, len(data))

    def _enqueue(self, item: bytes | str, size: int) -> None:
        if self.closed:
            return
        if self._loop.time() < self._stalled_until:
            self.counters["ws.stall_dropped"] += 1
            return
        if len(self._queue) >= self.max_frames or self._queued_bytes + size > self.max_bytes:
            self.drop_slow()
            return
        self._queue.append(item)
        self._queued_bytes += size
        if not self._wakeup.is_set():
            self._wakeup.set()

    def drop_slow(self) -> None:
        """Drop a client that does not read: close 1008, abort if it does not answer the close either."""
        if self.closed:
            return
        self.counters["ws.slow_client_dropped"] += 1
        log.warning("dropping slow client %s (%s): %d frames queued", self.conn_id, self.kind, len(self._queue))
        self._shutdown()
        self._closer = self._loop.create_task(self._close_slow())

    async def _close_slow(self) -> None:
        with contextlib.suppress(Exception):  # a client too slow to read is often too slow to close
            await asyncio.wait_for(self.ws.close(code=SLOW_CLIENT_CLOSE, message=b"slow client"), CLOSE_TIMEOUT_S)
        transport = self.request.transport if self.request is not None else None
        if transport is not None and not transport.is_closing():
            transport.abort()

    async def wait_room(self, below: int) -> bool:
        """Wait until at most ``below`` frames are queued (back-pressure for floods); False if closed."""
        while not self.closed and len(self._queue) > below:
            self._room.clear()
            await self._room.wait()
        return not self.closed

    async def answer_ping(self, payload: bytes) -> None:
        """Answer a WebSocket-protocol ping, unless stalled (a half-open link answers nothing)."""
        if self.closed:
            return
        if self.stalled:
            self.counters["ws.stall_ignored_pings"] += 1
            return
        with contextlib.suppress(Exception):  # the peer may be gone already
            await self.ws.pong(payload)

    async def _write_loop(self) -> None:
        """Drain the queue: whole batches of frames in one transport write, waiting when the socket is full.

        Frames are framed here (server frames are unmasked and uncompressed, so a header is two to ten bytes)
        because one write per batch instead of one per frame is what lets a reader take many frames per
        ``recv``; aiohttp's own writer is used when the transport is not reachable.
        """
        queue = self._queue
        request = self.request
        transport = request.transport if request is not None else None
        protocol = request.protocol if request is not None else None
        drain = getattr(protocol, "_drain_helper", None)
        low_water = self.max_frames // 4
        try:
            while True:
                if not queue:
                    self._room.set()
                    self._wakeup.clear()
                    await self._wakeup.wait()
                    continue
                if self._loop.time() < self._stalled_until:
                    self.counters["ws.stall_dropped"] += len(queue)
                    queue.clear()
                    self._queued_bytes = 0
                    continue
                if transport is None or drain is None:
                    await self._write_one(queue.popleft())
                    continue
                if transport.is_closing():
                    raise ConnectionResetError("transport closing")
                parts: list[bytes] = []
                size = 0
                while queue and size < _BATCH_BYTES:
                    item = queue.popleft()
                    data = item if item.__class__ is bytes else item.encode()  # type: ignore[union-attr]
                    self._queued_bytes -= len(item)
                    parts.append(_text_frame_header(len(data)))
                    parts.append(data)
                    size += len(data)
                transport.write(b"".join(parts))
                self.sent_frames += len(parts) // 2
                if len(queue) <= low_water and not self._room.is_set():
                    self._room.set()
                if transport.get_write_buffer_size() > _HIGH_WATER:
                    await drain()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the peer went away mid-write: the handler's read loop ends the connection
            log.debug("writer of %s stopped: %r", self.conn_id, error)
            self.closed = True
            self._room.set()

    async def _write_one(self, item: bytes | str) -> None:
        self._queued_bytes -= len(item)
        if item.__class__ is bytes:
            await self.ws.send_frame(item, WSMsgType.TEXT)
        else:
            await self.ws.send_str(item)  # type: ignore[arg-type]
        self.sent_frames += 1


_BATCH_BYTES = 256 * 1024
_HIGH_WATER = 256 * 1024


def _text_frame_header(length: int) -> bytes:
    """RFC 6455 header of one unmasked, final, uncompressed text frame."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return bytes((0x81, 126)) + length.to_bytes(2, "big")
    return bytes((0x81, 127)) + length.to_bytes(8, "big")


class ConnectionRegistry:
    """Every open WebSocket of the server (``sim.connections``), for faults, counters and shutdown."""

    def __init__(
        self,
        counters: Counter[str],
        seed: int = 1,
        *,
        max_frames: int = MAX_QUEUE_FRAMES,
        max_bytes: int = MAX_QUEUE_BYTES,
    ) -> None:
        self._connections: dict[str, SimConnection] = {}
        self._rng = random.Random(f"{seed}:conn_id")
        self.counters = counters
        self.max_frames = max_frames
        self.max_bytes = max_bytes

    def open(self, ws: web.WebSocketResponse, request: web.Request, kind: str) -> SimConnection:
        """Register a prepared WebSocket as a started :class:`SimConnection` with the server's queue bounds."""
        conn = SimConnection(
            ws,
            kind,
            self.new_conn_id(),
            self.counters,
            request=request,
            max_frames=self.max_frames,
            max_bytes=self.max_bytes,
        )
        self.register(conn)
        self.counters[f"ws.connections.{kind.split(':')[0]}"] += 1
        conn.start()
        return conn

    async def close(self, conn: SimConnection) -> None:
        """Forget a connection whose socket is gone (the handler's ``finally``)."""
        self.unregister(conn)
        await conn.finish()

    def new_conn_id(self) -> str:
        """An opaque id shaped like Bybit's (``d157a7favkf4mm3ibuvg-14toog``), from a seeded RNG."""
        alphabet = "0123456789abcdefghijklmnopqrstuv"
        choice = self._rng.choice
        head = "".join(choice(alphabet) for _ in range(20))
        tail = "".join(choice(alphabet) for _ in range(5))
        return f"{head}-{tail}"

    def register(self, conn: SimConnection) -> None:
        self._connections[conn.conn_id] = conn

    def unregister(self, conn: SimConnection) -> None:
        self._connections.pop(conn.conn_id, None)

    def all(self, kind_prefix: str = "") -> list[SimConnection]:
        """Open connections whose kind starts with ``kind_prefix`` ("" = all, "public", "private" ...)."""
        return [c for c in self._connections.values() if c.kind.startswith(kind_prefix)]

    def get(self, conn_id: str) -> SimConnection | None:
        return self._connections.get(conn_id)

    def __len__(self) -> int:
        return len(self._connections)
