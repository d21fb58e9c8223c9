"""USDC perpetuals (``BTCPERP``) on the local exchange: linear contracts settled and margined in USDC, listed by
``/v5/position/list`` under ``settleCoin=USDC`` only, with fees in USDC and a USDC row in the wallet, as Bybit's
unified account does. Listed when named, so the default markets stay as they were."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D

import aiohttp
import pytest

from exchange.bybit.rest import RestClient
from exchange.bybit.sim.demo_credentials import DEMO_API_KEY, DEMO_API_SECRET
from exchange.bybit.sim.instruments import build_instruments
from exchange.bybit.sim.server import SimServer
from exchange.secrets import Credentials, Secret
from tests.support.recorded import fixture
from tests.support.sim import assert_same_shape, make_config


@pytest.fixture
async def usdc_sim() -> AsyncIterator[SimServer]:
    async with SimServer(make_config(symbols=("BTCUSDT", "BTCPERP"))) as server:
        yield server


def test_a_usdc_perpetual_is_listed_only_when_named() -> None:
    named = {(i.symbol, i.settle_coin) for i in build_instruments(("BTCUSDT", "BTCPERP"), ("linear",))}
    assert named == {("BTCUSDT", "USDT"), ("BTCPERP", "USDC")}
    assert all(i.settle_coin == "USDT" for i in build_instruments(categories=("linear",)))


async def test_a_usdc_perpetual_settles_in_usdc(usdc_sim: SimServer) -> None:
    assert usdc_sim.exchange.account.coin_balances == {"USDC": D(10000)}
    async with aiohttp.ClientSession() as http:
        client = RestClient(usdc_sim.base_url, Credentials(DEMO_API_KEY, Secret(DEMO_API_SECRET)), session=http)
        await client.place_order("linear", "BTCPERP", "Buy", "Market", D("0.01"))
        [usdc] = await client.position_records("linear", "USDC")
        assert usdc["symbol"] == "BTCPERP" and usdc["side"] == "Buy" and usdc["size"] == "0.010"
        assert await client.position_records("linear", "USDT") == []  # not a USDT position
        linear_shape = fixture("rest/docs_position_list_inverse.json")["result"]["list"][0]
        assert_same_shape(usdc, linear_shape)
        executions = await client.executions("linear", symbol="BTCPERP")
        assert {e["feeCurrency"] for e in executions} == {"USDC"}
        fees = sum(D(e["execFee"]) for e in executions)
        wallet = {c.coin: c for c in (await client.wallet_balance()).coins}
        assert wallet["USDC"].wallet_balance == 10000 - fees
        assert wallet["USDT"].wallet_balance == D(100000)  # USDT money untouched
