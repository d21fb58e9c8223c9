"""The desk's footer: Textual's, with the keys a small terminal can do without marked ``-minor``.

The stylesheet hides the minor keys in the compact layout, so ``? Help`` and ``q Quit`` are never the keys cut at
the right edge; the keys still work, and the help screen lists them all.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

__all__ = ["DeskFooter"]


class DeskFooter(Footer):
    """A footer whose keys for ``MINOR_ACTIONS`` carry the class ``-minor``."""

    MINOR_ACTIONS: ClassVar[frozenset[str]] = frozenset({"zoom(1)", "zoom(-1)", "app.export_ledger", "cancel_order"})
    """Grouping, export and cancel: a compact desk has them on their keys and in the palette (or, for cancel, not
    at all: its orders table is hidden)."""
    TRADE_ACTIONS: ClassVar[frozenset[str]] = frozenset({"place('Buy', 'limit')", "place('Sell', 'limit')"})
    """Buy and sell at the cursor: shown only in the full layout's footer (the help screen lists them, and their
    keys work at any size)."""

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, FooterKey) and widget.action in self.MINOR_ACTIONS:
                widget.add_class("-minor")
            if isinstance(widget, FooterKey) and widget.action in self.TRADE_ACTIONS:
                widget.add_class("-minor", "-trade")
            yield widget
