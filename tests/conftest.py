"""Suite-wide fixtures."""

from __future__ import annotations

import decimal
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _own_decimal_context() -> Iterator[None]:
    """Each test gets its own copy of the decimal context. A peer library driven against the local exchange
    (ccxt's ``decimal_to_precision``) sets the process-wide context's rounding in place, and every later test
    would format money under it (a display test failed only in the full suite)."""
    with decimal.localcontext():
        yield
