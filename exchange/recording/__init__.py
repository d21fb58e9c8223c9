"""Session recordings: what Fluxum received and sent, and when, as a zstandard-compressed stream of JSON lines.

:mod:`.writer` records a session off the hot path (the :class:`~exchange.sources.Tap` of its links and REST client),
:mod:`.reader` reads one back, following a file still being written; :mod:`.opened` is a recording opened for
playing back (its header checked, its records' moments), and :mod:`.replay` plays it through the session's seam.
The format is in docs/formats.md.
"""
