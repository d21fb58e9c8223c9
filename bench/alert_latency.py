"""Alert latency: how long after the link goes down, beyond the rule's ``after``, the desk calls a person.

``python -m bench.alert_latency [--outages 10] [--after-ms 500]``

The embedded local exchange and a session; an :class:`exchange.alert_watch.AlertWatch` with one rule,
``link_down after <after-ms>``, whose delivery callback is where the dashboard rings the bell
(``FluxumApp.deliver_alert``: toast, bell and escape in one synchronous call). Each outage is a dropped link
whose reconnect waits out a one-second rate limit. Per outage it records, on one clock:

* ``state``: when a plain hub subscriber saw the session leave Ready (the condition: the baseline any consumer
  of the hub gets);
* ``bell``: when the alert was delivered.

The figure is ``bell - state - after``: what the alert machinery adds to the debounce a person asked for.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from app.runtime import open_runtime
from exchange.alert_rules import parse_alert_rules
from exchange.alert_watch import AlertWatch
from exchange.config import load_settings
from exchange.events import LinkState, StateChanged
from exchange.session import Backoff


async def _until(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        await asyncio.sleep(0.002)


async def measure(outages: int, after_ms: int) -> list[float]:
    settings = load_settings(environ={})
    rules = parse_alert_rules([{"when": "link_down", "after": f"{after_ms}ms"}], settings.symbols)
    backoff = Backoff(initial_s=0.05, factor=2.0, cap_s=0.3, healthy_after_s=30.0)
    latencies: list[float] = []
    async with open_runtime(settings, demo_trader=False, faults=True, backoff=backoff) as rt:
        bells: list[float] = []
        left_ready: list[float] = []
        watch = AlertWatch(rt.session.desk, rt.hub, rules, deliver=lambda rule, alert: bells.append(time.time()))
        watch.subscribe()
        states = rt.hub.subscribe([StateChanged])

        async def watch_states() -> None:
            async for event in states:
                if event.state.kind is not LinkState.READY and event.previous.kind is LinkState.READY:  # type: ignore[attr-defined]
                    left_ready.append(time.time())

        tasks = [asyncio.create_task(rt.session.run()), asyncio.create_task(watch.run())]
        tasks.append(asyncio.create_task(watch_states()))
        for _ in range(outages):
            await _until(lambda: rt.session.state.kind is LinkState.READY and len(bells) % 2 == 0)
            await asyncio.sleep(0.3)
            count = len(bells)
            assert rt.sim is not None
            rt.sim.faults.rate_limit_for(1.0)
            await rt.sim.faults.drop_connections()
            await _until(lambda count=count: len(bells) > count)
            latencies.append((bells[count] - left_ready[-1]) * 1000 - after_ms)
        await rt.session.stop()
        for task in tasks[1:]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outages", type=int, default=10)
    parser.add_argument("--after-ms", type=int, default=500)
    args = parser.parse_args()
    latencies = asyncio.run(measure(args.outages, args.after_ms))
    print(
        f"link_down after {args.after_ms} ms, {len(latencies)} outages: alert delivered "
        f"{statistics.median(latencies):.1f} ms (median), {max(latencies):.1f} ms (max) after the debounce "
        f"ended (condition seen by a hub subscriber = 0)"
    )


if __name__ == "__main__":
    main()
