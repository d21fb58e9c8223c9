"""The local Bybit v5 exchange: an aiohttp server that official clients can use unchanged but for the URL."""
