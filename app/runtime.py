"""Wiring: from validated settings to a running session, for the dashboard and the headless commands alike.

With ``-cfg sim`` and no ``--base-url`` the local Bybit exchange is started in-process first and the session is
pointed at it with the documented demo credentials: the very same client code then talks to it as it would to
Bybit. The journal of the embedded exchange lives in a temporary directory for that run only (the exchange
starts fresh each time, so yesterday's demo fills must not be mistaken for today's); the same holds for an
external ``fluxum sim`` unless ``--journal-dir`` names a journal to keep.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from exchange.config import Endpoints, Environment, Settings
from exchange.hub import EventHub
from exchange.journal import Journal, journal_path
from exchange.link_history import LinkHistory, history_path
from exchange.link_recorder import HistoryRecorder, record
from exchange.listing import UnlistedSymbols, listed_symbols, unlisted
from exchange.retry import describe
from exchange.secrets import Credentials, Secret
from exchange.session import Backoff, Session, Timeouts
from exchange.sources import FrameSource

if TYPE_CHECKING:
    import aiohttp

    from exchange.bybit.rest import RestClient
    from exchange.recording.writer import SessionRecorder

__all__ = ["Runtime", "open_history", "open_runtime", "EMBEDDED_FUNDING_SPEED", "UnlistedSymbols"]

log = logging.getLogger(__name__)
INSTRUMENTS_AT_START_S = 5.0  # an exchange down at start delays the desk this long at most

EMBEDDED_FUNDING_SPEED = 480.0  # 8 h of funding every minute, so a demo shows it
DEFAULT_BACKOFF = Backoff()
DEFAULT_TIMEOUTS = Timeouts()


@dataclass
class Runtime:
    """Everything a front end needs: the settings in force, the session, its hub, and the local exchange if any."""

    settings: Settings
    session: Session
    hub: EventHub
    rest: RestClient
    journal: Journal | None
    sim: Any | None  # exchange.bybit.sim.server.SimServer when embedded
    dropped_symbols: tuple[str, ...] = ()  # asked for, but not listed by the exchange (``unlisted="drop"``)
    history: LinkHistory | None = None  # None when it could not be opened (the desk runs without it)
    recorder: SessionRecorder | None = None  # the session being recorded, when asked

    @property
    def environment_label(self) -> str:
        if self.settings.environment is Environment.SIM:
            return "SIM"
        return self.settings.environment.value.upper()


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    seed: int = 1,
    demo_trader: bool = True,
    faults: bool = False,
    journal_dir: Path | None = None,
    clock: Callable[[], float] = time.time,
    backoff: Backoff = DEFAULT_BACKOFF,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
    sim_overrides: dict[str, Any] | None = None,
    private: bool = True,
    unlisted: str = "refuse",
    recorder: SessionRecorder | None = None,
    feed: str | None = None,
    wrap_frames: Callable[[FrameSource], FrameSource] | None = None,
) -> AsyncIterator[Runtime]:
    """Start (if needed) the local exchange, then build the REST client, journal and session; tear all down.

    ``private=False`` watches public market data only, even when keys are at hand. A symbol the exchange does
    not list raises :class:`UnlistedSymbols` (``unlisted="refuse"``) or is left out (``"drop"``, the dashboard;
    :attr:`Runtime.dropped_symbols` names it), unless no symbol is left. ``recorder`` (opened) records the
    session from its first request, and is closed with the runtime.
    """
    import aiohttp

    from exchange.bybit.rest import RestClient

    async with contextlib.AsyncExitStack() as stack:
        if recorder is not None:
            stack.callback(recorder.close)  # the last one out: everything the session did is in it
        sim = None
        dropped: tuple[str, ...] = ()
        if settings.embedded:
            sim_wanted = _EmbeddedExchange(seed, demo_trader, faults, sim_overrides or {})
            settings, dropped, sim = await _start_embedded_exchange(stack, settings, sim_wanted, unlisted)
        elif settings.environment is Environment.SIM and settings.credentials is None:
            settings = _with_demo_keys(settings)  # an external `fluxum sim`
        endpoints = settings.endpoints
        assert endpoints is not None
        if not private:
            settings = dataclasses.replace(settings, credentials=None)
        http = await stack.enter_async_context(aiohttp.ClientSession())
        rest = RestClient(endpoints, settings.credentials, session=http, tap=recorder)
        instruments = None
        if sim is None:
            instruments = await _read_instruments(rest, settings.category)
            if instruments is not None:
                settings, dropped = _listed_only(settings, listed_symbols(instruments), unlisted)
        journal, journal_dir = _open_journal(stack, settings, journal_dir)
        hub = EventHub()
        if recorder is not None:
            _begin_recording(recorder, settings, hub, timeouts)
        parts = _SessionParts(hub, journal, rest, http, recorder, clock, backoff, timeouts, wrap_frames)
        if feed is not None:
            parts = dataclasses.replace(parts, wrap=_relay_feed(stack, settings, feed, parts))
        session = _new_session(settings, parts, instruments)
        if feed is not None:
            from exchange.relay.bus import bus_name

            session.desk.feed = f"relay {bus_name(feed)}"
        history = await _start_history(stack, settings, journal_dir, session, clock)
        yield Runtime(
            settings=settings,
            session=session,
            hub=hub,
            rest=rest,
            journal=journal,
            sim=sim,
            dropped_symbols=dropped,
            history=history,
            recorder=recorder,
        )


@dataclass(frozen=True)
class _EmbeddedExchange:
    """What the embedded exchange is asked to be: its seed, whether the demo trades, faults, and overrides of any
    of its other settings."""

    seed: int
    demo_trader: bool
    faults: bool
    overrides: dict[str, Any]


async def _start_embedded_exchange(
    stack: contextlib.AsyncExitStack, settings: Settings, wanted: _EmbeddedExchange, policy: str
) -> tuple[Settings, tuple[str, ...], Any]:
    """Start the local exchange for ``settings``'s symbols (unlisted ones per ``policy``); returns the settings
    pointed at it with its demo keys, the symbols dropped, and the server (closed with ``stack``)."""
    from exchange.bybit.sim.demo_credentials import DEMO_API_KEY, DEMO_API_SECRET
    from exchange.bybit.sim.instruments import DEFAULT_CATEGORIES, known_symbols, watchable_symbols
    from exchange.bybit.sim.server import SimConfig, SimServer

    settings, dropped = _listed_only(settings, set(known_symbols(settings.category)), policy)
    defaults: dict[str, Any] = {
        "seed": wanted.seed,
        # the desk's symbols first, then those settled alike that the watchlist may add while running
        "symbols": (
            *settings.symbols,
            *(s for s in watchable_symbols(settings.category, settings.symbols) if s not in settings.symbols),
        ),
        "demo_trader": wanted.demo_trader,
        "demo_symbols": tuple(settings.symbols),  # the demo trades what the desk shows
        "faults_enabled": wanted.faults,
        "funding_speed": EMBEDDED_FUNDING_SPEED,
    }
    if settings.category not in DEFAULT_CATEGORIES:  # an inverse desk: its markets, its demo trades
        defaults["categories"] = (*DEFAULT_CATEGORIES, settings.category)
        defaults["demo_trader_category"] = settings.category
    config = SimConfig(**{**defaults, **wanted.overrides})  # an override wins over a default
    sim = await stack.enter_async_context(SimServer(config))
    settings = settings.with_endpoints(
        Endpoints.for_base_url(sim.base_url), Credentials(DEMO_API_KEY, Secret(DEMO_API_SECRET))
    )
    return settings, dropped, sim


def _with_demo_keys(settings: Settings) -> Settings:
    """An external local exchange (`fluxum sim`) without keys given: its documented demo keys."""
    from exchange.bybit.sim.demo_credentials import DEMO_API_KEY, DEMO_API_SECRET

    assert settings.endpoints is not None  # the simulator's own URL: set by load_settings
    return settings.with_endpoints(settings.endpoints, Credentials(DEMO_API_KEY, Secret(DEMO_API_SECRET)))


def _open_journal(
    stack: contextlib.AsyncExitStack, settings: Settings, journal_dir: Path | None
) -> tuple[Journal | None, Path | None]:
    """The account's journal (None without keys, closed with ``stack``), and the directory the link history is
    kept in: a temporary one for a local exchange unless ``journal_dir`` names one."""
    journal = None
    if settings.credentials is not None:
        if journal_dir is None and settings.environment is Environment.SIM:
            # A local exchange (embedded or external) starts fresh each run and may reuse execution ids for
            # the same seed: last run's journal must not swallow this run's fills as duplicates.
            journal_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fluxum-sim-")))
        path = journal_path(settings.environment.value, settings.credentials.api_key, settings.category, journal_dir)
        journal = Journal(path)
        stack.callback(journal.close)
    if journal_dir is None and settings.environment is Environment.SIM:
        journal_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fluxum-sim-")))
    return journal, journal_dir


@dataclass(frozen=True)
class _SessionParts:
    """What the session is built from besides its settings."""

    hub: EventHub
    journal: Journal | None
    rest: RestClient
    http: aiohttp.ClientSession
    recorder: SessionRecorder | None
    clock: Callable[[], float]
    backoff: Backoff
    timeouts: Timeouts
    wrap: Callable[[FrameSource], FrameSource] | None = None


def _relay_feed(
    stack: contextlib.AsyncExitStack, settings: Settings, url: str, parts: _SessionParts
) -> Callable[[FrameSource], FrameSource]:
    """The public link from the relay at ``url`` (its NATS connection closed with ``stack``), the private link
    and REST direct; the runtime's own wrap, if any, around both."""
    from exchange.bybit.ws import BybitFrames
    from exchange.relay.feed import RelayFrames
    from exchange.relay.subjects import FeedSubjects

    subjects = FeedSubjects(settings.environment.value, settings.category)
    outer = parts.wrap

    def wrap(direct: FrameSource) -> FrameSource:
        number = direct.next_connection if isinstance(direct, BybitFrames) else None
        feed = RelayFrames(
            url,
            subjects,
            direct,
            clock=parts.clock,
            tap=parts.recorder,
            number=number,
            credentials=settings.bus_credentials,
        )
        stack.push_async_callback(feed.close)
        return feed if outer is None else outer(feed)

    return wrap


def _new_session(settings: Settings, parts: _SessionParts, instruments: list[Any] | None) -> Session:
    """The session over Bybit's sockets, recorded when a recorder is given; ``instruments`` already read at start
    spare its backfill the read."""
    from exchange.bybit.ws import BybitFrames

    frames: FrameSource = BybitFrames(parts.http, clock=parts.clock, tap=parts.recorder)
    session = Session(
        settings,
        hub=parts.hub,
        journal=parts.journal,
        rest=parts.rest,
        frames=frames if parts.wrap is None else parts.wrap(frames),
        tap=parts.recorder,
        http=parts.http,
        clock=parts.clock,
        backoff=parts.backoff,
        timeouts=parts.timeouts,
    )
    if instruments is not None:
        session.market.take_instruments(instruments)  # read once: the session's backfill need not again
    return session


def _begin_recording(recorder: SessionRecorder, settings: Settings, hub: EventHub, timeouts: Timeouts) -> None:
    """Write the recording's header (the symbols as watched, the session's deadlines, which a replay keeps alike)
    and start it; a disk error later is one notice."""
    from exchange.events import Notice

    loop = asyncio.get_running_loop()

    def tell(text: str) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: the log line is all there is
            loop.call_soon_threadsafe(hub.publish, Notice("error", text))

    recorder.on_failure = tell
    credentials = settings.credentials
    if credentials is not None:
        recorder.add_secrets(credentials.api_key, credentials.api_secret.reveal())
    recorder.begin(
        {
            "environment": settings.environment_label,
            "category": settings.category,
            "symbols": list(settings.symbols),
            "depth": settings.depth,
            "private": credentials is not None,
            "timeouts": dataclasses.asdict(timeouts),
        }
    )


async def _read_instruments(rest: RestClient, category: str) -> list[Any] | None:
    """The category's instruments, or None when the exchange cannot be read now (the session keeps trying:
    an exchange that is down at start is an outage to ride out, not a reason to refuse the symbols)."""

    try:
        return list(await asyncio.wait_for(rest.instruments(category), INSTRUMENTS_AT_START_S))
    except Exception as error:  # an outage, a 403, a refused read: checked again by nobody, told once
        log.warning("symbols not checked against the exchange's list: %s", describe(error))
        return None


def _listed_only(settings: Settings, listed: set[str], policy: str) -> tuple[Settings, tuple[str, ...]]:
    """``settings`` without the symbols not in ``listed``, and those symbols; raises when refusing or when
    none would be left."""
    missing = unlisted(settings.symbols, listed)
    if not missing:
        return settings, ()
    if policy != "drop" or len(missing) == len(settings.symbols):
        raise UnlistedSymbols(missing, settings.category)
    kept = tuple(symbol for symbol in settings.symbols if symbol not in missing)
    return dataclasses.replace(settings, symbols=kept), tuple(missing)


def open_history(settings: Settings, journal_dir: Path | None, now_ms: int, readonly: bool = False) -> LinkHistory:
    """The link history beside the journal of these settings (``"public"`` stands for a desk without keys)."""
    if settings.credentials is not None:
        account = settings.credentials.api_key
    elif settings.environment is Environment.SIM:
        from exchange.bybit.sim.demo_credentials import DEMO_API_KEY

        account = DEMO_API_KEY  # a local exchange's desk trades on the demo account
    else:
        account = "public"
    path = history_path(settings.environment.value, account, settings.category, journal_dir)
    return LinkHistory(path, now_ms=now_ms, readonly=readonly)


async def _start_history(
    stack: contextlib.AsyncExitStack,
    settings: Settings,
    journal_dir: Path | None,
    session: Session,
    clock: Callable[[], float],
) -> LinkHistory | None:
    """Open the history and record into it until the runtime closes; a history that cannot be opened is said
    once and the desk runs without it."""
    try:
        history = open_history(settings, journal_dir, int(clock() * 1000))
    except (OSError, sqlite3.Error) as error:
        log.warning("link history unavailable: %s", error)
        return None
    recorder = HistoryRecorder(history, session.hub, session.desk, clock)
    task = asyncio.create_task(record(recorder), name="link-history")

    async def stop() -> None:
        recorder.stop()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, 5.0)
        recorder.close()

    stack.push_async_callback(stop)
    return history
