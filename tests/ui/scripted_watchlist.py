"""A scripted desk for the watchlist's snapshot: five symbols with full tickers (funding due in a fixed time on the
frozen clock), one book resyncing and one ticker gone silent, so every state a row can show is on one screen."""

from __future__ import annotations

from dataclasses import replace

from exchange.desk import Desk
from tests.ui import scripted

NEXT_FUNDING_MS = scripted.NOW_MS + 2 * 3600_000 + 17 * 60_000 + 5_000  # 2:17:05 from the frozen clock
TICKERS = {  # symbol: (24h ratio, turnover, funding rate, open interest)
    "BTCUSDT": ("0.011021", "4936790807.6521", "0.0001", "58117.022"),
    "ETHUSDT": ("-0.023417", "1873409822.1033", "-0.00004512", "742013.55"),
    "SOLUSDT": ("0.000000", "612045117.88", "0.00012", "3201554.1"),
    "XRPUSDT": ("-0.158315", "245003117.4", "-0.005", "178020117"),
    "DOGEUSDT": ("0.042", "98120441.2", "0.0001", "2500441009"),
}


def watchlist_desk() -> Desk:
    """:func:`tests.ui.scripted.resyncing` (Ready, the BTCUSDT book resyncing) with every ticker's watchlist
    figures, and the DOGEUSDT ticker silent for 9 s."""
    desk = scripted.resyncing()
    for symbol, (ratio, turnover, funding, interest) in TICKERS.items():
        desk.tickers.apply(
            {
                "topic": f"tickers.{symbol}",
                "type": "delta",
                "data": {
                    "symbol": symbol,
                    "price24hPcnt": ratio,
                    "turnover24h": turnover,
                    "fundingRate": funding,
                    "nextFundingTime": str(NEXT_FUNDING_MS),
                    "openInterest": interest,
                },
            }
        )
    assert desk.stats is not None
    desk.stats = replace(desk.stats, topics=scripted._health(scripted.SYMBOLS, frozenset({"tickers.DOGEUSDT"})))
    for part in ("stats", *(f"ticker:{symbol}" for symbol in TICKERS)):
        desk.touch(part)
    return desk
