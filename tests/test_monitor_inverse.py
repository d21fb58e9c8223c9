"""``fluxum monitor --category inverse`` on the embedded exchange: the demo trader trades coin-margined contracts and
the summary's ledger counts them in the coin, agreeing with the exchange's positions."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import app.cli as cli
from tests.support.threaded import clear_exchange_keys


@pytest.fixture(autouse=True)
def no_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_exchange_keys(monkeypatch)


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.timeout(90)
def test_an_inverse_monitor_summarises_a_coin_ledger(capsys: Any, tmp_path: Path) -> None:
    argv = ["monitor", "--category", "inverse", "--duration", "8", "--json", "--journal-dir", str(tmp_path)]
    code = cli.main([*argv, "--seed", "1"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    summary = lines[-1]
    assert code == 0 and summary["type"] == "summary"
    assert sorted(summary["books"]) == ["BTCUSD", "ETHUSD"]
    ledger = summary["ledger"]
    assert ledger, "the demo trader made no fill in 8 s"
    for symbol, entry in ledger.items():
        assert entry["contract"] == "inverse" and entry["settle_coin"] == symbol.removesuffix("USD")
        assert Decimal(entry["position"]) == Decimal(entry["position"]).to_integral_value()  # whole contracts
        position = summary["positions"].get(symbol)
        if position is not None:
            assert Decimal(entry["position"]) == Decimal(position["size"])
        held = Decimal(entry["position"])
        if held:  # the position's value is in the coin: contracts over the price, a fraction of a coin here
            assert abs(Decimal(entry["cost_basis"])) == pytest.approx(abs(held) / Decimal(entry["running_price"]))
    fills = [line for line in lines if line["type"] == "fill"]
    assert fills and all(line["symbol"] in ledger for line in fills)
