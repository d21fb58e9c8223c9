"""Everything about markets and Bybit, with no Textual in it.

The venue-neutral core (order book, ledger, session state machine, event hub, journal, configuration) lives at
this level; Bybit's protocol, clients and the local exchange live in :mod:`exchange.bybit`.
"""
