"""The connection-state bar: the truth about the link, at a glance and in words.

Line one: the environment badge (four colours; PRODUCTION, and a simulator elsewhere as ``SIM @ host``, white
on red), the feed when public data comes from a relay (``via relay host:port``), the state as Fluxum's glyph and
word (● Ready, ○ Connected, ◐ Connecting, ◑ Reconnecting with its attempt and a live countdown to the next try,
✗ Failed with its reason, ○ Disconnected) and the time spent in it; in an outage, the outage clock ("down 41 s")
counts from the first loss of Ready, across attempts. Line two:
ping round trip, messages per second, reconnects and the last reason, and the age of each stream of the selected
symbol.

It pulls the desk on a timer (10 Hz: the countdown moves) and re-renders only when the text changed; the app
also calls :meth:`refresh_now` the moment a state change arrives through the bridge, so Reconnecting is on
screen within a frame of the session noticing, not a timer tick later.

A recovery that is held up says so in its state's place, not in Connected's green: what it waits on and for how
long ("○ Connected · authenticating (slow) 4.0 s"), or a wait Bybit imposed counted down to its reset
("○ Connected · rate limited (10006) · retry in 3.0 s"). Reasons are said in the desk's short words
(:func:`desk_words`: "exchange unreachable", "no pong", "auth rejected"): a raw aiohttp error would wrap over
the second line and push the stream ages off. The session keeps the raw reason for the link history and the
notices. A reason no pattern knows quotes the exchange (a ``retMsg``): it is shown made printable, as plain text
(whole enough to carry a fix, as a corrupt journal's does).
"""

from __future__ import annotations

import re
import time
from collections import deque
from typing import Any

from textual.content import Content
from textual.message import Message
from textual.reactive import reactive

from exchange.desk import Desk
from exchange.events import LinkState, LinkStats, SessionState, TopicHealth
from exchange.printable import printable
from widgets._format import STATE_STYLES, age_text, duration_text, state_label
from widgets.content_rows import ContentRows
from widgets.desk_widget import SymbolWidget

__all__ = ["ConnectionBar", "ENVIRONMENT_STYLES", "desk_words"]

ENVIRONMENT_STYLES = {
    "SIM": "bold $env-sim-text on $env-sim",
    "TESTNET": "bold $env-testnet-text on $env-testnet",
    "DEMO": "bold $env-demo-text on $env-demo",
    "PRODUCTION": "bold $env-production-text on $env-production",
}
"""Four colours told apart in every theme, production the loudest (white on red): the app derives the
variables from the theme (app/palette.py)."""
WAITING_STYLE = "bold $text-warning"
"""A Connected session held up (a slow step, a 10006): its state and what it waits on, never in Ready's green."""
MUTED = "$label"
"""The figures' labels: muted, and readable on a light theme's panel too (``dim`` halves the contrast: 2.5)."""
SHOWN_KEPT = 64
PRIVATE_TOPICS = ("order", "execution", "position", "wallet")
REASON_CHARS = 160
"""A reason no pattern knows is cut to this on the bar: it may be the fix (a corrupt journal names its file)."""
DESK_WORDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), words)
    for pattern, words in (
        # a relay's reasons first: they quote what the relay met (an exchange unreachable is not the bus's fault)
        (r"^relay lost Bybit", "relay lost the exchange"),
        (r"^relay down", "relay down"),
        (r"^relay restarted", "relay restarted"),
        (r"^NATS at ", "NATS down"),
        (r"API key rejected|rejected the API key|\b1000[345]\b|\b10010\b|HTTP 401", "auth rejected"),
        (r"auth refused \(Params Error\)", "auth refused, checking the clock"),
        (r"no reply to auth", "slow auth"),
        (r"rate limit|\b10006\b", "rate limited (10006)"),
        (r"HTTP 403|refused this IP|cool-?down", "IP refused (403 cool-down)"),
        (r"no pong|pong timeout", "no pong"),
        (
            r"cannot connect|connect call failed|connect timed out|connection refused|name or service",
            "exchange unreachable",
        ),
        (r"unavailable|HTTP 50[0-4]|\b10016\b", "exchange unavailable"),
        (r"closed by server", "closed by exchange"),
        (r"no reply to subscribe|no book snapshot", "slow subscribe"),
        (r"subscribe refused", "subscribe refused"),
        (r"redirected", "redirect refused"),
        (r"no topic was accepted", "no symbol accepted"),
        (r"internal error", "internal error (see the log)"),
    )
)
"""The first pattern found in a raw reason gives its words on the bar; order matters (a 10006 mentions no host)."""


def desk_words(reason: str) -> str:
    """A reason as the desk says it on the bar: short words for what is known, else the printable text cut short."""
    for pattern, words in DESK_WORDS:
        if pattern.search(reason):
            return words
    return printable(reason, REASON_CHARS)


def environment_badge(environment: str) -> tuple[str, str]:
    """The badge's text and style. A simulator elsewhere (``SIM @ host``) wears production's colour: its orders
    get production's safeguards, and it must not pass for the local exchange."""
    kind, _, elsewhere = environment.partition(" @ ")
    if elsewhere:
        return f" {kind.upper()} @ {elsewhere} ", ENVIRONMENT_STYLES["PRODUCTION"]
    return f" {kind.upper()} ", ENVIRONMENT_STYLES.get(kind.upper(), "bold reverse")


class ConnectionBar(SymbolWidget, ContentRows):
    """Session state, link figures and per-stream ages; never green unless the session is Ready."""

    PULL_NAME = "connection-bar"

    DEFAULT_CSS = """
    ConnectionBar { height: 2; }
    """

    REFRESH_HZ = 10.0
    terse: reactive[bool] = reactive(False, layout=False, repaint=False)
    """One line for small terminals (the app sets it with its layout): the state, the outage clock and the
    reconnect count always, the rest while it fits the width."""

    class FeedsWentStale(Message):
        """Streams of a Ready session went silent (the app tells the user once per episode)."""

        def __init__(self, topics: tuple[str, ...]) -> None:
            self.topics = topics
            super().__init__()

    class FeedsLiveAgain(Message):
        """Stale streams of a Ready session are live again; ``still_stale`` are those that are not."""

        def __init__(self, still_stale: frozenset[str]) -> None:
            self.still_stale = still_stale
            super().__init__()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stale: set[str] = set()
        self.shown: deque[tuple[LinkState, float]] = deque(maxlen=SHOWN_KEPT)
        """The states this bar displayed and when (wall clock), oldest first: tests read the sequence."""

    @property
    def state_shown(self) -> LinkState | None:
        return self.shown[-1][0] if self.shown else None

    # ------------------------------------------------------------------ pulling

    def _pull(self) -> None:
        if not self._started:
            return
        desk = self.desk
        now = self.clock()
        if desk is None:
            key: tuple = (None, int(now))
        else:
            state = desk.state
            # the countdown moves every tenth of a second; everything else once a second is plenty
            tick = int(now * 10) if state.next_retry_ms is not None else int(now)
            key = (
                id(desk),
                desk.versions["state"],
                state,
                desk.versions["stats"],
                self.symbol,
                tick,
                self.size.width,
                self.terse,
            )
        if key == self._drawn_key:
            return
        self._drawn_key = key
        if desk is None:
            self.update(Content.assemble((" starting… ", "dim")))
        else:
            compose = self._compose_terse if self.terse else self._compose_text
            self.update(compose(desk, desk.state, now))  # (only the cells that changed are drawn)
            if not self.shown or self.shown[-1][0] is not desk.state.kind:
                self.shown.append((desk.state.kind, time.time()))
            self._check_stale(desk)

    def watch_terse(self) -> None:
        self._pull()

    def _check_stale(self, desk: Desk) -> None:
        stats = desk.stats
        if stats is None or desk.state.kind is not LinkState.READY:
            self._stale.clear()
            return
        stale = {health.topic for health in stats.topics if health.stale}
        fresh, recovered = stale - self._stale, self._stale - stale
        self._stale = stale
        if fresh:
            self.post_message(self.FeedsWentStale(tuple(sorted(fresh))))
        if recovered:
            self.post_message(self.FeedsLiveAgain(frozenset(stale)))

    # ------------------------------------------------------------------ text

    def _compose_text(self, desk: Desk, state: SessionState, now: float) -> Content:
        now_ms = int(now * 1000)
        badge = environment_badge(desk.environment)
        parts: list[Any] = [badge, " ", (state_label(state.kind), STATE_STYLES[state.kind])]
        if desk.feed:  # public data from elsewhere than the exchange's own socket: say from where
            parts.append((f" via {printable(desk.feed, REASON_CHARS)}", MUTED))
        in_state = duration_text((now_ms - state.since_ms) / 1000) if state.since_ms else "—"
        outage = self._outage_clock(desk, now_ms)
        if state.kind is LinkState.RECONNECTING:
            parts.append((f" · attempt {state.attempt}", "bold"))
            if state.next_retry_ms is not None:
                wait = max(0.0, (state.next_retry_ms - now_ms) / 1000)
                parts.append((f" · retry in {wait:.1f} s", "bold"))
            parts.extend(outage)
            parts.append(f" · for {in_state}")
            if state.reason:
                parts.append((f" · {desk_words(state.reason)}", "$text-warning"))
        elif state.kind is LinkState.FAILED:
            parts.extend(outage)
            parts.append((f" · {desk_words(state.reason) or 'no reason given'}", "bold $text-error"))
            parts.append(f" · for {in_state} · not retrying")
        elif state.waiting:  # held up: the wait is the news, said in place of "for 3 s"
            parts[-1] = (state_label(state.kind), WAITING_STYLE)
            parts.extend(self._waiting_words(state, now_ms))
            parts.extend(outage)
        else:
            parts.append(f" for {in_state}")
            parts.extend(outage)
            if state.reason and state.kind is not LinkState.READY:
                imposed = state.next_retry_ms is not None  # a wait the exchange imposed (10006): say when it ends
                parts.append((f" · {desk_words(state.reason)}", "$text-warning" if imposed else "dim"))
                if state.next_retry_ms is not None:
                    wait = max(0.0, (state.next_retry_ms - now_ms) / 1000)
                    parts.append((f", retry in {wait:.1f} s", "bold"))
            if state.kind is LinkState.READY:
                parts.extend(self._feed_warnings(desk))
        if desk.account_down and state.kind is not LinkState.FAILED:  # public data live, the account is not
            parts.append((f" · ⚠ account down: {desk_words(desk.account_down)}", "bold $text-error"))
        if desk.journal_problem and state.kind is not LinkState.FAILED:  # fills wait: the P&L is not current
            parts.append((f" · ⚠ {desk.journal_problem}", "bold $text-error"))
        line_two = self._figures(desk, now_ms)
        return Content.assemble(*parts, "\n", *line_two)

    @staticmethod
    def _feed_warnings(desk: Desk) -> list[Any]:
        """The link is up, but not every feed is live: streams gone stale, books the host keeps breaking."""
        if desk.stats is None:
            return []
        found: list[Any] = []
        stale = sum(1 for health in desk.stats.topics if health.stale)
        if stale:
            found.append((f" · ⚠ {stale} {'stream' if stale == 1 else 'streams'} stale", "bold $text-warning"))
        resyncing = sum(1 for health in desk.stats.topics if health.resync_streak >= 2)
        if resyncing:
            noun = "book" if resyncing == 1 else "books"
            found.append((f" · ⚠ {resyncing} {noun} resyncing repeatedly", "bold $text-warning"))
        return found

    @staticmethod
    def _waiting_words(state: SessionState, now_ms: int) -> list[Any]:
        """What a held-up recovery waits on: ``· rate limited (10006) · retry in 3.0 s`` (a wait Bybit imposed,
        counted down to its reset) or ``· authenticating (slow) 4.0 s`` (a step, timed from its start)."""
        words = desk_words(state.reason) or "recovering"
        if state.next_retry_ms is not None:
            wait = max(0.0, (state.next_retry_ms - now_ms) / 1000)
            return [(f" · {words}", WAITING_STYLE), (f" · retry in {wait:.1f} s", "bold")]
        waited = duration_text(max(0, now_ms - state.since_ms) / 1000)
        return [(f" · {words} (slow) {waited}", WAITING_STYLE)]

    @staticmethod
    def _outage_clock(desk: Desk, now_ms: int) -> list[Any]:
        """``· down 41 s``: the whole outage since the first loss of Ready, not the current attempt."""
        if not desk.outage_shown() or desk.outage_started_ms is None:
            return []
        return [(f" · down {duration_text(max(0, now_ms - desk.outage_started_ms) / 1000)}", "bold")]

    def _figures(self, desk: Desk, now_ms: int) -> list[Any]:
        stats = desk.stats
        if stats is None:
            return [("no link figures yet", MUTED)]
        parts: list[Any] = [
            *_round_trips(stats),
            (" · ", MUTED),
            f"{stats.messages_per_second:,.0f}",
            (" msg/s", MUTED),
        ]
        parts.extend([(" · reconnects ", MUTED), str(stats.reconnects)])  # before the ages: a narrow bar cuts the end
        streams = self._streams(stats.topics, now_ms)
        if stats.reconnects and stats.last_reconnect_reason:  # the last reason, where the ages leave room for it
            last = (f" (last: {desk_words(stats.last_reconnect_reason)})", MUTED)
            width = Content.assemble(*parts, last, *streams).cell_length
            room = self.content_size.width
            parts.extend([last] if not room or width <= room else [])  # not laid out yet: the line is cut later
        return parts + streams

    def _streams(self, topics: tuple[TopicHealth, ...], now_ms: int) -> list[Any]:
        symbol = self.symbol or ""
        named: list[tuple[str, TopicHealth]] = []
        private: list[TopicHealth] = []
        for health in topics:
            topic = health.topic
            if topic in PRIVATE_TOPICS:
                private.append(health)
            elif topic.endswith(f".{symbol}"):
                kind = topic.split(".", 1)[0]
                label = {"orderbook": "book", "publicTrade": "trades", "tickers": "ticker"}.get(kind, kind)
                named.append((label, health))
        parts: list[Any] = []
        if named:
            parts.append((f" · {printable(symbol)}", MUTED))
        for label, health in named:
            repeated = health.resync_streak >= 2
            style = "bold $text-warning" if health.stale or repeated else ""
            parts.append((f" {label} ", MUTED))
            flags = (" STALE" if health.stale else "") + (f" RESYNC ×{health.resync_streak}" if repeated else "")
            parts.append((age_text(health.last_message_ms, now_ms) + flags, style))
        if private:
            heard = [h.last_message_ms for h in private if h.last_message_ms is not None]
            parts.append((" · private ", MUTED))
            parts.append(age_text(max(heard) if heard else None, now_ms))
        return parts

    # ------------------------------------------------------------------ one terse line

    def _compose_terse(self, desk: Desk, state: SessionState, now: float) -> Content:
        """``SIM ◑ Reconnecting · down 41 s · 3 reconnects``, then details in order of importance while they fit.

        The state, the outage clock, a Failed state's reason and the reconnect count are always there (the
        line wraps rather than lose them); a detail that does not fit ends the line, so nothing less important
        shows in place of something more important."""
        now_ms = int(now * 1000)
        parts: list[Any] = [
            environment_badge(desk.environment),
            " ",
            (state_label(state.kind), WAITING_STYLE if state.waiting else STATE_STYLES[state.kind]),
        ]
        if state.waiting:
            parts.extend(self._waiting_words(state, now_ms))
        parts.extend(self._outage_clock(desk, now_ms))
        if state.kind is LinkState.FAILED:
            parts.append((f" · {desk_words(state.reason) or 'no reason given'}", "bold $text-error"))
        if desk.stats is not None:
            count = desk.stats.reconnects
            parts.append((f" · {count} reconnect{'' if count == 1 else 's'}", "bold" if count else ""))
        room = self.content_size.width - Content.assemble(*parts).cell_length
        for text, style in self._terse_details(desk, state, now_ms):
            room -= Content(text).cell_length
            if room < 0:
                break
            parts.append((text, style))
        return Content.assemble(*parts)

    @staticmethod
    def _terse_details(desk: Desk, state: SessionState, now_ms: int) -> list[tuple[str, str]]:
        """What the one line adds when there is room, most important first."""
        details: list[tuple[str, str]] = []
        if desk.account_down and state.kind is not LinkState.FAILED:
            details.append((f" · ⚠ account down: {desk_words(desk.account_down)}", "bold $text-error"))
        if desk.journal_problem and state.kind is not LinkState.FAILED:
            details.append((f" · ⚠ {desk.journal_problem}", "bold $text-error"))
        stats = desk.stats
        if state.reason and state.kind not in (LinkState.READY, LinkState.FAILED) and not state.waiting:
            details.append((f" · {desk_words(state.reason)}", "$text-warning"))
        if state.next_retry_ms is not None and not state.waiting:  # a retry: when it is tried
            details.append((f" · retry in {max(0.0, (state.next_retry_ms - now_ms) / 1000):.1f} s", "bold"))
        if state.kind is LinkState.RECONNECTING:
            details.append((f" · attempt {state.attempt}", "bold"))
        elif state.kind is LinkState.READY and stats is not None:
            stale = sum(1 for health in stats.topics if health.stale)
            if stale:
                details.append((f" · ⚠ {stale} {'stream' if stale == 1 else 'streams'} stale", "bold $text-warning"))
        if stats is not None and state.kind is LinkState.READY:
            details.append((f" · {stats.messages_per_second:,.0f} msg/s", MUTED))
        return details


def _round_trips(stats: LinkStats) -> list[Any]:
    """``ping 12.3 ms``: the exchange's round trip; a relay feed's to NATS beside it, named (``· NATS 0.4 ms``),
    or alone when the desk has no link of its own to the exchange (``ping NATS 0.4 ms``)."""
    direct = [f"{stats.ping_rtt_ms:.1f} ms"] if stats.ping_rtt_ms is not None else []
    if stats.feed_rtt_ms is None:
        return [("ping ", MUTED), *(direct or ["—"])]
    fed = [("NATS ", MUTED), f"{stats.feed_rtt_ms:.1f} ms"]
    return [("ping ", MUTED), *direct, *([(" · ", MUTED)] if direct else []), *fed]
