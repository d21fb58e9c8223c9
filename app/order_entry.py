"""Order entry's dialogs: the confirmation every order action asks (typed where real money may be at stake) and
the amend form (the selected order's new price and quantity).

What the dialogs say is the ticket's own text (:mod:`exchange.order_ticket`): side, quantity, price, type and
notional, exactly what will be sent. Quoted data (a symbol, an order's figures) is shown as printable plain
text, never as markup.
"""

from __future__ import annotations

from decimal import Decimal

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from app.screens import ConfirmScreen, TypedConfirmScreen
from exchange.config import Settings
from exchange.desk import Desk
from exchange.events import OpenOrder
from exchange.numbers import NumberError, read_decimal
from exchange.printable import printable
from widgets._format import tick_price

__all__ = ["AmendScreen", "confirmation", "describe_order", "read_number"]


def confirmation(
    settings: Settings | None, question: str, *, word: str, confirm: str, refuse: str = "Don't"
) -> ModalScreen[bool]:
    """The dialog an order action asks: the symbol typed on production (or a host that may be it), else y / n."""
    if settings is not None and settings.needs_typed_confirmation:
        return TypedConfirmScreen(question, word=word, stakes=settings.stakes)
    return ConfirmScreen(question, confirm=confirm, refuse=refuse)


def describe_order(order: OpenOrder, desk: Desk | None = None) -> str:
    """The order as placed (its qty, not what is left of it: a cancelled order has none left), and what filled;
    its price to the tick's places when the ``desk`` knows the symbol's tick, as the ladder writes it."""
    side = "BUY" if order.side == "Buy" else "SELL"
    places = desk.price_places(order.symbol) if desk is not None else None
    price = f" @ {tick_price(order.price, places)}" if order.price is not None else ""
    filled = f", {order.cum_exec_qty.normalize():f} filled" if order.cum_exec_qty > 0 else ""
    return f"{side} {order.qty.normalize():f} {order.symbol}{price} ({order.order_type}{filled})"


def read_number(text: str, name: str = "the number") -> Decimal | None:
    """A number typed by the trader (commas allowed), None when empty; :class:`ValueError` when not a number in
    the range every number from outside is held to (:func:`~exchange.numbers.read_decimal`: no overflow later)."""
    cleaned = text.strip().replace(",", "")
    if not cleaned:
        return None
    try:
        return read_decimal(cleaned, name)
    except NumberError as error:
        raise ValueError(printable(str(error), 80)) from None


class AmendScreen(ModalScreen[tuple[str, str] | None]):
    """The selected order's new price and quantity, prefilled (the price with the ladder's cursor when it is
    placed): Enter in either field submits both as typed, Escape keeps the order as it is."""

    BINDINGS = [Binding("escape", "keep", "Keep it")]

    def __init__(self, order: OpenOrder, price: Decimal | None, places: int | None = None) -> None:
        super().__init__()
        self.order = order
        self.price = price
        self.places = places
        """The tick's places the order's price is written to (None: not known, as the exchange wrote it)."""

    def compose(self) -> ComposeResult:
        order = self.order
        side = "BUY" if order.side == "Buy" else "SELL"
        was = tick_price(order.price, self.places) if order.price is not None else "market"
        with Vertical(id="amend-dialog", classes="dialog"):
            title = f"Amend {side} {order.qty.normalize():f} {printable(order.symbol)} @ {was}"
            yield Label(Content(title), id="amend-title")
            yield Label("New price")
            price = self.price if self.price is not None else order.price
            yield Input(f"{price.normalize():f}" if price is not None else "", id="amend-price")
            yield Label("New quantity")
            yield Input(f"{order.qty.normalize():f}", id="amend-qty")
            yield Label("Enter to review what is sent · Escape keeps the order", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one("#amend-price", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        price = self.query_one("#amend-price", Input).value
        qty = self.query_one("#amend-qty", Input).value
        self.dismiss((price, qty))

    def action_keep(self) -> None:
        self.dismiss(None)
