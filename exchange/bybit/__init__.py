"""Bybit v5: protocol parsing, signing, WebSocket and REST clients, and the local exchange (``sim``)."""
