"""Fluxum's book run as Python source (``exchange/book.py``, the fallback where no C compiler built it), timed
beside the installed book, compiled with mypyc where ``make`` could."""

from __future__ import annotations

import sys

from bench.peers import Adapter
from bench.peers.fluxum import adapter
from exchange import book_build


def make(topic: str = "", category: str = "") -> Adapter:
    """A fresh source book with cold number memos, read as the ladder reads it."""
    name = "fluxum_book_source"
    module = sys.modules.get(name) or book_build.load_source(name)
    return adapter(module)
