"""Alert delivery outside the screen: the desktop escape, the JSON line, and the rule's command (no shell, a
timeout, bounded concurrency, a minimal environment, never a secret)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from app.alert_delivery import AlertCommands, alert_record, command_environment, desktop_escape
from exchange.events import AlertChanged

CANARY = "canary-secret-5f1e2d"
ALERT = AlertChanged("link_down after 10s", "link_down", True, "link_down after 10s: Reconnecting: no pong", 1234)

RECORDER = """
import json, os, sys
line = sys.stdin.readline()
with open(sys.argv[1], "w") as out:
    json.dump({"line": line, "env": dict(os.environ), "argv": sys.argv}, out)
"""


def test_osc9_and_osc777_carry_only_printable_text() -> None:
    hostile = "BTC\x1b]52;c;AAAA\x07 \x9c\x9d end;more\u202e"
    osc9 = desktop_escape("osc9", "Fluxum alert", hostile)
    assert osc9.startswith("\x1b]9;Fluxum alert: BTC") and osc9.endswith("\x07")
    inner = osc9[len("\x1b]9;") : -1]
    assert inner.isprintable() and "\x1b" not in inner and "\x9c" not in inner and "\x07" not in inner
    osc777 = desktop_escape("osc777", "Fluxum; alert", hostile)
    assert osc777.startswith("\x1b]777;notify;Fluxum, alert;BTC") and osc777.endswith("\x07")
    fields = osc777[len("\x1b]777;") : -1].split(";")
    assert len(fields) == 3 and all(field.isprintable() for field in fields)
    assert desktop_escape("none", "Fluxum", "x") == ""


def test_the_record_has_the_documented_fields() -> None:
    record = alert_record(AlertChanged("fill", "fill", True, "fill: BTCUSDT Buy 1 @ 2", 5, None, instant=True))
    assert record == {
        "kind": "alert",
        "rule": "fill",
        "condition": "fill",
        "active": True,
        "text": "fill: BTCUSDT Buy 1 @ 2",
        "time_ms": 5,
        "lasted_ms": None,
        "instant": True,
    }


def test_the_environment_is_minimal_and_holds_no_secret() -> None:
    environ = {
        "PATH": "/usr/bin",
        "HOME": "/home/desk",
        "DISPLAY": ":0",
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus",
        "BYBIT_PRODUCTION_API_SECRET": CANARY,
        "BYBIT_PRODUCTION_API_KEY": CANARY,
        "GITHUB_TOKEN": CANARY,
        "AWS_SECRET_ACCESS_KEY": CANARY,
        "PYTHONPATH": "/x",
    }
    env = command_environment(environ)
    assert env == {k: environ[k] for k in ("PATH", "HOME", "DISPLAY", "DBUS_SESSION_BUS_ADDRESS")}


async def test_the_command_reads_one_json_line_and_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYBIT_PRODUCTION_API_SECRET", CANARY)
    monkeypatch.setenv("BYBIT_PRODUCTION_API_KEY", "canary-key")
    monkeypatch.setenv("MY_TOKEN", CANARY)
    out = tmp_path / "got.json"
    commands = AlertCommands()
    commands.launch((sys.executable, "-c", RECORDER, str(out)), ALERT)
    await commands.wait()
    got = json.loads(out.read_text())
    assert got["line"].endswith("\n") and got["line"].count("\n") == 1
    assert json.loads(got["line"]) == alert_record(ALERT)
    everything = json.dumps(got)
    assert CANARY not in everything and "canary-key" not in everything
    assert not any("BYBIT" in name or "TOKEN" in name for name in got["env"])
    assert commands.started == 1 and commands.failed == 0


async def test_no_shell_reads_the_command(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    commands = AlertCommands()
    commands.launch(("true; touch " + str(marker),), ALERT)  # one program name, not a shell line
    await commands.wait()
    assert not marker.exists() and commands.failed == 1


async def test_a_hung_command_is_killed_at_its_timeout_and_noticed_once() -> None:
    noticed: list[str] = []
    commands = AlertCommands(timeout_s=0.3, on_first_failure=noticed.append)
    script = "import time; time.sleep(60)"
    commands.launch((sys.executable, "-c", script), ALERT)
    commands.launch((sys.executable, "-c", script), ALERT)
    await asyncio.wait_for(commands.wait(), 10)
    assert commands.failed == 2 and commands.running == 0
    assert len(noticed) == 1 and "timed out after 0.3 s" in noticed[0]


async def test_a_failing_command_is_counted() -> None:
    noticed: list[str] = []
    commands = AlertCommands(on_first_failure=noticed.append)
    commands.launch((sys.executable, "-c", "import sys; sys.exit(3)"), ALERT)
    commands.launch(("/nonexistent/notifier",), ALERT)
    await commands.wait()
    assert commands.failed == 2 and len(noticed) == 1  # told once
    assert "could not start" in noticed[0] or "exited with status 3" in noticed[0]


async def test_at_most_n_commands_run_and_the_rest_are_counted() -> None:
    commands = AlertCommands(max_running=2, timeout_s=5)
    for _ in range(5):
        commands.launch((sys.executable, "-c", "import sys; sys.stdin.read()"), ALERT)
    assert commands.running == 2 and commands.skipped == 3 and commands.started == 2
    await commands.wait()
    assert commands.failed == 0


async def test_a_command_still_running_at_exit_is_not_left_behind(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    commands = AlertCommands(timeout_s=30)
    commands.launch((sys.executable, "-c", script), ALERT)
    for _ in range(500):
        if pid_file.exists() and pid_file.read_text():
            break
        await asyncio.sleep(0.01)
    pid = int(pid_file.read_text())
    for task in list(commands._tasks):
        task.cancel()
    await asyncio.gather(*commands._tasks, return_exceptions=True)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
