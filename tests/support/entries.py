"""Ledger entries compared by their money alone."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from exchange.ledger import LedgerEntry


def money_of(entry: LedgerEntry) -> LedgerEntry:
    """``entry`` without what describes the last event applied (its time, source and leg): that is about arrival,
    so two ledgers fed the same fills in another order differ there and nowhere else."""
    arrival: dict[str, Any] = {"update_source": None}  # blanked on both sides of a comparison, never a real source
    return replace(entry, package_price=None, update_time=0, price=None, side=None, qty=None, **arrival)
