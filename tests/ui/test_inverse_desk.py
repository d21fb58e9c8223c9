"""The desk on an inverse (coin-margined) account of the local exchange: contracts, money in the coin."""

from __future__ import annotations

import csv
import re
from decimal import Decimal
from pathlib import Path

import pytest

from app.screens import LedgerScreen
from exchange.config import load_settings
from exchange.events import LinkState
from exchange.ledger import CONTRACT_COLUMNS, CSV_COLUMNS, ContractKind
from tests.ui.support import LIVE_SIZE, RecordingApp, press, runtime_options, screen_text, until
from widgets.ladder import Ladder
from widgets.position import PositionPanel
from widgets.wallet import WalletPanel

pytestmark = pytest.mark.timeout(60)

COIN_PNL = re.compile(r"total P&L\s+([+-]?\d+\.\d{8}) BTC")
"""The total P&L as the panel writes an inverse contract's: eight places and the coin named."""


def _ready(app: RecordingApp) -> bool:
    return app.runtime is not None and app.desk.state.kind is LinkState.READY


async def test_an_inverse_desk_trades_contracts_and_counts_money_in_the_coin(tmp_path: Path) -> None:
    settings = load_settings(cfg="sim", category="inverse", symbols="BTCUSD,ETHUSD", environ={})
    app = RecordingApp(settings, runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        await until(pilot, lambda: app.query_one(Ladder).trust == ("SYNCED", None), "a live BTCUSD book")
        assert app.desk.symbols[0] == "BTCUSD" and "● LIVE" in screen_text(app)
        assert app.runtime is not None
        await app.runtime.rest.place_order("inverse", "BTCUSD", "Buy", "Market", Decimal("100"))
        await until(pilot, lambda: app.desk.ledger.entry("BTCUSD") is not None, "the fill in the ledger")
        await until(pilot, lambda: "BTCUSD" in app.desk.positions, "the exchange's position")
        await until(
            pilot, lambda: re.search(r"LONG 100 USD +@", screen_text(app)) is not None, "the panel to show the long"
        )
        entry = app.desk.ledger.entry("BTCUSD")
        position = app.desk.positions["BTCUSD"]
        instrument = app.desk.instrument("BTCUSD")
        assert entry is not None and instrument is not None
        assert entry.contract is ContractKind.INVERSE and entry.settle_coin == "BTC"
        assert entry.position == position.size == Decimal(100)
        assert abs(entry.running_price - position.avg_price) <= instrument.tick_size  # the harmonic entry
        panel = app.query_one(PositionPanel)
        await until(pilot, lambda: COIN_PNL.search(screen_text(app)) is not None, "the P&L in BTC to 8 places")
        shown = str(panel.query_one("#position-body").render())
        assert re.search(r"margin\s+\d\.\d{8}", shown), shown
        await until(pilot, lambda: "high" in str(panel.query_one("#position-body").render()), "a P&L sample")
        shown = str(panel.query_one("#position-body").render())
        assert re.search(r"low [+-]?\d\.\d{8}  high [+-]?\d\.\d{8} BTC", shown), shown
        await until(pilot, lambda: "BTC" in str(app.query_one(WalletPanel).render()), "the wallet's BTC row")
        wallet = str(app.query_one(WalletPanel).render())
        assert re.search(r"BTC\s+\d\.\d{8}", wallet), wallet  # a coin balance to the satoshi
        assert re.search(r"USDT\s+[\d,]+\.\d{2}$", wallet, re.MULTILINE), wallet  # a dollar one to the cent
        await press(pilot, "l")
        await until(pilot, lambda: isinstance(app.screen, LedgerScreen), "the ledger view")
        await until(pilot, lambda: "settle_coin" in screen_text(app), "the ledger's coin row")
        table = screen_text(app)
        assert re.search(r"realized_pnl\s.*[+-]?\d\.\d{8}", table) or re.search(r"fees\s.*\d\.\d{8}", table), table
        await press(pilot, "escape")
        export = app.export_ledger(tmp_path / "ledger.csv")
        assert export is not None
        with export.open(newline="") as file:
            rows = list(csv.reader(file))
        assert tuple(rows[0]) == CSV_COLUMNS + CONTRACT_COLUMNS
        row = dict(zip(rows[0], rows[1], strict=True))
        assert row["symbol"] == "BTCUSD" and Decimal(row["position"]) == 100
        assert row["contract_type"] == "inverse" and row["settle_coin"] == "BTC"
        assert Decimal(row["fees"]) == entry.fees  # exact, in BTC
        await app.stop_session()
