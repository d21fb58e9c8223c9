"""The desk recorded (``fluxum --record``): the recording holds the session the desk showed, and a disk that
refuses the recording is one notice while the desk stays live."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.events import LinkState
from exchange.recording.reader import RecordingReader
from exchange.recording.writer import RecordingPlan, SessionRecorder
from tests.ui.support import LIVE_SIZE, RecordingApp, runtime_options, sim_settings, until

pytestmark = pytest.mark.integration


def opened(path: Path) -> SessionRecorder:
    recorder = SessionRecorder(RecordingPlan(path))
    recorder.open()
    return recorder


async def test_the_desk_records_its_session(tmp_path: Path) -> None:
    path = tmp_path / "desk.jsonl.zst"
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=runtime_options(tmp_path, recorder=opened(path)))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.desk.state.kind is LinkState.READY, "Ready")
        await pilot.press("q")
    records = list(RecordingReader(path))
    assert records[0]["type"] == "header" and records[0]["symbols"] == ["BTCUSDT"] and records[-1]["type"] == "end"
    assert any(r["type"] == "frame" and "orderbook.50.BTCUSDT" in r["text"] for r in records)
    assert "Ready" in [r["state"] for r in records if r["type"] == "state"]


async def test_a_disk_refusing_the_recording_is_one_notice_and_the_desk_goes_on(tmp_path: Path) -> None:
    options = runtime_options(tmp_path, recorder=opened(Path("/dev/full")))
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=options)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.noticed("Recording stopped"), "the notice")
        await until(pilot, lambda: app.desk.state.kind is LinkState.READY, "Ready")
        assert sum("Recording stopped" in text for _, text in app.notices) == 1
