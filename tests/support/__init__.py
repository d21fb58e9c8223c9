"""The test suite's helpers, one concept per module, imported explicitly by the tests that use them.

conftest modules only define fixtures (which may use these helpers); no test imports from a conftest or from
another test module.

- :mod:`~tests.support.waiting`: a condition awaited with a deadline (never a bare sleep), a stopwatch to print.
- :mod:`~tests.support.expect`: what a test expects to be there, checked and narrowed to its type.
- :mod:`~tests.support.recorded`: real Bybit messages recorded in tests/fixtures/bybit.
- :mod:`~tests.support.records`: an execution, a position view and an order built by hand.
- :mod:`~tests.support.entries`: ledger entries compared by their money alone.
- :mod:`~tests.support.sim`: the local exchange driven by hand, a WebSocket client, the shape of Bybit's replies.
- :mod:`~tests.support.runtime`: a session running on the local exchange, its books compared with the exchange's.
- :mod:`~tests.support.fills`: fills placed on the local exchange, ledgers compared with its executions.
- :mod:`~tests.support.gate`: a loopback relay that stalls or cuts the network between desk and exchange.
- :mod:`~tests.support.fake_bybit`: a scripted Bybit for the REST client, checking every signature.
- :mod:`~tests.support.monitor_process`: ``fluxum monitor`` as a child process.
- :mod:`~tests.support.threaded`: a server on its own loop in a thread, for code that runs its own loop.
- :mod:`~tests.support.pybit_thread`: the local exchange in a thread for pybit, a callback inbox, pybit's fast acks.
- :mod:`~tests.support.fake_market`: a market set to the last digit for the simulated venue, its pushes recorded.
- :mod:`~tests.support.replay_recording`: a scenario run on a recorded live session, for the replay tests.
- :mod:`~tests.support.history`, :mod:`~tests.support.ledger_cli`: a link history on disk; ``fluxum bybit ledger``.

The UI tests' own helpers, and the only use of Textual's private API, are in :mod:`tests.ui.support`.
"""
