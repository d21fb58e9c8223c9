"""A loopback TCP relay in front of the local exchange: the network between the desk and the exchange, with two
faults the exchange cannot play on itself.

* :meth:`Gate.hold` stalls the path: every byte, both ways, on every connection (those open and those made
  during the hold), waits until the hold ends, as TCP retransmits through a dead route; connects still succeed.
* :meth:`Gate.down` takes the exchange off the network: open connections are cut and new ones refused until
  :meth:`Gate.up`, on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib

HOST = "127.0.0.1"
GATE_HOST = "127.0.0.2"
"""The relay listens on another loopback address with the exchange's port: the exchange accepts only requests
whose ``Host`` names a loopback address and its own port (exchange/bybit/sim/site_access.py)."""
CHUNK = 65536


class Gate:
    """Relay ``127.0.0.2:target_port`` to the exchange at ``127.0.0.1:target_port``."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = target_port
        self._server: asyncio.base_events.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        return f"http://{GATE_HOST}:{self.port}"

    async def up(self) -> None:
        """Listen (again)."""
        self._server = await asyncio.start_server(self._relay, GATE_HOST, self.port)

    async def down(self) -> None:
        """Refuse new connections and cut the open ones."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if server is not None:
            await server.wait_closed()

    async def hold(self, seconds: float) -> None:
        """Stall every path for ``seconds`` (returns when the stall ends)."""
        self._flowing.clear()
        try:
            await asyncio.sleep(seconds)
        finally:
            self._flowing.set()

    async def close(self) -> None:
        self._flowing.set()
        await self.down()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(HOST, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        pumps = [
            asyncio.create_task(self._pump(reader, up_writer)),
            asyncio.create_task(self._pump(up_reader, writer)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in pumps:
                task.cancel()
                self._tasks.discard(task)
            for end in (writer, up_writer):
                self._writers.discard(end)
                end.transport.abort()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await source.read(CHUNK):
                await self._flowing.wait()
                sink.write(chunk)
                await sink.drain()
