"""The wallet: total equity, available balance and each coin, from the account's UNIFIED wallet.

Pulled at 2 Hz and re-rendered only when the desk's ``wallet`` version or its width moved; a session without
keys says so instead of showing zeros. Narrow (the mid layout) it abbreviates its labels, never its numbers.
The totals are USD; each coin is to its own places (USDT to the cent, BTC and ETH, an inverse account's
margin, to the satoshi: see :func:`widgets._format.money_decimals`).
"""

from __future__ import annotations

from typing import Any

from textual.content import Content

from exchange.desk import Desk
from exchange.events import LinkState
from exchange.printable import printable
from widgets._format import fmt_signed, money_decimals
from widgets.content_rows import ContentRows
from widgets.desk_widget import DeskWidget

__all__ = ["WalletPanel"]

COINS_SHOWN = 6
WIDE = 24
"""Content cells at which the full labels fit beside a 14-cell number; narrower, the labels shorten."""
LABELS = {"equity": "equity", "available": "avail", "balance": "bal", "upl": "upl"}
LABEL_STYLE = "$label"
"""The labels' colour: muted, and readable on a light theme's background too (``dim`` halves the contrast)."""


class WalletPanel(DeskWidget, ContentRows):
    """Equity, available and per-coin balances."""

    PULL_NAME = "wallet"

    DEFAULT_CSS = """
    WalletPanel { height: auto; }
    """

    REFRESH_HZ = 2.0

    def _pull(self) -> None:
        if not self._started:
            return
        desk = self.desk
        key = (
            id(desk),
            desk.versions["wallet"] if desk is not None else 0,
            desk.private if desk is not None else None,
            desk.state.kind if desk is not None else None,
            desk.account_down if desk is not None else None,
            self._wide(),
        )
        if key == self._drawn_key:
            return
        self._drawn_key = key
        self.update(self._text(desk, wide=self._wide()))  # (the screen is laid out only if its height changed)

    def on_resize(self) -> None:
        self._pull()

    def _wide(self) -> bool:
        width = self.size.width
        return width >= WIDE or width == 0  # unsized yet: the full labels, until the first resize

    def _text(self, desk: Desk | None, *, wide: bool = True) -> Content:
        if desk is None:
            return Content.assemble(("no session", "dim"))
        wallet = desk.wallet
        if wallet is None:
            if not desk.private:
                note = "no API key: public data only"
            elif desk.account_down:
                note = "no wallet: account down"
            elif desk.state.kind is LinkState.FAILED:
                note = "no wallet: the session failed"
            else:
                note = "waiting for the wallet…"
            return Content.assemble((note, "dim"))
        label_w, number_w = (10, 14) if wide else (6, 12)

        def label(name: str) -> str:
            return f"{(name if wide else LABELS[name]):<{label_w}}"

        parts: list[Any] = []
        if desk.account_down:  # the key was rejected: the last word before it, which may have moved
            parts += [("⚠ not live: account down", "bold $text-error"), "\n"]
        elif desk.state.kind is not LinkState.READY:  # the last word before the link went: it may have moved
            parts += [("⚠ not live", "bold $text-warning"), "\n"]
        parts += [
            (label("equity"), LABEL_STYLE),
            (f"{wallet.total_equity:>{number_w},.2f}", "bold"),
            "\n",
            (label("available"), LABEL_STYLE),
            f"{wallet.total_available:>{number_w},.2f}",
            "\n",
            (label("balance"), LABEL_STYLE),
            f"{wallet.total_wallet_balance:>{number_w},.2f}",
        ]
        for coin in wallet.coins[:COINS_SHOWN]:
            upl = coin.unrealised_pnl
            style = "$profit" if upl > 0 else "$loss" if upl < 0 else ""
            places = money_decimals(coin.coin)  # a BTC balance to the satoshi, not the cent
            parts += ["\n", (f"{printable(coin.coin):<{label_w}}", "bold"), f"{coin.equity:>{number_w},.{places}f}"]
            if upl:
                parts += ["\n", (f"  {label('upl')}"[:label_w].ljust(label_w), LABEL_STYLE)]
                parts += [(f"{fmt_signed(upl, places):>{number_w}}", style)]
        if len(wallet.coins) > COINS_SHOWN:
            parts += ["\n", (f"+{len(wallet.coins) - COINS_SHOWN} more coins", "dim")]
        return Content.assemble(*parts)
