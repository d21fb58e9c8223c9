"""The session recorder: what it writes, what it never writes, how it rotates, caps, survives kill -9 and a full
disk, and how a reader follows a recording still being written."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import zstandard

from app.runtime import open_runtime
from exchange import private_auth as auth_module
from exchange.bybit import rest_transport, signing
from exchange.bybit.rest import RestClient
from exchange.bybit.sim.demo_credentials import DEMO_API_KEY, DEMO_API_SECRET
from exchange.bybit.ws import BybitFrames
from exchange.config import load_settings
from exchange.events import LinkState, Notice
from exchange.recording.reader import RecordingReader
from exchange.recording.writer import RecordingPlan, SessionRecorder, part_path
from exchange.secrets import Credentials, Secret
from exchange.sources import LinkSpec
from tests.support.runtime import FAST_BACKOFF
from tests.support.waiting import until

REPO = Path(__file__).resolve().parents[1]
CANARY_KEY = "CANARYkey7Q2xZ9"
CANARY_SECRET = "CANARYsecretW4pL8vN3mK6"


def decompressed(first: Path) -> bytes:
    """Every byte of every part of a recording, decompressed (what a secret must never be found in)."""
    data = b""
    for path in sorted(first.parent.iterdir()):
        if path.is_file() and path.name.endswith(".zst"):
            reader = zstandard.ZstdDecompressor().stream_reader(path.read_bytes(), read_across_frames=True)
            data += reader.read()
    return data


def recorder_at(path: Path, **plan: Any) -> SessionRecorder:
    recorder = SessionRecorder(RecordingPlan(path, **plan))
    recorder.open()
    return recorder


# ------------------------------------------------------------------------------------ a recorded session


@pytest.mark.integration
async def test_a_recorded_session_reads_back_in_order_with_its_drop(tmp_path: Path) -> None:
    """A session on the local exchange, its public link dropped with a close code: the recording holds the header,
    every frame with its link, connection and receive times in order, the REST exchanges with their rate-limit
    headers, the opens and the closes (who closed, the code) and the state transitions, Ready again after the drop."""
    path = tmp_path / "session.jsonl.zst"
    recorder = recorder_at(path)
    settings = load_settings(environ={})
    async with open_runtime(settings, demo_trader=True, faults=True, backoff=FAST_BACKOFF, recorder=recorder) as rt:
        task = asyncio.create_task(rt.session.run())
        await until(lambda: rt.session.state.kind is LinkState.READY, what="Ready")
        await asyncio.sleep(0.5)
        assert rt.sim is not None
        assert await rt.sim.faults.drop_connections("public", 4000) == 1
        await until(lambda: rt.session.state.kind is not LinkState.READY, what="the drop")
        await until(lambda: rt.session.state.kind is LinkState.READY, what="Ready again")
        await asyncio.sleep(0.3)
        await rt.session.stop()
        await task
    records = list(RecordingReader(path))
    header = records[0]
    assert header["type"] == "header" and header["format"] == 1 and header["environment"] == "SIM"
    assert header["symbols"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"] and header["category"] == "linear"
    assert records[-1]["type"] == "end"
    monotonic = [r["mono_ns"] for r in records[1:]]
    assert monotonic == sorted(monotonic), "records are in the order they happened"

    frames = [r for r in records if r["type"] == "frame"]
    public_conns = sorted({r["conn"] for r in frames if r["link"] == "public"})
    assert len(public_conns) == 2, public_conns
    for conn in public_conns:
        walls = [r["wall_ms"] for r in frames if r["conn"] == conn]
        assert walls == sorted(walls) and all(isinstance(r["text"], str) for r in frames)
    assert any('"type":"snapshot"' in r["text"] and "orderbook.50.BTCUSDT" in r["text"] for r in frames)

    closes = [r for r in records if r["type"] == "close"]
    dropped = next(r for r in closes if r["conn"] == public_conns[0])
    assert dropped["by"] == "exchange" and dropped["code"] == 4000
    opens = [r for r in records if r["type"] == "open"]
    assert {(r["link"], r["conn"]) for r in opens} >= {("public", c) for c in public_conns}

    rest = [r for r in records if r["type"] == "rest"]
    assert {"/v5/market/time", "/v5/account/wallet-balance", "/v5/execution/list"} <= {r["path"] for r in rest}
    wallet = next(r for r in rest if r["path"] == "/v5/account/wallet-balance")
    assert wallet["status"] == 200 and "X-Bapi-Limit-Status" in wallet["headers"] and '"retCode":0' in wallet["reply"]

    states = [r["state"] for r in records if r["type"] == "state"]
    assert states[:3] == ["Connecting", "Connected", "Ready"] and "Reconnecting" in states
    assert states[-2:] == ["Ready", "Disconnected"] or states[-1] == "Disconnected"
    sent = [r for r in records if r["type"] == "sent"]
    assert any(r["payload"].get("op") == "subscribe" for r in sent)


# ------------------------------------------------------------------------------------ secrets


@pytest.mark.integration
async def test_no_secret_reaches_the_recording(tmp_path: Path, monkeypatch: Any) -> None:
    """A canary key and secret (a REST client and a private link signing with them against the local exchange)
    and the demo credentials of a whole session: none of them, no signature, no signing header, no auth
    argument is in the decompressed bytes, even when a frame echoes the key."""
    signatures: list[str] = []
    signed = signing.rest_signature  # what the transport calls, by its own name for it

    def remembered(*args: Any) -> str:
        signatures.append(signed(*args))
        return signatures[-1]

    monkeypatch.setattr(rest_transport, "rest_signature", remembered)
    ws_signed = signing.ws_auth_signature  # what the auth request calls, by its own name for it

    def ws_remembered(*args: Any) -> str:
        signatures.append(ws_signed(*args))
        return signatures[-1]

    monkeypatch.setattr(auth_module, "ws_auth_signature", ws_remembered)
    path = tmp_path / "secrets.jsonl.zst"
    recorder = recorder_at(path)
    recorder.add_secrets(CANARY_KEY, CANARY_SECRET)
    sent_auth: list[Any] = []
    async with open_runtime(load_settings(environ={}), demo_trader=False, recorder=recorder) as rt:
        task = asyncio.create_task(rt.session.run())
        await until(lambda: rt.session.state.kind is LinkState.READY, what="Ready")
        endpoints = rt.settings.endpoints
        assert endpoints is not None
        canary = RestClient(endpoints, Credentials(CANARY_KEY, Secret(CANARY_SECRET)), tap=recorder)
        with contextlib.suppress(Exception):
            await canary.wallet_balance()
        await canary.close()
        import aiohttp

        async with aiohttp.ClientSession() as http:
            link = BybitFrames(http, tap=recorder).link(LinkSpec(endpoints.private_url(), "canary"), print)
            await link.open()
            auth = {"op": "auth", "args": [CANARY_KEY, 1, "f" * 64]}
            sent_auth.append(list(auth["args"]))
            await link.send(auth)
            recorder.frame_received("canary", link.connection, f'{{"echo":"{CANARY_KEY}"}}', 0)
            await link.close()
        await rt.session.stop()
        await task
    data = decompressed(path)
    assert b'"type":"frame"' in data and b'"op":"auth"' in data and len(signatures) >= 2
    forbidden = [CANARY_KEY, CANARY_SECRET, DEMO_API_KEY, DEMO_API_SECRET, "f" * 64, *signatures]
    for secret in forbidden:
        assert secret.encode() not in data, f"{secret[:6]}... is in the recording"
    lowered = data.lower()
    assert b"x-bapi-sign" not in lowered and b"x-bapi-api-key" not in lowered


# ------------------------------------------------------------------------------------ files


def test_parts_rotate_by_size_and_the_cap_deletes_the_oldest(tmp_path: Path) -> None:
    """Incompressible frames past the part size rotate the recording; every part starts with its header and the
    reader follows them; with a cap, the oldest parts go and the total stays within the cap and one part."""
    path = tmp_path / "big.jsonl.zst"
    recorder = recorder_at(path, part_bytes=40_000, cap_bytes=10 * 1024 * 1024)
    recorder.begin({"environment": "SIM"})
    texts = [os.urandom(3000).hex() for _ in range(60)]
    for i, text in enumerate(texts):
        recorder.frame_received("public", 1, text, i)
        if i % 10 == 9:
            recorder._drain()  # what the thread does every half second
    recorder.close()
    parts = sorted(tmp_path.glob("big*.zst"))
    assert len(parts) >= 3
    for n in range(1, len(parts) + 1):
        first = next(iter(RecordingReader(part_path(path, n))))
        assert first["type"] == "header" and first["part"] == n
    records = list(RecordingReader(path))
    assert [r["text"] for r in records if r["type"] == "frame"] == texts and records[-1]["type"] == "end"

    capped_dir = tmp_path / "capped"
    capped_dir.mkdir()
    older = capped_dir / "older-session.jsonl.zst"
    older.write_bytes(zstandard.ZstdCompressor().compress(b'{"type":"header"}\n') + os.urandom(60_000))
    os.utime(older, (1, 1))
    unrelated = capped_dir / "notes.txt"
    unrelated.write_text("mine")
    capped = SessionRecorder(
        RecordingPlan(capped_dir / "new.jsonl.zst", part_bytes=40_000, cap_bytes=100_000, whole_directory=True)
    )
    capped.open()
    capped.begin({})
    for i, text in enumerate(texts):
        capped.frame_received("public", 1, text, i)
        if i % 10 == 9:
            capped._drain()
    capped.close()
    left = list(capped_dir.glob("*.zst"))
    assert not older.exists() and unrelated.exists(), "the oldest recording goes first, nothing else"
    assert sum(p.stat().st_size for p in left) <= 100_000 + 2 * 40_000
    assert part_path(capped_dir / "new.jsonl.zst", 1) not in left


def test_a_truncated_last_frame_is_left_out_and_a_bad_line_counted(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.zst"
    recorder = recorder_at(path)
    recorder.begin({})
    recorder.frame_received("public", 1, '{"a":1}', 5)
    recorder._drain()
    recorder.close()
    whole = path.read_bytes()
    compressor = zstandard.ZstdCompressor()
    cut = compressor.compress(b'{"type":"frame","text":"lost"}\n' * 50)
    path.write_bytes(whole[: whole.rfind(b"\x28\xb5\x2f\xfd")])  # the end frame cut off: a session killed
    with path.open("ab") as file:
        file.write(compressor.compress(b"not json\n[1]\n"))
        file.write(cut[: len(cut) // 2])
    reader = RecordingReader(path)
    records = list(reader)
    assert [r["type"] for r in records] == ["header", "frame"] and records[1]["text"] == '{"a":1}'
    assert reader.truncated and reader.rejected == 2


def test_a_reader_follows_a_recording_being_written(tmp_path: Path) -> None:
    """Records come to a following reader while the session runs, and the ``end`` line ends the reading."""
    path = tmp_path / "live.jsonl.zst"
    recorder = recorder_at(path)
    recorder.begin({})
    seen: list[dict[str, Any]] = []
    follower = threading.Thread(target=lambda: seen.extend(RecordingReader(path, follow=True, poll_s=0.02)))
    follower.start()
    for i in range(30):
        recorder.frame_received("public", 1, f'{{"n":{i}}}', i)
        time.sleep(0.05)
    deadline = time.monotonic() + 10
    while not any(r.get("text") == '{"n":29}' for r in seen) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert follower.is_alive(), "still following: the session has not ended"
    assert [r["text"] for r in seen if r["type"] == "frame"] == [f'{{"n":{i}}}' for i in range(30)]
    recorder.close()
    follower.join(timeout=10)
    assert not follower.is_alive() and seen[-1]["type"] == "end"


@pytest.mark.integration
async def test_a_disk_error_is_one_notice_and_the_session_goes_on(tmp_path: Path) -> None:
    """/dev/full accepts the open and refuses every write: recording stops with one notice, the desk stays Ready."""
    recorder = SessionRecorder(RecordingPlan(Path("/dev/full")))
    recorder.open()
    async with open_runtime(load_settings(environ={}), demo_trader=False, recorder=recorder) as rt:
        notices = rt.hub.subscribe([Notice], name="test")
        task = asyncio.create_task(rt.session.run())
        await until(lambda: rt.session.state.kind is LinkState.READY, what="Ready")
        await asyncio.sleep(1.2)  # a few of the writer's turns
        told = [n.text for n in notices.drain() if isinstance(n, Notice) and "Recording stopped" in n.text]
        assert rt.session.state.kind is LinkState.READY and not task.done()
        await rt.session.stop()
        await task
    assert len(told) == 1 and "/dev/full" in told[0] and "space" in told[0].lower()
    assert recorder.failed and not recorder.recording


@pytest.mark.integration
def test_a_bad_record_path_is_one_line_and_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "monitor", "--duration", "1", "--record", str(blocker / "x.jsonl.zst")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 2 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot write the recording" in lines[0] and "a-file" in lines[0], result.stderr


@pytest.mark.integration
def test_kill_9_loses_at_most_the_last_moments(tmp_path: Path) -> None:
    """``fluxum monitor --record`` killed with SIGKILL: the reader gets every record up to about a second before."""
    path = tmp_path / "killed.jsonl.zst"
    child = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "monitor", "--json", "--record", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.5)
            if path.exists() and sum(r["type"] == "frame" for r in RecordingReader(path)) > 200:
                break
        time.sleep(2.0)
        killed_ms = int(time.time() * 1000)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    reader = RecordingReader(path)
    records = list(reader)
    assert records[0]["type"] == "header" and records[-1]["type"] != "end"
    last_ms = max(r["wall_ms"] for r in records[1:])
    # The writer puts out a complete frame every half second; the bound is loose for a loaded machine.
    assert killed_ms - last_ms < 3000, f"the last {killed_ms - last_ms} ms were lost"


def test_a_full_queue_drops_records_counts_them_and_says_so(tmp_path: Path) -> None:
    """The session never waits for the disk: past the bound, records are dropped, counted, and a ``dropped``
    line says how many; a binary frame is kept as base64."""
    path = tmp_path / "slow.jsonl.zst"
    recorder = SessionRecorder(RecordingPlan(path), max_pending=10)
    recorder.open()
    recorder.begin({})
    recorder._stop.set()  # the writing thread holds off: a disk that does not keep up
    recorder._thread.join()  # type: ignore[union-attr]
    recorder.frame_received("public", 1, b"\x00\xff", 1)
    for i in range(49):
        recorder.frame_received("public", 1, str(i), i)
    assert recorder.dropped == 40
    recorder.close()
    records = list(RecordingReader(path))
    frames = [r for r in records if r["type"] == "frame"]
    assert frames[0]["binary"] == "AP8=" and [r["text"] for r in frames[1:]] == [str(i) for i in range(9)]
    assert [r["count"] for r in records if r["type"] == "dropped"] == [40] and records[-1]["type"] == "end"


def test_record_true_in_the_config_records_into_the_data_directory(tmp_path: Path, monkeypatch: Any) -> None:
    import argparse

    import pytest

    from app.commands.options import recorder_from_args
    from exchange.config import ConfigError

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    config = tmp_path / "config.toml"
    config.write_text("record = true\nrecord_cap_mb = 100\nrecord_part_mb = 8\n")
    settings = load_settings(environ={}, config_file=config)
    recorder = recorder_from_args(argparse.Namespace(record=None), settings)
    plan = recorder.plan
    assert plan.path.parent == tmp_path / "data" / "fluxum" / "recordings" and plan.path.name.startswith("sim-")
    assert plan.whole_directory and plan.cap_bytes == 100 * 1024 * 1024 and plan.part_bytes == 8 * 1024 * 1024
    recorder.close()
    assert not plan.path.exists(), "a recording never begun leaves no file"
    assert recorder_from_args(argparse.Namespace(record=None), load_settings(environ={})) is None
    for bad in ('record = "yes"', "record_cap_mb = 0", "record_part_mb = 1.5", "recrod = true"):
        config.write_text(bad + "\n")
        with pytest.raises(ConfigError, match="record"):
            load_settings(environ={}, config_file=config)


def test_the_cap_is_kept_at_each_start_when_sessions_are_short(tmp_path: Path) -> None:
    """Sessions shorter than a part never rotate: the data directory's cap still deletes the oldest at a start."""
    old = [tmp_path / f"sim-2026010{n}.jsonl.zst" for n in range(1, 4)]
    for n, path in enumerate(old):
        path.write_bytes(os.urandom(50_000))
        os.utime(path, (1000 + n, 1000 + n))
    recorder = SessionRecorder(RecordingPlan(tmp_path / "now.jsonl.zst", cap_bytes=120_000, whole_directory=True))
    recorder.open()
    recorder.begin({})
    recorder.close()
    assert [path.exists() for path in old] == [False, True, True]
    assert (tmp_path / "now.jsonl.zst").exists()
