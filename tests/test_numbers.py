"""Hostile numbers from outside: every reader raises only its own record error, and what it accepts is finite, in
range, and something the ledger, the book and the ladder compute with without an exception."""

from __future__ import annotations

from decimal import Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.book import ApplyResult, OrderBook
from exchange.bybit.executions import ExecutionRecordError, fill_from_execution
from exchange.bybit.protocol import ProtocolError, cross_seq, parse_order, parse_position, parse_trades, parse_wallet
from exchange.desk import Desk, Instrument
from exchange.events import TickerChanged
from exchange.ledger import MONEY_CONTEXT, Fill, Ledger, format_decimal
from exchange.market_data import instrument_from
from exchange.numbers import (
    MAX_EPOCH_MS,
    MAX_MAGNITUDE,
    MIN_MAGNITUDE,
    NumberError,
    decimal_problem,
    read_decimal,
    read_epoch_ms,
)

D = Decimal

ABSURD = [
    "1E+999999999",
    "-1E+999999999",
    "1e-999999",
    "1E-20000",
    "0E-1000000",
    "0E+1000000",
    "NaN",
    "-NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    "1" * 5000,
    "0." + "0" * 4999 + "1",
    "1" * 31,
    "1e18",
    "1e-19",
    "²",
    "١٢٣",
    " 7 ",
    "1_000",
    "",
    "-",
    "0x10",
]


def decimal_texts() -> st.SearchStrategy[str]:
    """Decimal strings of every shape: plain, exponent notation with absurd exponents, long, special, junk."""
    mantissa = st.from_regex(r"-?[0-9]{1,40}(\.[0-9]{0,40})?", fullmatch=True)
    exponent = st.integers(min_value=-(10**10), max_value=10**10).map(lambda e: f"E{e:+d}")
    return st.one_of(
        st.sampled_from(ABSURD),
        mantissa,
        st.tuples(mantissa, exponent).map("".join),
        st.integers(min_value=0, max_value=6000).map(lambda n: "9" * n),
        st.text(max_size=30),
    )


def numbers() -> st.SearchStrategy[Any]:
    """What a JSON field may hold where a number is expected."""
    return st.one_of(
        decimal_texts(),
        st.integers(min_value=-(10**80), max_value=10**80),
        st.floats(allow_nan=True, allow_infinity=True),
        st.none(),
        st.booleans(),
        st.lists(st.integers(), max_size=2),
    )


def _in_range(value: Decimal) -> bool:
    return value.is_finite() and abs(value) < MAX_MAGNITUDE and (value == 0 or abs(value) >= MIN_MAGNITUDE)


@given(numbers())
@settings(max_examples=400, deadline=None)
def test_read_decimal_raises_only_its_error_and_keeps_to_the_range(value: Any) -> None:
    try:
        number = read_decimal(value, "execPrice")
    except NumberError as error:
        assert "execPrice" in str(error) and len(str(error)) < 200
        return
    assert _in_range(number) and decimal_problem(number) is None
    with localcontext(MONEY_CONTEXT):  # the ledger's context traps overflow and invalid operations
        product = number * number * number
        total = product + number
    assert format_decimal(total) and len(format_decimal(number)) < 80


@pytest.mark.parametrize("text", ABSURD)
def test_the_issue_s_numbers_are_refused(text: str) -> None:
    with pytest.raises(NumberError):
        read_decimal(text, "execQty")


def test_more_digits_than_the_ledger_keeps_exact_are_refused() -> None:
    with pytest.raises(NumberError, match="more than 30 significant digits"):
        read_decimal("0." + "1" * 31, "execQty")
    with pytest.raises(NumberError, match="more than 30 significant digits"):
        read_decimal("1" * 17 + "." + "1" * 14, "execQty")
    assert read_decimal("0." + "1" * 30, "execQty") == D("0." + "1" * 30)


def test_plain_bybit_numbers_are_kept_exactly() -> None:
    for text in ("0", "0.00", "65000.10", "-0.00012345", "0.000000000000000001", "999999999999999999", "1e-18"):
        assert read_decimal(text, "x") == D(text) and str(read_decimal(text, "x")) == str(D(text))
    assert read_decimal(1, "x") == 1 and read_decimal(0.1, "x") == D("0.1")


@given(numbers())
@settings(max_examples=300, deadline=None)
def test_epoch_ms_is_a_plain_whole_number_in_range(value: Any) -> None:
    try:
        ms = read_epoch_ms(value, "execTime")
    except NumberError:
        return
    assert isinstance(ms, int) and 0 <= ms < MAX_EPOCH_MS


def test_a_5000_digit_time_is_refused_quickly_and_clearly() -> None:
    with pytest.raises(NumberError, match="execTime '1111111111111111111\\.\\.\\.' is not epoch milliseconds"):
        read_epoch_ms("1" * 5000, "execTime")
    for text in ("²", "١٢٣", "-1", " 1", "1.0", str(MAX_EPOCH_MS)):
        with pytest.raises(NumberError):
            read_epoch_ms(text, "T")


RECORD = {
    "category": "linear",
    "symbol": "BTCUSDT",
    "execId": "e-1",
    "side": "Buy",
    "execQty": "0.5",
    "execPrice": "65000.1",
    "execFee": "0.01",
    "feeCurrency": "USDT",
    "execType": "Trade",
    "execTime": "1700000000000",
    "seq": 7,
}
NUMERIC_FIELDS = ("execQty", "execPrice", "execFee", "execTime", "seq")


@given(st.dictionaries(st.sampled_from(NUMERIC_FIELDS), numbers(), min_size=1), st.sampled_from(["linear", "spot"]))
@settings(max_examples=400, deadline=None)
def test_an_execution_is_a_fill_the_ledger_takes_or_a_record_error(changes: dict[str, Any], category: str) -> None:
    record = {**RECORD, **changes, "category": category, "feeCurrency": "BTC" if category == "spot" else "USDT"}
    try:
        fill = fill_from_execution(record)
    except ExecutionRecordError as error:
        assert len(str(error)) < 200
        return
    assert all(_in_range(value) for value in (fill.qty, fill.price)) and fill.fee.is_finite()
    assert 0 <= fill.time_ms < MAX_EPOCH_MS and (fill.seq is None or 0 <= fill.seq < 1 << 63)
    ledger = Ledger()
    entries = [ledger.apply_fill(fill), ledger.apply_fill(Fill("e-2", "BTCUSDT", "Sell", D("0.3"), D("1"), D(0), 1))]
    assert ledger.rejected == 0 and all(entry is not None for entry in entries)


@pytest.mark.parametrize(
    ("field", "value"),
    [("execPrice", "1E+999999999"), ("execTime", "1" * 5000), ("execQty", "NaN"), ("execQty", "1e-999999")],
)
def test_the_issue_s_executions_are_record_errors(field: str, value: str) -> None:
    with pytest.raises(ExecutionRecordError, match=field):
        fill_from_execution({**RECORD, field: value})


@given(
    st.sampled_from(["qty", "price", "fee"]),
    st.sampled_from([D("1E+999999999"), D("1E-20000"), D("NaN"), D("-Infinity"), D("9" * 70), D("1E+41")]),
)
@settings(max_examples=60, deadline=None)
def test_the_ledger_refuses_a_fill_it_cannot_compute_and_never_raises(field: str, value: Decimal) -> None:
    """A fill built by hand (not through the readers) with an absurd value: counted, rejected, nothing moved."""
    ledger = Ledger()
    ledger.apply_fill(Fill("a", "BTCUSDT", "Buy", D("1"), D("100"), D(0), 1))
    before = ledger.entry("BTCUSDT")
    numbers = {"qty": D("1"), "price": D("100"), "fee": D(0), field: value}
    bad = Fill("b", "BTCUSDT", "Buy", numbers["qty"], numbers["price"], numbers["fee"], 2)
    assert ledger.apply_fill(bad) is None
    assert ledger.rejected == 1 and ledger.entry("BTCUSDT") == before
    assert ledger.apply_fill(Fill("c", "BTCUSDT", "Sell", D("1"), D("101"), D(0), 3)) is not None


def test_an_arithmetic_error_while_applying_changes_nothing_and_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The range check is the first guard; a context that still overflows (a narrower one) meets the second."""
    from exchange import ledger as ledger_module

    ledger = Ledger()
    ledger.apply_fill(Fill("a", "BTCUSDT", "Buy", D("1"), D("100"), D(0), 1))
    before = ledger.entry("BTCUSDT")
    narrow = MONEY_CONTEXT.copy()
    narrow.Emax = 30
    monkeypatch.setattr(ledger_module, "MONEY_CONTEXT", narrow)
    assert ledger.apply_fill(Fill("b", "BTCUSDT", "Buy", D("1e20"), D("1e15"), D(0), 2)) is None
    assert ledger.apply_fill(Fill("late", "BTCUSDT", "Buy", D("1e20"), D("1e15"), D(0), 0)) is None  # a replay
    monkeypatch.undo()
    assert ledger.rejected == 2 and ledger.entry("BTCUSDT") == before
    assert ledger.apply_fill(Fill("b", "BTCUSDT", "Sell", D("1"), D("101"), D(0), 3)) is not None


def test_a_huge_cost_basis_is_settled_without_invalid_operation() -> None:
    """A pro-rata cost with as many integer digits as the context keeps cannot be quantized to 1e-18."""
    ledger = Ledger()
    ledger.apply_fill(Fill("a", "X", "Buy", D("3"), D("9" * 30 + "e10"), D(0), 1))
    ledger.apply_fill(Fill("b", "X", "Buy", D("7"), D("1" * 30 + "e10"), D(0), 2))
    assert ledger.apply_fill(Fill("c", "X", "Sell", D("1"), D("1"), D(0), 3)) is not None
    assert ledger.rejected == 0


@given(st.dictionaries(st.sampled_from(["size", "avgPrice", "markPrice", "liqPrice", "updatedTime"]), numbers()))
@settings(max_examples=300, deadline=None)
def test_a_position_is_parsed_in_range_or_refused(changes: dict[str, Any]) -> None:
    record = {"symbol": "BTCUSDT", "side": "Buy", "size": "1", "avgPrice": "100", "updatedTime": "1", **changes}
    try:
        position = parse_position(record)
    except ProtocolError:
        return
    assert _in_range(position.size) and _in_range(position.avg_price)
    assert position.mark_price is None or _in_range(position.mark_price)


@given(st.dictionaries(st.sampled_from(["qty", "price", "cumExecQty", "leavesQty", "updatedTime"]), numbers()))
@settings(max_examples=300, deadline=None)
def test_an_order_is_parsed_in_range_or_refused(changes: dict[str, Any]) -> None:
    record = {"orderId": "o", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "orderStatus": "New"}
    try:
        order = parse_order({**record, "qty": "1", "price": "100", **changes})
    except ProtocolError:
        return
    assert _in_range(order.qty) and (order.price is None or _in_range(order.price))
    assert 0 <= order.updated_ms < MAX_EPOCH_MS


@given(numbers(), numbers())
@settings(max_examples=200, deadline=None)
def test_a_wallet_and_a_trade_are_parsed_in_range_or_refused(equity: Any, price: Any) -> None:
    try:
        wallet = parse_wallet({"totalEquity": equity, "coin": [{"coin": "USDT", "equity": equity}]})
        assert _in_range(wallet.total_equity) and _in_range(wallet.coins[0].equity)
    except ProtocolError:
        pass
    frame = {"data": [{"T": price, "s": "BTCUSDT", "S": "Buy", "v": "1", "p": price, "i": "t"}]}
    try:
        (trade,) = parse_trades(frame)
    except ProtocolError:
        return
    assert _in_range(trade.price) and 0 <= trade.time_ms < MAX_EPOCH_MS


@given(numbers())
@settings(max_examples=200, deadline=None)
def test_cross_seq_is_none_or_a_64_bit_whole_number(value: Any) -> None:
    seq = cross_seq({"seq": value})
    assert seq is None or 0 <= seq < 1 << 63


@given(decimal_texts())
@settings(max_examples=200, deadline=None)
def test_a_ticker_field_is_a_number_in_range_or_none(text: str) -> None:
    value = TickerChanged("BTCUSDT", {"markPrice": text}).decimal("markPrice")
    assert value is None or _in_range(value)
    desk = Desk(environment="SIM", category="linear", symbols=["BTCUSDT"], books={})
    desk.tickers.apply({"topic": "tickers.BTCUSDT", "data": {"symbol": "BTCUSDT", "markPrice": text}})
    mark = desk.mark_price("BTCUSDT")
    assert mark is None or (_in_range(mark) and mark > 0)


@given(decimal_texts(), decimal_texts())
@settings(max_examples=300, deadline=None)
def test_a_book_takes_prices_and_sizes_in_range_or_rejects_the_message(price: str, size: str) -> None:
    book = OrderBook("orderbook.50.BTCUSDT")
    snapshot: dict[str, Any] = {
        "topic": "orderbook.50.BTCUSDT",
        "type": "snapshot",
        "ts": 1,
        "data": {"s": "BTCUSDT", "u": 1},
    }
    snapshot["data"].update({"b": [[price, size]], "a": [["1e17", "1"]]})
    result = book.apply(snapshot)
    if result is ApplyResult.REJECTED:
        return
    for level_price, level_size in book.bids() + book.asks():
        assert 1e-18 <= level_price < 1e18 and (level_size == 0 or 1e-18 <= level_size < 1e18)


INSTRUMENT = {"symbol": "BTCUSDT", "priceFilter": {"tickSize": "0.10"}, "lotSizeFilter": {"qtyStep": "0.001"}}


@given(numbers(), numbers(), numbers(), numbers())
@settings(max_examples=300, deadline=None)
def test_an_instrument_is_sane_or_refused(tick: Any, step: Any, min_qty: Any, scale: Any) -> None:
    item = {
        "symbol": "BTCUSDT",
        "priceScale": scale,
        "priceFilter": {"tickSize": tick},
        "lotSizeFilter": {"qtyStep": step, "minOrderQty": min_qty},
    }
    try:
        instrument = instrument_from(item)
    except (NumberError, KeyError):
        return
    assert D("1e-18") <= instrument.tick_size <= D("1e9") and D("1e-18") <= instrument.qty_step <= D("1e9")
    assert 0 <= instrument.price_decimals <= 18 and 0 <= instrument.qty_decimals <= 18
    assert float(instrument.tick_size) > 0


@pytest.mark.parametrize("tick", ["0", "1E-20000", "-0.5", "1E+999", "NaN", "1e-19", "1e10"])
def test_an_absurd_tick_is_refused_by_name(tick: str) -> None:
    with pytest.raises(NumberError, match="tickSize"):
        instrument_from({**INSTRUMENT, "priceFilter": {"tickSize": tick}})
    with pytest.raises(NumberError, match="tickSize"):
        Instrument("BTCUSDT", D(tick), D("0.001"))
    assert instrument_from(INSTRUMENT) == Instrument("BTCUSDT", D("0.10"), D("0.001"))


def test_command_line_numbers_are_user_errors_not_tracebacks() -> None:
    """The CLI's own number flags and the instrument limits it checks orders against keep to the same range."""
    from app.cli import UserError
    from app.commands.common import parse_positive_decimal
    from app.commands.orders import _check_against_instrument
    from app.commands.trades import _time_text, parse_since

    for text in ("1E+999999999", "9" * 5000, "NaN", "1e-999999", "١"):
        with pytest.raises(UserError, match="--qty must be a positive number"):
            parse_positive_decimal(text, "--qty", "0.01")
    for text in ("9" * 5000, "9" * 15):
        with pytest.raises(UserError, match="--since"):
            parse_since(text, 0)
    assert parse_since("1700000000000", 0) == 1700000000000
    assert _time_text("9" * 5000) == "9" * 21 + "..." and _time_text("99999999999999999") == "9" * 17  # no year 3e9
    order = {"symbol": "BTCUSDT", "qty": D("1e17"), "price": D("65000.5"), "order_type": "Limit", "side": "Buy"}
    tiny = {"lotSizeFilter": {"qtyStep": "1e-18", "minOrderQty": "1E+999999999"}, "priceFilter": {"tickSize": "0.5"}}
    _check_against_instrument(order, tiny, "linear")  # an absurd minimum is not a limit; 1e17 / 1e-18 computes
    with pytest.raises(UserError, match="tick size"):
        _check_against_instrument({**order, "price": D("65000.25")}, tiny, "linear")


@pytest.mark.parametrize("odd", ["1700000000000", 1.7e12, True, -1, 10**30, None, [1]])
def test_a_book_s_times_and_seq_are_whole_numbers_or_none(odd: Any) -> None:
    """The envelope's ts, cts and seq are not checked when applied (the hot path); they are when read, so the
    ladder's latency and trade-age arithmetic never meets a string or a float."""
    book = OrderBook("orderbook.50.BTCUSDT")
    data = {"s": "BTCUSDT", "u": 1, "seq": odd, "b": [["100", "1"]], "a": [["101", "1"]]}
    assert book.apply({"topic": "orderbook.50.BTCUSDT", "type": "snapshot", "ts": odd, "cts": odd, "data": data})
    assert (book.ts, book.cts, book.seq) == (None, None, None)
    data = {**data, "seq": 7}
    book.apply({"topic": "orderbook.50.BTCUSDT", "type": "snapshot", "ts": 1700000000000, "cts": 5, "data": data})
    assert (book.ts, book.cts, book.seq) == (1700000000000, 5, 7)


def test_rate_limit_headers_are_whole_numbers_in_range_or_none() -> None:
    from exchange.bybit.errors import RateLimited
    from exchange.bybit.rest_replies import int_header

    for text in ("9" * 4000, "1e5", "-5", "²", "NaN", "", str(MAX_EPOCH_MS)):
        assert int_header({"X-Bapi-Limit-Reset-Timestamp": text}, "X-Bapi-Limit-Reset-Timestamp") is None
    assert int_header({"Retry-After": " 30 "}, "Retry-After") == 30
    latest = int_header({"X-Bapi-Limit-Reset-Timestamp": str(MAX_EPOCH_MS - 1)}, "X-Bapi-Limit-Reset-Timestamp")
    assert "resets at" in str(RateLimited(10006, "Too many visits!", 200, path="/v5/x", reset_ms=latest))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12) | decimal_texts(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@pytest.mark.slow
@given(st.dictionaries(st.sampled_from([*RECORD, "orderId", "isMaker", "orderLinkId"]), JSON_VALUES, min_size=1))
@settings(max_examples=400, deadline=None)
def test_any_field_of_an_execution_is_a_record_error_at_worst(changes: dict[str, Any]) -> None:
    """What the journal's replay relies on: fill_from_execution raises ExecutionRecordError and nothing else."""
    try:
        fill = fill_from_execution({**RECORD, **changes})
    except ExecutionRecordError:
        return
    assert Ledger().apply_fill(fill) is not None
