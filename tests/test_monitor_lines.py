"""``fluxum monitor``'s fill lines: a backfilled fill carries its batch's final entry, not the position it made,
so its line gives no position; a live fill's line does."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from app.commands.monitor import _Printer
from exchange.events import FillReceived
from exchange.ledger import ContractKind, Fill, Ledger


def _fill(exec_id: str, qty: str, time_ms: int) -> Fill:
    return Fill(exec_id, "BTCUSDT", "Buy", Decimal(qty), Decimal(100), Decimal("0.1"), time_ms, "Trade", "o1", "")


def test_backfill_lines_give_no_position_a_live_line_does(capsys: Any) -> None:
    ledger = Ledger()
    batch = ledger.apply_fills([_fill("e1", "1", 1_000), _fill("e2", "2", 2_000)])  # a backfill: one batch
    assert [entry.position for _, entry in batch] == [Decimal(3), Decimal(3)]  # the batch's end, twice
    live = ledger.apply_fill(_fill("e3", "4", 3_000))
    for json_lines in (False, True):
        printer = _Printer(json_lines=json_lines)
        for fill, entry in batch:
            printer.fill(FillReceived(fill, entry, backfilled=True))
        printer.fill(FillReceived(_fill("e3", "4", 3_000), live, backfilled=False))
        lines = capsys.readouterr().out.splitlines()
        assert len(lines) == 3
        if json_lines:
            records = [json.loads(line) for line in lines]
            assert [r["position"] for r in records] == [None, None, "7"]
            assert [r["pnl"] for r in records[:2]] == [None, None]
        else:
            assert all("(backfill)" in line and "position" not in line for line in lines[:2])
            assert "| position 7 avg" in lines[2]


def test_an_inverse_fill_line_names_its_coin_and_a_linear_one_none(capsys: Any) -> None:
    ledger = Ledger()
    coin = Fill(
        "i1", "BTCUSD", "Buy", Decimal(100), Decimal(50000), Decimal("0.0000011"), 1_000,
        contract=ContractKind.INVERSE, settle_coin="BTC",
    )  # fmt: skip
    printer = _Printer(json_lines=False)
    printer.fill(FillReceived(coin, ledger.apply_fill(coin), backfilled=False))
    printer.fill(FillReceived(_fill("e1", "1", 2_000), ledger.apply_fill(_fill("e1", "1", 2_000)), backfilled=False))
    inverse, linear = capsys.readouterr().out.splitlines()
    assert "fee 0.0000011 BTC |" in inverse and inverse.endswith(" BTC")  # fee and P&L in the coin
    assert "BTC" not in linear.replace("BTCUSDT", "") and "fee 0.1 |" in linear
