"""Which build of the order book runs: compiled where `make` built it, else the source, and never a stale one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

from exchange import book, book_build

EXCHANGE = Path(book_build.__file__).parent


def test_exchange_book_is_the_build_make_installed():
    """``make test`` sets FLUXUM_EXPECT_COMPILED_BOOK=1 where a C compiler is at hand: the book must then be the
    compiled one, and current; anywhere else this says which build runs."""
    build = book_build.build_of(book)
    assert build == ("source" if book.__file__.endswith("book.py") else "compiled")
    if build == "compiled":
        assert book_build.stale_reason(book.__file__) is None
    if os.environ.get("FLUXUM_EXPECT_COMPILED_BOOK") == "1":
        assert build == "compiled", f"make installed a C compiler's build, yet exchange.book is {book.__file__}"


def test_the_stamp_says_whether_a_compiled_book_is_its_source(tmp_path: Path):
    source = tmp_path / "book.py"
    source.write_text("# a book\n")
    extension = tmp_path / "book.cpython-311-x86_64-linux-gnu.so"
    assert book_build.stale_reason(extension, source) == f"book.sha256 is missing beside {extension.name}"
    stamp = tmp_path / "book.sha256"
    stamp.write_text(book_build.source_digest(source) + "\n")
    assert book_build.stale_reason(extension, source) is None
    source.write_text("# a book, edited since\n")
    assert book_build.stale_reason(extension, source) == "book.py changed since it was compiled"


@pytest.mark.parametrize("stamp", ["missing", "of another source"])
def test_a_stale_compiled_book_is_never_imported(tmp_path: Path, stamp: str):
    """An extension beside a ``book.py`` it was not built from (here a file that would not even load) is passed
    over at import for the source, with a warning that says why."""
    package = tmp_path / "exchange"
    package.mkdir()
    for name in ("__init__.py", "book.py", "book_build.py", "numbers.py"):
        shutil.copy(EXCHANGE / name, package / name)
    (package / f"book{EXTENSION_SUFFIXES[0]}").write_bytes(b"not a shared object")
    if stamp != "missing":
        (package / "book.sha256").write_text("0" * 64 + "\n")
    script = "import logging; logging.basicConfig(); import exchange.book as b; print(b.__file__); b.OrderBook()"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(package / "book.py")
    assert "the compiled order book is stale" in done.stderr
