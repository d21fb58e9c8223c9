"""An alert in a real terminal: the bell and the desktop notification escape reach the pseudo-terminal as
bytes, the escape's text printable, and nothing else of the alert drives the terminal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.ui.pty_run import run_in_terminal as run_module

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def run_in_terminal(*args: str) -> tuple[int, bytes]:
    return run_module("tests.ui.alert_terminal", *args)


def _bells(output: bytes) -> int:
    """BEL bytes that ring: not those ending an OSC sequence (Textual's pointer shape, the notification)."""
    return re.sub(rb"\x1b\][^\x07\x1b]*\x07", b"", output).count(b"\x07")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("notify", "start", "clear"),
    [
        (
            "osc9",
            rb"\x1b\]9;Fluxum alert: link_down: [^\x07\x1b]*\x07",
            rb"\x1b\]9;Fluxum alert cleared: link_down cleared after [^\x07\x1b]*\x07",
        ),
        (
            "osc777",
            rb"\x1b\]777;notify;Fluxum alert;link_down: [^\x07\x1b;]*\x07",
            rb"\x1b\]777;notify;Fluxum alert cleared;link_down cleared after [^\x07\x1b;]*\x07",
        ),
    ],
)
def test_the_bell_and_the_desktop_escape_reach_the_terminal(
    tmp_path: Path, notify: str, start: bytes, clear: bytes
) -> None:
    status, output = run_in_terminal(notify, str(tmp_path))
    assert status == 0, output[-3000:].decode("utf-8", "replace")
    starts, clears = re.findall(start, output), re.findall(clear, output)
    assert len(starts) == 1 and len(clears) == 1, output[-3000:]
    for escape in starts + clears:
        assert escape[2:-1].decode().isprintable()
    assert _bells(output) == 1  # one bell, on the start; none on the clear


def test_notify_none_rings_the_bell_only(tmp_path: Path) -> None:
    status, output = run_in_terminal("none", str(tmp_path))
    assert status == 0, output[-3000:].decode("utf-8", "replace")
    assert b"\x1b]9;" not in output and b"\x1b]777;" not in output
    assert _bells(output) == 1
