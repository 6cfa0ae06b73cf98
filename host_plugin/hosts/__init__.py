"""The NLEs: one module per host behind the small `Host` protocol. Only `resolve` touches Resolve's
library (lazily), so importing this package needs neither an NLE nor torch."""

from host_plugin.hosts.base import Host, HostError, HostUnavailable, Placement, placements_for

__all__ = ["Host", "HostError", "HostUnavailable", "Placement", "placements_for"]
