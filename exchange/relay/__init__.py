"""Many desks on one public feed: the relay publishes Bybit's public streams to NATS JetStream
(:mod:`exchange.relay.publisher`), and a desk reads them back through the session's frame-source seam
(:mod:`exchange.relay.feed`). Subjects, headers and retention are :mod:`exchange.relay.subjects`."""
