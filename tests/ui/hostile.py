"""A hostile exchange for the UI tests: strings that try to drive the terminal or be parsed as markup.

:func:`hostile_desk` is a scripted desk carrying them everywhere a server string is shown; :func:`inject`
makes the local exchange push them (a wallet coin, open and rejected orders) and then reject the key with a
window-title sequence, so the session fails with it as its reason. :func:`terminal_escapes` finds what must
never reach a terminal in the bytes written to one.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from decimal import Decimal as D
from typing import Any

from exchange.book import OrderBook
from exchange.desk import Desk
from exchange.events import CoinBalance, LinkState, LinkStats, OpenOrder, SessionState
from exchange.ledger import Fill
from tests.ui import scripted

CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"
"""OSC 52: puts ``rm -rf ~`` into the clipboard of a terminal that obeys."""
TITLE = "\x1b]0;pwned\x07"
"""OSC 0: sets the window title."""
LINK = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
"""OSC 8: a hyperlink."""
C1_CSI = "\x9b31m"
"""An 8-bit CSI (red): some terminals obey C1 controls as ESC sequences."""
BIDI = "\u202egnp.exe"
"""A right-to-left override: shows text in another order than it is stored."""

COIN = f"EVIL{CLIPBOARD}"
SYMBOL = "X[/]"
"""Closing a tag never opened: MarkupError wherever it is parsed as markup."""
LINK_SYMBOL = "[link=https://evil.example/]PWN[/link]"
ORDER_TYPE = f"[b]Limit{C1_CSI}"
LINK_ID = f"id{TITLE}[link=https://evil.example/]x"
REASON = f"[/]{TITLE}{BIDI}"
"""A book's RESYNCING reason quoting the unreadable level (short enough for the ladder's header)."""
FAILED_REASON = f"API key rejected: {TITLE}[/][link=https://evil.example/]here[/link]{LINK}"
RET_MSG = f"Order rejected{TITLE}[/]"

_ESCAPES = re.compile(
    rb"\x1b\](?:0|1|2|8|52);"  # OSC window title, hyperlink, clipboard
    rb"|\xc2[\x80-\x9f]"  # C1 controls (UTF-8)
    rb"|\xe2\x80[\xaa-\xae]|\xe2\x81[\xa6-\xa9]"  # bidi embeddings, overrides, isolates
    rb"|\x07"  # BEL (ends an OSC)
)


_POINTER_SHAPE = re.compile(rb"\x1b\]22;[a-z-]*\x07")
"""Textual's own OSC 22 (the mouse pointer's shape), the one sequence of its own that ends in BEL."""


def terminal_escapes(data: bytes) -> list[bytes]:
    """Every OSC title / link / clipboard sequence, C1 control, bidi control or BEL in ``data`` (bar Textual's
    own pointer-shape sequence)."""
    return _ESCAPES.findall(_POINTER_SHAPE.sub(b"", data))


def order(order_id: str, symbol: str, status: str, link_id: str = "link", order_type: str = "Limit") -> OpenOrder:
    return OpenOrder(order_id, link_id, symbol, "Buy", order_type, D("1.5"), D("2"), D(0), D("2"), status, "GTC", 1)


def hostile_desk() -> Desk:
    """A Ready desk whose every server string is hostile: orders, a coin, a fill's symbol, a book's reason,
    the last reconnect reason, and a watched symbol (as a relay or a crafted config could name it)."""
    desk = scripted.long_in_profit()
    desk.symbols.append(SYMBOL)
    desk.books[SYMBOL] = OrderBook(f"orderbook.50.{SYMBOL}")
    desk.orders["evil-1"] = order("evil-1", SYMBOL, "New", LINK_ID, ORDER_TYPE)
    desk.orders["evil-2"] = order(f"evil{TITLE}", LINK_SYMBOL, "PartiallyFilled")
    assert desk.wallet is not None
    desk.wallet = replace(desk.wallet, coins=(*desk.wallet.coins, CoinBalance(COIN, D("1"), D("1"), D(0))))
    fill = Fill("evil-fill", LINK_SYMBOL, "Buy", D("1"), D("2"), D("0.01"), scripted.NOW_MS - 1000, "Trade")
    desk.ledger.apply_fill(fill)
    desk.own_fills.append(fill)
    desk.books["BTCUSDT"].invalidate(REASON)
    desk.stats = LinkStats(1.0, 10.0, 2, f"pong timeout{TITLE}[/]", desk.stats.topics if desk.stats else ())
    for part in ("orders", "wallet", "ledger", "fills", "stats"):
        desk.touch(part)
    return desk


def failed_desk() -> Desk:
    """The session failed with a reason quoting the exchange's hostile rejection."""
    desk = scripted.failed()
    desk.state = SessionState(LinkState.FAILED, scripted.NOW_MS - 1000, FAILED_REASON)
    desk.touch("state")
    return desk


def hostile_orders() -> list[dict[str, Any]]:
    """Order pushes: one resting with a markup symbol, one rejected with a title sequence in its symbol."""

    def record(order_id: str, symbol: str, status: str) -> dict[str, Any]:
        return {
            "category": "linear",
            "orderId": order_id,
            "orderLinkId": LINK_ID,
            "symbol": symbol,
            "side": "Buy",
            "orderType": ORDER_TYPE,
            "price": "1.5",
            "qty": "2",
            "cumExecQty": "0",
            "leavesQty": "2" if status == "New" else "0",
            "orderStatus": status,
            "rejectReason": RET_MSG,
            "timeInForce": "GTC",
            "updatedTime": "1767225600000",
        }

    return [record("hostile-open", SYMBOL, "New"), record("hostile-rejected", f"Y{TITLE}[/]", "Rejected")]


def inject(sim: Any) -> None:
    """Make the local exchange push a wallet with a clipboard-writing coin and the hostile orders."""
    wallet = copy.deepcopy(sim.exchange.wallet_record())
    coins = wallet["coin"]
    coins.append({**coins[0], "coin": COIN})
    sim.exchange.pushes.publish("wallet", [wallet])
    sim.exchange.pushes.publish("order", hostile_orders())


async def reject_the_key(sim: Any) -> None:
    """Every later auth is refused with a window-title sequence and markup; the links drop so it happens now."""
    sim.faults.auth_reject = True
    sim.faults.auth_reject_message = f"Invalid apikey{TITLE}[/][link=https://evil.example/]x[/link]"
    await sim.faults.drop_connections()
