"""The local Bybit v5 exchange: an aiohttp server that official clients can use unchanged but for the URL.

Layers, top to bottom (each imports only those below it; ``pyproject.toml``'s import-linter contracts say so):

- ``server``: the composition of the network parts around one venue (``SimServer``);
- routes and streams: ``rest_market``, ``rest_private``, ``public_ws``, ``private_ws``, ``control``, ``faults``;
- ``venue``: the exchange without a network (``SimExchange``): it builds and wires the parts below;
- ``matching`` and ``funding`` over ``pushes``, over ``account`` (money) and ``orders``;
- ``wire`` (Bybit's shapes), ``records``, ``market``, ``instruments``, ``clock``, ``auth``.
"""
