"""``fluxum monitor`` as a child process, its JSON lines and its stderr collected as they come."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parents[2]

# argv[1] is the log level, argv[2] the crash mode, the rest the CLI. In crash mode an excepthook renders the
# crash as Textual's crash screen does (rich, with every frame's locals), so a test reads what it would show.
DRIVER = """
import logging, sys
level, crash_mode, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
logging.basicConfig(level=getattr(logging, level), stream=sys.stderr,
                    format="%(asctime)s %(levelname)s %(name)s: %(message)s")
if crash_mode != "none":
    from rich.console import Console
    from rich.traceback import Traceback

    def show(kind, value, tb):
        Console(stderr=True, width=200).print(Traceback.from_exception(kind, value, tb, show_locals=True))

    sys.excepthook = show

    class ForcedCrash(BaseException):
        '''Not an Exception: nothing in the session may swallow it, so it reaches the top with its frames.'''

    import exchange.session as session_module

    async def crash(self):
        raise ForcedCrash("forced crash while authenticating")

    session_module.Session._measure_clock = crash
from app.cli import main
sys.exit(main(argv))
"""


def clean_environment(**extra: str) -> dict[str, str]:
    """The machine's environment without any Bybit key or NATS credentials, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BYBIT_", "FLUXUM_NATS_"))}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


class Monitor:
    """One ``fluxum monitor`` child: ``records`` are its parsed JSON lines, ``stderr`` its error output."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.stdout = bytearray()
        self.stderr = bytearray()
        self.records: list[dict[str, Any]] = []
        self._readers = [asyncio.create_task(self._read_stdout()), asyncio.create_task(self._read_stderr())]

    @classmethod
    async def start(
        cls,
        args: list[str],
        env: dict[str, str],
        *,
        log_level: str = "WARNING",
        crash: bool = False,
        command: str = "monitor",
    ) -> Monitor:
        """``fluxum <command> <args>`` (``monitor``, or ``relay``, which prints alike)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            DRIVER,
            log_level,
            "crash" if crash else "none",
            command,
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=str(REPO),
        )
        return cls(process)

    async def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            self.stdout += line
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(record, dict):
                self.records.append(record)

    async def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.read(65536):
            self.stderr += chunk

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("type") == kind]

    def states(self) -> list[str]:
        return [r["state"] for r in self.of_type("state")]

    def fill_ids(self) -> list[str]:
        return [r["exec_id"] for r in self.of_type("fill")]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)

    async def wait(self, timeout: float = 30.0) -> int:
        """Wait for the child to end and its pipes to drain; returns its exit status."""
        try:
            code = await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(
                f"the monitor did not end within {timeout:g} s; stderr: {bytes(self.stderr)[-2000:]!r}"
            ) from None
        await asyncio.gather(*self._readers)
        return code

    async def close(self) -> None:
        """Make sure the child is gone (a failed test must not leave it running)."""
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        for reader in self._readers:
            reader.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
