"""The desk's order actions: buy or sell at the ladder's cursor (limit or post-only), at market, close the
position, cancel every order of the symbol, amend the selected order.

Each action is refused with its reason before anything is asked (:func:`trade_refusal`: no session, watch-only
without ``--trade``, no account, the account down, the link not Ready; then the ticket's own rules: no cursor, no
position, no orders, above ``max_notional``, a limit price far from the book: the same checks for a new order and
an amend), then asks a confirmation that says exactly what will be sent, then
goes through the session's one REST client. An order carries an ``orderLinkId`` chosen here, so a lost reply is
resolved by looking it up, never by sending it again (:meth:`~exchange.bybit.rest.RestClient.place_order`); the
order shows in the orders table and on the ladder when the exchange's ``order`` stream acknowledges it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING

from textual.notifications import SeverityLevel

from app.order_entry import AmendScreen, confirmation, describe_order, read_number
from exchange.bybit.errors import BybitError, OrderOutcomeUnknown, ServerUnavailable
from exchange.bybit.rest import new_order_link_id
from exchange.bybit.rest_transport import waits_told
from exchange.desk import Desk, Instrument
from exchange.events import LinkState, OpenOrder
from exchange.order_ticket import (
    Ticket,
    TicketRefused,
    amend_ticket,
    close_ticket,
    limit_ticket,
    market_ticket,
)
from exchange.printable import printable
from exchange.trust import book_trust
from widgets.ladder import Ladder
from widgets.orders import OrdersTable

if TYPE_CHECKING:
    from app.desk_screen import DeskScreen

__all__ = ["OrderActions", "trade_refusal"]

SENT_KEPT = 256
"""orderLinkIds of the orders sent from this desk remembered, to tell what the exchange did with each."""
QUIET_REASONS = frozenset({"", "EC_NoError"})


def trade_refusal(fluxum: object, desk: Desk) -> str | None:
    """Why no order may be sent now, or None: the first of no session, watch-only, no account, account down,
    link not Ready."""
    runtime = getattr(fluxum, "runtime", None)
    if runtime is None:
        return "No session: this desk sends no orders."
    settings = runtime.settings
    if not (settings.local_exchange or settings.trading_enabled):
        return f"Watch-only: start Fluxum with --trade to send orders to {settings.environment_label}."
    if not desk.private:
        return "No account: without API keys the desk sends no orders."
    if desk.account_down:
        return "The account is down (its key was refused): no orders until it is back."
    if desk.state.kind is not LinkState.READY:
        return "The link is not Ready: no orders until every feed is live again."
    return None


def _refused(what: str, error: BybitError) -> str:
    """How a failed cancel or amend is told: a reply lost after the request may have reached Bybit is no refusal
    (it may have been done: the orders table shows what became of it), and it is not sent again."""
    if isinstance(error, ServerUnavailable) and error.maybe_sent:
        return f"{what} outcome unknown (not sent again: the open orders show what Bybit did): {error}"
    return f"{what} rejected: {error}"


def _decimal_of(price: float, instrument: Instrument) -> Decimal:
    """A row's price (a float of the book) as the exact price of the instrument's grid it stands for."""
    return Decimal(f"{price:.{instrument.price_decimals}f}")


class OrderActions:
    """Order entry for one desk screen: its keys call these; each refuses, confirms, then sends."""

    def __init__(self, screen: DeskScreen) -> None:
        self.screen = screen
        self._sent: deque[str] = deque(maxlen=SENT_KEPT)

    @property
    def desk(self) -> Desk:
        return self.screen.desk

    def _tell(self, text: str, severity: SeverityLevel = "warning") -> None:
        self.screen.fluxum.notify(text, severity=severity, timeout=10 if severity == "error" else 6)

    def _ready(self) -> bool:
        refusal = trade_refusal(self.screen.fluxum, self.desk)
        if refusal is not None:
            self._tell(refusal)
        return refusal is None

    def _instrument(self, symbol: str) -> Instrument | None:
        instrument = self.desk.instrument(symbol)
        if instrument is None:
            self._tell(f"{printable(symbol)}: its tick and lot size are not known yet (they come with the backfill).")
        return instrument

    def _touch(self, symbol: str, side: str, instrument: Instrument) -> Decimal | None:
        """The price an order of ``side`` would take: the best ask for a buy, the best bid for a sell."""
        book = self.desk.books.get(symbol)
        level = None if book is None else (book.best_ask() if side == "Buy" else book.best_bid())
        return None if level is None else _decimal_of(level[0], instrument)

    def _mid(self, symbol: str, instrument: Instrument) -> Decimal | None:
        """The book's mid a limit price is checked against (one side's best when the other is empty)."""
        bid, ask = self._touch(symbol, "Sell", instrument), self._touch(symbol, "Buy", instrument)
        if bid is None or ask is None:
            return bid if ask is None else ask
        return (bid + ask) / 2

    def _book_refusal(self, symbol: str) -> str | None:
        """Why no price may be set against ``symbol``'s book now (it is not live: a price picked or checked
        against it may be anywhere by now), or None."""
        book = self.desk.books.get(symbol)
        ladder = self.screen.query_one("#ladder", Ladder)
        state = book_trust(self.desk, book, int(ladder.clock() * 1000))[0] if book is not None else "no book"
        if state != "SYNCED":
            return f"the {printable(symbol)} book is not live ({state}): nothing sent."
        return None

    def _ask(
        self, question: str, word: str, confirm: str, then: Callable[[], Awaitable[None]], name: str, pending: str
    ) -> None:
        """Confirm, then (still allowed) run ``then`` as a worker of the screen; ``pending`` names what is sent
        while it waits out a rate limit."""
        settings = self.screen.fluxum.runtime.settings if self.screen.fluxum.runtime is not None else None
        dialog = confirmation(settings, question, word=word, confirm=confirm)
        self.screen.app.push_screen(dialog, callback=partial(self._confirmed, then, name, pending))

    def _confirmed(self, then: Callable[[], Awaitable[None]], name: str, pending: str, yes: bool | None) -> None:
        if not yes:
            return
        refusal = trade_refusal(self.screen.fluxum, self.desk)
        if refusal is not None:
            self._tell(f"Not sent: {refusal}")
            return
        self.screen.run_worker(self._told(then, pending), name=name, group="orders", exit_on_error=False)

    async def _told(self, then: Callable[[], Awaitable[None]], pending: str) -> None:
        """Run ``then``, telling each rate-limit (10006) wait as it starts: the trader sees the order pending
        and when it is tried again, then its result as usual."""
        with waits_told(partial(self._waiting, pending)):
            await then()

    def _waiting(self, pending: str, path: str, seconds: float) -> None:
        self.screen.fluxum.notify(
            f"Pending: {pending}: rate limited, retry in {max(seconds, 0.1):.1f} s",
            severity="warning",
            timeout=max(6.0, seconds + 2.0),
        )

    # ------------------------------------------------------------------ new orders

    def place(self, side: str, kind: str) -> None:
        """``kind`` limit or post-only at the cursor's price, or market; the config's default quantity."""
        symbol = self.screen.symbol
        if symbol is None or not self._ready() or (instrument := self._instrument(symbol)) is None:
            return
        ladder = self.screen.query_one("#ladder", Ladder)
        not_live = self._book_refusal(symbol)
        if not_live is not None:
            self._tell(f"Order refused: {not_live}")
            return
        settings = self.screen.fluxum.runtime.settings  # type: ignore[union-attr]
        limits, inverse = settings.order_limits, settings.category == "inverse"
        qty = limits.qty_for(symbol, instrument.qty_step)
        try:
            if kind == "market" and settings.category == "spot":
                raise TicketRefused("a spot market buy counts its qty in the quote coin: use a limit order")
            if kind == "market":
                touch = self._touch(symbol, side, instrument)
                step = instrument.qty_step
                ticket = market_ticket(symbol, side, qty, touch, step=step, limits=limits, inverse=inverse)
            else:
                cursor = ladder.cursor
                if cursor is None:
                    raise TicketRefused("no price chosen: k / j put the cursor on the ladder's prices first")
                ticket = limit_ticket(
                    symbol,
                    side,
                    _decimal_of(cursor, instrument),
                    qty,
                    tick=instrument.tick_size,
                    step=instrument.qty_step,
                    limits=limits,
                    reference=self._mid(symbol, instrument),
                    inverse=inverse,
                    post_only=kind == "post-only",
                )
        except TicketRefused as refused:
            self._tell(f"Order refused: {refused}")
            return
        crossing = ticket.crossing(self._touch(symbol, side, instrument))
        question = f"Send {ticket.order_text()}?\n{ticket.notional_text()}" + (f"\n{crossing}" if crossing else "")
        self._ask(question, symbol, "Send order", partial(self._send, ticket), "order", ticket.order_text())

    def close_position(self) -> None:
        """A reduce-only market order for the whole position of the symbol on screen."""
        symbol = self.screen.symbol
        if symbol is None or not self._ready() or (instrument := self._instrument(symbol)) is None:
            return
        position = self.desk.positions.get(symbol)
        size = position.size if position is not None else (Decimal(0) if self.desk.positions_read else None)
        inverse = self.screen.fluxum.runtime.settings.category == "inverse"  # type: ignore[union-attr]
        try:
            side = "Sell" if size is not None and size > 0 else "Buy"
            touch = self._touch(symbol, side, instrument)
            ticket = close_ticket(symbol, size, touch, step=instrument.qty_step, inverse=inverse)
        except TicketRefused as refused:
            self._tell(f"Close refused: {refused}")
            return
        question = f"Close the {printable(symbol)} position: {ticket.order_text()}?\n{ticket.notional_text()}"
        self._ask(question, symbol, "Close position", partial(self._send, ticket), "close", ticket.order_text())

    async def _send(self, ticket: Ticket) -> None:
        """One order through the session's REST client, with an orderLinkId chosen here (never sent twice)."""
        runtime = self.screen.fluxum.runtime
        if runtime is None:
            return
        link_id = new_order_link_id()
        self._sent.append(link_id)
        try:
            await runtime.rest.place_order(
                runtime.settings.category,
                ticket.symbol,
                ticket.side,
                ticket.order_type,
                ticket.qty,
                ticket.price,
                time_in_force=ticket.time_in_force,
                order_link_id=link_id,
                reduce_only=ticket.reduce_only,
            )
        except OrderOutcomeUnknown as unknown:
            self._tell(f"Order outcome unknown: {unknown}", "error")
            return
        except BybitError as error:
            self._tell(f"Order rejected: {error}", "error")
            return
        except (TimeoutError, OSError) as error:
            self._tell(f"Order not sent: {error}", "error")
            return
        self._tell(f"Order sent: {ticket.describe()}", "information")

    def order_changed(self, order: OpenOrder) -> None:
        """What the exchange did with an order sent from here, when it is not what was asked: a post-only order
        that would have taken liquidity is cancelled, with Bybit's reason."""
        if order.order_link_id not in self._sent or order.status != "Cancelled":
            return
        if order.reject_reason in QUIET_REASONS:
            return
        side = "BUY" if order.side == "Buy" else "SELL"
        self._tell(
            f"Order cancelled by the exchange ({printable(order.reject_reason)}): {side} "
            f"{order.qty.normalize():f} {printable(order.symbol)}"
            + (" (post-only: it would have taken liquidity)" if "PostOnly" in order.reject_reason else ""),
            "error",
        )

    # ------------------------------------------------------------------ orders that rest

    def cancel_all(self) -> None:
        """Cancel every open order of the symbol on screen."""
        symbol = self.screen.symbol
        if symbol is None or not self._ready():
            return
        orders = self.desk.open_orders(symbol)
        if not orders:
            self._tell(f"No open orders of {printable(symbol)} to cancel.")
            return
        listed = "\n".join(describe_order(order, self.desk) for order in orders[:5]) + (
            "\n…" if len(orders) > 5 else ""
        )
        question = f"Cancel all {len(orders)} open orders of {printable(symbol)}?\n{listed}"
        self._ask(
            question,
            symbol,
            "Cancel all",
            partial(self._cancel_all, symbol),
            "cancel all",
            f"cancel all of {printable(symbol)}",
        )

    async def _cancel_all(self, symbol: str) -> None:
        runtime = self.screen.fluxum.runtime
        if runtime is None:
            return
        try:
            cancelled = await runtime.rest.cancel_all_orders(runtime.settings.category, symbol)
        except BybitError as error:
            self._tell(_refused("Cancel all", error), "error")
            return
        except (TimeoutError, OSError) as error:
            self._tell(f"Cancel all not sent: {error}", "error")
            return
        self._tell(f"Cancel all sent: {len(cancelled)} orders of {printable(symbol)}", "information")

    def amend(self) -> None:
        """Ask the selected order's new price and quantity, then what exactly changes."""
        if not self._ready():
            return
        if self.screen.layout_name in ("-compact", "-tiny"):
            self._tell("Open orders are hidden at this size: enlarge the window to amend.")
            return
        order = self.screen.query_one(OrdersTable).selected_order()
        if order is None:
            self._tell("No open order is selected.")
            return
        if order.order_type != "Limit" or (instrument := self._instrument(order.symbol)) is None:
            if order.order_type != "Limit":
                self._tell("Only a resting limit order can be amended.")
            return
        ladder = self.screen.query_one("#ladder", Ladder)
        cursor = ladder.cursor if ladder.symbol == order.symbol else None
        suggested = _decimal_of(cursor, instrument) if cursor is not None else None
        form = AmendScreen(order, suggested, instrument.price_decimals)
        self.screen.app.push_screen(form, callback=partial(self._amend_typed, order))

    def _amend_typed(self, order: OpenOrder, typed: tuple[str, str] | None) -> None:
        if typed is None or (instrument := self.desk.instrument(order.symbol)) is None:
            return
        settings = self.screen.fluxum.runtime.settings  # type: ignore[union-attr]
        try:
            price, qty = read_number(typed[0], "price"), read_number(typed[1], "quantity")
            not_live = self._book_refusal(order.symbol) if price is not None and price != order.price else None
            if not_live is not None:
                raise TicketRefused(not_live)
            ticket = amend_ticket(
                order.symbol,
                order.order_id,
                order.side,
                (order.price, order.qty),
                (price, qty),
                tick=instrument.tick_size,
                step=instrument.qty_step,
                limits=settings.order_limits,
                reference=self._mid(order.symbol, instrument),
                inverse=settings.category == "inverse",
            )
        except (TicketRefused, ValueError) as refused:
            self._tell(f"Amend refused: {refused}")
            return
        change = ticket.describe(order.price, order.qty)
        touch = self._touch(order.symbol, order.side, instrument)
        crossing = ticket.crossing(order.side, touch, post_only=order.time_in_force == "PostOnly")
        question = f"Amend {describe_order(order, self.desk)}?\n{change}\n(order {order.order_id})" + (
            f"\n{crossing}" if crossing else ""
        )
        send = partial(self._amend, order, ticket.price, ticket.qty)
        self._ask(question, order.symbol, "Amend", send, "amend", f"amend of {describe_order(order, self.desk)}")

    async def _amend(self, order: OpenOrder, price: Decimal | None, qty: Decimal | None) -> None:
        runtime = self.screen.fluxum.runtime
        if runtime is None:
            return
        try:
            await runtime.rest.amend_order(
                runtime.settings.category, order.symbol, order.order_id, qty=qty, price=price
            )
        except BybitError as error:
            gone = "Amend rejected (the order is gone: filled or cancelled)"
            self._tell(f"{gone}: {error}" if error.ret_code == 110001 else _refused("Amend", error), "error")
            return
        except (TimeoutError, OSError) as error:
            self._tell(f"Amend not sent: {error}", "error")
            return
        self._tell(f"Amend sent: {describe_order(order, self.desk)}", "information")
