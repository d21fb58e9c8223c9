"""The test suite's helpers, one concept per module, imported explicitly by the tests that use them.

conftest modules only define fixtures (which may use these helpers); nothing imports from a conftest or from
another test module. Waiting is :mod:`tests.support.waiting`; the local exchange driven by hand is
:mod:`tests.support.sim`; a session on the embedded exchange is :mod:`tests.support.runtime`; fills and ledgers
compared with the exchange's are :mod:`tests.support.fills`; recorded Bybit messages are
:mod:`tests.support.recorded`; a server on its own thread is :mod:`tests.support.threaded`. The UI tests' own
helpers (and the only use of Textual's private API) are in :mod:`tests.ui.support`.
"""
