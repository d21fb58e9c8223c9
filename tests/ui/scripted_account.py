"""A scripted whole account for the positions overview's snapshots: long and short, USDT and USDC linear, BTC and
ETH inverse, and the wallet's coins, all written here and stamped with the scripted clock (no network)."""

from __future__ import annotations

from decimal import Decimal as D

from exchange.position_watch import PositionDisagreement
from exchange.positions_overview import AccountMargins, AccountPosition, AccountView, CoinMargin
from tests.ui import scripted


class FixedAccount:
    """An account reader that always says the same (:class:`~exchange.bybit.account_positions.AccountReader`)."""

    def __init__(self, view: AccountView) -> None:
        self.view = view
        self.reads = 0

    async def read(self) -> AccountView:
        self.reads += 1
        return self.view


def _position(
    category: str, symbol: str, coin: str, size: str, entry: str, mark: str, liq: str, upnl: str, rpnl: str, im: str
) -> AccountPosition:
    qty, price = D(size), D(entry)
    value = abs(qty) / price if category == "inverse" else abs(qty) * price
    return AccountPosition(
        category=category,
        symbol=symbol,
        settle_coin=coin,
        size=qty,
        value=value.quantize(D("0.00000001")),
        avg_price=price,
        mark_price=D(mark),
        liq_price=D(liq),
        unrealised=D(upnl),
        realised=D(rpnl),
        position_im=D(im),
        position_mm=(value * D("0.005")).quantize(D("0.00000001")),
        leverage=D(10),
        updated_ms=scripted.NOW_MS - 5_000,
    )


POSITIONS = (
    _position("linear", "BTCUSDT", "USDT", "0.5", "64200", "65010.2", "58123.4", "405.1", "108.44", "3210"),
    _position("linear", "ETHUSDT", "USDT", "-4", "3450", "3500.11", "3795.50", "-200.44", "-8.28", "1380"),
    _position("linear", "BTCPERP", "USDC", "0.2", "64000", "65020.5", "57700.0", "204.1", "-7.04", "1280"),
    _position(
        "inverse", "BTCUSD", "BTC", "-3000", "64500.5", "65012.0", "70800.0", "-0.00036603", "0.00002211", "0.00465112"
    ),
    _position(
        "inverse", "ETHUSD", "ETH", "5000", "3400.00", "3500.05", "3110.05", "0.04203790", "-0.00080882", "0.14705882"
    ),
)


def _coin(coin: str, equity: str, im: str, usd: str) -> CoinMargin:
    return CoinMargin(coin, D(equity), D(equity), D(im), D(0), D(0), D(usd))


MARGINS = AccountMargins(
    im_rate=D("0.0412"),
    mm_rate=D("0.0031"),
    coins={
        "USDT": _coin("USDT", "100512.33", "4590", "100512.33"),
        "USDC": _coin("USDC", "5120.00", "1280", "5120.00"),
        "BTC": _coin("BTC", "1.00211", "0.00465112", "65147.18"),
        "ETH": _coin("ETH", "10.5", "0.14705882", "36750.53"),
    },
)


def whole_account() -> AccountView:
    return AccountView(POSITIONS, MARGINS, scripted.NOW_MS - 1_200)


def ledger_disagrees(desk_symbol: str = "ETHUSDT") -> PositionDisagreement:
    """The exchange holds short 4 ETHUSDT that the desk's ledger (long_in_profit: no ETHUSDT fill) does not."""
    return PositionDisagreement(desk_symbol, D(-4), D(3450), D(0), D(0), since_ms=scripted.NOW_MS - 9_000)
