"""The price chart (key ``g``): the selected symbol's candles at 1m, 5m or 1h, with the position's lines.

:class:`ChartScreen` shows a :class:`~widgets.chart.PriceChart` over a :class:`LiveChart`: an
:class:`~exchange.chart_feed.ChartFeed` (its own public link and a kline backfill) run as the screen's worker,
and the desk's position for the entry and liquidation lines. ``1``, ``5`` and ``h`` pick the interval (a new
feed: the series is read again); Escape, ``g`` or ``q`` close it. Without a session (a scripted desk) the screen
takes any :class:`~widgets.chart.ChartSource` it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from exchange.candles import INTERVALS, CandleSeries
from exchange.chart_feed import ChartFeed
from exchange.desk import Desk
from widgets.chart import ChartLine, ChartSource, PriceChart

if TYPE_CHECKING:
    from app.app import FluxumApp

__all__ = ["ChartScreen", "LiveChart", "position_lines", "price_places"]


def position_lines(desk: Desk, symbol: str) -> list[ChartLine]:
    """The open position's average entry (the ledger's, else the exchange's) and its liquidation price."""
    lines: list[ChartLine] = []
    entry = desk.ledger.entry(symbol)
    position = desk.positions.get(symbol)
    if entry is not None and entry.position != 0 and entry.running_price > 0:
        lines.append(ChartLine("entry", entry.running_price, "entry"))
    elif position is not None and position.size != 0 and position.avg_price > 0:
        lines.append(ChartLine("entry", position.avg_price, "entry"))
    if position is not None and position.size != 0 and position.liq_price:
        lines.append(ChartLine("liq", position.liq_price, "liq"))
    return lines


def price_places(desk: Desk, symbol: str) -> int | None:
    """The places of the symbol's tick on the desk, None before the instruments are read."""
    return desk.price_places(symbol)


class LiveChart:
    """A :class:`ChartSource` over a running feed and the desk's position."""

    def __init__(self, feed: ChartFeed, desk: Desk) -> None:
        self.feed = feed
        self.desk = desk

    @property
    def series(self) -> CandleSeries:
        return self.feed.series

    def status(self) -> str:
        return self.feed.status()

    def lines(self) -> Sequence[ChartLine]:
        return position_lines(self.desk, self.feed.series.symbol)

    def price_places(self) -> int | None:
        return price_places(self.desk, self.feed.series.symbol)


SourceFactory = Callable[[str], ChartSource]


class ChartScreen(ModalScreen[None]):
    """The chart of one symbol; its interval keys make a new source from ``make_source``."""

    DEFAULT_CSS = """
    #chart-dialog { width: 98%; height: 95%; padding: 0 1; border: thick $primary; background: $surface; }
    """

    BINDINGS = [
        Binding("escape,g,q", "close", "Close"),
        Binding("1", "interval('1')", "1m"),
        Binding("5", "interval('5')", "5m"),
        Binding("h", "interval('60')", "1h"),
    ]

    def __init__(self, make_source: SourceFactory, interval: str = "5") -> None:
        super().__init__()
        self.make_source = make_source
        self.interval = interval if interval in INTERVALS else "5"
        self.source = make_source(self.interval)

    def compose(self) -> ComposeResult:
        with Vertical(id="chart-dialog"):
            yield PriceChart(self.source, id="price-chart")
            yield Label("1 one minute · 5 five minutes · h one hour · Escape close", classes="dialog-hint")

    def on_mount(self) -> None:
        self._start()

    @property
    def chart(self) -> PriceChart:
        return self.query_one(PriceChart)

    def _start(self) -> None:
        if isinstance(self.source, LiveChart):
            self.run_worker(self.source.feed.run(), group="chart", exclusive=True, exit_on_error=False)

    def action_interval(self, interval: str) -> None:
        if interval == self.interval:
            return
        self.interval = interval
        self.source = self.make_source(interval)
        self.chart.point_at(self.source)
        self._start()

    def action_close(self) -> None:
        self.dismiss(None)


def live_source(app: FluxumApp, symbol: str) -> SourceFactory | None:
    """Feeds of ``symbol`` from the app's session, or None when no session runs."""
    runtime = app.runtime
    if runtime is None or runtime.settings.endpoints is None:
        return None
    rest, settings = runtime.rest, runtime.settings
    endpoints = settings.endpoints
    assert endpoints is not None

    def make(interval: str) -> ChartSource:
        http = rest.transport.ensure_session()
        feed = ChartFeed(rest, http, endpoints.public_url(settings.category), settings.category, symbol, interval)
        return LiveChart(feed, app.desk)

    return make
