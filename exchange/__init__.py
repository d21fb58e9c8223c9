"""Everything about markets and the link, with no Textual in it.

At this level: the desk's model and rules (order book, ledger, desk, trust, events, hub), the session that keeps
the desk current and its policy, and what is kept on disk (journal, link history). They speak Bybit v5's
vocabulary (its topics, categories, execution records): Fluxum is a Bybit desk, and :mod:`exchange.bybit` holds
the wire itself (parsing, signing, the WebSocket link, the REST client) and the local exchange
(:mod:`exchange.bybit.sim`). Widgets read this level only, never :mod:`exchange.bybit`.
"""

from exchange import book_build as _book_build

_book_build.guard()  # a compiled book older than book.py never runs
