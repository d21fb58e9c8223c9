"""The tape's work for each print: its rows, and what a repaint compares of each against the row drawn there.

``python -m bench.tape_rows [--prints 3000] [--rows 45] [--rounds 5]``

A new print moves every row of the tape down one, so each row is compared with the one drawn above it before the
changed cells are repainted (:func:`widgets.strip_widget.changed_span`, and whether the row's columns are its
characters, ``Row.one_cell_each``). The tape keeps each trade's row as it moves (:class:`widgets.tape.TapeMemo`),
so what a comparison needs of a row is worked out once in its life on screen. The baseline, in the same run and
interleaved round by round, is the same tape with each row built afresh on each print (the same texts, kept as
before: a new ``Row`` of them), so every comparison works out both rows again.

Method. A scripted desk (no screen, no exchange) gets ``--prints`` public trades one at a time, a realistic mix of
sides and sizes (a few large ones); after each, :func:`widgets.tape.tape_rows` builds the tape of ``--rows`` rows
and every row is compared with the one drawn at its place on the previous print. CPU time per print, best of the
rounds for each.
"""

from __future__ import annotations

import argparse
import random
import time
from decimal import Decimal

from exchange.book import OrderBook
from exchange.desk import Desk
from exchange.events import LinkState, PublicTrade, SessionState
from widgets.rows import Row
from widgets.strip_widget import changed_span
from widgets.tape import TapeMemo, tape_rows

SYMBOL = "BTCUSDT"
WIDTH = 60


class AfreshMemo(TapeMemo):
    """The baseline: each print gets new row objects of the same texts, which keep nothing from the last print."""

    def row(self, item: PublicTrade | object, layout: tuple[int, int, int, int], mine: bool, large: bool) -> Row:
        kept = super().row(item, layout, mine, large)  # type: ignore[arg-type]
        return Row(kept.cells, kept.fill)


def _trades(count: int, seed: int) -> list[PublicTrade]:
    rng = random.Random(seed)
    price, out = 65_000.0, []
    for n in range(count):
        price = round(price + rng.choice((-0.5, -0.1, 0.0, 0.1, 0.5)), 1)
        qty = rng.lognormvariate(-3.5, 1.6) * (40 if rng.random() < 0.02 else 1)
        side = rng.choice(("Buy", "Sell"))
        out.append(
            PublicTrade(
                SYMBOL,
                1_700_000_000_000 + 137 * n,
                side,
                Decimal(f"{price:.1f}"),
                Decimal(f"{max(qty, 0.001):.3f}"),
                f"t{n}",
            )
        )
    return out


def run(memo: TapeMemo, trades: list[PublicTrade], rows: int) -> float:
    """CPU seconds per print: the tape's rows after each print, each compared with the row drawn there before."""
    desk = Desk(environment="SIM", category="linear", symbols=[SYMBOL], books={SYMBOL: OrderBook()})
    desk.state = SessionState(LinkState.READY, 0, "")
    drawn: list[Row] = []
    started = time.process_time()
    for trade in trades:
        desk.trades[SYMBOL].append(trade)
        shown, _ = tape_rows(desk, SYMBOL, WIDTH, rows + 1, memo=memo)
        for before, row in zip(drawn, shown, strict=False):
            if changed_span(before, row) is not None:
                _ = before.one_cell_each and row.one_cell_each
        drawn = shown
    return (time.process_time() - started) / len(trades)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prints", type=int, default=3000)
    parser.add_argument("--rows", type=int, default=45, help="trade rows shown (the desk's tape at 160x50: ~45)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    trades = _trades(args.prints, args.seed)
    best = {"kept rows": float("inf"), "rows afresh": float("inf")}
    for _ in range(args.rounds):
        best["kept rows"] = min(best["kept rows"], run(TapeMemo(), trades, args.rows))
        best["rows afresh"] = min(best["rows afresh"], run(AfreshMemo(), trades, args.rows))
    print(f"The tape's work per print: {args.prints:,} prints, {args.rows} rows, best of {args.rounds} rounds")
    for name, seconds in best.items():
        print(f"  {name:<12} {seconds * 1e6:7.1f} µs a print")
    print(f"  kept ÷ afresh: {best['kept rows'] / best['rows afresh']:.2f}x the time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
