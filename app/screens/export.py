"""Where to write the ledger CSV: a path prefilled with a fresh name in the current directory."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

__all__ = ["ExportScreen"]


class ExportScreen(ModalScreen[str | None]):
    """Dismisses with the chosen path (Enter) or None (Escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default_path: str) -> None:
        super().__init__()
        self.default_path = default_path

    def compose(self) -> ComposeResult:
        with Vertical(id="export-dialog", classes="dialog"):
            yield Label("Export the ledger as CSV (Fluxum's columns, then the P&L split) to:")
            yield Input(self.default_path, id="export-path")
            yield Label("Enter to write · Escape to cancel", classes="dialog-hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        path = event.value.strip()
        self.dismiss(path or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
