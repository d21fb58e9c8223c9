"""The desk's cancel on ``-cfg sim`` at a host that is not this machine: watch-only without ``--trade``, and the
symbol typed to confirm, as on production (the simulator's exemptions are for the local exchange only)."""

from __future__ import annotations

import pytest

from app.screens import ConfirmScreen, TypedConfirmScreen
from exchange.config import load_settings
from tests.ui import scripted
from tests.ui.support import SNAPSHOT_SIZE, RecordingApp, screen_text, stand_in, until
from widgets.connection_bar import ConnectionBar
from widgets.orders import OrdersTable

pytestmark = pytest.mark.timeout(60)

REMOTE = "http://192.0.2.10:8000"


def _app() -> RecordingApp:
    app = RecordingApp(desk=scripted.long_in_profit(), clock=scripted.clock)
    app.animation_level = "none"
    return app


def test_cancel_on_a_remote_sim_needs_trade() -> None:
    app = _app()
    assert app.desk.open_orders(), "the scripted desk holds open orders"
    app.runtime = stand_in(load_settings(cfg="sim", base_url=REMOTE, environ={}))
    assert app.desk_screen.check_action("cancel_order", ()) is False
    remote_trade = load_settings(cfg="sim", base_url=REMOTE, environ={}, trading_enabled=True)
    app.runtime = stand_in(remote_trade)
    assert app.desk_screen.check_action("cancel_order", ()) is True
    local = load_settings(cfg="sim", base_url="http://127.0.0.1:8000", environ={})
    app.runtime = stand_in(local)
    assert app.desk_screen.check_action("cancel_order", ()) is True


async def test_cancel_on_a_remote_sim_needs_the_symbol_typed() -> None:
    cancels: list[str | None] = []

    class Rest:
        async def cancel_order(self, category: str, symbol: str, *, order_id: str | None = None) -> None:
            cancels.append(order_id)

    app = _app()
    remote = load_settings(cfg="sim", base_url=REMOTE, environ={}, trading_enabled=True)
    async with app.run_test(size=SNAPSHOT_SIZE) as pilot:
        app.runtime = stand_in(remote, Rest())
        order = app.query_one(OrdersTable).selected_order()
        assert order is not None
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, TypedConfirmScreen), "the typed confirmation")
        assert "192.0.2.10 is not a local exchange" in screen_text(app)
        await pilot.press("y", "enter")
        await until(pilot, lambda: "nothing sent" in screen_text(app), "the wrong word told")
        assert not cancels
        await pilot.press(*order.symbol, "enter")
        await until(pilot, lambda: bool(cancels), "the cancel sent")
        assert cancels == [order.order_id]
        local = load_settings(cfg="sim", base_url="http://127.0.0.1:8000", environ={})
        app.runtime = stand_in(local, Rest())
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), "the y/n question on the local exchange")


async def test_a_remote_sim_s_badge_names_its_host_in_production_colours() -> None:
    desk = scripted.long_in_profit()
    desk.environment = load_settings(cfg="sim", base_url=REMOTE, environ={}).environment_label
    app = RecordingApp(desk=desk, clock=scripted.clock)
    async with app.run_test(size=SNAPSHOT_SIZE):
        content = app.query_one(ConnectionBar).render()
        badge = [span for span in content.spans if content.plain[span.start : span.end] == " SIM @ 192.0.2.10 "]
        assert badge and str(badge[0].style) == "bold $env-production-text on $env-production", content.plain
