"""A short session recorded live on the local exchange, for the desk's replay tests: Ready with a fill, a second of
market, the public link dropped by the exchange, Ready again, a second more.

``python -m tests.support.replay_recording PATH`` writes one (the fixed recording of the replay snapshot,
``tests/data/replay/drop.jsonl.zst``, was made so).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from app.runtime import open_runtime
from exchange.config import load_settings
from exchange.events import LinkState
from exchange.recording.writer import RecordingPlan, SessionRecorder
from exchange.session import Backoff
from exchange.summary import desk_summary
from tests.support.fills import place_market
from tests.support.waiting import until

FAST = Backoff(initial_s=0.05, factor=2.0, cap_s=0.3, burst=1000)
FIXED_RECORDING = Path(__file__).resolve().parents[1] / "data" / "replay" / "drop.jsonl.zst"
QUIET_S = 1.0


async def record_an_outage(path: Path, symbols: str = "BTCUSDT,ETHUSDT") -> dict[str, Any]:
    """Record the session described above into ``path``; the live desk's summary as it ended (its books and
    ledger: :func:`exchange.summary.desk_summary`, without the states)."""
    recorder = SessionRecorder(RecordingPlan(path))
    recorder.open()
    settings = load_settings(cfg="sim", symbols=symbols, environ={})
    async with open_runtime(settings, seed=7, demo_trader=False, faults=True, backoff=FAST, recorder=recorder) as rt:
        session, sim = rt.session, rt.sim
        assert sim is not None
        task = asyncio.create_task(session.run())
        await until(lambda: session.state.kind is LinkState.READY or task.done(), what="Ready")
        place_market(sim, "BTCUSDT", "Buy", "0.01", "replay-desk-fill")
        # the fill reaches the ledger while Ready, however loaded the machine: the replay tests look for it there
        await until(lambda: session.desk.ledger.fill_count("BTCUSDT") > 0, what="the fill applied")
        await asyncio.sleep(QUIET_S)
        before = session.reconnects
        assert await sim.faults.drop_connections("public", 4000) == 1
        await until(lambda: session.reconnects > before and session.state.kind is LinkState.READY, what="Ready again")
        await asyncio.sleep(QUIET_S)
        await session.stop()
        await task
        return desk_summary(session.desk, ())


if __name__ == "__main__":
    asyncio.run(record_an_outage(Path(sys.argv[1])))
