"""What the position panel shows, computed from a desk alone, with no screen (widgets/position.py)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from exchange.book import OrderBook
from exchange.desk import Desk
from exchange.events import LinkState, SessionState
from exchange.ledger import Fill
from widgets.position import SessionSeries, position_text

SYMBOL = "BTCUSDT"


def _desk(*, private: bool = True, state: LinkState = LinkState.READY) -> Desk:
    desk = Desk(environment="SIM", category="linear", symbols=[SYMBOL], books={SYMBOL: OrderBook()}, private=private)
    desk.state = SessionState(state, 0, "")
    return desk


def _long(desk: Desk) -> Desk:
    desk.ledger.apply_fill(Fill("e1", SYMBOL, "Buy", D("0.5"), D("64000"), D("1.6"), 1_000))
    return desk


def test_no_symbol_and_no_fills_say_so() -> None:
    assert position_text(None, None, 60, None, 0).plain == "no symbol selected"
    assert "no fills on this symbol this session" in position_text(_desk(), SYMBOL, 60, None, 0).plain


def test_a_flat_desk_is_flat_only_once_the_positions_were_read() -> None:
    desk = _desk()
    assert "position not read yet" in position_text(desk, SYMBOL, 60, None, 0).plain
    desk.positions_read = True
    assert position_text(desk, SYMBOL, 60, None, 0).plain.startswith(f"{SYMBOL} FLAT")
    assert "no account: public data only" in position_text(_desk(private=False), SYMBOL, 60, None, 0).plain


def test_a_long_position_shows_its_size_price_and_figures_in_columns() -> None:
    text = position_text(_long(_desk()), SYMBOL, 100, None, 0).plain
    first, *figures = text.splitlines()
    assert first.startswith(f"{SYMBOL} LONG 0.500  @ 64,000")
    assert figures and all(len(line) <= 100 for line in figures)
    narrow = position_text(_long(_desk()), SYMBOL, 30, None, 0).plain.splitlines()
    assert len(narrow) > len(text.splitlines())  # one column of figures at 30 cells


def test_marks_not_live_while_the_link_is_down() -> None:
    text = position_text(_long(_desk(state=LinkState.RECONNECTING)), SYMBOL, 100, None, 0).plain
    assert "⚠ marks not live" in text


def test_the_session_low_and_high_close_the_panel() -> None:
    series = SessionSeries()
    for value in (D("-12.5"), D("40"), D("3")):
        series.add(value)
    text = position_text(_long(_desk()), SYMBOL, 100, series, 0).plain
    assert text.splitlines()[-1].startswith("session P&L low -12.50") and "high +40.00" in text


def test_an_inverse_position_is_in_usd_contracts_and_its_money_in_the_coin_at_every_width() -> None:
    from exchange.ledger import ContractKind

    desk = Desk(environment="SIM", category="inverse", symbols=["BTCUSD"], books={"BTCUSD": OrderBook()}, private=True)
    desk.state = SessionState(LinkState.READY, 0, "")
    fill = Fill("i1", "BTCUSD", "Buy", D("100"), D("50000"), D("0.0000011"), 1_000, contract=ContractKind.INVERSE)
    desk.ledger.apply_fill(replace(fill, settle_coin="BTC"))
    series = SessionSeries()
    series.add(D("-0.0000011"))
    series.add(D("0.00012345"))
    for width in (30, 40, 48, 60, 80, 120):
        text = position_text(desk, "BTCUSD", width, series, 0).plain
        assert "BTCUSD LONG 100 USD" in text, text  # contracts of 1 USD, the qty step 1
        assert "total P&L -0.00000110 BTC" in text, text  # eight places, the coin named: never read as dollars
        assert "fees" in text and "-0.00000110" in text
        assert "high +0.00012345 BTC" in text
        assert all(len(line) <= max(width, 40) for line in text.splitlines()), (width, text)
