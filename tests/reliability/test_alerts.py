"""Alerts on a live session against the local exchange: link_down, stream_stale, failed and price_above each fire
once and clear once, and a rule's command receives the alert as valid JSON with no secret.

The latency printed (run with ``-s``) is from the injected fault to the alert's delivery, minus the rule's
``after``: how late the desk calls beyond the debounce a person asked for.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import cast

import pytest

from app.alert_delivery import AlertCommands
from exchange.alert_rules import AlertRule, parse_alert_rules
from exchange.alert_watch import AlertWatch
from exchange.bybit.sim.demo_credentials import DEMO_API_SECRET
from exchange.events import AlertChanged, LinkState
from exchange.session import Timeouts
from tests.support.runtime import CATEGORY, is_ready, running_session
from tests.support.waiting import until

CANARY = "canary-secret-9c4b7a"
RECORDER = """
import json, os, sys
line = sys.stdin.read()
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({"stdin": line, "env": dict(os.environ)}) + "\\n")
"""


class Delivered:
    """Alerts as the dashboard receives them, each with the monotonic time it arrived."""

    def __init__(self) -> None:
        self.alerts: list[tuple[float, AlertRule, AlertChanged]] = []

    def __call__(self, rule: AlertRule, alert: AlertChanged) -> None:
        self.alerts.append((time.monotonic(), rule, alert))

    def of(self, condition: str) -> list[AlertChanged]:
        return [a for _, _, a in self.alerts if a.condition == condition]


def _size(alert: AlertChanged) -> Decimal:
    """The size a ``position_changed`` alert reports (``SYMBOL position BEFORE -> AFTER``)."""
    return Decimal(alert.text.rsplit("-> ", 1)[1])


def _watch(rt: object, tables: list[dict[str, object]], deliver: Delivered) -> tuple[AlertWatch, asyncio.Task[None]]:
    rules = parse_alert_rules(tables, ("BTCUSDT", "ETHUSDT", "SOLUSDT"))
    watch = AlertWatch(rt.session.desk, rt.hub, rules, deliver=deliver)  # type: ignore[attr-defined]
    return watch, asyncio.create_task(watch.run(), name="alerts")


async def test_link_down_fires_once_and_clears_once_with_its_duration(tmp_path: Path) -> None:
    deliver = Delivered()
    async with running_session() as rt:
        listener = rt.hub.subscribe([AlertChanged])
        watch, task = _watch(rt, [{"when": "link_down", "after": "200ms"}], deliver)
        await asyncio.sleep(0.1)
        assert deliver.alerts == []  # Ready: nothing to say
        rt.sim.faults.rate_limit_for(1.0)  # the reconnect waits out a 10006: an outage of about a second
        fault_at = time.monotonic()
        await rt.sim.faults.drop_connections()
        await until(lambda: len(deliver.of("link_down")) == 1, what="link_down to start")
        await until(lambda: is_ready(rt), what="Ready again")
        await until(lambda: len(deliver.of("link_down")) == 2, what="link_down to clear")
        started, cleared = deliver.of("link_down")
        assert started.active and not cleared.active and cleared.lasted_ms is not None
        assert cleared.lasted_ms >= 200 and "cleared after" in cleared.text
        latency_ms = (deliver.alerts[0][0] - fault_at) * 1000 - 200
        print(f"\nlink_down after 200ms: delivered {latency_ms:.0f} ms after the drop beyond the debounce")
        await asyncio.sleep(0.5)
        assert len(deliver.of("link_down")) == 2  # once each, no flapping
        alerts = cast(list[AlertChanged], listener.drain())  # subscribed to AlertChanged only
        assert [a.active for a in alerts] == [True, False]  # on the hub too, for the history
        task.cancel()


async def test_stream_stale_fires_and_clears_under_a_stall() -> None:
    timeouts = Timeouts(stale_floor_s=1.0, idle_probe_s=30.0, probe_timeout_s=30.0)
    deliver = Delivered()
    async with running_session(timeouts=timeouts) as rt:
        _, task = _watch(rt, [{"when": "stream_stale", "after": "300ms", "symbol": "BTCUSDT"}], deliver)
        rt.sim.faults.stall(3.0, "public")
        await until(lambda: len(deliver.of("stream_stale")) == 1, what="stream_stale to start")
        assert "BTCUSDT" in deliver.of("stream_stale")[0].text
        await until(lambda: len(deliver.of("stream_stale")) == 2, what="stream_stale to clear")
        assert not deliver.of("stream_stale")[1].active
        task.cancel()


async def test_failed_fires_when_the_key_is_rejected() -> None:
    deliver = Delivered()
    async with running_session() as rt:
        watch, task = _watch(rt, [{"when": "failed"}, {"when": "link_down", "after": "60s"}], deliver)
        rt.sim.faults.auth_reject_message = "Invalid apikey"
        rt.sim.faults.auth_reject = True
        await rt.sim.faults.drop_connections("private", None)
        await until(lambda: rt.session.state.kind is LinkState.FAILED, what="Failed")
        await until(lambda: len(deliver.of("failed")) == 1, what="failed to fire")
        assert "Invalid apikey" in deliver.of("failed")[0].text
        assert deliver.of("link_down") == []  # its debounce has not passed
        task.cancel()


async def test_price_above_fires_when_the_market_moves_through_it() -> None:
    deliver = Delivered()
    async with running_session() as rt:
        desk = rt.session.desk
        await until(lambda: desk.mark_price("BTCUSDT") is not None, what="a BTCUSDT mark")
        mark = desk.mark_price("BTCUSDT")
        book = rt.sim.market.book(CATEGORY, "BTCUSDT")
        tick = book.instrument.tick_size
        assert mark is not None
        threshold = mark + 20 * tick  # just above the mark
        _, task = _watch(rt, [{"when": "price_above", "symbol": "BTCUSDT", "price": str(threshold)}], deliver)

        async def push(ticks: float, fired: int) -> None:
            """The market drifts by ``ticks`` a step until the alert has fired ``fired`` times."""
            for _ in range(2000):
                if len(deliver.of("price_above")) >= fired:
                    return
                book.fair += ticks
                await asyncio.sleep(0.02)
            raise AssertionError(f"price_above did not reach {fired} alerts")

        await push(2.0, 1)
        started = deliver.of("price_above")[0]
        assert started.active and f"price_above BTCUSDT {threshold}" in started.text
        await push(-2.0, 2)
        cleared = deliver.of("price_above")[1]
        assert not cleared.active and cleared.lasted_ms is not None
        task.cancel()


async def test_the_command_hook_gets_valid_json_and_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYBIT_PRODUCTION_API_SECRET", CANARY)
    monkeypatch.setenv("BYBIT_SIM_API_SECRET", CANARY)
    out = tmp_path / "alerts.jsonl"
    commands = AlertCommands()
    deliver = Delivered()

    def run_command(rule: AlertRule, alert: AlertChanged) -> None:
        deliver(rule, alert)
        commands.launch(rule.command, alert)

    async with running_session() as rt:
        rules = parse_alert_rules(
            [{"when": "link_down", "after": "100ms", "command": [sys.executable, "-c", RECORDER, str(out)]}],
            ("BTCUSDT",),
        )
        task = asyncio.create_task(AlertWatch(rt.session.desk, rt.hub, rules, deliver=run_command).run())
        rt.sim.faults.rate_limit_for(0.5)
        await rt.sim.faults.drop_connections()
        await until(lambda: len(deliver.of("link_down")) == 2, what="link_down to start and clear")
        await commands.wait()
        task.cancel()
    lines = out.read_text().splitlines()
    assert len(lines) == 2
    for line, active in zip(lines, (True, False), strict=True):
        got = json.loads(line)
        record = json.loads(got["stdin"])
        assert record["kind"] == "alert" and record["condition"] == "link_down" and record["active"] is active
        assert set(record) == {"kind", "rule", "condition", "active", "text", "time_ms", "lasted_ms", "instant"}
        assert CANARY not in line and DEMO_API_SECRET not in line  # the session's real secret neither
        assert not any("BYBIT" in name for name in got["env"])


async def test_monitor_json_prints_alert_lines_and_runs_the_command(tmp_path: Path) -> None:
    from exchange.bybit.sim.server import SimConfig, SimServer
    from tests.support.monitor_process import Monitor, clean_environment

    key, secret = "CANARYKEYalerts", CANARY
    out = tmp_path / "command.jsonl"
    config = tmp_path / "fluxum.toml"
    command = json.dumps([sys.executable, "-c", RECORDER, str(out)])
    config.write_text(f'[[alerts]]\nwhen = "link_down"\nafter = "200ms"\ncommand = {command}\n')
    async with SimServer(SimConfig(demo_trader=False, faults_enabled=True)) as sim:
        sim.exchange.api_keys.add(key, secret, note="alerts canary")
        args = ["--base-url", sim.base_url, "--json", "--config", str(config), "--journal-dir", str(tmp_path / "j")]
        env = clean_environment(BYBIT_SIM_API_KEY=key, BYBIT_SIM_API_SECRET=secret)
        monitor = await Monitor.start(args, env)
        try:
            await until(lambda: "Ready" in monitor.states() or monitor.process.returncode is not None, 30.0, "Ready")
            assert "Ready" in monitor.states(), bytes(monitor.stderr)[-2000:]
            await until(lambda: len(monitor.of_type("alert")) % 2 == 0, what="a slow start's alert to clear")
            before = len(monitor.of_type("alert"))
            sim.faults.rate_limit_for(1.0)
            await sim.faults.drop_connections()
            await until(lambda: len(monitor.of_type("alert")) >= before + 2, what="alert lines")
            started, cleared = monitor.of_type("alert")[before : before + 2]
            for record, active in ((started, True), (cleared, False)):
                assert record["kind"] == "alert" and record["rule"] == "link_down after 200ms"
                assert record["condition"] == "link_down" and record["active"] is active
                assert isinstance(record["time_ms"], int) and record["text"].startswith("link_down after 200ms")
            assert started["lasted_ms"] is None and cleared["lasted_ms"] >= 200
            await until(lambda: out.exists() and out.read_text().count("\n") >= before + 2, what="the command")
            monitor.terminate()
            assert await monitor.wait() == 0
        finally:
            await monitor.close()
    text = out.read_text()
    assert secret not in text and key not in text and secret not in bytes(monitor.stdout).decode()
    records = [json.loads(json.loads(line)["stdin"]) for line in text.splitlines()]
    assert [r["active"] for r in records][-2:] == [True, False]


async def test_account_conditions_on_a_round_trip() -> None:
    """A buy then a sell: ``fill`` per execution, ``position_changed`` per size change, and the lasting account
    conditions (a P&L floor at zero, any liquidation price within 99 %) each start once while the position is
    open or its fees are paid, and the liquidation one clears once the position is flat."""
    from tests.support.fills import place_market

    deliver = Delivered()
    tables: list[dict[str, object]] = [
        {"when": "fill", "symbol": "ETHUSDT"},
        {"when": "position_changed", "symbol": "ETHUSDT"},
        {"when": "pnl_below", "pnl": "0"},
        {"when": "liq_distance_below", "percent": "99", "symbol": "ETHUSDT"},
    ]
    async with running_session() as rt:
        desk = rt.session.desk
        _, task = _watch(rt, tables, deliver)
        await until(lambda: desk.positions_read, what="the account's positions")
        await asyncio.sleep(0.2)
        assert deliver.alerts == []
        place_market(rt.sim, "ETHUSDT", "Buy", "1", "alerts-open")
        executions = len([e for e in rt.sim.account.executions if e.symbol == "ETHUSDT"])
        await until(lambda: len(deliver.of("fill")) == executions, what="a fill alert per execution")
        await until(lambda: any(_size(a) == 1 for a in deliver.of("position_changed")), what="open")
        await until(lambda: len(deliver.of("liq_distance_below")) == 1, what="the liquidation distance")
        await until(lambda: len(deliver.of("pnl_below")) == 1, what="P&L below zero (the taker fee)")
        place_market(rt.sim, "ETHUSDT", "Sell", "1", "alerts-close")
        await until(lambda: _size(deliver.of("position_changed")[-1]) == 0, what="flat")
        await until(lambda: len(deliver.of("liq_distance_below")) == 2, what="the liquidation alert to clear")
        assert not deliver.of("liq_distance_below")[1].active
        assert all(a.instant and a.active for a in deliver.of("fill") + deliver.of("position_changed"))
        assert len(deliver.of("pnl_below")) == 1  # fees paid: still below zero, no clear
        await asyncio.sleep(0.3)
        assert len(deliver.of("liq_distance_below")) == 2  # once each
        task.cancel()
