"""The address of the client behind the configured number of reverse proxies."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def client_address(request: HttpRequest) -> str | None:
    """The client's IP address as the outermost trusted proxy saw it.

    With ``PROXY_COUNT`` = 0 this is the peer of the connection; ``X-Forwarded-For``
    is ignored, since any client can send it. Behind N proxies, each proxy appends
    the address it received the request from, so the client is the N-th entry from
    the right; anything left of it was written by the client and is not trusted.
    A header with fewer entries than proxies (a request that bypassed them) or an
    entry that is not an address falls back to the connection's peer.
    """
    peer = request.META.get("REMOTE_ADDR")
    proxies = settings.PROXY_COUNT
    if proxies <= 0:
        return peer
    hops = [
        hop.strip()
        for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if hop.strip()
    ]
    if len(hops) < proxies or not _is_address(hops[-proxies]):
        return peer
    return hops[-proxies]
