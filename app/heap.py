"""The desk's heap and Python's cyclic garbage collector.

A desk allocates small objects at frame rate (Textual builds a few strips, each with seven small caches, per
changed row), so with the default thresholds the collector ran ~40 young collections a second and, every few
seconds, a full one over the whole heap: the widgets, the CSS, the modules, the books, ~130,000 objects, tens of
milliseconds in one go, in the middle of a frame. Once the desk is composed (and again when its session is first
Ready) what is alive then lives all day: it is moved out of the collector's sight (``gc.freeze``), and young
collections wait for more allocations. Reference counting frees everything that is not a cycle as before; cycles
are still collected, less often. A frozen object that later dies in a cycle (a ladder removed from the
desk) is not collected until the desk ends: at most what was alive at the two freezes. When the desk ends, all
of it is handed back (``release_heap``): a process that runs desks one after another (the tests) collects each
one's cycles.
"""

from __future__ import annotations

import gc

__all__ = ["release_heap", "settle_heap"]

YOUNG_THRESHOLD = 20_000
"""Allocations (net of frees) before a young collection: ~1 a second on a busy desk instead of ~40."""


_DEFAULT_THRESHOLDS = gc.get_threshold()


def settle_heap() -> None:
    """Collect what is garbage now, freeze what is left (it is the desk itself), and collect young objects
    less often from now on."""
    gc.collect()
    gc.freeze()
    _, middle, old = _DEFAULT_THRESHOLDS
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def release_heap() -> None:
    """Let the collector see every object again, at its usual thresholds (the desk is ending)."""
    gc.unfreeze()
    gc.set_threshold(*_DEFAULT_THRESHOLDS)
