"""Where a request may make us send HTTP: public addresses, or bases an administrator registered.

A URL a peer names (a CDS hook's `fhirServer`, a discovery document's endpoints, a JWKS URL) must not
make us talk to our own network. Every outbound request of the product (FhirClient, `config.fetch`, the
SMART token calls) goes through `session_for(url)`:
- a URL under a registered base (`is_registered`) uses the plain session: an EHR on the hospital's
  private network, or the development sandbox on loopback, is reached because an administrator said so;
- any other URL uses the guarded session, whose connections resolve the host and refuse it when ANY of
  its addresses is not globally routable (loopback, RFC 1918 / ULA private, link-local and with it the
  cloud metadata address 169.254.169.254, shared CGNAT space, multicast, reserved, unspecified, and IPv4
  addresses embedded in IPv6). The check runs before the connect, and again on the address actually
  connected to (a name that resolves differently the second time, "DNS rebinding"), before a byte is sent.
Redirects are never followed automatically by our clients, so each hop is a new request, checked anew.

Registered bases come from sources the apps register at startup (`source_register`): EHR registrations,
trusted CDS clients' FHIR servers and JWKS URLs, the sandbox's own clients, plus OUTBOUND_ALLOWED_BASES.
They are re-read at most every REGISTRY_TTL_SECONDS per process (`registered_forget` after a change).
"""

import contextlib
import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db.models import Model
from django.db.models.signals import post_delete, post_save
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from config.ttl_cache import TtlCache

REGISTRY_TTL_SECONDS = 5.0
_SOURCES: list[Callable[[], Iterable[str]]] = []
_BASES: TtlCache[str, tuple[str, ...]] = TtlCache(REGISTRY_TTL_SECONDS)


class AddressRefused(Exception):  # not an OSError: urllib3 must not retry it or call it "unreachable"
    """The host resolves to an address we never connect to unless its base is registered."""

    def __init__(self, host: str, address: str) -> None:
        self.host, self.address = host, address
        super().__init__(f"{host} resolves to {address}, a non-public address that is not registered")


# --- the registry of bases ------------------------------------------------------------------------


def source_register(source: Callable[[], Iterable[str]], *, models: Iterable[type[Model]] = ()) -> None:
    """Add a function listing registered base URLs (called by apps in `AppConfig.ready`); saving or
    deleting a row of `models` drops this process's memo at once."""
    if source not in _SOURCES:
        _SOURCES.append(source)
    for model in models:
        for name, signal in (("save", post_save), ("delete", post_delete)):
            signal.connect(_forget_on_change, sender=model, dispatch_uid=f"outbound:{model._meta.label}:{name}")


def _forget_on_change(**_: Any) -> None:
    registered_forget()


def registered_bases() -> tuple[str, ...]:
    """Every registered base URL (without trailing slash), from the sources and OUTBOUND_ALLOWED_BASES."""
    return _BASES.get("bases", _bases_collect)


def _bases_collect() -> tuple[str, ...]:
    found = [*settings.OUTBOUND_ALLOWED_BASES, *(base for source in _SOURCES for base in source())]
    return tuple(dict.fromkeys(b.strip().rstrip("/") for b in found if b and b.strip()))


def registered_forget() -> None:
    """Drop this process's memo of registered bases (after a registration changes, and in tests)."""
    _BASES.clear()


def is_registered(url: str) -> bool:
    """Whether `url` lies under a registered base (same scheme, host and port; path at or below)."""
    return any(url_under(url, base) for base in registered_bases())


def peer_registered(url: str, *, registered_base: str) -> bool:
    """`url` is registered, or `registered_base` is and `url` is on its origin (an EHR's own SMART endpoints)."""
    return is_registered(url) or (same_origin(url, registered_base) and is_registered(registered_base))


def same_origin(url: str, other: str) -> bool:
    """Same scheme, host and port."""
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme.lower(), a.netloc.lower()) == (b.scheme.lower(), b.netloc.lower()) and bool(a.netloc)


def url_under(url: str, base: str) -> bool:
    """True when `url` has the scheme and authority of `base` and a path at or below its path."""
    target, root = urlsplit(url), urlsplit(base.rstrip("/"))
    if not same_origin(url, base):
        return False
    if any(ord(c) < 33 or c == "\\" for c in url):  # whitespace, controls, backslashes: parsers disagree
        return False
    segments = target.path.split("/")
    if ".." in segments or "." in segments:
        return False
    return target.path.rstrip("/") == root.path or target.path.startswith(root.path + "/")


# --- the address policy ---------------------------------------------------------------------------


def address_allowed(address: str) -> bool:
    """Only globally routable unicast addresses (an IPv4 address inside IPv6 is judged as itself)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            ip = embedded
    return ip.is_global and not ip.is_multicast


def host_check(host: str, port: int) -> None:
    """Raise AddressRefused when any address `host` resolves to is not allowed (resolution errors pass on)."""
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if not address_allowed(str(sockaddr[0])):
            raise AddressRefused(host, str(sockaddr[0]))


class _GuardedConnection:
    """Checks the resolved addresses before connecting and the connected peer before sending."""

    host: str
    port: int
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        with contextlib.suppress(socket.gaierror):  # the connect below raises urllib3's own resolution error
            host_check(self._dns_host, self.port)
        sock: socket.socket = super()._new_conn()  # type: ignore[misc]
        peer = str(sock.getpeername()[0])
        if not address_allowed(peer):
            sock.close()
            raise AddressRefused(self._dns_host, peer)
        return sock


class _GuardedHTTPConnection(_GuardedConnection, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnection, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections apply the address policy."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        """The usual pool manager, with guarded connection pools."""
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def _session(adapter: type[HTTPAdapter]) -> requests.Session:
    session = requests.Session()
    for scheme in ("http://", "https://"):
        session.mount(scheme, adapter(pool_connections=8, pool_maxsize=32))
    return session


_OPEN = _session(HTTPAdapter)
_GUARDED = _session(GuardedAdapter)


def session_for(url: str, *, registered: bool | None = None) -> requests.Session:
    """The session to reach `url` with: plain when registered (computed unless given), else guarded."""
    return _OPEN if (is_registered(url) if registered is None else registered) else _GUARDED


def guard(session: requests.Session) -> requests.Session:
    """Apply the address policy to another library's session (e.g. authlib's OAuth2Session)."""
    for scheme in ("http://", "https://"):
        session.mount(scheme, GuardedAdapter())
    return session
