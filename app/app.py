"""The Fluxum App.

Interim: until the session and the desk screen land, the App shows one order book replayed from a real captured
Bybit message (the ``spot orderbook.50.BTCUSDT`` snapshot ``u2876700`` and its next delta), through the same
``OrderBook`` and ``Ladder`` the dashboard will use. It is constructible with no arguments, so ``python -m app``,
``textual run`` and ``textual serve`` work.
"""

from __future__ import annotations

from pathlib import Path

import orjson
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from exchange.book import OrderBook
from widgets.ladder import Ladder, LadderView

STYLESHEET = Path(__file__).resolve().parent / "styles.tcss"
REPLAY = ("spot_orderbook50_BTCUSDT_snapshot_u2876700.json", "spot_orderbook50_BTCUSDT_delta_u2876701.json")


def _replay_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "bybit" / "ws_public"


def replayed_book() -> OrderBook:
    """The captured spot book, snapshot then delta, as Bybit sent them."""
    book = OrderBook()
    for name in REPLAY:
        book.apply(orjson.loads((_replay_dir() / name).read_bytes()))
    return book


class FluxumApp(App[None]):
    """The desk."""

    CSS_PATH = STYLESHEET
    TITLE = "Fluxum"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+q", "quit", "Quit", show=False),
        Binding("plus,equals_sign", "group(1)", "Group +"),
        Binding("minus", "group(-1)", "Group -"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._book = replayed_book()
        self._group = 1

    def compose(self) -> ComposeResult:
        yield Static(
            "Replay of a captured Bybit spot book (orderbook.50.BTCUSDT, u2876700 -> u2876701). "
            "The live desk on the local exchange is being built.",
            id="notice",
        )
        ladder = Ladder(LadderView(self._book, tick=0.01, size_decimals=6), id="ladder")
        ladder.border_title = "Order book"
        yield ladder
        yield Footer()

    def action_group(self, direction: int) -> None:
        steps = [1, 2, 5, 10, 25, 50, 100]
        index = steps.index(self._group) + direction
        self._group = steps[max(0, min(len(steps) - 1, index))]
        ladder = self.query_one(Ladder)
        ladder.view = LadderView(self._book, tick=0.01, group=self._group, size_decimals=6)
