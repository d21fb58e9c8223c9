"""The desk's number formats: what a trader reads must not say more (or less) than the number."""

from __future__ import annotations

from decimal import Decimal

import pytest

from widgets._format import fmt_signed


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("12.345"), "+12.34"),  # Decimal formatting rounds half-even
        (Decimal("-1234.5"), "-1,234.50"),
        (Decimal("0"), "0.00"),
        (Decimal("-0.001"), "0.00"),  # a loss too small to show is not "-0.00"
        (Decimal("0.004"), "0.00"),
        (-0.0049, "0.00"),
        (0.005001, "+0.01"),
        (None, "—"),
    ],
)
def test_signed_money_has_a_sign_only_when_it_shows_a_nonzero_figure(value: Decimal | float | None, text: str) -> None:
    assert fmt_signed(value) == text


def test_column_widths_only_grow_within_a_view_and_start_again_in_a_new_one() -> None:
    from widgets._format import ColumnWidths

    widths = ColumnWidths()
    assert widths.fit(("BTCUSDT", 1), 8, 5) == (8, 5)
    assert widths.fit(("BTCUSDT", 1), 8, 4) == (8, 5)  # a shorter number: the column stays
    assert widths.fit(("BTCUSDT", 1), 9, 4) == (9, 5)
    assert widths.fit(("BTCUSDT", 10), 7, 4) == (7, 4)  # another grouping: fitted afresh
