"""What a hostile exchange can make the dashboard write to a real terminal: nothing but inert text.

The desk runs in a pseudo-terminal of a fixed size (``tests/ui/hostile_terminal.py``); every byte it writes
is read and searched for OSC window-title, hyperlink and clipboard sequences, C1 and bidi controls and BEL.
The hostile strings must still be on screen, disarmed (their printable remainder is in the bytes).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.hostile import terminal_escapes
from tests.ui.pty_run import run_in_terminal as run_module

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def run_in_terminal(*args: str) -> tuple[int, bytes]:
    return run_module("tests.ui.hostile_terminal", *args)


@pytest.mark.slow
def test_a_scripted_hostile_desk_writes_no_terminal_control() -> None:
    status, output = run_in_terminal("scripted")
    assert status == 0, output[-3000:].decode("utf-8", "replace")
    assert not terminal_escapes(output), terminal_escapes(output)[:10]
    # The hostile text was drawn, disarmed: the clipboard payload, the title, the markup, all as plain text.
    for shown in (b"]52;c;cm0gLXJmIH4=", b"]0;pwned", b"X[/]", b"[link=https://evil.example/]"):
        assert shown in output, shown


@pytest.mark.slow
def test_a_hostile_exchange_writes_no_terminal_control(tmp_path: Path) -> None:
    """The issue's probe: a wallet push whose coin writes the clipboard, an auth rejection that sets the title."""
    status, output = run_in_terminal("live", str(tmp_path))
    assert status == 0, output[-3000:].decode("utf-8", "replace")
    assert not terminal_escapes(output), terminal_escapes(output)[:10]
    for shown in (b"EVIL\xef\xbf\xbd]52;c;cm0gLXJmIH4=", b"account down: auth rejected", b"X[/]"):
        assert shown in output, shown
    print(f"\n{len(output):,} bytes written to the terminal, no control from the exchange among them")
