"""The dashboard's modal screens: help, ledger fields, ledger export, order-cancel confirmation."""

from app.screens.confirm import ConfirmScreen
from app.screens.export import ExportScreen
from app.screens.help import HelpScreen
from app.screens.ledger import LedgerScreen

__all__ = ["ConfirmScreen", "ExportScreen", "HelpScreen", "LedgerScreen"]
