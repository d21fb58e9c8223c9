"""Pilot tests of the dashboard on the local Bybit exchange (loopback only, fixed seed, no demo trader)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from app.bridge import Bridge
from app.screens import ConfirmScreen, ExportScreen
from exchange.bybit.rest import OrderAck
from exchange.config import Endpoints, Environment, Settings
from exchange.events import LinkState, OpenOrder
from exchange.ledger import CSV_COLUMNS
from exchange.secrets import Credentials, Secret
from exchange.session import Timeouts
from tests.ui.support import LIVE_SIZE, RecordingApp, press, runtime_options, screen_text, sim_settings, until
from widgets.connection_bar import ConnectionBar
from widgets.ladder import Ladder
from widgets.orders import OrdersTable
from widgets.position import PositionPanel

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def _ready(app: RecordingApp) -> bool:
    return app.runtime is not None and app.desk.state.kind is LinkState.READY


def _shown(app: RecordingApp) -> list[LinkState]:
    return [kind for kind, _ in app.query_one(ConnectionBar).shown]


async def test_start_sequence_connecting_connected_ready(tmp_path: Path) -> None:
    seen: list[LinkState] = []

    def hook(message: object) -> None:
        if isinstance(message, Bridge.StateChanged):
            seen.append(message.state.kind)

    app = RecordingApp(sim_settings(), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE, message_hook=hook) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        await until(pilot, lambda: app.query_one(ConnectionBar).state_shown is LinkState.READY, "the bar to say Ready")
        kinds = [kind for i, kind in enumerate(seen) if i == 0 or seen[i - 1] is not kind]  # a slow step re-says
        assert kinds[:3] == [LinkState.CONNECTING, LinkState.CONNECTED, LinkState.READY]
        text = screen_text(app)
        assert "● Ready" in text and " SIM " in text
        await until(pilot, lambda: app.query_one(Ladder).trust == ("SYNCED", None), "a live book")
        assert "● LIVE" in screen_text(app)
        await app.stop_session()


@pytest.mark.slow
async def test_drop_shows_reconnecting_then_recovers(tmp_path: Path) -> None:
    app = RecordingApp(sim_settings(), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        assert app.runtime is not None
        dropped = await app.runtime.sim.faults.drop_connections()
        assert dropped >= 2  # public and private
        await until(pilot, lambda: LinkState.RECONNECTING in _shown(app), "the bar to show Reconnecting")
        text = screen_text(app)
        if app.desk.state.kind is LinkState.RECONNECTING:
            assert "◑ Reconnecting · attempt 1" in text and "retry in" in text
        await until(pilot, lambda: _ready(app) and _shown(app)[-1] is LinkState.READY, "Ready again")
        assert app.noticed("Link lost")
        assert app.noticed("Link recovered")
        await until(pilot, lambda: "reconnects 1 (last:" in screen_text(app), "the bar to count the reconnect")
        await app.stop_session()


async def test_stall_goes_stale_then_reconnects(tmp_path: Path) -> None:
    timeouts = Timeouts(
        connect_s=3.0,
        auth_s=3.0,
        subscribe_s=3.0,
        snapshot_s=5.0,
        backfill_s=10.0,
        idle_probe_s=2.0,
        probe_timeout_s=1.0,
        stale_floor_s=0.6,
    )
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=runtime_options(tmp_path, timeouts=timeouts))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        ladder = app.query_one(Ladder)
        assert app.runtime is not None
        app.runtime.sim.faults.stall(6.0)
        await until(pilot, lambda: ladder.trust[0] == "STALE", "the ladder to show STALE")
        assert "STALE · NOT LIVE" in screen_text(app)
        await until(pilot, lambda: LinkState.RECONNECTING in _shown(app), "Reconnecting after the silent link")
        await until(pilot, lambda: _ready(app) and ladder.trust == ("SYNCED", None), "Ready and live again")
        assert app.noticed("Stale feed")
        await app.stop_session()


async def test_simulator_gone_for_good_retries_with_growing_delays(tmp_path: Path) -> None:
    delays: list[int] = []

    def hook(message: object) -> None:
        if isinstance(message, Bridge.StateChanged) and message.state.kind is LinkState.RECONNECTING:
            state = message.state
            assert state.next_retry_ms is not None
            delays.append(state.next_retry_ms - state.since_ms)

    options = runtime_options(tmp_path)
    options["backoff"] = type(options["backoff"])(initial_s=0.1, factor=2.0, cap_s=5.0)
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=options)
    async with app.run_test(size=LIVE_SIZE, message_hook=hook) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        assert app.runtime is not None
        await app.runtime.sim.stop()
        await until(pilot, lambda: len(delays) >= 4, "four reconnect attempts")
        assert delays == sorted(delays) and delays[-1] > delays[0]
        assert app.desk.state.kind in (LinkState.RECONNECTING, LinkState.CONNECTING)
        assert "◑ Reconnecting" in screen_text(app) or app.desk.state.kind is LinkState.CONNECTING
        await app.stop_session()


async def test_a_bad_key_fails_the_account_only(tmp_path: Path) -> None:
    """A rejected key: the bar says the account is down and why; books, trades and tickers stay live; no cancel."""
    from exchange.bybit.sim.server import SimConfig, SimServer

    async with SimServer(SimConfig(seed=7, symbols=("BTCUSDT",), demo_trader=False)) as sim:
        settings = Settings(
            environment=Environment.SIM,
            endpoints=Endpoints.for_base_url(sim.base_url),
            credentials=Credentials("not-a-real-key", Secret("not-a-real-secret")),
            symbols=("BTCUSDT",),
        )
        app = RecordingApp(settings, runtime_options={"journal_dir": tmp_path})
        async with app.run_test(size=LIVE_SIZE) as pilot:
            await until(pilot, lambda: _ready(app), "Ready on public data")
            assert "rejected" in app.desk.account_down
            await until(pilot, lambda: "account down" in screen_text(app), "the bar to say the account is down")
            text = screen_text(app)
            assert "rejected" in text and "not-a-real-secret" not in text
            assert all(book.synced for book in app.desk.books.values())
            trades = len(app.desk.trades.get("BTCUSDT", ()))
            await until(pilot, lambda: len(app.desk.trades.get("BTCUSDT", ())) > trades, "trades still arriving")
            assert app.desk_screen.check_action("cancel_order", ()) is False
            assert LinkState.FAILED not in _shown(app)
            assert app.runtime is not None and app.runtime.session.reconnects == 0
            assert app.noticed("Account down")
            await app.stop_session()


async def test_a_key_refused_with_params_error_again_is_the_account_down_and_r_brings_it_back(tmp_path: Path) -> None:
    """The exchange's auth_reject fault ("Params Error", Bybit's reply to an expired auth): retried once on a
    re-measured clock, then the account part is down; the books stay live, no reconnect loop, and `r` once the
    key works again brings the account back."""
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        assert app.runtime is not None and app.runtime.sim is not None
        sim, session = app.runtime.sim, app.runtime.session
        sim.faults.auth_reject = True
        await sim.faults.drop_connections("private", None)
        await until(pilot, lambda: bool(app.desk.account_down) and _ready(app), "Ready on public data")
        await until(pilot, lambda: "account down: auth rejected" in screen_text(app), "the bar to say so")
        reconnects = session.reconnects
        trades = len(app.desk.trades.get("BTCUSDT", ()))
        await until(pilot, lambda: len(app.desk.trades.get("BTCUSDT", ())) > trades, "trades still arriving")
        assert all(book.synced for book in app.desk.books.values())
        assert "STALE" not in screen_text(app) and "RESYNCING" not in screen_text(app)
        assert session.reconnects == reconnects, "no reconnect loop"
        assert app.desk_screen.check_action("cancel_order", ()) is False
        sim.faults.auth_reject = False
        await press(pilot, "r")
        await until(pilot, lambda: _ready(app) and not app.desk.account_down, "the account back after r")
        await until(
            pilot, lambda: app.desk_screen.check_action("cancel_order", ()) is True, "the account's actions back"
        )
        await app.stop_session()


@pytest.mark.slow
async def test_symbol_keys_and_command_palette(tmp_path: Path) -> None:
    app = RecordingApp(sim_settings(), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        ladder = app.query_one(Ladder)
        assert ladder.symbol == "BTCUSDT"
        await press(pilot, "right_square_bracket")
        await until(pilot, lambda: ladder.symbol == "ETHUSDT", "the next symbol")
        assert app.desk_screen.symbol == ladder.symbol == app.query_one(PositionPanel).symbol == "ETHUSDT"
        await press(pilot, "left_square_bracket", "left_square_bracket")
        await until(pilot, lambda: ladder.symbol == "SOLUSDT", "the previous symbol, wrapping around")
        await press(pilot, "1")
        await until(pilot, lambda: ladder.symbol == "BTCUSDT", "symbol 1")
        await press(pilot, "ctrl+p")
        await press(pilot, *"Symbol: ETH")
        await until(pilot, lambda: "Symbol: ETHUSDT" in screen_text(app), "the palette to list ETHUSDT")
        await press(pilot, "enter")
        await until(pilot, lambda: ladder.symbol == "ETHUSDT", "the palette to switch to ETHUSDT")
        await until(pilot, lambda: " ETHUSDT  ● LIVE" in screen_text(app), "the ETHUSDT ladder")
        await app.stop_session()


async def test_grouping_keys_zoom_by_tick_multiples(tmp_path: Path) -> None:
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app) and "BTCUSDT" in app.desk.instruments, "Ready with instruments")
        ladder = app.query_one(Ladder)
        tick = float(app.desk.instruments["BTCUSDT"].tick_size)
        assert ladder.group == 1 and ladder.step() == pytest.approx(tick)
        await press(pilot, "plus")
        await until(pilot, lambda: ladder.group == 2, "x2")
        assert ladder.step() == pytest.approx(2 * tick)
        await press(pilot, "plus", "plus")
        await until(pilot, lambda: ladder.group == 10, "x10")
        await pilot.pause(0.1)
        assert f"x10 = {10 * tick:,.1f}" in screen_text(app)
        rows = [line for line in screen_text(app).splitlines() if "█" in line and "imbalance" not in line]
        prices = [float(line.split("│")[1].split()[0].replace(",", "")) for line in rows if "│" in line]
        assert prices and all(abs(p / (10 * tick) - round(p / (10 * tick))) < 1e-6 for p in prices)
        await press(pilot, "minus", "minus", "minus", "minus")
        await until(pilot, lambda: ladder.group == 1, "back to one tick")
        await pilot.pause(0.2)  # the fourth press is handled too
        assert ladder.group == 1  # never below one tick
        await app.stop_session()


async def test_ledger_export_writes_csv_in_fluxum_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        assert app.runtime is not None
        await app.runtime.rest.place_order("linear", "BTCUSDT", "Buy", "Market", Decimal("0.010"))
        await until(pilot, lambda: app.desk.ledger.entry("BTCUSDT") is not None, "the fill in the ledger")
        await until(pilot, lambda: "LONG 0.010" in screen_text(app), "the position panel to show the long")
        await press(pilot, "e")
        await until(pilot, lambda: isinstance(app.screen, ExportScreen), "the export dialog")
        await press(pilot, "enter")
        await until(pilot, lambda: app.noticed("Ledger exported to"), "the export notice")
        written = sorted(tmp_path.glob("fluxum-ledger-*.csv"))
        assert len(written) == 1
        with written[0].open(newline="") as file:
            rows = list(csv.reader(file))
        assert tuple(rows[0]) == CSV_COLUMNS
        assert rows[0][:5] == ["symbol", "pnl", "position", "spot", "pnl_spot"]
        assert rows[1][0] == "BTCUSDT" and Decimal(rows[1][2]) == Decimal("0.01")
        assert str(written[0]) in " ".join(text for _, text in app.notices)
        await app.stop_session()


async def test_cancel_order_from_the_orders_widget(tmp_path: Path) -> None:
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        assert app.runtime is not None
        ack, price = await _resting_bid(app, pilot, Decimal("0.002"))
        table = app.query_one(OrdersTable)
        selected = table.selected_order()
        assert selected is not None and selected.order_id == ack.order_id
        await press(pilot, "c")
        await until(pilot, lambda: "Cancel BUY 0.002 BTCUSDT" in screen_text(app), "the confirmation")
        await press(pilot, "y")
        await until(pilot, lambda: not app.desk.open_orders("BTCUSDT"), "the order to be cancelled")
        await until(pilot, lambda: table.selected_order() is None, "the orders widget to empty")
        assert app.noticed("Cancel sent")
        await until(pilot, lambda: app.noticed("Order cancelled: BUY 0.002 BTCUSDT"), "the order's qty, not 0 left")

        # an order the exchange does not know: the rejection is told, nothing crashes
        ghost = OpenOrder(
            "ghost-order-id",
            "",
            "BTCUSDT",
            "Sell",
            "Limit",
            Decimal("99999.9"),
            Decimal("0.001"),
            Decimal(0),
            Decimal("0.001"),
            "New",
            "GTC",
            1,
        )
        app.desk.orders[ghost.order_id] = ghost
        app.desk.touch("orders")
        await until(pilot, lambda: table.selected_order() is not None, "the ghost order")
        await press(pilot, "c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await press(pilot, "y")
        await until(pilot, lambda: app.noticed("Cancel rejected"), "the rejection notice")
        await app.stop_session()


async def test_quit_stops_session_and_simulator(tmp_path: Path) -> None:
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        runtime = app.runtime
        assert runtime is not None
        await press(pilot, "q")
        await until(
            pilot,
            lambda: app._session_worker is not None and app._session_worker.is_finished,
            "the session worker to end",
        )
    assert runtime.session.state.kind is LinkState.DISCONNECTED
    assert runtime.sim is not None and not runtime.sim.started
    assert app.return_code == 0


async def test_startup_failure_is_shown_as_failed(tmp_path: Path) -> None:
    app = RecordingApp(sim_settings("NOSUCHUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: app.desk.state.kind is LinkState.FAILED, "Failed")
        await until(pilot, lambda: "✗ Failed" in screen_text(app), "the bar to say Failed")
        assert app.noticed("stopped")


async def test_an_absurd_execution_is_told_and_the_desk_stays_ready_across_a_restart(tmp_path: Path) -> None:
    """The issue's case on the whole app: an execution pushed (and listed) with execPrice 1E+999999999 is a notice,
    not a reconnect; the bar stays Ready, the fill is not in the position, and the next start is Ready too."""
    app = RecordingApp(sim_settings(), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        assert app.runtime is not None
        sim = app.runtime.sim
        # every execution of the order (a market order may sweep several levels, one execution each) is absurd
        sim.faults.corrupt_executions({"execPrice": "1E+999999999"}, count=10)
        sim.exchange.place_order(
            {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.010"}
        )
        await until(pilot, lambda: app.noticed("execPrice '1E+999999999' is too large"), "the rejection notice")
        await pilot.pause(0.3)
        assert _ready(app) and LinkState.RECONNECTING not in _shown(app)
        assert "● Ready" in screen_text(app)
        assert app.desk.ledger.fill_count("BTCUSDT") == 0  # its only fills were absurd ones (a mark may show)
        await app.stop_session()
    again = RecordingApp(sim_settings(), runtime_options=runtime_options(tmp_path))
    async with again.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(again), "Ready after a restart")
        assert "● Ready" in screen_text(again)
        await again.stop_session()


async def test_r_brings_the_account_back_once_the_key_works_again(tmp_path: Path) -> None:
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        assert app.runtime is not None
        faults = app.runtime.sim.faults
        faults.auth_reject_message = "Invalid apikey"
        faults.auth_reject = True
        await faults.drop_connections("")
        await until(pilot, lambda: bool(app.desk.account_down) and _ready(app), "the account down, public Ready")
        assert app.desk_screen.check_action("cancel_order", ()) is False
        faults.auth_reject = False  # the cause is fixed
        await press(pilot, "r")
        await until(pilot, lambda: app.noticed("Reconnecting now, with the account"), "the reconnect told")
        await until(pilot, lambda: not app.desk.account_down and _ready(app), "Ready with the account")
        assert app.desk_screen.check_action("cancel_order", ()) is True
        await app.stop_session()


async def test_r_leaves_failed_once_the_cause_is_fixed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from exchange.bybit.errors import BybitError

    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        assert app.runtime is not None
        rest = app.runtime.rest
        refuse = [True]
        real = rest.wallet_balance

        async def wallet_balance() -> object:
            if refuse[0]:
                raise BybitError(10001, "params error: accountType invalid")  # no retry can fix it
            return await real()

        monkeypatch.setattr(rest, "wallet_balance", wallet_balance)
        await app.runtime.sim.faults.drop_connections("")
        await until(pilot, lambda: app.desk.state.kind is LinkState.FAILED, "Failed")
        await until(pilot, lambda: "not retrying" in screen_text(app), "the bar to say Failed")
        failed = _shown(app).count(LinkState.FAILED)
        await press(pilot, "r")  # still refused: Failed again
        await until(pilot, lambda: app.noticed("Reconnecting now"), "the reconnect told")
        await until(pilot, lambda: _shown(app).count(LinkState.FAILED) > failed, "Failed again")
        refuse[0] = False  # the cause is fixed
        await press(pilot, "r")
        await until(pilot, lambda: _ready(app), "Ready after r")
        assert LinkState.CONNECTING in _shown(app)
        await app.stop_session()


async def test_r_cuts_a_retry_wait_short(tmp_path: Path) -> None:
    options = runtime_options(tmp_path)
    options["backoff"] = type(options["backoff"])(initial_s=120.0, factor=2.0, cap_s=120.0)  # 60-120 s
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=options)
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        assert app.runtime is not None
        await app.runtime.sim.faults.drop_connections("")
        await until(pilot, lambda: app.desk.state.kind is LinkState.RECONNECTING, "a long retry wait")
        await until(pilot, lambda: "retry in" in screen_text(app), "the wait on the bar")
        app.action_reconnect()  # the palette command's action
        await until(pilot, lambda: _ready(app), "Ready long before the wait would have ended")
        assert app.desk.state.attempt == 0
        await app.stop_session()


async def test_a_403_cool_down_is_on_the_bar_with_its_countdown(tmp_path: Path) -> None:
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        assert app.runtime is not None
        app.runtime.sim.faults.forbid_for(2.0)
        await app.runtime.sim.faults.drop_connections("")
        await until(pilot, lambda: "403" in app.desk.state.reason, "the 403 cool-down")
        state = app.desk.state
        assert state.kind is LinkState.RECONNECTING and state.next_retry_ms is not None
        wait_s = (state.next_retry_ms - state.since_ms) / 1000
        assert 2.0 <= wait_s <= 4.0, wait_s  # the first cool-down is short (3 s), not a minute
        await until(pilot, lambda: "403 cool-down" in screen_text(app), "the bar to say so")
        assert "retry in" in screen_text(app)
        await until(pilot, lambda: _ready(app), "Ready after the cool-down")
        await app.stop_session()


async def test_an_unlisted_symbol_is_dropped_from_the_desk_with_a_notice(tmp_path: Path) -> None:
    app = RecordingApp(sim_settings("FOOUSDT,BTCUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready on the listed symbol")
        assert app.noticed("FOOUSDT is not listed by the exchange in linear: dropped from the desk")
        assert app.desk.symbols == ["BTCUSDT"] and app.desk_screen.symbol == "BTCUSDT"
        assert "FOOUSDT" not in screen_text(app)
        await app.stop_session()


async def test_cancel_is_not_offered_in_an_outage_nor_sent_from_a_dialog_it_overtook(tmp_path: Path) -> None:
    """The orders are not live in an outage: `c` is hidden, and a dialog opened before it sends nothing."""
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        assert app.runtime is not None and app.runtime.sim is not None
        await _resting_bid(app, pilot, Decimal("0.003"))
        assert app.desk_screen.check_action("cancel_order", ()) is True
        await press(pilot, "c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        app.runtime.sim.faults.forbid_for(30.0)
        await app.runtime.sim.faults.drop_connections("")
        await until(pilot, lambda: not _ready(app), "the outage")
        assert app.desk_screen.check_action("cancel_order", ()) is False
        await press(pilot, "y")
        await until(pilot, lambda: app.noticed("Cancel not sent: the link went down"), "the cancel refused")
        assert not app.noticed("Cancel sent")
        app.runtime.sim.faults.clear()
        await app.stop_session()


async def test_the_cancel_dialog_closes_when_its_order_is_gone(tmp_path: Path) -> None:
    """The order is cancelled elsewhere while its dialog is open: the dialog goes and the notice says why."""
    app = RecordingApp(sim_settings("BTCUSDT"), runtime_options=runtime_options(tmp_path))
    async with app.run_test(size=LIVE_SIZE) as pilot:
        await until(pilot, lambda: _ready(app), "Ready")
        assert app.runtime is not None
        ack, price = await _resting_bid(app, pilot, Decimal("0.003"))
        await press(pilot, "c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the confirmation")
        await app.runtime.rest.cancel_order("linear", "BTCUSDT", order_id=ack.order_id)  # another terminal
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), "the dialog to close")
        assert app.noticed(
            f"Nothing to cancel: the order is Cancelled: BUY 0.003 BTCUSDT @ {price.normalize():,f} (Limit)"
        )
        assert not app.noticed("))")
        await press(pilot, "y")  # a late answer meant for the dialog sends nothing
        await pilot.pause(0.3)
        assert not app.noticed("Cancel sent") and not app.noticed("Cancel rejected")
        await app.stop_session()


async def _resting_bid(app: RecordingApp, pilot: Pilot[Any], qty: Decimal) -> tuple[OrderAck, Decimal]:
    """A BTCUSDT limit buy 10% under the best bid (it rests), placed through the desk's REST client, once the
    orders widget shows it."""
    assert app.runtime is not None
    bid = app.desk.books["BTCUSDT"].best_bid()
    assert bid is not None
    price = (Decimal(repr(bid[0])) * Decimal("0.9")).quantize(Decimal("0.1"))
    ack = await app.runtime.rest.place_order("linear", "BTCUSDT", "Buy", "Limit", qty, price=price, time_in_force="GTC")
    table = app.query_one(OrdersTable)
    await until(pilot, lambda: table.selected_order() is not None, "the order in the orders widget")
    return ack, price
