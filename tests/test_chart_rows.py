"""What the chart draws, without a screen: candles in their colours, the lines on or off the range, the status."""

from __future__ import annotations

from decimal import Decimal

from exchange.candles import Candle, CandleSeries
from widgets.chart import AXIS_WIDTH, ChartLine, chart_rows

T0 = 1_767_225_600_000
D = Decimal


def series(*ohlc: tuple[str, str, str, str], symbol: str = "BTCUSDT") -> CandleSeries:
    out = CandleSeries(symbol, "1")
    out.extend(Candle(T0 + i * 60_000, D(o), D(h), D(lo), D(c), D(1), True) for i, (o, h, lo, c) in enumerate(ohlc))
    return out


def column(rows: list[str], x: int) -> str:
    return "".join(row[x] for row in rows)


def test_a_rising_and_a_falling_candle_in_their_styles_with_the_axis() -> None:
    rows = chart_rows(series(("100", "110", "95", "108"), ("108", "109", "90", "92")), [], "live", 40, 12)
    assert len(rows) == 12 and all(len(r.text) == 40 for r in rows)
    assert rows[0].text.startswith("BTCUSDT · 1m · live")
    plot = [r.text for r in rows[1:-1]]
    assert set(column(plot, 0)) <= set("█▀▄│ ") and "█" in column(plot, 0) and "│" in column(plot, 0)
    styles = {names for r in rows[1:-1] for text, names in r.cells if text.strip("│█▀▄") == ""}
    assert ("chart--up",) in styles and ("chart--down",) in styles
    assert plot[0].rstrip().endswith("110")  # the top of the range on the axis
    assert rows[-1].text.startswith("00:00")


def test_a_line_in_range_is_drawn_and_one_outside_is_named_in_the_title() -> None:
    lines = [ChartLine("entry", D("100"), "entry"), ChartLine("liq", D("50"), "liq")]
    rows = chart_rows(series(("100", "110", "90", "105"), ("105", "111", "99", "101")), lines, "live", 40, 12)
    assert "liq 50 ↓" in rows[0].text
    entry_row = next(r for r in rows[1:-1] if "entry 100" in r.text)
    assert "─" in entry_row.text[: 40 - AXIS_WIDTH] and any(n == ("chart--entry",) for _, n in entry_row.cells)


def test_not_live_is_said_and_styled_and_no_candles_is_said() -> None:
    rows = chart_rows(series(("1", "2", "1", "2")), [], "not live: the link dropped", 50, 8)
    assert "not live: the link dropped" in rows[0].text and rows[0].cells[0][1] == ("chart--not-live",)
    empty = chart_rows(CandleSeries("BTCUSDT", "60"), [], "not live: connecting", 40, 8)
    assert [r.text.strip() for r in empty[:2]] == ["BTCUSDT · 1h · not live: connecting", "no candles yet"]
    assert len(empty) == 8


def test_a_symbol_with_control_characters_is_printed_harmlessly_and_a_flat_series_draws() -> None:
    rows = chart_rows(series(("5", "5", "5", "5"), symbol="X\x1b[31mY"), [], "live", 30, 6)
    assert "\x1b" not in "".join(r.text for r in rows)
    assert any("│" in r.text or "█" in r.text or "▀" in r.text or "▄" in r.text for r in rows[1:-1])


def test_a_gap_in_the_candles_is_a_gap_on_screen() -> None:
    gappy = series(("100", "110", "95", "108"))
    gappy.extend([Candle(T0 + 3 * 60_000, D("108"), D("109"), D("100"), D("101"), D(1), False)])
    plot = [r.text for r in chart_rows(gappy, [], "live", 40, 12)[1:-1]]
    assert column(plot, 0).strip() and column(plot, 3).strip()
    assert column(plot, 1).strip() == column(plot, 2).strip() == ""


def volume_series(*volumes: str) -> CandleSeries:
    out = CandleSeries("BTCUSDT", "1")
    candles = [
        (T0 + i * 60_000, D(100 + i), D(105 + i), D(95 + i), D(101 + i) if i % 2 else D(99 + i), D(v))
        for i, v in enumerate(volumes)
    ]
    out.extend(Candle(start, o, h, lo, c, v, True) for start, o, h, lo, c, v in candles)
    return out


def test_the_last_price_is_marked_on_the_axis_and_in_the_title() -> None:
    rows = chart_rows(series(("100", "110", "90", "105"), ("105", "111", "99", "101")), [], "live", 60, 12)
    assert rows[0].text.rstrip().endswith("· last 101")
    marked = [r for r in rows[1:-1] if "◀ 101" in r.text]
    assert len(marked) == 1 and marked[0].cells[-1][1] == ("chart--last-down",)  # it closed under its open


def test_a_tall_chart_draws_each_candles_volume_under_it_the_largest_full() -> None:
    rows = chart_rows(volume_series("10", "40", "0", "20"), [], "live", 40, 22)  # 20 plot rows: 4 of volume
    volume = rows[-5:-1]
    assert volume[0].text.rstrip().endswith("vol 40.00")
    bars = [column([r.text for r in volume], x) for x in range(4)]
    assert bars[1] == "████"  # the largest fills the rows
    assert bars[0] == "   █" and bars[3] == "  ██"  # a quarter and a half of it, in eighths
    assert bars[2] == "    "  # no volume, no bar
    styles = {names for r in volume for text, names in r.cells if text.strip(" ▁▂▃▄▅▆▇█") == "" and text.strip()}
    assert styles == {("chart--volume-up",), ("chart--volume-down",)}
    assert "vol" not in "".join(r.text for r in chart_rows(volume_series("1", "2"), [], "live", 40, 12))  # short


def test_prices_are_written_to_the_ticks_places_whatever_the_wire_strings() -> None:
    """Bybit drops a kline's trailing zeros (``"16677"`` beside ``"16649.5"``) and a host may pad them: the
    title, the axis and the lines follow the instrument's tick as the ladder does, one place for a 0.1 tick."""
    candles = series(("65000.50", "65010.00", "64990.25", "65008"), ("65008", "65012", "64999", "65004.5"))
    lines = [ChartLine("entry", D("65001.5"), "entry")]
    rows = chart_rows(candles, lines, "live", 60, 12, places=1)
    assert rows[0].text.rstrip().endswith("last 65,004.5"), rows[0].text
    axis = [r.text[60 - AXIS_WIDTH :].strip() for r in rows[1:-1]]
    figures = [text.split()[-1] for text in axis if text]
    assert figures and all(
        figure.rsplit(".", 1)[-1].isdigit() and len(figure.rsplit(".", 1)[-1]) == 1 for figure in figures
    ), axis
    assert "entry 65,001.5" in axis
    padded = series(("1", "2", "1", "2.50"))  # no tick known yet: the candles' own places
    assert chart_rows(padded, [], "live", 60, 12)[0].text.rstrip().endswith("last 2.50")
