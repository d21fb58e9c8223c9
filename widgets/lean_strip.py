"""A Textual ``Strip`` that makes its caches when first used, not when built.

Textual's ``Strip`` builds seven small caches (crop, divide, style, filter, ...) with every strip. The desk's fast
widgets build a strip for each changed row, and most are painted once and never cropped, divided or filtered:
the caches were a third of the cost of building one. :class:`LeanStrip` is a ``Strip`` in every way but that
(Textual is pinned exactly; ``tests/ui/test_lean_strip.py`` checks each cache it knows against the pinned
``Strip``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from rich.segment import Segment
from textual.cache import FIFOCache
from textual.strip import Strip

__all__ = ["CACHE_SIZES", "LeanStrip"]

CACHE_SIZES: Final = {
    "_divide_cache": 4,
    "_crop_cache": 16,
    "_style_cache": 16,
    "_filter_cache": 4,
    "_line_length_cache": 4,
    "_crop_extend_cache": 4,
    "_offsets_cache": 4,
}
"""Each cache ``Strip.__init__`` builds, and its size there."""


class LeanStrip(Strip):
    """A strip whose caches are made on first use."""

    __slots__ = ()

    def __init__(self, segments: Iterable[Segment], cell_length: int | None = None) -> None:
        self._segments = segments if isinstance(segments, list) else list(segments)
        self._cell_length = cell_length
        self._render_cache = None
        self._link_ids = None
        self._cell_count = None

    def __getattr__(self, name: str) -> Any:
        size = CACHE_SIZES.get(name)
        if size is None:
            raise AttributeError(name)
        cache: FIFOCache[Any, Any] = FIFOCache(size)
        setattr(self, name, cache)
        return cache
