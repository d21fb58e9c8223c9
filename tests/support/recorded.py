"""Real Bybit messages recorded in tests/fixtures/bybit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bybit"


def fixture(relpath: str) -> Any:
    """One recorded message, parsed (a .jsonl gives the list of its lines)."""
    text = (FIXTURES / relpath).read_text()
    if relpath.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return json.loads(text)
