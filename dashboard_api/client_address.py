"""The address a request comes from: the connection's, or, when the connection
comes from a trusted proxy (``ELDERCARE_TRUSTED_PROXIES``), the rightmost
``X-Forwarded-For`` address that is not itself a trusted proxy.

Each proxy appends the address it was connected from to the header, so the
rightmost entries are written by proxies we trust and everything to the left
of the first untrusted one may be made up by the client: taking the leftmost
(as many frameworks do) lets a client send each login from an address of its
choice. From a peer that is not trusted the header is ignored. uvicorn's own
proxy-header handling (which trusts 127.0.0.1, or ``FORWARDED_ALLOW_IPS``) is
turned off (``eldercare/api_server.py``), so this is the only place the header
is read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

from starlette.requests import Request

from eldercare.settings import parse_networks

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

__all__ = ["client_address", "parse_networks", "resolve"]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An X-Forwarded-For entry: ``1.2.3.4``, ``1.2.3.4:5678``, ``::1``, ``[::1]:5678``."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: str, networks: Sequence[Network]) -> bool:
    parsed = _address(address)
    return parsed is not None and any(parsed in net for net in networks)


def resolve(peer: str, forwarded_for: Iterable[str], networks: Sequence[Network]) -> str:
    """The client's address from the connection's ``peer`` and the X-Forwarded-For
    header values (in order), trusting the proxies in ``networks``."""
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    client = peer
    for hop in reversed([h for h in hops if h]):
        parsed = _address(hop)
        if parsed is None:  # garbage handed on by a trusted proxy: stop at that proxy
            return client
        client = str(parsed)
        if not any(parsed in net for net in networks):
            return client
    return client  # every hop is a trusted proxy: the farthest one


def client_address(request: Request, networks: Sequence[Network]) -> str:
    peer = request.client.host if request.client else "unknown"
    return resolve(peer, request.headers.getlist("x-forwarded-for"), networks)
