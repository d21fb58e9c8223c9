"""Which build of the order book runs (mypyc's compiled :mod:`exchange.book`, or its Python source), never a stale one.

``setup.py`` compiles ``book.py`` with mypyc where a C compiler is at hand and writes the SHA-256 of the source it
compiled to :data:`STAMP`, beside the extension. A developer who edits ``book.py`` without rebuilding would otherwise
run the old binary, silently: :func:`guard`, which ``exchange/__init__.py`` calls before anything imports the book,
finds the extension, compares the digests and, when they differ, loads ``book.py`` in its place and says so.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import sys
from pathlib import Path
from types import ModuleType

__all__ = [
    "NAME",
    "SOURCE",
    "STAMP",
    "build_of",
    "guard",
    "load_source",
    "source_digest",
    "stale_reason",
    "write_stamp",
]

NAME = "exchange.book"
SOURCE = Path(__file__).with_name("book.py")
STAMP = Path(__file__).with_name("book.sha256")
"""The digest of the source the extension beside it was compiled from (a build product, never committed)."""

log = logging.getLogger(__name__)


def source_digest(source: Path = SOURCE) -> str:
    return hashlib.sha256(source.read_bytes()).hexdigest()


def write_stamp(stamp: Path) -> None:
    """Record that the extension built beside ``stamp`` is ``book.py`` as it is now (setup.py, after a build)."""
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(source_digest() + "\n", encoding="ascii")


def stale_reason(extension: str | Path, source: Path = SOURCE) -> str | None:
    """Why the compiled book at ``extension`` must not run in place of ``source``, or None when it is current."""
    stamp = Path(extension).with_name(STAMP.name)
    try:
        recorded = stamp.read_text(encoding="ascii").strip()
    except OSError:
        return f"{stamp.name} is missing beside {Path(extension).name}"
    try:
        current = source_digest(source)
    except OSError:
        return None  # an install without the source: the extension is all there is
    if recorded != current:
        return f"{source.name} changed since it was compiled"
    return None


def build_of(module: ModuleType) -> str:
    """``"compiled"`` or ``"source"``: what a loaded book module is."""
    return "source" if str(getattr(module, "__file__", "")).endswith(".py") else "compiled"


def load_source(name: str = NAME) -> ModuleType:
    """``book.py`` run as Python source, registered as ``name`` (the fallback, and the tests' second book)."""
    spec = importlib.util.spec_from_file_location(name, SOURCE)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {SOURCE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before it runs: its dataclasses look their module up
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def guard() -> None:
    """Before the book is first imported: when the compiled book is stale, make ``exchange.book`` the source."""
    if NAME in sys.modules:
        return
    spec = importlib.util.find_spec(NAME)
    if spec is None or spec.origin is None or spec.origin.endswith(".py"):
        return
    reason = stale_reason(spec.origin)
    if reason is not None:
        log.warning("the compiled order book is stale (%s): running %s as source; rebuild with `make`", reason, SOURCE)
        package = sys.modules[NAME.rpartition(".")[0]]
        package.book = load_source()  # type: ignore[attr-defined]
