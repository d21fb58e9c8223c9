"""Deciding when an alert starts and clears: the rules read against the desk, debounced, on an injected clock.

Pure logic: :meth:`AlertEvaluator.evaluate` is called with the desk and the time on every relevant event and on
a tick, and returns the :class:`~exchange.events.AlertChanged` events due. A condition must hold for the rule's
``after`` without a break before it starts, and stop holding for ``clear_after`` (default: ``after``) before it
clears, so a condition flapping inside the debounce neither fires nor clears. A clear says how long the
condition held, from the moment it began to hold to the moment it stopped (not the debounced moments).

Instant conditions (``fill``, ``position_changed``) happen rather than hold: each fires once, active, with
``instant`` set, and never clears; their ``after`` is a quiet period (a second one sooner is counted, not fired).
A condition that cannot be read (no price yet, no link figures yet, no session running) leaves the rule as it
is: a desk that quits is not a link going down.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from exchange.alert_rules import AlertRule, Condition, format_duration
from exchange.desk import Desk
from exchange.events import AlertChanged, FillReceived, LinkState
from exchange.ledger import ContractKind
from exchange.printable import printable

__all__ = ["AlertEvaluator", "Fired", "reading"]

DETAIL_CHARS = 200
Fired = tuple[AlertRule, AlertChanged]
"""An alert with the rule that fired it (its command runs on delivery)."""
_HUNDRED = Decimal(100)


@dataclass
class _RuleState:
    """Where one rule stands: active or not, and since when its condition held or stopped holding."""

    active: bool = False
    holds_since_ms: int | None = None
    began_ms: int = 0  # when the active episode's condition began to hold
    breaks_since_ms: int | None = None
    last_fired_ms: int | None = None  # instants: for the quiet period
    suppressed: int = 0  # instants inside the quiet period
    sizes: dict[str, Decimal] | None = None  # position_changed: the sizes last seen


def _price(rule: AlertRule, desk: Desk) -> Decimal | None:
    assert rule.symbol is not None
    if rule.source == "last":
        return desk.last_price(rule.symbol)
    return desk.mark_price(rule.symbol) or desk.last_price(rule.symbol)


def _liq_distance(rule: AlertRule, desk: Desk) -> tuple[Decimal, str] | None:
    """The smallest distance in percent of the mark from a held position's liquidation price."""
    nearest: tuple[Decimal, str] | None = None
    for symbol, position in desk.positions.items():
        if (rule.symbol and symbol != rule.symbol) or position.size == 0:
            continue
        mark = desk.mark_price(symbol) or position.mark_price
        liq = position.liq_price
        if mark is None or mark <= 0 or liq is None or liq <= 0:
            continue
        distance = abs(mark - liq) / mark * _HUNDRED
        if nearest is None or distance < nearest[0]:
            nearest = (distance, f"{symbol} mark {mark} liq {liq}")
    return nearest


def _pnl(rule: AlertRule, desk: Desk) -> tuple[Decimal | None, str]:
    """The P&L the rule compares and the coin it is in (an inverse symbol's settle coin; ``""`` for the quote coin
    of a linear one). Totals in different coins are never added: None, and why."""
    entries = [e for e in desk.ledger.entries() if rule.symbol is None or e.symbol == rule.symbol]
    coins = sorted({e.settle_coin or "coin" if e.contract is ContractKind.INVERSE else "" for e in entries})
    if len(coins) > 1:
        return None, f"P&L in {' and '.join(c or 'the quote coin' for c in coins)}: name a symbol to compare one"
    return (sum((e.pnl for e in entries), Decimal(0)) if entries else None), coins[0] if coins else ""


def reading(rule: AlertRule, desk: Desk) -> tuple[bool | None, str]:
    """Whether ``rule``'s (lasting) condition holds on ``desk`` now (None: unknown), and what it saw."""
    condition = rule.condition
    if condition in (Condition.LINK_DOWN, Condition.FAILED):
        kind = desk.state.kind
        if kind is LinkState.DISCONNECTED:  # no session running (not started, or stopped on purpose): no outage
            return None, ""
        holds = kind is LinkState.FAILED if condition is Condition.FAILED else kind is not LinkState.READY
        return holds, str(desk.state)
    if condition is Condition.STREAM_STALE:
        if desk.stats is None:
            return None, ""
        stale = [t.topic for t in desk.stats.topics if t.stale and (not rule.symbol or t.topic.endswith(rule.symbol))]
        return bool(stale), f"stale: {', '.join(stale[:5])}" if stale else "every stream live"
    if condition in (Condition.PRICE_ABOVE, Condition.PRICE_BELOW):
        price = _price(rule, desk)
        if price is None or rule.threshold is None:
            return None, ""
        above = condition is Condition.PRICE_ABOVE
        return (price > rule.threshold if above else price < rule.threshold), f"{rule.symbol} {rule.source} {price}"
    if condition is Condition.PNL_BELOW:
        pnl, coin = _pnl(rule, desk)
        if pnl is None or rule.threshold is None:
            return None, coin if pnl is None else ""
        return pnl < rule.threshold, f"P&L {pnl:.8f} {printable(coin)}" if coin else f"P&L {pnl:.2f}"
    if condition is Condition.LIQ_DISTANCE_BELOW:
        if not desk.positions_read or rule.threshold is None:
            return None, ""
        nearest = _liq_distance(rule, desk)
        if nearest is None:
            return False, "no position near liquidation"
        return nearest[0] < rule.threshold, f"{nearest[0]:.2f}% from liquidation: {nearest[1]}"
    return None, ""


def _debounced(since_ms: int | None, departs: bool, now_ms: int, wait_ms: int) -> tuple[int | None, bool]:
    """One step of a debounce: while the condition departs from what the alert says (it holds while the alert is
    off, or not while it is on), since when (from the first such look), and whether that has lasted ``wait_ms``;
    ``(None, False)`` once it does not."""
    if not departs:
        return None, False
    since = now_ms if since_ms is None else since_ms
    return since, now_ms - since >= wait_ms


class AlertEvaluator:
    """Start and clear decisions for a set of rules; owns no clock and no I/O."""

    def __init__(self, rules: tuple[AlertRule, ...]) -> None:
        self.rules = rules
        self._states = {id(rule): _RuleState() for rule in rules}  # by identity: two rules may be alike

    def state(self, rule: AlertRule) -> _RuleState:
        return self._states[id(rule)]

    def evaluate(self, desk: Desk, now_ms: int) -> list[Fired]:
        """The alerts that start or clear at ``now_ms`` given the desk as it is."""
        changes: list[Fired] = []
        for rule in self.rules:
            if rule.condition is Condition.POSITION_CHANGED:
                changes.extend(self._positions(rule, desk, now_ms))
            elif not rule.instant:
                holds, detail = reading(rule, desk)
                if holds is not None:
                    change = self._step(rule, holds, printable(detail, DETAIL_CHARS), now_ms)
                    if change is not None:
                        changes.append((rule, change))
        return changes

    def fill(self, event: FillReceived, now_ms: int) -> list[Fired]:
        """The ``fill`` alerts one of the account's executions fires."""
        fill = event.fill
        text = f"{fill.symbol} {fill.side} {fill.qty} @ {fill.price}" + (" (backfill)" if event.backfilled else "")
        return [
            (rule, alert)
            for rule in self.rules
            if rule.condition is Condition.FILL and rule.symbol in (None, fill.symbol)
            if (alert := self._instant(rule, printable(text, DETAIL_CHARS), now_ms)) is not None
        ]

    def next_due_ms(self) -> int | None:
        """The earliest moment a debounce ends, so a watcher can wake then rather than on its next tick."""
        due = []
        for rule in self.rules:
            state = self._states[id(rule)]
            if not state.active and state.holds_since_ms is not None:
                due.append(state.holds_since_ms + rule.after_ms)
            elif state.active and state.breaks_since_ms is not None:
                due.append(state.breaks_since_ms + rule.clear_after_ms)
        return min(due) if due else None

    def _step(self, rule: AlertRule, holds: bool, detail: str, now_ms: int) -> AlertChanged | None:
        state = self._states[id(rule)]
        if not state.active:
            state.holds_since_ms, due = _debounced(state.holds_since_ms, holds, now_ms, rule.after_ms)
            if not due or state.holds_since_ms is None:
                return None
            state.active, state.began_ms, state.breaks_since_ms = True, state.holds_since_ms, None
            return AlertChanged(rule.name, rule.condition.value, True, f"{rule.name}: {detail}", now_ms)
        state.breaks_since_ms, due = _debounced(state.breaks_since_ms, not holds, now_ms, rule.clear_after_ms)
        if not due or state.breaks_since_ms is None:
            return None
        lasted = max(0, state.breaks_since_ms - state.began_ms)
        state.active, state.holds_since_ms, state.breaks_since_ms = False, None, None
        text = f"{rule.name} cleared after {format_duration(lasted)}: {detail}"
        return AlertChanged(rule.name, rule.condition.value, False, text, now_ms, lasted)

    def _instant(self, rule: AlertRule, detail: str, now_ms: int) -> AlertChanged | None:
        state = self._states[id(rule)]
        if state.last_fired_ms is not None and now_ms - state.last_fired_ms < rule.after_ms:
            state.suppressed += 1
            return None
        state.last_fired_ms = now_ms
        return AlertChanged(rule.name, rule.condition.value, True, f"{rule.name}: {detail}", now_ms, instant=True)

    def _positions(self, rule: AlertRule, desk: Desk, now_ms: int) -> list[Fired]:
        """``position_changed``: the exchange's size of a symbol differs from the one last seen (the first
        reading of the account is the baseline, not a change)."""
        if not desk.positions_read:
            return []
        symbols = [rule.symbol] if rule.symbol else desk.symbols
        sizes = {s: (desk.positions[s].size if s in desk.positions else Decimal(0)) for s in symbols}
        state = self._states[id(rule)]
        seen, state.sizes = state.sizes, sizes
        if seen is None:
            return []
        changes = []
        for symbol, size in sizes.items():
            before = seen.get(symbol, Decimal(0))
            if size != before:
                alert = self._instant(rule, f"{symbol} position {before} -> {size}", now_ms)
                if alert is not None:
                    changes.append((rule, alert))
        return changes
