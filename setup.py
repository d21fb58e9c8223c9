"""Compiles the order book (``exchange/book.py``) with mypyc where it can; everything else is in pyproject.toml.

The book's delta loop is the desk's hottest code, and compiled it is several times faster than as Python source
(``bench/book_throughput.py``). Without a C compiler, or if mypyc fails, the install still succeeds, warns, and
``exchange.book`` runs as Python source. Every build records the SHA-256 of the source it compiled beside the
extension, so a compiled book older than its source is never run (``exchange/book_build.py``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
# the stamp's name and digest come from the module that checks them at import (loaded by path: importing the
# package would import its dependencies, which a build does not have)
_spec = importlib.util.spec_from_file_location("book_build", ROOT / "exchange" / "book_build.py")
assert _spec is not None and _spec.loader is not None
book_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(book_build)

COMPILED = [book_build.SOURCE.relative_to(ROOT).as_posix()]
FALLBACK = "exchange.book will run as Python source (slower, same behaviour)"


def _warn(why: str) -> None:
    print(f"WARNING: fluxum: the order book is not compiled: {why}; {FALLBACK}", file=sys.stderr)


class BuildBook(build_ext):
    """``build_ext`` that never fails the install: a compiler error leaves the book as source, and a success
    records the compiled source's digest beside the extension."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as error:  # no compiler, a compiler error, missing headers: never brick the install
            _warn(f"{type(error).__name__}: {str(error)[:160]}")
            self._remove_outputs()
            return
        for base in {Path(self.build_lib), ROOT} if self.inplace else {Path(self.build_lib)}:
            book_build.write_stamp(base / "exchange" / book_build.STAMP.name)

    def _remove_outputs(self) -> None:
        """A half-built book (the shim without its code) would break ``import exchange.book``."""
        for ext in self.extensions:
            for path in (Path(self.get_ext_fullpath(ext.name)), ROOT / self.get_ext_filename(ext.name)):
                path.unlink(missing_ok=True)


def _extensions() -> list:
    try:
        from mypyc.build import mypycify

        # pyproject.toml's mypy settings apply; its overrides for modules outside the book are expected to go unused
        return mypycify(["--no-warn-unused-configs", *COMPILED], opt_level="3")
    except (Exception, SystemExit) as error:  # mypy absent (no build isolation) or a type error mypyc refuses
        _warn(f"mypyc: {type(error).__name__}: {error}")
        return []


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildBook})
