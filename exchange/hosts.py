"""Whether a host is this machine: the line between a local exchange and one somebody else runs.

Used where being local grants something: fault control of the local exchange, and the simulator's relaxed order
safeguards. Only names that cannot point elsewhere count: ``localhost`` and loopback addresses (IPv4-mapped
included); any other name may resolve anywhere, so it is not local.
"""

from __future__ import annotations

import ipaddress

__all__ = ["address_literal", "is_loopback_host"]


def address_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address ``host`` spells (brackets allowed), or None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback addresses such as ``127.0.0.1``, ``::1`` or ``[::1]``."""
    if host.lower() == "localhost":
        return True
    address = address_literal(host)
    if address is None:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
