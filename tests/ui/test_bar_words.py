"""The connection bar says why in the desk's short words; the raw reason stays whole for the history."""

from __future__ import annotations

from dataclasses import replace

import pytest

from exchange.events import LinkState, SessionState
from tests.ui import scripted
from tests.ui.scripted import RAW_UNREACHABLE
from tests.ui.support import RecordingApp, screen_text, until
from widgets.connection_bar import REASON_CHARS, ConnectionBar, desk_words


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (RAW_UNREACHABLE, "exchange unreachable"),
        ("private: connect timed out", "exchange unreachable"),
        ("public: no pong (silent for 12.4 s)", "no pong"),
        ("private: no pong to 3 pings (frames still arriving)", "no pong"),
        ("API key rejected by the private stream: API key is invalid.", "auth rejected"),
        ("API key rejected by Bybit (10003): API key is invalid.", "auth rejected"),
        ("Bybit rate limit hit (10006): Too many visits!; it resets at 12:00:01", "rate limited (10006)"),
        ("private: no reply to auth within 4 s", "slow auth"),
        ("auth refused (Params Error): checking the clock", "auth refused, checking the clock"),
        ("HTTP 403 cool-down: Bybit refused this IP", "IP refused (403 cool-down)"),
        ("public: closed by server (code 1006)", "closed by exchange"),
        ("relay down: silent for 3.2 s", "relay down"),
        ("relay down: no heartbeat on fluxum.sim.linear.link within 3 s", "relay down"),
        ("relay lost Bybit: public: cannot connect (Connection refused)", "relay lost the exchange"),
        ("relay restarted: starting over from its snapshots", "relay restarted"),
        ("NATS at 127.0.0.1:4222 unreachable (Connect call failed ('127.0.0.1', 4222))", "NATS down"),
        ("NATS at 127.0.0.1:4222 lost", "NATS down"),
    ],
)
def test_a_raw_reason_reads_in_desk_words(raw: str, words: str) -> None:
    assert desk_words(raw) == words


def test_a_reason_no_pattern_knows_is_quoted_printable_and_bounded() -> None:
    shown = desk_words("the exchange said \x1b[31m" + "x" * 500)
    assert "\x1b" not in shown and len(shown) <= REASON_CHARS and shown.startswith("the exchange said")
    fix = "journal is not a database (corrupt?): move it aside, Fluxum re-reads the history from Bybit: /j.sqlite3"
    assert desk_words(fix) == fix, "a reason that carries its fix is shown whole"


@pytest.mark.parametrize("width", [100, 120])
async def test_a_raw_connect_error_reads_as_exchange_unreachable_and_the_stream_ages_stay(width: int) -> None:
    desk = scripted.reconnecting()
    desk.state = replace(desk.state, reason=RAW_UNREACHABLE)
    assert desk.stats is not None
    desk.stats = replace(desk.stats, last_reconnect_reason=RAW_UNREACHABLE)
    desk.touch("state")
    desk.touch("stats")
    app = RecordingApp(desk=desk, clock=scripted.clock)
    app.animation_level = "none"
    async with app.run_test(size=(width, 40)) as pilot:
        await until(pilot, lambda: "exchange unreachable" in screen_text(app).splitlines()[0], "the bar's words")
        first, second = screen_text(app).splitlines()[:2]
        assert "exchange unreachable" in first and "Cannot connect" not in first
        assert "Cannot connect" not in second and "book " in second, "the ages are on the second line"
    assert desk.state.reason == RAW_UNREACHABLE, "the raw detail is kept for the history"


async def test_failed_with_a_rejected_key_says_auth_rejected() -> None:
    desk = scripted.failed()
    assert desk.state.kind is LinkState.FAILED
    desk.state = SessionState(LinkState.FAILED, desk.state.since_ms, "API key rejected by Bybit (10003): invalid")
    app = RecordingApp(desk=desk, clock=scripted.clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "auth rejected" in screen_text(app).splitlines()[0], "auth rejected on the bar")


WAITS = [
    (
        "rate limited by Bybit (10006) while reading the account: waiting for its reset",
        4.0,
        "○ Connected · rate limited (10006) · retry in 4.0 s",
    ),
    ("authenticating", None, "○ Connected · authenticating (slow) 3.0 s"),
]


def _held_up(reason: str, retry_in_s: float | None) -> RecordingApp:
    desk = scripted.reconnecting()
    retry_ms = None if retry_in_s is None else scripted.NOW_MS + int(retry_in_s * 1000)
    since_ms = scripted.NOW_MS - 3_000
    desk.state = SessionState(LinkState.CONNECTED, since_ms, reason, next_retry_ms=retry_ms, waiting=True)
    desk.touch("state")
    app = RecordingApp(desk=desk, clock=scripted.clock)
    app.animation_level = "none"
    return app


@pytest.mark.parametrize(("reason", "retry_in_s", "shown"), WAITS)
async def test_a_held_up_recovery_says_what_it_waits_on_in_the_states_place(
    reason: str, retry_in_s: float | None, shown: str
) -> None:
    """Connected through a 10006 or a slow auth: the state reads as held up (what it waits on, counted down to
    Bybit's reset or timed from the step's start), never "Connected for 3 s" in Ready's colour."""
    app = _held_up(reason, retry_in_s)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: shown in screen_text(app).splitlines()[0], f"{shown!r} on the bar")
        first = screen_text(app).splitlines()[0]
        assert "sockets open" not in first and "Connected for" not in first, first
        content = app.query_one(ConnectionBar).render()
        state_style = next(str(span.style) for span in content.spans if content.plain[span.start :].startswith("○"))
        assert "success" not in state_style and "warning" in state_style, state_style


@pytest.mark.parametrize(("reason", "retry_in_s", "shown"), WAITS)
async def test_a_held_up_recovery_keeps_its_words_on_one_terse_line(
    reason: str, retry_in_s: float | None, shown: str
) -> None:
    app = _held_up(reason, retry_in_s)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: shown in screen_text(app).splitlines()[0], f"{shown!r} on the terse bar")
        first = screen_text(app).splitlines()[0]
        assert first.count("retry in") <= 1, first


async def test_a_desk_on_a_relay_names_the_feed_and_a_relay_down_in_desk_words() -> None:
    """``--feed``: the bar says where the public data comes from, and whose loss it is."""
    desk = scripted.reconnecting()
    desk.feed = "relay 127.0.0.1:4222"
    desk.state = replace(desk.state, reason="relay down: silent for 3.2 s")
    desk.touch("state")
    app = RecordingApp(desk=desk, clock=scripted.clock)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: "relay down" in screen_text(app).splitlines()[0], "the bar to say relay down")
        first = screen_text(app).splitlines()[0]
        assert "via relay 127.0.0.1:4222" in first, first


@pytest.mark.parametrize(
    ("exchange_ms", "nats_ms", "shown"),
    [(12.3, 0.4, "ping 12.3 ms · NATS 0.4 ms"), (None, 0.4, "ping NATS 0.4 ms"), (12.3, None, "ping 12.3 ms")],
)
async def test_a_relay_feed_s_round_trip_is_named_nats_never_the_exchange_s(
    exchange_ms: float | None, nats_ms: float | None, shown: str
) -> None:
    """On a relay the desk measures its round trip to NATS: the bar shows it under that name, beside the
    exchange's own (the private link's) or alone for a desk with no link of its own to the exchange."""
    desk = scripted.base_desk()
    desk.feed = "relay 127.0.0.1:4222"
    assert desk.stats is not None
    desk.stats = replace(desk.stats, ping_rtt_ms=exchange_ms, feed_rtt_ms=nats_ms)
    desk.touch("stats")
    app = RecordingApp(desk=desk, clock=scripted.clock)
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: shown in screen_text(app).splitlines()[1], f"the bar to say {shown!r}")
        assert "—" not in screen_text(app).splitlines()[1].split("msg/s")[0]
