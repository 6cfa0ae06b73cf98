"""What both sides mean by a loopback host: where a token may travel without TLS, and where an engine shares
its clients' storage."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback IP addresses (127.0.0.0/8, ::1; brackets allowed); not for a name
    that only starts like one (`127.0.0.1.example.com`), nor for a wildcard (0.0.0.0)."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
