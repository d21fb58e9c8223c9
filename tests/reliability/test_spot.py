"""A spot desk with keys: Ready without a position read, and blind to the account's linear fills."""

from __future__ import annotations

from exchange.events import LinkState
from tests.support.fills import place_market
from tests.support.runtime import running_session, sim_settings
from tests.support.waiting import until


async def test_spot_with_keys_reaches_ready_and_takes_only_spot_records(tmp_path):
    config = tmp_path / "spot.toml"
    config.write_text('category = "spot"\nsymbols = ["BTCUSDT", "ETHUSDT"]\n')
    async with running_session(sim_settings(config_file=config)) as rt:
        assert rt.session.state.kind is LinkState.READY
        place_market(rt.sim, "ETHUSDT", "Buy", "0.10", "linear-fill")  # a linear fill on the same account
        await rt.sim.faults.drop_connections("private", 4000)  # and a reconnect with its backfill
        await until(
            lambda: rt.session.reconnects >= 1 and rt.session.state.kind is LinkState.READY,
            what="Ready after the reconnect",
        )
        assert rt.session.ledger.entry("ETHUSDT") is None, "a linear fill must not reach the spot ledger"
        assert rt.session.positions == {}
