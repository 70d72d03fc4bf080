"""Who may read /metrics and /readyz's detail: a bearer token (METRICS_TOKEN) or an allowed network.

/healthz stays open to everyone (a load balancer's liveness probe); /readyz tells anyone ready or not,
and its per-component detail (versions, providers, hosts, errors) only to these callers. The network check
reads REMOTE_ADDR, the address that connected: behind a reverse proxy that is the proxy, so either scrape
from the proxy's network or use the token.
"""

import hmac
import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest


@lru_cache(maxsize=1)
def _networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS)


def _from_allowed_network(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in _networks())


def _with_token(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return bool(token) and hmac.compare_digest(offered.encode(), token.encode())


def probe_reader(request: HttpRequest) -> bool:
    """True for a caller allowed to read metrics and readiness detail."""
    return _with_token(request) or _from_allowed_network(request)
