"""The positions overview's arithmetic: ROE, the distance to liquidation, unrealised P&L at a live mark (linear and
inverse), a total per settle coin that never adds two coins, the sort, and the reading of Bybit's records."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from exchange.bybit.account_positions import RestAccountReader, parse_account_margins, parse_account_position
from exchange.positions_overview import (
    SPOT_GROUP,
    AccountMargins,
    AccountPosition,
    AccountView,
    CoinMargin,
    SortColumn,
    build_overview,
    liquidation_distance_pct,
    return_on_equity_pct,
    unrealised_at,
)
from widgets.positions_table import COLUMNS, flag_notes, line_symbol, overview_lines, shown_columns

FIXTURES = Path(__file__).parent / "fixtures" / "bybit"


def _position(
    symbol: str,
    size: str,
    entry: str,
    mark: str,
    *,
    category: str = "linear",
    coin: str = "USDT",
    liq: str | None = None,
    unrealised: str = "0",
    im: str = "0",
) -> AccountPosition:
    return AccountPosition(
        category=category,
        symbol=symbol,
        settle_coin=coin,
        size=D(size),
        value=abs(D(size)) / D(entry) if category == "inverse" else abs(D(size)) * D(entry),
        avg_price=D(entry),
        mark_price=D(mark),
        liq_price=D(liq) if liq else None,
        unrealised=D(unrealised),
        realised=D(0),
        position_im=D(im),
        position_mm=D(0),
    )


def _margins(**equity: str) -> AccountMargins:
    coins = {coin: CoinMargin(coin, D(value), D(value), D(0), D(0), D(0)) for coin, value in equity.items()}
    return AccountMargins(D("0.0123"), D("0.0045"), coins)


# ---------------------------------------------------------------------------------------------- one position


def test_roe_is_unrealised_over_initial_margin() -> None:
    # long 0.5 BTCUSDT from 60,000 at 10x: margin 3,000; at 61,000 it is up 500: 16.67 %
    long = _position("BTCUSDT", "0.5", "60000", "61000", im="3000")
    unrealised = unrealised_at(long, D(61000))
    assert unrealised == D(500)
    assert return_on_equity_pct(unrealised, long.position_im) == D(500) / D(3000) * 100
    assert return_on_equity_pct(D(5), D(0)) is None  # no margin, no ROE


def test_liquidation_distance_long_and_short() -> None:
    # a long liquidates below the mark, a short above it; the distance is in % of the mark, positive while safe
    assert liquidation_distance_pct("long", D(61000), D(54300)) == D(6700) / D(61000) * 100
    assert liquidation_distance_pct("short", D(3600), D(3832)) == D(232) / D(3600) * 100
    assert liquidation_distance_pct("long", D(50000), D(54300)) == D(-4300) / D(50000) * 100  # past it
    assert liquidation_distance_pct("short", D(3600), None) is None  # Bybit's "" : no liquidation price
    assert liquidation_distance_pct("long", None, D(1)) is None


def test_linear_short_unrealised() -> None:
    short = _position("ETHUSDT", "-2", "3500", "3600", im="700")
    assert unrealised_at(short, D(3600)) == D(-200)


def test_inverse_unrealised_matches_bybits_figure() -> None:
    """Bybit's own inverse record (docs fixture): short 300 BTCUSD from 27,464.50441675 marked at 28,224.50 shows
    unrealisedPnl -0.00029413 BTC; ``size x (1/entry - 1/mark)`` gives it to the satoshi."""
    record = _inverse_fixture()
    position = parse_account_position(record, "inverse")
    figure = unrealised_at(position, D("28224.50"))
    assert figure.quantize(D("0.00000001")) == D("-0.00029413")
    assert figure.quantize(D("0.00000001")) == position.unrealised


# ---------------------------------------------------------------------------------------------- totals per coin


def _mixed_view() -> AccountView:
    return AccountView(
        positions=(
            _position("BTCUSDT", "0.5", "60000", "61000", liq="54300", unrealised="500", im="3000"),
            _position("ETHUSDT", "-2", "3500", "3600", liq="3832", unrealised="-200", im="700"),
            _position("BTCPERP", "0.1", "60000", "60500", coin="USDC", unrealised="50", im="600"),
            _position("BTCUSD", "-300", "27464.5", "28224.5", category="inverse", coin="BTC", unrealised="-0.00029413"),
        ),
        margins=_margins(USDT="100000", USDC="5000", BTC="1.5"),
        read_ms=1_767_225_600_000,
    )


def test_a_total_per_settle_coin_never_a_sum_across_coins() -> None:
    overview = build_overview(_mixed_view())
    assert [group.coin for group in overview.groups] == ["USDT", "USDC", "BTC", SPOT_GROUP]
    usdt, usdc, btc, spot = overview.groups
    assert usdt.total.unrealised == D(300) and usdt.total.margin_in_use == D(3700)
    assert usdt.total.equity == D(100000) and usdt.total.positions == 2
    assert usdc.total.unrealised == D(50) and usdc.total.margin_in_use == D(600) and usdc.total.equity == D(5000)
    assert btc.total.unrealised == D("-0.00029413") and btc.total.equity == D("1.5")
    for group in (usdt, usdc, btc):
        assert group.total.im_rate == D("0.0123") and group.total.mm_rate == D("0.0045")  # the account's, on each
        assert {row.coin for row in group.rows} == {group.coin}
    assert [row.symbol for row in spot.rows] == ["BTC"]  # the wallet's BTC is a holding; USDT and USDC are cash
    assert spot.total.coin == "USD"


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["USDT", "USDC", "BTC", "ETH"]),
            st.integers(-10_000, 10_000).filter(bool),
            st.integers(-5_000, 5_000),
            st.integers(0, 5_000),
        ),
        max_size=12,
    )
)
def test_each_total_adds_its_own_coin_only(specs: list[tuple[str, int, int, int]]) -> None:
    positions = tuple(
        _position(
            f"S{n}{coin}",
            str(size),
            "100",
            "100",
            category="inverse" if coin in ("BTC", "ETH") else "linear",
            coin=coin,
            unrealised=str(pnl),
            im=str(im),
        )
        for n, (coin, size, pnl, im) in enumerate(specs)
    )
    overview = build_overview(AccountView(positions, AccountMargins(None, None), 0))
    for group in overview.groups:
        mine = [p for p in positions if p.settle_coin == group.coin]
        assert len(group.rows) == len(mine) == group.total.positions
        assert group.total.unrealised == sum((p.unrealised for p in mine), D(0))
        assert group.total.margin_in_use == sum((p.position_im for p in mine), D(0))
    assert sum(group.total.positions for group in overview.groups) == len(positions)


def test_a_live_mark_values_the_position_and_its_total() -> None:
    view = _mixed_view()
    overview = build_overview(view, marks={("linear", "BTCUSDT"): D(62000)})
    btc = next(row for row in overview.groups[0].rows if row.symbol == "BTCUSDT")
    assert btc.mark_price == D(62000) and btc.unrealised == D(1000)
    assert btc.roe_pct == D(1000) / D(3000) * 100
    assert btc.liq_distance_pct == (D(62000) - D(54300)) / D(62000) * 100
    assert overview.groups[0].total.unrealised == D(800)  # 1,000 - 200


def test_funding_and_the_ledgers_word_reach_their_row_only() -> None:
    overview = build_overview(
        _mixed_view(),
        funding={("linear", "ETHUSDT"): D("1.25")},
        disagreements={("linear", "BTCUSDT"): "the exchange says long 0.5, the ledger long 0.4"},
    )
    rows = {row.symbol: row for row in overview.rows()}
    assert rows["ETHUSDT"].funding == D("1.25") and rows["BTCUSDT"].funding is None
    assert rows["BTCUSDT"].ledger_differs and not rows["ETHUSDT"].ledger_differs
    assert not rows["BTCUSD"].ledger_differs  # another category's BTC... is not the desk's ledger's


def test_sort_orders_rows_within_each_coin() -> None:
    view = AccountView(
        positions=(
            _position("AUSDT", "1", "100", "100", unrealised="5", im="10"),
            _position("BUSDT", "1", "100", "100", unrealised="-3", im="10"),
            _position("CUSDT", "1", "100", "100", unrealised="9", im="0"),  # no margin: no ROE, last either way
            _position("BTCUSD", "100", "100", "100", category="inverse", coin="BTC", unrealised="1", im="1"),
        ),
        margins=AccountMargins(None, None),
        read_ms=0,
    )
    by_roe = build_overview(view, sort=SortColumn.ROE, descending=True)
    assert [row.symbol for row in by_roe.groups[0].rows] == ["AUSDT", "BUSDT", "CUSDT"]
    assert [group.coin for group in by_roe.groups] == ["USDT", "BTC"]
    by_pnl = build_overview(view, sort=SortColumn.UNREALISED)
    assert [row.symbol for row in by_pnl.groups[0].rows] == ["BUSDT", "AUSDT", "CUSDT"]
    by_symbol = build_overview(view, sort=SortColumn.SYMBOL, descending=True)
    assert [row.symbol for row in by_symbol.groups[0].rows] == ["CUSDT", "BUSDT", "AUSDT"]


# ---------------------------------------------------------------------------------------------- Bybit's records


def _inverse_fixture() -> dict[str, Any]:
    body = json.loads((FIXTURES / "rest" / "docs_position_list_inverse.json").read_text())
    record: dict[str, Any] = body["result"]["list"][0]
    return record


def test_reads_bybits_inverse_position_and_wallet() -> None:
    position = parse_account_position(_inverse_fixture(), "inverse")
    assert (position.symbol, position.settle_coin, position.size) == ("BTCUSD", "BTC", D(-300))
    assert position.value == D("0.01092319") and position.position_im == D("0.00010923")
    assert position.realised == D("0.00013123") and position.liq_price is None  # Bybit's "" liqPrice
    wallet = json.loads((FIXTURES / "rest" / "docs_account_wallet_balance.json").read_text())
    margins = parse_account_margins(wallet["result"]["list"][0])
    assert margins.im_rate == D(0) and margins.mm_rate == D(0)
    assert set(margins.coins) == {"BTC"}


class _Lister:
    """REST answers a test writes: linear USDT holds a bad record and a flat one beside a good one."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None]] = []

    async def position_records(self, category: str, settle_coin: str | None = None) -> list[dict[str, Any]]:
        self.asked.append((category, settle_coin))
        if (category, settle_coin) == ("linear", "USDT"):
            good = {"symbol": "BTCUSDT", "side": "Buy", "size": "0.5", "avgPrice": "60000", "positionIM": "3000"}
            return [good, {**good, "symbol": "ETHUSDT", "size": "lots"}, {**good, "symbol": "SOLUSDT", "size": "0"}]
        if category == "inverse":
            return [_inverse_fixture()]
        return []

    async def wallet_balance_raw(self, account_type: str = "UNIFIED") -> dict[str, Any]:
        return {"accountIMRate": "0.01", "accountMMRate": "0.002", "coin": [{"coin": "USDT", "equity": "10"}, 7]}

    def server_now_ms(self) -> int:
        return 42


def test_the_reader_asks_every_settle_coin_and_counts_what_it_leaves_out() -> None:
    lister = _Lister()
    view = asyncio.run(RestAccountReader(lister).read())
    assert lister.asked == [("linear", "USDT"), ("linear", "USDC"), ("inverse", None)]
    assert [(p.symbol, p.settle_coin) for p in view.positions] == [("BTCUSDT", "USDT"), ("BTCUSD", "BTC")]
    assert view.rejected == 1  # the unreadable size; the flat one is simply not open
    assert view.margins.im_rate == D("0.01") and set(view.margins.coins) == {"USDT"}  # the row 7 left out
    assert view.read_ms == 42


# ---------------------------------------------------------------------------------------------- the table's lines


def test_the_tables_lines_keep_each_coin_to_its_places_and_print_no_control_characters() -> None:
    hostile = _position("BTC\x1b[31mUSDT", "0.5", "60000", "61000", unrealised="500", im="3000")
    view = _mixed_view()
    lines = overview_lines(build_overview(AccountView((hostile, *view.positions[1:]), view.margins, view.read_ms)))
    assert all("\x1b" not in cell for line in lines for cell in line.cells)
    totals = {line.key: line for line in lines if line.total}
    assert list(totals) == ["total:USDT", "total:USDC", "total:BTC", "total:SPOT"]
    usdt = totals["total:USDT"]
    assert usdt.cell("uPnL") == "+300.00" and usdt.cell("Margin") == "3,700.00"
    assert totals["total:BTC"].cell("uPnL") == "-0.00029413"  # a coin's P&L to the satoshi
    # the coin's equity (compact: a size to read) and the account's rates, under Size, Value, Entry and Mark
    assert [usdt.cell(column) for column in ("Size", "Value", "Entry", "Mark")] == [
        "equity",
        "100.00K",
        "IM 1.23%",
        "MM 0.45%",
    ]
    btc = next(line for line in lines if line.key == "inverse:BTCUSD")
    assert btc.cell("Side") == "SHORT" and btc.cell("uPnL") == "-0.00029413"


def test_the_columns_a_narrow_table_leaves_out_go_in_the_documented_order() -> None:
    widths = (10, 5, 7, 7, 8, 8, 8, 5, 11, 6, 11, 7, 10)  # the scripted account's, 103 cells and 12 gaps
    assert len(widths) == len(COLUMNS)
    assert shown_columns(widths, 116) == tuple(range(len(COLUMNS)))
    assert shown_columns(widths, 114) == tuple(i for i, c in enumerate(COLUMNS) if c != "rPnL")
    kept = shown_columns(widths, 10)  # never narrower than what always stays: the table scrolls then
    assert [COLUMNS[i] for i in kept] == ["Symbol", "Side", "Size", "Value", "Entry", "Mark", "uPnL"]


def test_a_ledger_that_disagrees_is_flagged_on_its_row_and_told_under_the_table() -> None:
    view = _mixed_view()
    overview = build_overview(view, disagreements={("linear", "BTCUSDT"): "flat"})
    lines = overview_lines(overview)
    flagged = next(line for line in lines if line.key == "linear:BTCUSDT")
    assert flagged.cell("Symbol") == "BTCUSDT ⚠" and flagged.ledger_differs == "flat"
    assert flag_notes(lines) == "⚠ the desk's ledger disagrees with the exchange: BTCUSDT: ledger flat"
    assert flag_notes(overview_lines(build_overview(view))) == ""


def test_a_symbol_listed_twice_gets_two_lines_with_keys_of_their_own() -> None:
    """A hedge-mode account lists a symbol's long and short apart (positionIdx 1 and 2); the table's row keys must
    differ, and Enter on either still names the symbol."""
    long = _position("BTCUSDT", "0.5", "60000", "61000", unrealised="500", im="3000")
    short = _position("BTCUSDT", "-0.2", "62000", "61000", unrealised="200", im="1240")
    lines = overview_lines(build_overview(AccountView((long, short), AccountMargins(None, None), 0)))
    keys = [line.key for line in lines]
    assert keys == ["linear:BTCUSDT", "linear:BTCUSDT#2", "total:USDT"]
    assert [line_symbol(key) for key in keys] == [("linear", "BTCUSDT"), ("linear", "BTCUSDT"), ("total", "USDT")]
