"""Another version of Fluxum's book, for a before/after run: the module at ``$FLUXUM_BOOK_BEFORE``.

``git show main:exchange/book.py > /tmp/book_before.py`` then ``FLUXUM_BOOK_BEFORE=/tmp/book_before.py python -m
bench.book_throughput --only fluxum fluxum-before order-book`` times both books and the C extension in one run.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from bench.peers import Adapter
from bench.peers.fluxum import adapter


def make(topic: str = "", category: str = "") -> Adapter:
    """The book of ``$FLUXUM_BOOK_BEFORE`` with cold number memos, read as the ladder reads it."""
    name = "fluxum_book_before"
    module = sys.modules.get(name)
    if module is None:
        path = os.environ.get("FLUXUM_BOOK_BEFORE")
        if not path:
            raise SystemExit("fluxum-before needs FLUXUM_BOOK_BEFORE=path/to/book.py")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return adapter(module)
