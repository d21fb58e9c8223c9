"""The help screen: every binding with what it does, and what the glyphs on screen mean."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

__all__ = ["HelpScreen"]

LEGEND = (
    ("● Ready", "every topic live, private stream authenticated, backfill done"),
    ("○ Connected", "sockets open, still subscribing / snapshotting / backfilling"),
    ("◐ Connecting", "opening the links"),
    ("◑ Reconnecting", "link lost: attempt n, countdown to the next try, the reason"),
    ("✗ Failed", "retrying cannot fix it (a rejected key): not retrying"),
    ("○ Disconnected", "stopped"),
    ("● LIVE", "the book is synced and fresh"),
    ("⚠ … NOT LIVE", "RESYNCING / AWAITING_SNAPSHOT / STALE: the ladder is dimmed, do not trade on it"),
    ("◆", "your open order at that price (ladder) or your own fill (tape)"),
    ("!", "a large trade: at least 5x the recent median notional"),
    ("BUY / SELL", "the aggressor (taker) side of a public trade"),
)


class HelpScreen(ModalScreen[None]):
    """Lists the app's bindings (from the app itself, so it cannot drift) and the legend."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss_help", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog", classes="dialog"):
            yield Static(self._text(), id="help-text")

    def _text(self) -> Content:
        parts: list[object] = [("Fluxum: keys", "bold"), "\n"]
        seen: set[str] = set()
        for binding in self.app.BINDINGS:
            if not isinstance(binding, Binding) or not binding.description or binding.action in seen:
                continue
            seen.add(binding.action)
            keys = ", ".join(self.app.get_key_display(Binding(key, "")) for key in binding.key.split(","))
            parts += [(f"  {keys:<16}", "bold $accent"), f" {binding.description}", "\n"]
        parts += ["  ctrl+p           command palette: symbols, themes, actions", "\n\n", ("On screen", "bold"), "\n"]
        for glyph, meaning in LEGEND:
            parts += [(f"  {glyph:<16}", "bold"), f" {meaning}", "\n"]
        parts += ["\n", ("Escape or ? closes this screen.", "dim")]
        return Content.assemble(*parts)  # type: ignore[arg-type]

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
