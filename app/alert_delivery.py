"""Getting an alert to a person: the desktop notification escape, the JSON line, and the rule's command.

* :func:`desktop_escape`: the OSC 9 or OSC 777 notification a terminal turns into a desktop notification. The
  text in it is printable and holds no ESC, BEL or ST (nor ``;`` for OSC 777, its field separator), so an alert
  quoting the exchange cannot end the escape early and smuggle another one.
* :func:`alert_record`: the alert as the JSON object ``fluxum monitor --json`` prints and a command reads.
* :class:`AlertCommands`: runs a rule's ``command`` with the alert as one JSON line on stdin: argv only (never a
  shell), a timeout then a kill, a minimal environment (never a key, secret or token of the desk's), at most
  :data:`MAX_RUNNING` at once (the others are counted as skipped), failures counted and told once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from exchange.events import AlertChanged
from exchange.printable import printable

__all__ = [
    "COMMAND_TIMEOUT_S",
    "MAX_RUNNING",
    "AlertCommands",
    "alert_record",
    "command_environment",
    "desktop_escape",
]

log = logging.getLogger(__name__)

COMMAND_TIMEOUT_S = 10.0
MAX_RUNNING = 4
ESCAPE_TEXT_CHARS = 200
PASSED_ENV = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TZ",
    "TMPDIR",
    "DISPLAY",
    "WAYLAND_DISPLAY",
    "XDG_RUNTIME_DIR",
    "DBUS_SESSION_BUS_ADDRESS",
)
"""What a notifier (``notify-send``, ``osascript``, a webhook script) needs from the environment, and no more."""
SECRET_WORDS = ("KEY", "SECRET", "TOKEN", "PASS", "BYBIT")


def alert_record(alert: AlertChanged) -> dict[str, Any]:
    """The alert as one JSON object: ``kind``, ``rule``, ``condition``, ``active``, ``text``, ``time_ms``,
    ``lasted_ms`` and ``instant``."""
    return {
        "kind": "alert",
        "rule": alert.rule,
        "condition": alert.condition,
        "active": alert.active,
        "text": alert.text,
        "time_ms": alert.time_ms,
        "lasted_ms": alert.lasted_ms,
        "instant": alert.instant,
    }


def desktop_escape(kind: str, title: str, body: str) -> str:
    """The terminal's desktop notification for ``kind`` (``osc9``, ``osc777``; ``""`` for ``none``)."""

    def clean(text: str) -> str:
        text = printable(text, ESCAPE_TEXT_CHARS)  # no C0/C1 controls: no ESC, BEL or ST inside
        return text.replace(";", ",") if kind == "osc777" else text

    if kind == "osc9":
        return f"\x1b]9;{clean(f'{title}: {body}')}\x07"
    if kind == "osc777":
        return f"\x1b]777;notify;{clean(title)};{clean(body)}\x07"
    return ""


def command_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The few variables a notifier needs, and never one whose name says it holds a credential."""
    environ = os.environ if environ is None else environ
    return {
        name: environ[name]
        for name in PASSED_ENV
        if name in environ and not any(word in name.upper() for word in SECRET_WORDS)
    }


class AlertCommands:
    """Runs rules' commands for alerts; never waits for them on the caller's path."""

    def __init__(
        self,
        *,
        timeout_s: float = COMMAND_TIMEOUT_S,
        max_running: int = MAX_RUNNING,
        environ: Mapping[str, str] | None = None,
        on_first_failure: Callable[[str], None] | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.max_running = max_running
        self._env = command_environment(environ)
        self._on_first_failure = on_first_failure
        self._tasks: set[asyncio.Task[None]] = set()
        self.started = 0
        self.skipped = 0  # alerts whose command was not run: too many still running
        self.failed = 0  # commands that could not start, timed out or exited non-zero

    @property
    def running(self) -> int:
        return len(self._tasks)

    def launch(self, command: tuple[str, ...], alert: AlertChanged) -> None:
        """Start ``command`` for ``alert`` in the background (or count it skipped when too many run)."""
        if not command:
            return
        if len(self._tasks) >= self.max_running:
            self.skipped += 1
            log.warning("alert command skipped: %d still running", len(self._tasks))
            return
        self.started += 1
        task = asyncio.create_task(self._run(command, alert), name="alert-command")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        """Wait for the commands still running (each ends by its timeout at the latest)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, command: tuple[str, ...], alert: AlertChanged) -> None:
        line = orjson.dumps(alert_record(alert)) + b"\n"
        program = printable(command[0], 80)
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                env=self._env,
                start_new_session=True,  # the desk's Ctrl-C is not the command's
            )
        except OSError as error:
            self._fail(f"alert command {program} could not start: {printable(error.strerror or str(error), 120)}")
            return
        try:
            await asyncio.wait_for(process.communicate(line), self.timeout_s)
        except TimeoutError:
            self._fail(f"alert command {program} timed out after {self.timeout_s:g} s and was stopped")
            return
        finally:
            if process.returncode is None:  # timed out, or the desk is closing: never leave it behind
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                with contextlib.suppress(asyncio.CancelledError):
                    await process.wait()
        if process.returncode:
            self._fail(f"alert command {program} exited with status {process.returncode}")

    def _fail(self, text: str) -> None:
        self.failed += 1
        log.warning("%s", text)
        if self.failed == 1 and self._on_first_failure is not None:
            self._on_first_failure(text)
