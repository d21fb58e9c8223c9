"""The price chart: one column of block characters per candle, the position's entry and liquidation as lines.

:func:`chart_rows` is what the chart shows, a pure function of the candles, the lines and the size (tested without
a screen); :class:`PriceChart` pulls its :class:`ChartSource` on a timer and paints the rows through the Line API.
A column is a period (a gap in the data stays a gap); each cell holds two half-rows (``▀`` ``▄`` ``█``), a wick is
``│``; rising candles in the bid colour, falling in the ask colour. A line whose price is off the chart's range is
named in the title with an arrow instead of squashing the candles. The last price is marked on the axis (``◀``)
and in the title; a tall enough chart gives a fifth of its rows to each candle's volume, in eighths of a cell.
Prices come as Decimal; floats only place them on the grid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from exchange.candles import Candle, CandleSeries
from exchange.printable import printable
from widgets._format import compact_number
from widgets.rows import Cell, Row, text_row
from widgets.strip_widget import StripWidget

__all__ = ["AXIS_WIDTH", "ChartLine", "ChartSource", "PriceChart", "chart_rows"]

AXIS_WIDTH = 14
AXIS_EVERY = 4
"""A price label every this many rows."""
INTERVAL_LABELS = {"1": "1m", "5": "5m", "60": "1h"}
VOLUME_FROM = 15
"""Plot rows from which the volume bars get a share of them (a shorter chart keeps its rows for the prices)."""
VOLUME_SHARE = 5
"""The volume bars take one row in this many."""
BARS = " ▁▂▃▄▅▆▇█"
"""A volume bar's cell by the eighths it fills."""


@dataclass(frozen=True)
class ChartLine:
    """A horizontal line at ``price``: its label and style (``entry``, ``liq``)."""

    label: str
    price: Decimal
    kind: str


class ChartSource(Protocol):
    """What the chart reads: the series, whether it is live (and why not), and the lines to draw."""

    @property
    def series(self) -> CandleSeries: ...

    def status(self) -> str: ...

    def lines(self) -> Sequence[ChartLine]: ...

    def price_places(self) -> int | None:
        """The places of the symbol's tick, as the ladder writes its prices; None while not known."""
        ...


def _places(candles: Sequence[Candle]) -> int:
    exponents = [c.close.as_tuple().exponent for c in candles[-20:]]
    return min(8, max([-e for e in exponents if isinstance(e, int)] + [0]))


def _cell_char(upper: str, lower: str) -> str:
    """``b`` body, ``w`` wick, ``-`` nothing, for the cell's upper and lower half."""
    if upper == "b" and lower == "b":
        return "█"
    if upper == "b":
        return "▀"
    if lower == "b":
        return "▄"
    return "│" if "w" in (upper, lower) else " "


def _time_text(ms: int, interval: str) -> str:
    when = datetime.fromtimestamp(ms / 1000, UTC)
    return when.strftime("%m-%d %H:%M" if interval == "60" else "%H:%M")


def _merged(cells: list[Cell]) -> tuple[Cell, ...]:
    out: list[Cell] = []
    for text, styles in cells:
        if out and out[-1][1] == styles:
            out[-1] = (out[-1][0] + text, styles)
        else:
            out.append((text, styles))
    return tuple(out)


def chart_rows(
    series: CandleSeries,
    lines: Sequence[ChartLine],
    status: str,
    width: int,
    height: int,
    places: int | None = None,
) -> list[Row]:
    """The chart as ``height`` rows of ``width`` cells: a title, the plot with its price axis (the last price
    marked), the volume bars under it when there is room, a time axis. Prices have ``places`` (the tick's), or
    while the tick is not known the candles' own (Bybit drops a kline's trailing zeros)."""
    plot_w, plot_h = width - AXIS_WIDTH - 1, height - 2
    label = INTERVAL_LABELS.get(series.interval, series.interval + "m")
    live = status == "live"
    title = f"{printable(series.symbol, 20)} · {label} · {status}"
    candles = _window(series, max(plot_w, 1))
    if plot_w < 4 or plot_h < 2 or not candles:
        rows = [text_row(title, width, "chart--title" if live else "chart--not-live")]
        if not candles and height > 1:
            rows.append(text_row("no candles yet", width, "chart--axis"))
        return rows[:height] + [Row((), ())] * max(0, height - len(rows))
    volume_h = plot_h // VOLUME_SHARE if plot_h >= VOLUME_FROM else 0
    places = _places(candles) if places is None else places
    price_rows, off = _price_rows(series, candles, lines, plot_w, plot_h - volume_h, places)
    title += "".join(f" · {text}" for text in off) + f" · last {candles[-1].close:,.{places}f}"
    rows = [text_row(title, width, "chart--title" if live else "chart--not-live")]
    rows += price_rows + _volume_rows(series, candles, plot_w, volume_h)
    first, last = _time_text(candles[0].start, series.interval), _time_text(candles[-1].start, series.interval)
    footer = first + last.rjust(max(0, plot_w - len(first))) if plot_w > len(first) + len(last) else last
    rows.append(text_row(footer, width, "chart--axis"))
    return rows


def _price_rows(
    series: CandleSeries, candles: list[Candle], lines: Sequence[ChartLine], plot_w: int, plot_h: int, places: int
) -> tuple[list[Row], list[str]]:
    """The candles with their price axis, and the lines off the range (for the title)."""
    high = float(max(c.high for c in candles))
    low = float(min(c.low for c in candles))
    span = (high - low) or max(abs(high) * 0.001, 1e-9)
    subs = plot_h * 2

    def sub(price: Decimal) -> int:
        return round((high - float(price)) / span * (subs - 1))

    on_chart = [line for line in lines if low <= float(line.price) <= high]
    off = [
        f"{line.label} {line.price:,.{places}f} {'↑' if float(line.price) > high else '↓'}"
        for line in lines
        if line not in on_chart
    ]
    grid: list[list[Cell]] = [[(" ", ("chart--plot",))] * plot_w for _ in range(plot_h)]
    for line in on_chart:
        grid[sub(line.price) // 2] = [("─", (f"chart--{line.kind}",))] * plot_w
    for candle in candles:
        _draw_candle(grid, (candle.start - candles[0].start) // series.step_ms, candle, sub)
    axis = [""] * plot_h
    axis_style: list[str] = ["chart--axis"] * plot_h
    for y in range(0, plot_h, AXIS_EVERY):
        axis[y] = f"{high - span * (2 * y) / (subs - 1):,.{places}f}"
    last = candles[-1]
    y = sub(last.close) // 2
    axis[y] = f"◀ {last.close:,.{places}f}"
    axis_style[y] = "chart--last-up" if last.close >= last.open else "chart--last-down"
    for line in on_chart:  # a position's line wins its row: the last price is in the title too
        y = sub(line.price) // 2
        axis[y], axis_style[y] = f"{line.label} {line.price:,.{places}f}", f"chart--{line.kind}"
    rows = [
        Row(_merged([*grid[y], (" " + axis[y][:AXIS_WIDTH].ljust(AXIS_WIDTH), (axis_style[y],))]))
        for y in range(plot_h)
    ]
    return rows, off


def _volume_rows(series: CandleSeries, candles: list[Candle], plot_w: int, height: int) -> list[Row]:
    """Each candle's volume as a bar of eighths under it, the largest filling ``height`` rows; the axis names the
    largest."""
    if height <= 0:
        return []
    largest = max(candle.volume for candle in candles)
    eighths = [0] * plot_w
    styles = [("chart--plot",)] * plot_w
    for candle in candles:
        x = (candle.start - candles[0].start) // series.step_ms
        if 0 <= x < plot_w and largest > 0:
            eighths[x] = max(1, round(float(candle.volume / largest) * height * 8)) if candle.volume > 0 else 0
            styles[x] = ("chart--volume-up",) if candle.close >= candle.open else ("chart--volume-down",)
    rows = []
    for y in range(height):
        floor = (height - 1 - y) * 8  # eighths below this row
        cells: list[Cell] = [(BARS[min(8, max(0, eighths[x] - floor))], styles[x]) for x in range(plot_w)]
        axis = f"vol {compact_number(largest)}" if y == 0 else ""
        cells.append((" " + axis[:AXIS_WIDTH].ljust(AXIS_WIDTH), ("chart--axis",)))
        rows.append(Row(_merged(cells)))
    return rows


def _window(series: CandleSeries, columns: int) -> list[Candle]:
    """The candles of the last ``columns`` periods: one column per period, so a gap in the data is a gap on screen."""
    if not series.candles:
        return []
    first = series.candles[-1].start - (columns - 1) * series.step_ms
    return [c for c in series.candles if c.start >= first]


def _draw_candle(grid: list[list[Cell]], x: int, candle: Candle, sub: Any) -> None:
    body_top, body_bottom = sorted((sub(candle.open), sub(candle.close)))
    wick_top, wick_bottom = sub(candle.high), sub(candle.low)
    style = ("chart--up",) if candle.close >= candle.open else ("chart--down",)

    def half(s: int) -> str:
        if body_top <= s <= body_bottom:
            return "b"
        return "w" if wick_top <= s <= wick_bottom else "-"

    for y in range(wick_top // 2, wick_bottom // 2 + 1):
        char = _cell_char(half(2 * y), half(2 * y + 1))
        if char != " ":
            grid[y][x] = (char, style)


class PriceChart(StripWidget):
    """The chart of :attr:`source`, redrawn when its series or status moved."""

    COMPONENT_CLASSES = {
        "chart--title",
        "chart--not-live",
        "chart--plot",
        "chart--axis",
        "chart--up",
        "chart--down",
        "chart--entry",
        "chart--liq",
        "chart--last-up",
        "chart--last-down",
        "chart--volume-up",
        "chart--volume-down",
    }

    DEFAULT_CSS = """
    PriceChart { height: 1fr; }
    PriceChart > .chart--title { text-style: bold; }
    PriceChart > .chart--not-live { color: $text-warning; text-style: bold; }
    PriceChart > .chart--axis { color: $text-muted; }
    PriceChart > .chart--up { color: $success; }
    PriceChart > .chart--down { color: $error; }
    PriceChart > .chart--entry { color: $accent; }
    PriceChart > .chart--liq { color: $warning; text-style: bold; }
    PriceChart > .chart--last-up { color: $success; text-style: bold; }
    PriceChart > .chart--last-down { color: $error; text-style: bold; }
    PriceChart > .chart--volume-up { color: $success 50%; }
    PriceChart > .chart--volume-down { color: $error 50%; }
    """

    REFRESH_HZ = 4.0

    def __init__(self, source: ChartSource, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.source = source

    def point_at(self, source: ChartSource) -> None:
        self.source = source
        self._pull()

    def _pull(self) -> None:
        if not self._started:
            return
        source = self.source
        series, lines, status = source.series, tuple(source.lines()), source.status()
        width, height, places = self.size.width, self.size.height, source.price_places()
        key = (id(series), series.version, lines, status, width, height, places)
        if key == self._drawn_key:
            return
        self._drawn_key = key
        self._show_rows(chart_rows(series, lines, status, width, height, places), width)

    @property
    def plain_lines(self) -> list[str]:
        """The rows as drawn, without styles (tests read these)."""
        return [row.text for row in self._rows]
