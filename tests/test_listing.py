"""A symbol the exchange does not list is refused at start (the CLI: one line, exit 2) or dropped with a notice
(the dashboard), never left waiting for a book snapshot under a green Ready."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.runtime import UnlistedSymbols, open_runtime
from exchange.bybit.sim.server import SimConfig, SimServer
from exchange.config import Endpoints, Environment, Settings
from exchange.listing import listed_symbols, unlisted

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_listed_symbols_skip_records_that_are_not_instruments() -> None:
    records = [{"symbol": "BTCUSDT"}, {"symbol": 7}, "ETHUSDT", {"name": "x"}, {"symbol": "SOLUSDT"}]
    listed = listed_symbols(records)
    assert listed == {"BTCUSDT", "SOLUSDT"}
    assert unlisted(["FOOUSDT", "BTCUSDT", "BARUSDT"], listed) == ["FOOUSDT", "BARUSDT"]


def test_the_cli_refuses_an_unlisted_symbol_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["monitor", "--symbols", "BTCUSDT,FOOUSDT", "--duration", "5", "--journal-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().splitlines() == ["fluxum: FOOUSDT is not listed by the exchange in linear (check --symbols)"]


def _external(sim: SimServer, symbols: tuple[str, ...]) -> Settings:
    endpoints = Endpoints.for_base_url(sim.base_url)
    return Settings(environment=Environment.SIM, endpoints=endpoints, credentials=None, symbols=symbols)


async def test_an_external_exchange_is_asked_which_symbols_it_lists(tmp_path: Path) -> None:
    async with SimServer(SimConfig(seed=3, symbols=("BTCUSDT", "ETHUSDT"), demo_trader=False)) as sim:
        with pytest.raises(UnlistedSymbols) as refused:
            async with open_runtime(_external(sim, ("BTCUSDT", "FOOUSDT")), journal_dir=tmp_path):
                pass
        assert refused.value.symbols == ("FOOUSDT",)
        async with open_runtime(
            _external(sim, ("FOOUSDT", "ETHUSDT", "BTCUSDT")), journal_dir=tmp_path, unlisted="drop"
        ) as runtime:
            assert runtime.dropped_symbols == ("FOOUSDT",)
            assert runtime.session.symbols == ["ETHUSDT", "BTCUSDT"]
            assert set(runtime.session.desk.instruments) == {"ETHUSDT", "BTCUSDT"}  # read once, at the check
        with pytest.raises(UnlistedSymbols):  # nothing would be left to watch
            async with open_runtime(_external(sim, ("FOOUSDT",)), journal_dir=tmp_path, unlisted="drop"):
                pass
